// report.html markup: one self-contained page (inline CSS, images as data: URIs, plots and DAG as
// inline SVG, no scripts, nothing fetched), so it opens from disk, survives being mailed, and a
// headless browser can check it offline. Pure: data in, string out.
import type { Metrics, MetricsTable } from "../artifacts/types.ts"
import { type RunEdge, type RunRecord, statusCounts } from "../exec/record.ts"
import type { Json } from "../key/canonical.ts"
import { STATUS_COLORS } from "./dag.ts"
import type { GridGroup } from "./deepcache-series.ts"
import { escapeHtml as h } from "./escape.ts"
import { fmtBytes, fmtNum, fmtSeconds } from "./format.ts"
import type { ImageFile, MetricsEntry, NodeView, ReportData } from "./load.ts"
import type { RenderedPlot } from "./plots.ts"
import { frontTable, type ResultTable, resultTable, type Section } from "./results.ts"

/** Width and height from a PNG's IHDR chunk, or undefined when the bytes are not a PNG. */
export const pngSize = (b: Uint8Array): { width: number; height: number } | undefined => {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
  if (b.length < 24 || !sig.every((x, i) => b[i] === x)) return undefined
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  return { width: dv.getUint32(16), height: dv.getUint32(20) }
}

export const dataUri = (mediaType: string, bytes: Uint8Array): string =>
  `data:${mediaType};base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64")}`

const CLASS_SCALAR = /^class_\d+$/
/** Scalars people look for first; the rest follow alphabetically, class histogram bins last. */
export const KEY_SCALARS: readonly string[] = ["fld", "fld_se", "fld_floor", "fld_floor_se", "class_share_max_dev", "accuracy", "samples", "steps", "seconds_per_image", "mse", "psnr", "ssim", "loss", "final_loss", "final_ema_loss", "test_accuracy"]
const PRIORITY = KEY_SCALARS

export const orderScalars = (names: Iterable<string>): string[] => {
  const all = [...new Set(names)]
  const rank = (n: string): number => {
    const i = PRIORITY.indexOf(n)
    return i >= 0 ? i : CLASS_SCALAR.test(n) ? PRIORITY.length + 1 : PRIORITY.length
  }
  const classNo = (n: string): number => (CLASS_SCALAR.test(n) ? Number(n.slice(6)) : 0)
  return all.sort((a, b) => rank(a) - rank(b) || classNo(a) - classNo(b) || (a < b ? -1 : a > b ? 1 : 0))
}

export interface Grid {
  readonly columns: readonly string[]
  readonly rows: readonly { readonly label: string; readonly cells: readonly (string | null)[] }[]
}

/** A scalar as shown: FLD with its standard error ("64.5 ± 1.2") when the artifact has `fld_se`. */
const scalarCell = (scalars: Readonly<Record<string, number>>, c: string): string | null => {
  if (!(c in scalars)) return null
  if (c === "fld" && scalars.fld_se !== undefined) return `${fmtNum(scalars.fld!)} ± ${fmtNum(scalars.fld_se)}`
  return fmtNum(scalars[c]!)
}

/** Scalars of several metrics artifacts as one table: a row per artifact, a column per scalar name (fld_se joins fld). */
export const scalarGrid = (entries: readonly { label: string; metrics: Metrics }[], keep: (name: string) => boolean): Grid => {
  const columns = orderScalars(entries.flatMap((e) => Object.keys(e.metrics.scalars))).filter((c) => keep(c) && c !== "fld_se")
  return {
    columns,
    rows: entries
      .filter((e) => columns.some((c) => c in e.metrics.scalars))
      .map((e) => ({ label: e.label, cells: columns.map((c) => scalarCell(e.metrics.scalars, c)) })),
  }
}

/**
 * Metrics artifacts without the ones a downstream node passes through: a sampler's `timing` whose
 * every scalar reappears, equal, in the score node it feeds is the same measurement, shown once.
 */
export const withoutPassThrough = (entries: readonly MetricsEntry[], edges: readonly RunEdge[]): MetricsEntry[] => {
  // Indexed, not nested scans: a study run has ~600 entries and ~1000 edges (0.4 s the naive way).
  const consumers = new Map<string, string[]>() // "node\0port" -> nodes it feeds
  for (const e of edges) {
    const k = `${e.from}\0${e.output}`
    consumers.set(k, [...(consumers.get(k) ?? []), e.to])
  }
  const byNode = new Map<string, MetricsEntry[]>()
  for (const b of entries) byNode.set(b.node, [...(byNode.get(b.node) ?? []), b])
  return entries.filter((a) => {
    const names = Object.keys(a.metrics.scalars)
    if (names.length === 0) return true
    const downstream = (consumers.get(`${a.node}\0${a.port}`) ?? []).flatMap((n) => byNode.get(n) ?? [])
    return !downstream.some((b) => b !== a && names.every((n) => Object.is(b.metrics.scalars[n], a.metrics.scalars[n])))
  })
}

export const gridHtml = (g: Grid, corner: string): string =>
  g.rows.length === 0
    ? ""
    : `<div class="scroll"><table class="num"><thead><tr><th>${h(corner)}</th>${g.columns.map((c) => `<th>${h(c)}</th>`).join("")}</tr></thead><tbody>${g.rows
        .map((r) => `<tr><th>${h(r.label)}</th>${r.cells.map((c) => `<td>${c === null ? "" : h(c)}</td>`).join("")}</tr>`)
        .join("")}</tbody></table></div>`

/** Tables up to `max` rows in full; longer ones as head and tail around an elision row. */
export const smallTableHtml = (t: MetricsTable, max = 25, keep = 5): string => {
  const body = (rows: MetricsTable["rows"]) => rows.map((r) => `<tr>${r.map((v) => `<td>${h(typeof v === "number" ? fmtNum(v) : v)}</td>`).join("")}</tr>`).join("")
  const rows =
    t.rows.length <= max
      ? body(t.rows)
      : `${body(t.rows.slice(0, keep))}<tr class="elided"><td colspan="${t.columns.length}">… ${t.rows.length - 2 * keep} more rows …</td></tr>${body(t.rows.slice(-keep))}`
  return `<div class="scroll"><table class="num"><thead><tr>${t.columns.map((c) => `<th>${h(c)}</th>`).join("")}</tr></thead><tbody>${rows}</tbody></table></div>`
}

const paramValue = (v: Json): string => (typeof v === "string" ? v : JSON.stringify(v))

const paramsHtml = (p: NodeView["params"]): string => {
  if (p === null) return `<span class="muted">not cached</span>`
  const keys = Object.keys(p).sort()
  if (keys.length === 0) return `<span class="muted">none</span>`
  return keys.map((k) => `<span class="param">${h(k)}=<b>${h(paramValue(p[k]!))}</b></span>`).join(" ")
}

const statusBadge = (s: keyof typeof STATUS_COLORS): string =>
  `<span class="badge" style="background:${STATUS_COLORS[s].fill};border-color:${STATUS_COLORS[s].stroke}">${s}</span>`

const timeHtml = (n: NodeView): string => {
  const r = n.record
  if (r.status === "ran") return fmtSeconds(r.seconds)
  if (r.status === "cached" && n.computeSeconds !== null) return `<span class="muted">0 (computed in ${fmtSeconds(n.computeSeconds)})</span>`
  return r.status === "cached" ? "0" : ""
}

const nodesHtml = (nodes: readonly NodeView[]): string =>
  `<div class="scroll"><table class="nodes"><thead><tr><th>node</th><th>kind</th><th>sweep</th><th>status</th><th>time</th><th>key</th><th>outputs</th><th>params</th></tr></thead><tbody>${nodes
    .map((n) => {
      const r = n.record
      const outs = n.outputs.map((o) => `${h(o.port)}: ${h(o.type)} (${fmtBytes(o.bytes)})`).join("<br>")
      const err = r.error !== undefined ? `<div class="error">${h(r.error)}</div>` : ""
      return `<tr id="node-${h(r.id)}"><th>${h(r.id)}</th><td class="nowrap">${h(r.kind)}</td><td class="nowrap">${r.sweep === undefined ? "" : h(r.sweep)}</td><td>${statusBadge(r.status)}</td><td class="nowrap">${timeHtml(n)}</td><td><code title="${h(r.key ?? "")}">${h(r.key?.slice(0, 12) ?? "–")}</code></td><td class="outs">${outs}</td><td class="params">${paramsHtml(n.params)}${err}</td></tr>`
    })
    .join("")}</tbody></table></div>`

const headerHtml = (r: RunRecord): string => {
  const rows: [string, string][] = [
    ["status", `<span class="status-${h(r.status)}">${h(r.status)}</span>`],
    ["pipeline", `<code>${h(r.pipeline)}</code>`],
    ["profile", r.profile === null ? `<span class="muted">default</span>` : h(r.profile)],
    ["sets", r.sets.length === 0 ? `<span class="muted">none</span>` : r.sets.map((s) => `<code>${h(s)}</code>`).join(" ")],
    ["backend", r.backend === null ? `<span class="muted">none (nothing ran)</span>` : h(r.backend)],
    ...(r.notes.length > 0 ? [["notes", r.notes.map(h).join("<br>")] as [string, string]] : []),
    ["started", h(r.started)],
    ["duration", fmtSeconds(r.seconds)],
    ["nodes", statusCounts(r.nodes)],
    ["run id", `<code>${h(r.id)}</code>`],
  ]
  return `<h1>${h(r.name)}</h1><table class="kv">${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join("")}</table>`
}

const entryLabel = (e: MetricsEntry): string => (e.port === "metrics" ? e.node : `${e.node}.${e.port}`)

/** Every scalar of every metrics artifact, one table per node kind (so columns fit their rows). */
const metricsHtml = (entries: readonly MetricsEntry[], edges: readonly RunEdge[]): string => {
  if (entries.length === 0) return `<p class="muted">This run has no metrics artifacts.</p>`
  const shown = withoutPassThrough(entries, edges)
  const kinds = [...new Set(shown.map((e) => e.kind))]
  const scalars = kinds
    .map((k) => {
      const grid = gridHtml(scalarGrid(shown.filter((e) => e.kind === k).map((e) => ({ label: entryLabel(e), metrics: e.metrics })), (n) => !CLASS_SCALAR.test(n)), "node")
      return grid === "" ? "" : `<h4>${h(k)}</h4>${grid}`
    })
    .join("")
  const classes = gridHtml(scalarGrid(shown.map((e) => ({ label: entryLabel(e), metrics: e.metrics })), (n) => CLASS_SCALAR.test(n)), "node")
  // Empty tables say nothing; the rest start closed unless short.
  const tables = shown.flatMap((e) =>
    Object.entries(e.metrics.tables)
      .filter(([, t]) => t.rows.length > 0)
      .map(([name, t]) => `<details${t.rows.length <= 12 && name !== "meta" ? " open" : ""}><summary>${h(entryLabel(e))} · ${h(name)} <span class="muted">(${t.rows.length} rows)</span></summary>${smallTableHtml(t)}</details>`),
  )
  return [
    scalars !== "" ? `<h3>Scalars</h3>${scalars}` : "",
    classes !== "" ? `<h3>Class histogram of samples</h3>${classes}` : "",
    tables.length > 0 ? `<h3>Tables</h3>${tables.join("")}` : "",
  ].join("")
}

const imageHtml = (img: ImageFile, caption?: string): string => {
  const size = pngSize(img.bytes)
  // Small grids (28 px digits) are scaled up by an integer factor with pixelated sampling.
  const scale = size === undefined ? 1 : Math.max(1, Math.min(4, Math.floor(520 / Math.max(size.width, 1))))
  const dims = size === undefined ? "" : ` width="${size.width * scale}" height="${size.height * scale}"`
  return `<figure class="sample"><img alt="${h(img.path)}" src="${dataUri("image/png", img.bytes)}"${dims}><figcaption>${caption === undefined ? "" : `${h(caption)} · `}<b>${h(img.node)}</b> · ${h(img.path)}${size === undefined ? "" : ` <span class="muted">(${size.width}×${size.height})</span>`}</figcaption></figure>`
}

const resultTableHtml = (t: ResultTable): string =>
  t.rows.length === 0
    ? ""
    : `<div class="scroll"><table class="num results"><thead><tr>${t.columns.map((c) => `<th>${h(c)}</th>`).join("")}</tr></thead><tbody>${t.rows
        .map((r) => `<tr>${r.map((c, i) => (i < 2 ? `<th>${h(c)}</th>` : `<td>${h(c)}</td>`)).join("")}</tr>`)
        .join("")}</tbody></table></div>`

const plotsHtml = (plots: readonly RenderedPlot[]): string => plots.map((p) => `<figure class="plot" id="plot-${h(p.id)}">${p.svg}</figure>`).join("")

export const sectionId = (s: Section): string => `study-${s.scope === "" ? "top" : s.scope.replace(/[^A-Za-z0-9_-]/g, "-")}`

/** DeepCache grids side by side per sampler and step count, each captioned with its interval and schedule. */
const gridGroupsHtml = (groups: readonly GridGroup[]): string =>
  groups
    .map((g) => `<h4>${h(g.title)}</h4><div class="samples">${g.grids.map((x) => imageHtml(x.image, x.caption)).join("")}</div>`)
    .join("")

/** One study: its description, sampler table, plots (quality, speed, loss curves) and sample grids. */
const sectionHtml = (s: Section, plots: readonly RenderedPlot[], images: readonly ImageFile[], groups: readonly GridGroup[]): string => {
  const table = resultTableHtml(resultTable(s.points, s.scope))
  const grouped = new Set(groups.flatMap((g) => g.grids.map((x) => x.image)))
  // In run order (ddpm-1000, ddim-50, ...), not file-name order.
  const mine = images.filter((i) => s.nodes.includes(i.node) && !grouped.has(i)).sort((a, b) => s.nodes.indexOf(a.node) - s.nodes.indexOf(b.node))
  const body = [
    s.description === "" ? "" : `<p class="desc">${h(s.description)}</p>`,
    table === "" ? "" : `<h3>Samplers</h3>${table}`,
    plots.length === 0 ? "" : `<h3>Plots</h3><div class="plots">${plotsHtml(plots)}</div>`,
    groups.length === 0 ? "" : `<h3>Samples by cache interval <span class="muted">(same noise as the uncached grid of each row)</span></h3>${gridGroupsHtml(groups)}`,
    mine.length === 0 ? "" : `<h3>${groups.length === 0 ? "Samples" : "Other samples"}</h3><div class="samples">${mine.map((i) => imageHtml(i)).join("")}</div>`,
  ].join("")
  return `<section class="study" id="${sectionId(s)}"><h2>${h(s.title)}${s.file === null ? "" : ` <span class="muted">· <code>${h(s.file)}</code></span>`}</h2>${body === "" ? `<p class="muted">Nothing measured here.</p>` : body}</section>`
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#222;background:#fff}
h1{margin:.2em 0 .4em;font-size:1.6em}h2{margin:1.4em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{margin:1em 0 .4em;font-size:1.05em}h4{margin:.8em 0 .2em;font-size:.95em;color:#444}
nav{line-height:1.9}nav a{margin-right:1em;white-space:nowrap}code{font:12px ui-monospace,Menlo,Consolas,monospace}
table{border-collapse:collapse;margin:.3em 0}th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
thead th{background:#f5f5f5}table.kv th{background:#fafafa;font-weight:600}table.num td{text-align:right;font-variant-numeric:tabular-nums}table.num tbody th{white-space:nowrap;font-weight:normal}
.scroll{overflow-x:auto;max-width:100%}.muted{color:#888}.error{color:#b71c1c;margin-top:.3em;white-space:pre-wrap}.desc{max-width:900px;color:#333}
.badge{display:inline-block;border:1px solid;border-radius:3px;padding:0 5px;font-size:12px}
.param{display:inline-block;margin:0 .6em .1em 0;font:12px ui-monospace,Menlo,Consolas,monospace}.params{max-width:460px;overflow-wrap:anywhere}.outs{font-size:12px;white-space:nowrap}table.nodes tbody th{white-space:nowrap}.nowrap{white-space:nowrap}
.status-ok{color:#2e7d32;font-weight:600}.status-failed{color:#c62828;font-weight:600}.status-interrupted{color:#ef6c00;font-weight:600}
figure{display:inline-block;margin:0 16px 16px 0;vertical-align:top;max-width:100%}figcaption{font-size:12px;color:#444;margin-top:4px;overflow-wrap:anywhere}
figure.sample img{image-rendering:pixelated;border:1px solid #ddd;max-width:100%;height:auto}
figure.plot{border:1px solid #eee;padding:6px;overflow-x:auto}details{display:inline-block;vertical-align:top;margin:.3em 1.5em .3em 0;max-width:100%}summary{cursor:pointer}
svg.dag{max-width:100%;height:auto}
tr.elided td{text-align:center;color:#888}.legend span{margin-right:1em}.warn{color:#8a5a00}
`

export interface ReportView {
  readonly data: ReportData
  readonly dag: string
  readonly sections: readonly { readonly section: Section; readonly plots: readonly RenderedPlot[]; readonly gridGroups?: readonly GridGroup[] }[]
  /** The speed-quality frontier across every section, with its Pareto table. */
  readonly frontier: RenderedPlot | undefined
}

export const renderReportHtml = (v: ReportView): string => {
  const { data, dag } = v
  const r = data.record
  const legend = (["ran", "cached", "failed", "interrupted", "skipped"] as const).map((s) => statusBadge(s)).join(" ")
  const points = v.sections.flatMap((s) => s.section.points)
  const front = resultTableHtml(frontTable(points))
  const many = v.sections.length > 1
  const nav = [
    ...(v.frontier !== undefined ? [["frontier", "frontier"]] : []),
    ...v.sections.map((s) => [sectionId(s.section), s.section.title]),
    ["dag", "DAG"],
    ["nodes", "nodes"],
    ["metrics", "metrics"],
  ]
  const sections = [
    `<section id="run">${headerHtml(r)}</section>`,
    `<nav>${nav.map(([id, label]) => `<a href="#${h(id as string)}">${h(label as string)}</a>`).join("")}</nav>`,
    v.frontier === undefined
      ? ""
      : `<section id="frontier"><h2>Speed and quality${many ? " across studies" : ""}</h2><div class="plots">${plotsHtml([v.frontier])}</div>${front === "" ? "" : `<h3>Pareto front <span class="muted">(no other sampler is both faster and better)</span></h3>${front}`}</section>`,
    ...v.sections.map((s) => sectionHtml(s.section, s.plots, data.images, s.gridGroups ?? [])),
    `<section id="dag"><h2>DAG</h2><p class="legend">${legend} <span class="muted">· a stacked box is a sweep (its nodes are in the table below)</span></p>${dag === "" ? `<p class="muted">no nodes</p>` : dag}</section>`,
    `<section id="nodes"><h2>Nodes</h2>${nodesHtml(data.nodes)}</section>`,
    `<section id="metrics"><h2>Metrics</h2>${metricsHtml(data.metrics, data.edges)}</section>`,
    data.otherFiles.length > 0 ? `<section id="files"><h2>Other files</h2><p>${data.otherFiles.map((f) => `<code>${h(f)}</code>`).join(", ")}</p></section>` : "",
    data.warnings.length > 0 ? `<section id="warnings"><h2>Warnings</h2><ul>${data.warnings.map((w) => `<li class="warn">${h(w)}</li>`).join("")}</ul></section>` : "",
  ]
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><link rel="icon" href="data:,">
<title>${h(`${r.name} · ${r.status} · ${r.id}`)}</title><style>${CSS}</style></head>
<body>
${sections.join("\n")}
<footer class="muted"><p>Generated by <code>pipe report</code> from runs/${h(r.id)}/run.json and the cache manifests.</p></footer>
</body></html>
`
}

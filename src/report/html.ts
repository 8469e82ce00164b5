// report.html markup: one self-contained page (inline CSS, images as data: URIs, plots and DAG as
// inline SVG, no scripts, nothing fetched), so it opens from disk, survives being mailed, and a
// headless browser can check it offline. Pure: data in, string out.
import type { Metrics, MetricsTable } from "../artifacts/types.ts"
import { type RunRecord, statusCounts } from "../exec/record.ts"
import type { Json } from "../key/canonical.ts"
import { STATUS_COLORS } from "./dag.ts"
import { escapeHtml as h } from "./escape.ts"
import type { ImageFile, MetricsEntry, NodeView, ReportData } from "./load.ts"
import type { RenderedPlot } from "./plots.ts"

/** Numbers for humans: 4 significant digits, exponent outside [1e-3, 1e5), integers verbatim. */
export const fmtNum = (v: number): string => {
  if (Number.isNaN(v)) return "NaN"
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞"
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v)
  const a = Math.abs(v)
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(3)
  return String(Number(v.toPrecision(4)))
}

const fmtCell = (v: number | string): string => (typeof v === "number" ? fmtNum(v) : v)

export const fmtBytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`

export const fmtSeconds = (s: number): string => (s < 60 ? `${s.toFixed(2)} s` : s < 3600 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${(s / 3600).toFixed(2)} h`)

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

/** Scalars of several metrics artifacts as one table: a row per artifact, a column per scalar name. */
export const scalarGrid = (entries: readonly { label: string; metrics: Metrics }[], keep: (name: string) => boolean): Grid => {
  const columns = orderScalars(entries.flatMap((e) => Object.keys(e.metrics.scalars))).filter(keep)
  return {
    columns,
    rows: entries
      .filter((e) => columns.some((c) => c in e.metrics.scalars))
      .map((e) => ({ label: e.label, cells: columns.map((c) => (c in e.metrics.scalars ? fmtNum(e.metrics.scalars[c]!) : null)) })),
  }
}

export const gridHtml = (g: Grid, corner: string): string =>
  g.rows.length === 0
    ? ""
    : `<div class="scroll"><table class="num"><thead><tr><th>${h(corner)}</th>${g.columns.map((c) => `<th>${h(c)}</th>`).join("")}</tr></thead><tbody>${g.rows
        .map((r) => `<tr><th>${h(r.label)}</th>${r.cells.map((c) => `<td>${c === null ? "" : h(c)}</td>`).join("")}</tr>`)
        .join("")}</tbody></table></div>`

/** Tables up to `max` rows in full; longer ones as head and tail around an elision row. */
export const smallTableHtml = (t: MetricsTable, max = 25, keep = 5): string => {
  const body = (rows: MetricsTable["rows"]) => rows.map((r) => `<tr>${r.map((v) => `<td>${h(fmtCell(v))}</td>`).join("")}</tr>`).join("")
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
  `<div class="scroll"><table class="nodes"><thead><tr><th>node</th><th>kind</th><th>status</th><th>time</th><th>key</th><th>outputs</th><th>params</th></tr></thead><tbody>${nodes
    .map((n) => {
      const r = n.record
      const outs = n.outputs.map((o) => `${h(o.port)}: ${h(o.type)} (${fmtBytes(o.bytes)})`).join("<br>")
      const err = r.error !== undefined ? `<div class="error">${h(r.error)}</div>` : ""
      return `<tr id="node-${h(r.id)}"><th>${h(r.id)}</th><td class="nowrap">${h(r.kind)}</td><td>${statusBadge(r.status)}</td><td class="nowrap">${timeHtml(n)}</td><td><code title="${h(r.key ?? "")}">${h(r.key?.slice(0, 12) ?? "–")}</code></td><td class="outs">${outs}</td><td class="params">${paramsHtml(n.params)}${err}</td></tr>`
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

const metricsHtml = (entries: readonly MetricsEntry[]): string => {
  if (entries.length === 0) return `<p class="muted">This run has no metrics artifacts.</p>`
  const labelled = entries.map((e) => ({ label: entryLabel(e), metrics: e.metrics }))
  const scalars = gridHtml(scalarGrid(labelled, (n) => !CLASS_SCALAR.test(n)), "node")
  const classes = gridHtml(scalarGrid(labelled, (n) => CLASS_SCALAR.test(n)), "node")
  const tables = entries.flatMap((e) =>
    Object.entries(e.metrics.tables).map(
      // Open when short; the sampler "meta" key/value tables repeat the scalars, so they start closed.
      ([name, t]) => `<details${t.rows.length <= 12 && name !== "meta" ? " open" : ""}><summary>${h(entryLabel(e))} · ${h(name)} <span class="muted">(${t.rows.length} rows)</span></summary>${smallTableHtml(t)}</details>`,
    ),
  )
  return [
    scalars !== "" ? `<h3>Scalars</h3>${scalars}` : "",
    classes !== "" ? `<h3>Class histogram of samples</h3>${classes}` : "",
    tables.length > 0 ? `<h3>Tables</h3>${tables.join("")}` : "",
  ].join("")
}

const imageHtml = (img: ImageFile): string => {
  const size = pngSize(img.bytes)
  // Small grids (28 px digits) are scaled up by an integer factor with pixelated sampling.
  const scale = size === undefined ? 1 : Math.max(1, Math.min(4, Math.floor(640 / Math.max(size.width, 1))))
  const dims = size === undefined ? "" : ` width="${size.width * scale}" height="${size.height * scale}"`
  return `<figure class="sample"><img alt="${h(img.path)}" src="${dataUri("image/png", img.bytes)}"${dims}><figcaption><b>${h(img.node)}</b> · ${h(img.path)}${size === undefined ? "" : ` <span class="muted">(${size.width}×${size.height})</span>`}</figcaption></figure>`
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#222;background:#fff}
h1{margin:.2em 0 .4em;font-size:1.6em}h2{margin:1.4em 0 .5em;border-bottom:1px solid #ddd;padding-bottom:.2em}h3{margin:1em 0 .4em;font-size:1.05em}
nav a{margin-right:1em}code{font:12px ui-monospace,Menlo,Consolas,monospace}
table{border-collapse:collapse;margin:.3em 0}th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
thead th{background:#f5f5f5}table.kv th{background:#fafafa;font-weight:600}table.num td{text-align:right;font-variant-numeric:tabular-nums}table.num tbody th{white-space:nowrap}
.scroll{overflow-x:auto;max-width:100%}.muted{color:#888}.error{color:#b71c1c;margin-top:.3em;white-space:pre-wrap}
.badge{display:inline-block;border:1px solid;border-radius:3px;padding:0 5px;font-size:12px}
.param{display:inline-block;margin:0 .6em .1em 0;font:12px ui-monospace,Menlo,Consolas,monospace}.params{max-width:520px}.outs{font-size:12px;white-space:nowrap}table.nodes tbody th{white-space:nowrap}.nowrap{white-space:nowrap}
.status-ok{color:#2e7d32;font-weight:600}.status-failed{color:#c62828;font-weight:600}.status-interrupted{color:#ef6c00;font-weight:600}
figure{display:inline-block;margin:0 16px 16px 0;vertical-align:top}figcaption{font-size:12px;color:#444;margin-top:4px}
figure.sample img{image-rendering:pixelated;border:1px solid #ddd}
.plots figure{border:1px solid #eee;padding:6px}details{display:inline-block;vertical-align:top;margin:.3em 1.5em .3em 0}summary{cursor:pointer}
tr.elided td{text-align:center;color:#888}.legend span{margin-right:1em}.warn{color:#8a5a00}
`

export const renderReportHtml = (data: ReportData, dag: string, plots: readonly RenderedPlot[]): string => {
  const r = data.record
  const legend = (["ran", "cached", "failed", "interrupted", "skipped"] as const).map((s) => statusBadge(s)).join(" ")
  const sections = [
    `<section id="run">${headerHtml(r)}</section>`,
    `<nav><a href="#dag">DAG</a><a href="#nodes">nodes</a><a href="#metrics">metrics</a><a href="#plots">plots</a><a href="#samples">samples</a></nav>`,
    `<section id="dag"><h2>DAG</h2><p class="legend">${legend}</p><div class="scroll">${dag === "" ? `<p class="muted">no nodes</p>` : dag}</div></section>`,
    `<section id="nodes"><h2>Nodes</h2>${nodesHtml(data.nodes)}</section>`,
    `<section id="metrics"><h2>Metrics</h2>${metricsHtml(data.metrics)}</section>`,
    `<section id="plots" class="plots"><h2>Plots</h2>${
      plots.length === 0 ? `<p class="muted">No loss curves or quality-vs-steps metrics in this run.</p>` : plots.map((p) => `<figure class="plot" id="plot-${h(p.id)}">${p.svg}</figure>`).join("")
    }</section>`,
    `<section id="samples"><h2>Samples</h2>${
      data.images.length === 0 ? `<p class="muted">This run produced no PNG files.</p>` : data.images.map(imageHtml).join("")
    }${data.otherFiles.length > 0 ? `<p>Other files in the run dir: ${data.otherFiles.map((f) => `<code>${h(f)}</code>`).join(", ")}</p>` : ""}</section>`,
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

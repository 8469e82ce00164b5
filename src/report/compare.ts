// `pipe compare`: the metrics of several runs side by side, as an aligned text table (one row per
// metrics artifact per run, one column per scalar) and optionally as an HTML page with the same
// table plus quality-vs-steps and loss plots overlaid across runs.
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import type { RunRecord } from "../exec/record.ts"
import { escapeHtml as h } from "./escape.ts"
import { fmtNum } from "./format.ts"
import { gridHtml, KEY_SCALARS, orderScalars, type Grid } from "./html.ts"
import type { ReportData } from "./load.ts"
import { isLossTable, lossColumns, lossPoints, type PlotSpec, qualityPlots, type RenderedPlot, scaleOf } from "./plots.ts"
import { samplerPoints } from "./series.ts"

export class RunNotFound extends Error {
  readonly _tag = "RunNotFound"
  override readonly name = "RunNotFound"
}

/**
 * A run given on the command line: a directory holding run.json, "last" (the newest run), a run id,
 * or a unique prefix of one.
 */
export const resolveRun = (runsDir: string, arg: string, cwd: string): { dir: string; record: RunRecord } => {
  const read = (dir: string) => ({ dir, record: JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as RunRecord })
  const asPath = resolve(cwd, arg)
  if (existsSync(join(asPath, "run.json"))) return read(asPath)
  const ids = existsSync(runsDir) ? readdirSync(runsDir).filter((d) => existsSync(join(runsDir, d, "run.json"))).sort() : []
  if (ids.length === 0) throw new RunNotFound(`no runs in ${runsDir}`)
  if (arg === "last" || arg === "latest") return read(join(runsDir, ids.at(-1)!))
  if (ids.includes(arg)) return read(join(runsDir, arg))
  const hits = ids.filter((d) => d.startsWith(arg))
  if (hits.length === 1) return read(join(runsDir, hits[0]!))
  if (hits.length > 1) throw new RunNotFound(`"${arg}" matches ${hits.length} runs: ${hits.slice(0, 5).join(", ")}${hits.length > 5 ? ", ..." : ""}`)
  throw new RunNotFound(`no run "${arg}" in ${runsDir} (newest: ${ids.at(-1)})`)
}

export interface CompareRun {
  readonly label: string
  readonly data: ReportData
}

/** Short, distinct labels: the pipeline name, plus the run id when names repeat. */
export const runLabels = (records: readonly RunRecord[]): string[] => {
  const names = records.map((r) => r.name)
  return records.map((r) => (names.filter((n) => n === r.name).length > 1 ? `${r.name} ${r.id}` : r.name))
}

export interface CompareRow {
  readonly run: string
  readonly profile: string | null
  readonly node: string
  readonly scalars: Readonly<Record<string, number>>
}

export const compareRows = (runs: readonly CompareRun[]): CompareRow[] =>
  runs.flatMap((r) =>
    r.data.metrics.map((e) => ({
      run: r.label,
      profile: r.data.record.profile,
      node: e.port === "metrics" ? e.node : `${e.node}.${e.port}`,
      scalars: e.metrics.scalars,
    })),
  )

const CLASS_SCALAR = /^class_\d+$/

/**
 * Scalar columns in report order: "key" = the headline scalars (FLD, floor, accuracy, steps, speed,
 * losses...) present in the rows; "all" = every scalar, class histogram bins included; or a list.
 */
export const compareColumns = (rows: readonly CompareRow[], which: "key" | "all" | readonly string[]): string[] => {
  if (typeof which !== "string") return [...which]
  const present = orderScalars(rows.flatMap((r) => Object.keys(r.scalars)))
  return which === "all" ? present : present.filter((c) => KEY_SCALARS.includes(c) && !CLASS_SCALAR.test(c))
}

/** Rows that have at least one of `columns` (a sampler's timing row has no FLD, a VAE's no steps...). */
export const rowsWith = (rows: readonly CompareRow[], columns: readonly string[]): CompareRow[] =>
  rows.filter((r) => columns.some((c) => c in r.scalars))

/** Aligned plain-text table: run, profile, node, then one column per scalar (blank when absent). */
export const compareText = (rows: readonly CompareRow[], columns: readonly string[]): string => {
  if (rows.length === 0) return "no metrics artifacts in these runs\n"
  const header = ["run", "profile", "node", ...columns]
  const body = rows.map((r) => [r.run, r.profile ?? "-", r.node, ...columns.map((c) => (c in r.scalars ? fmtNum(r.scalars[c]!) : ""))])
  const widths = header.map((hd, i) => Math.max(hd.length, ...body.map((b) => b[i]!.length)))
  // Text columns left-aligned, numbers right-aligned.
  const line = (cells: readonly string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd()
  return `${[line(header), ...body.map(line)].join("\n")}\n`
}

/** Quality-vs-steps across runs (series "run · model · sampler" when several runs) and loss curves overlaid by node. */
export const comparePlotSpecs = (runs: readonly CompareRun[]): PlotSpec[] => {
  const many = runs.length > 1
  // A model of another run is another model: with several runs, series are "run · model · sampler".
  const points = runs.flatMap((r) =>
    samplerPoints(r.data.metrics, r.data.nodes, r.data.edges).map((p) => (many ? { ...p, model: `${r.label} · ${p.model ?? "?"}` } : p)),
  )
  const losses = new Map<string, { run: string; table: Parameters<typeof lossPoints>[0] }[]>()
  for (const r of runs)
    for (const e of r.data.metrics)
      for (const [name, t] of Object.entries(e.metrics.tables))
        if (isLossTable(t)) losses.set(`${e.node} · ${name}`, [...(losses.get(`${e.node} · ${name}`) ?? []), { run: r.label, table: t }])
  const lossPlots: PlotSpec[] = [...losses.entries()].map(([title, items]) => {
    const values = items.flatMap(({ run, table }) =>
      lossPoints(table).map((p) => ({ ...p, series: lossColumns(table).length > 1 ? `${run} · ${p.series}` : run })),
    )
    return {
    id: `loss-${title}`,
    title,
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title,
      width: 380,
      height: 230,
      background: "white",
      data: { values },
      mark: { type: "line", strokeWidth: 1 },
      encoding: {
        x: { field: "step", type: "quantitative" },
        y: { field: "value", type: "quantitative", title: "loss", scale: scaleOf(values.map((v) => v.value)) },
        color: { field: "series", type: "nominal", title: null },
      },
    },
  }
  })
  return [...qualityPlots(points), ...lossPlots]
}

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#222}
table{border-collapse:collapse}th,td{border:1px solid #ddd;padding:3px 7px;text-align:left}thead th{background:#f5f5f5}
table.num td{text-align:right;font-variant-numeric:tabular-nums}.scroll{overflow-x:auto}code{font:12px ui-monospace,monospace}
figure{display:inline-block;margin:0 16px 16px 0;border:1px solid #eee;padding:6px;vertical-align:top}.warn{color:#8a5a00}`

export const compareHtml = (runs: readonly CompareRun[], columns: readonly string[], plots: readonly RenderedPlot[], warnings: readonly string[]): string => {
  const rows = rowsWith(compareRows(runs), columns)
  const grid: Grid = {
    columns: ["profile", ...columns],
    rows: rows.map((r) => ({ label: `${r.run} · ${r.node}`, cells: [r.profile ?? "-", ...columns.map((c) => (c in r.scalars ? fmtNum(r.scalars[c]!) : null))] })),
  }
  const runList = runs
    .map((r) => `<tr><th>${h(r.label)}</th><td><code>${h(r.data.record.id)}</code></td><td><code>${h(r.data.record.pipeline)}</code></td><td>${h(r.data.record.status)}</td><td>${h(r.data.record.backend ?? "-")}</td></tr>`)
    .join("")
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>pipe compare: ${h(runs.map((r) => r.label).join(", "))}</title><style>${CSS}</style></head>
<body><h1>Comparison of ${runs.length} run${runs.length === 1 ? "" : "s"}</h1>
<table><thead><tr><th>run</th><th>id</th><th>pipeline</th><th>status</th><th>backend</th></tr></thead><tbody>${runList}</tbody></table>
<h2>Metrics</h2>${rows.length === 0 ? "<p>No metrics artifacts.</p>" : gridHtml(grid, "run · node")}
<h2>Plots</h2><div class="plots">${plots.length === 0 ? "<p>Nothing to plot.</p>" : plots.map((p) => `<figure>${p.svg}</figure>`).join("")}</div>
${warnings.length > 0 ? `<h2>Warnings</h2><ul>${warnings.map((w) => `<li class="warn">${h(w)}</li>`).join("")}</ul>` : ""}
</body></html>
`
}

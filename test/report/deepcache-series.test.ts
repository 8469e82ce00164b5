import t from "tap"
import type { Metrics } from "../../src/artifacts/types.ts"
import type { RunEdge } from "../../src/exec/record.ts"
import type { Json } from "../../src/key/canonical.ts"
import {
  deepcachePlots, deepcachePoints, deepcacheTable, gridGroups, isCachedEntry, markdownTable, tableValue, timingOf, type CachePoint, type TimingRow,
} from "../../src/report/deepcache-series.ts"
import type { ImageFile, MetricsEntry, NodeView } from "../../src/report/load.ts"
import { plotSpecsOf, pointsOf } from "../../src/report/index.ts"
import { renderReportHtml } from "../../src/report/html.ts"
import type { RunRecord } from "../../src/exec/record.ts"

const node = (id: string, kind: string, params: { [k: string]: Json } = {}): NodeView => ({
  record: { id, kind, key: null, status: "ran", seconds: 1, outputs: {}, files: [] }, params, computeSeconds: 1, computedAt: null, outputs: [],
})
const meta = (rows: [string, string | number][]) => ({ meta: { columns: ["key", "value"], rows } })
const score = (id: string, scalars: Record<string, number>, strings: [string, string][]): MetricsEntry => ({
  node: id, kind: "score", port: "metrics", metrics: { scalars: { fld_floor: 20, class_0: 0.5, class_1: 0.5, ...scalars }, tables: meta(strings) },
})
const timingMetrics: Metrics = {
  scalars: { steps: 10, repeats: 3 },
  tables: {
    deepcache_timing: {
      columns: ["interval", "schedule", "full_steps", "shallow_steps", "mac_speedup", "seconds_uncached", "seconds_cached", "wall_speedup", "wall_speedup_min", "wall_speedup_max", "wall_over_mac"],
      rows: [[2, "uniform", 5, 5, 1.47, 2, 1.4, 1.43, 1.4, 1.5, 0.97], [5, "uniform", 2, 8, 2.0, 2, 1.05, 1.9, 1.8, 2.1, 0.95]],
    },
  },
}

const nodes = [node("ddim-10", "sample", { sampler: "ddim" }), node("ddim-10-n2-uniform", "sample", { sampler: "ddim" }), node("ddim-10-n2-non-uniform", "sample", { sampler: "ddim" }), node("time-ddim-10", "deepcache-timing", { sampler: "ddim", steps: 10 }), node("ddim-50", "sample", { sampler: "ddim" })]
const edges: RunEdge[] = [
  { from: "ddim-10", output: "images", to: "score-ddim-10", input: "images" },
  { from: "ddim-10-n2-uniform", output: "images", to: "score-ddim-10-n2-uniform", input: "images" },
  { from: "ddim-10", output: "images", to: "score-ddim-10-n2-uniform", input: "reference" },
  { from: "ddim-10-n2-non-uniform", output: "images", to: "score-ddim-10-n2-non-uniform", input: "images" },
  { from: "ddim-10", output: "images", to: "score-ddim-10-n2-non-uniform", input: "reference" },
]
const metrics: MetricsEntry[] = [
  score("score-ddim-10", { steps: 10, fld: 70 }, [["sampler", "ddim"]]),
  score("score-ddim-10-n2-uniform", { steps: 10, fld: 75, deepcache_interval: 2, full_steps: 5, mac_speedup: 1.47, mse: 1e-3, psnr: 30, ssim: 0.95 }, [["sampler", "ddim"], ["deepcache_schedule", "uniform"]]),
  score("score-ddim-10-n2-non-uniform", { steps: 10, fld: 74, deepcache_interval: 2, full_steps: 5, mac_speedup: 1.47, mse: 2e-3, psnr: 28, ssim: 0.93 }, [["sampler", "ddim"], ["deepcache_schedule", "non-uniform"]]),
  score("score-ddim-50", { steps: 50, fld: 60 }, [["sampler", "ddim"]]), // no cached run at 50 steps: not part of the study
  { node: "time-ddim-10", kind: "deepcache-timing", port: "timing", metrics: timingMetrics },
  { node: "ddim-10-n2-uniform", kind: "sample", port: "timing", metrics: { scalars: { steps: 10, deepcache_interval: 2, seconds_per_image: 0.1 }, tables: {} } }, // no FLD: not a score
]

t.test("points: cached and uncached scores of the same sampler and steps, with their timing", (t) => {
  const points = deepcachePoints({ metrics, nodes, edges })
  t.same(points.map((p) => [p.node, p.interval, p.schedule, p.wallSpeedup]), [
    ["score-ddim-10", null, null, 1],
    ["score-ddim-10-n2-non-uniform", 2, "non-uniform", 1.43], // timed as the uniform run with the same full steps
    ["score-ddim-10-n2-uniform", 2, "uniform", 1.43],
  ])
  t.match(points[2], { sampler: "ddim", steps: 10, fullSteps: 5, macSpeedup: 1.47, wallMin: 1.4, wallMax: 1.5, fld: 75, floor: 20, mse: 1e-3, psnr: 30, ssim: 0.95 })
  t.same(points[0]!.classes, [0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 0])
  t.equal(points[0]!.macSpeedup, 1)
  t.ok(isCachedEntry(metrics[1]!))
  t.notOk(isCachedEntry(metrics[0]!))
  t.equal(tableValue(metrics[2]!.metrics.tables, "deepcache_schedule"), "non-uniform")
  t.equal(tableValue(metrics[2]!.metrics.tables, "missing"), undefined)
  t.end()
})

t.test("timing join: exact config first, then equal full steps, else untimed", (t) => {
  const rows: TimingRow[] = [
    { node: "time", sampler: "ddim", steps: 10, interval: 3, schedule: "non-uniform", fullSteps: 4, macSpeedup: 1.7, wallSpeedup: 1.6, wallMin: 1.5, wallMax: 1.7 },
    { node: "time", sampler: "ddim", steps: 10, interval: 3, schedule: "uniform", fullSteps: 4, macSpeedup: 1.7, wallSpeedup: 1.65, wallMin: 1.5, wallMax: 1.7 },
  ]
  const p = { sampler: "ddim", steps: 10, interval: 3, schedule: "non-uniform", fullSteps: 4 }
  t.equal(timingOf(p, rows).wallSpeedup, 1.6)
  t.equal(timingOf({ ...p, interval: 4, schedule: "uniform" }, rows).wallSpeedup, 1.6, "another N with the same full steps")
  t.equal(timingOf({ ...p, fullSteps: 3, interval: 4 }, rows).wallSpeedup, null)
  t.equal(timingOf({ ...p, sampler: "rf-euler" }, rows).wallSpeedup, null)
  t.end()
})

t.test("plots per step count plus the trade-off scatter; none without cached runs", (t) => {
  const points = deepcachePoints({ metrics, nodes, edges })
  const plots = deepcachePlots(points)
  t.same(plots.map((p) => p.id), ["deepcache-speedup-10", "deepcache-ssim-10", "deepcache-fld-10", "deepcache-tradeoff-ssim", "deepcache-tradeoff-fld"])
  const data = (i: number) => (plots[i]!.spec as { data: { values: Record<string, unknown>[] } }).data.values
  t.same(data(0).map((v) => v.series), ["ddim non-uniform · MAC", "ddim non-uniform · wall", "ddim uniform · MAC", "ddim uniform · wall"])
  t.same(data(1).map((v) => [v.interval, v.series]), [[1, "ddim uniform"], [1, "ddim non-uniform"], [2, "ddim non-uniform"], [2, "ddim uniform"]], "uncached = N 1 on both curves")
  t.same(deepcachePlots(deepcachePoints({ metrics: [metrics[0]!], nodes, edges })), [])
  t.end()
})

t.test("table and grids", (t) => {
  const points = deepcachePoints({ metrics, nodes, edges })
  const rows = deepcacheTable(points)
  t.same(rows[0], ["ddim", "10", "uncached", "-", "10", "1.00", "1.00 (1.00-1.00)", "0", "inf", "1.0000", "70.0", "20.0"], "the uncached run against itself")
  t.same(rows[2], ["ddim", "10", "2", "uniform", "5", "1.47", "1.43 (1.40-1.50)", "1.00e-3", "30.0", "0.9500", "75.0", "20.0"])
  t.match(markdownTable(rows), /^\| sampler \| steps \| N \|.*\n\|---\|/)
  const zero: CachePoint = { ...points[2]!, mse: 0, psnr: Infinity }
  t.same(deepcacheTable([zero])[0]!.slice(7, 9), ["0", "inf"])
  const png = (n: string): ImageFile => ({ path: `${n}/grid.png`, node: n, bytes: new Uint8Array([1]) })
  const groups = gridGroups(points, [png("ddim-10-n2-uniform"), png("ddim-10"), png("ddim-10-n2-non-uniform")], edges)
  t.same(groups.map((g) => [g.title, g.grids.map((x) => [x.caption, x.image.node])]), [
    ["ddim, 10 steps", [["uncached", "ddim-10"], ["N = 2, non-uniform", "ddim-10-n2-non-uniform"], ["N = 2, uniform", "ddim-10-n2-uniform"]]],
  ])
  t.end()
})

t.test("the run report carries the DeepCache plots; cached runs stay out of the quality-vs-steps plots", (t) => {
  // One report section holding the whole run (a pipeline without include namespaces).
  const plotsOf = (m: readonly MetricsEntry[]) => {
    const section = { scope: "", title: "deepcache", file: null, description: "", nodes: [], points: pointsOf({ metrics: m, nodes, edges }) }
    return plotSpecsOf({ metrics: m, nodes, edges }, [section]).sections[0] ?? []
  }
  const specs = plotsOf(metrics)
  const ids = specs.map((s) => s.id)
  t.same(ids.filter((id) => !id.startsWith("quality-")), deepcachePlots(deepcachePoints({ metrics, nodes, edges })).map((s) => s.id))
  t.ok(ids.includes("quality-fld"))
  // Plot specs carry no node ids: the quality-vs-steps plot of the whole run equals that of its uncached runs alone.
  const fld = (m: readonly MetricsEntry[]) => plotsOf(m).find((s) => s.id === "quality-fld")
  t.ok(fld(metrics) !== undefined)
  t.same(fld(metrics), fld(metrics.filter((e) => !isCachedEntry(e))), "no cached point against steps")
  t.same(plotsOf(metrics.filter((e) => !isCachedEntry(e))).filter((s) => !s.id.startsWith("quality-")), [], "no cached sample: no DeepCache plot")
  t.end()
})

t.test("the report page shows a section's DeepCache grids side by side per sampler and steps, each once", (t) => {
  const png = (n: string): ImageFile => ({ path: `${n}/grid.png`, node: n, bytes: new Uint8Array([1]) })
  const images = [png("ddim-10-n2-uniform"), png("ddim-10"), png("ddim-10-n2-non-uniform"), png("ddim-50")]
  const record = { format: 1, id: "r1", pipeline: "pipelines/deepcache.yaml", name: "deepcache", profile: null, sets: [], backend: null, notes: [], started: "2026-11-30T00:00:00.000Z", seconds: 1, status: "ok", nodes: nodes.map((n) => n.record), edges } as unknown as RunRecord
  const section = { scope: "", title: "deepcache", file: null, description: "", nodes: nodes.map((n) => n.record.id), points: [] }
  const groups = gridGroups(deepcachePoints({ metrics, nodes, edges }), images, edges)
  const html = renderReportHtml({
    data: { record, runDir: "/tmp/r1", nodes, edges, metrics, images, otherFiles: [], warnings: [] },
    dag: "",
    frontier: undefined,
    sections: [{ section, plots: [], gridGroups: groups }],
  })
  t.match(html, /<h3>Samples by cache interval[^]*<h4>ddim, 10 steps<\/h4>/)
  t.match(html, /uncached · <b>ddim-10<\/b>[^]*N = 2, non-uniform · <b>ddim-10-n2-non-uniform<\/b>[^]*N = 2, uniform · <b>ddim-10-n2-uniform<\/b>/, "uncached first, then by N and schedule")
  t.equal(html.split("ddim-10-n2-uniform/grid.png").length - 1, 2, "each grouped grid once (its alt text and caption)")
  t.match(html, /<h3>Other samples<\/h3>[^]*ddim-50/, "grids outside the study stay under their own heading")
  t.end()
})

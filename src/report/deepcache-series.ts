// The DeepCache study's report series (pipelines/deepcache.yaml), as pure data: quality points from the
// score nodes of cached and uncached samples, wall-clock points from the deepcache-timing nodes, their
// join, and Vega-Lite specs for speed-up vs interval and quality vs interval per step count, the
// speed-quality scatter, a table and the sample grids grouped per interval. Nothing here reads files.
// A cached sample's record (nodes/_deepcache.ts) reaches its score as scalars (deepcache_interval,
// full_steps, mac_speedup, ...) and, for the strings, as rows of the score's `meta` key/value table
// (sampler, deepcache_schedule); timing nodes name their sampler in their params.
import type { MetricsTable } from "../artifacts/types.ts"
import type { RunEdge } from "../exec/record.ts"
import type { ImageFile, MetricsEntry, NodeView } from "./load.ts"
import type { PlotSpec } from "./plots.ts"
import { samplerFromAncestors } from "./series.ts"

export interface CachePoint {
  readonly node: string
  readonly sampler: string
  readonly steps: number
  /** null: the uncached sampler. */
  readonly interval: number | null
  readonly schedule: string | null
  readonly fullSteps: number
  readonly macSpeedup: number
  /** Median wall-clock speed-up from a timing node (same config, else same full/shallow counts); null when untimed. */
  readonly wallSpeedup: number | null
  readonly wallMin: number | null
  readonly wallMax: number | null
  readonly fld: number | null
  readonly floor: number | null
  readonly mse: number | null
  readonly psnr: number | null
  readonly ssim: number | null
  /** Judge's class shares class_0..class_9. */
  readonly classes: readonly number[]
}

export interface TimingRow {
  readonly node: string
  readonly sampler: string
  readonly steps: number
  readonly interval: number
  readonly schedule: string
  readonly fullSteps: number
  readonly macSpeedup: number
  readonly wallSpeedup: number
  readonly wallMin: number
  readonly wallMax: number
}

const num = (v: unknown): number | null => (typeof v === "number" && !Number.isNaN(v) ? v : null)

/** A value of a key/value table (columns key|name, value). */
export const tableValue = (tables: Readonly<Record<string, MetricsTable>>, key: string): string | number | undefined => {
  for (const t of Object.values(tables)) {
    const k = t.columns.findIndex((c) => c === "key" || c === "name")
    const v = t.columns.indexOf("value")
    if (k < 0 || v < 0) continue
    const row = t.rows.find((r) => r[k] === key)
    if (row !== undefined) return row[v]
  }
  return undefined
}

/** The score of a sample node (it has FLD) that a DeepCache study can place: its sampler and steps are known. */
const scorePoint = (e: MetricsEntry, nodes: readonly NodeView[], edges: readonly RunEdge[]): Omit<CachePoint, "wallSpeedup" | "wallMin" | "wallMax"> | null => {
  const s = e.metrics.scalars
  const steps = num(s.steps)
  const fld = num(s.fld)
  if (steps === null || fld === null) return null
  const sampler = tableValue(e.metrics.tables, "sampler") ?? samplerFromAncestors(e.node, nodes, edges)
  if (typeof sampler !== "string") return null
  const interval = num(s.deepcache_interval)
  const schedule = tableValue(e.metrics.tables, "deepcache_schedule")
  return {
    node: e.node,
    sampler,
    steps,
    interval,
    schedule: interval === null ? null : typeof schedule === "string" ? schedule : null,
    fullSteps: num(s.full_steps) ?? steps,
    macSpeedup: num(s.mac_speedup) ?? 1, // uncached
    fld,
    floor: num(s.fld_floor),
    // The uncached run against itself (it has no reference): identical images.
    mse: num(s.mse) ?? (interval === null ? 0 : null),
    psnr: num(s.psnr) ?? (interval === null ? Infinity : null),
    ssim: num(s.ssim) ?? (interval === null ? 1 : null),
    classes: Array.from({ length: 10 }, (_, k) => num(s[`class_${k}`]) ?? 0),
  }
}

/** Rows of every deepcache-timing node's `deepcache_timing` table. */
export const timingRows = (entries: readonly MetricsEntry[], nodes: readonly NodeView[], edges: readonly RunEdge[]): TimingRow[] =>
  entries.flatMap((e) => {
    const t = e.metrics.tables.deepcache_timing
    const steps = num(e.metrics.scalars.steps)
    const sampler = samplerFromAncestors(e.node, nodes, edges)
    if (t === undefined || steps === null || sampler === undefined) return []
    const col = (name: string): number => t.columns.indexOf(name)
    return t.rows.flatMap((r) => {
      const [interval, fullSteps, mac, wall, lo, hi] = ["interval", "full_steps", "mac_speedup", "wall_speedup", "wall_speedup_min", "wall_speedup_max"].map((c) => num(r[col(c)]))
      const schedule = r[col("schedule")]
      if (interval == null || fullSteps == null || mac == null || wall == null || lo == null || hi == null || typeof schedule !== "string") return []
      return [{ node: e.node, sampler, steps, interval, schedule, fullSteps, macSpeedup: mac, wallSpeedup: wall, wallMin: lo, wallMax: hi }]
    })
  })

/**
 * The timing of a point: the row of the same sampler, steps, interval and schedule; else a row with the
 * same full-step count (the same passes in another order: the same work); the uncached sampler is 1.
 */
export const timingOf = (p: Pick<CachePoint, "sampler" | "steps" | "interval" | "schedule" | "fullSteps">, rows: readonly TimingRow[]): Pick<CachePoint, "wallSpeedup" | "wallMin" | "wallMax"> => {
  if (p.interval === null) return { wallSpeedup: 1, wallMin: 1, wallMax: 1 }
  const same = rows.filter((r) => r.sampler === p.sampler && r.steps === p.steps)
  const r = same.find((x) => x.interval === p.interval && x.schedule === p.schedule) ?? same.find((x) => x.fullSteps === p.fullSteps)
  return r === undefined ? { wallSpeedup: null, wallMin: null, wallMax: null } : { wallSpeedup: r.wallSpeedup, wallMin: r.wallMin, wallMax: r.wallMax }
}

/**
 * Every scored sample of a run that belongs to a DeepCache comparison: the cached ones and the uncached
 * ones with the same sampler and steps. Sorted by sampler, steps, interval (uncached first), schedule.
 */
export const deepcachePoints = (data: { readonly metrics: readonly MetricsEntry[]; readonly nodes: readonly NodeView[]; readonly edges: readonly RunEdge[] }): CachePoint[] => {
  const rows = timingRows(data.metrics, data.nodes, data.edges)
  const scored = data.metrics.flatMap((e) => {
    const p = scorePoint(e, data.nodes, data.edges)
    return p === null ? [] : [p]
  })
  const cached = new Set(scored.filter((p) => p.interval !== null).map((p) => `${p.sampler}/${p.steps}`))
  const order = (p: CachePoint): string => `${p.sampler}/${String(p.steps).padStart(6, "0")}/${p.interval === null ? "0" : String(p.interval).padStart(6, "0")}/${p.schedule ?? ""}`
  return scored
    .filter((p) => cached.has(`${p.sampler}/${p.steps}`))
    .map((p) => ({ ...p, ...timingOf(p, rows) }))
    .sort((a, b) => order(a).localeCompare(order(b)))
}

/** True for the metrics of a cached run (a quality-vs-steps plot should leave these out). */
export const isCachedEntry = (e: MetricsEntry): boolean => num(e.metrics.scalars.deepcache_interval) !== null

// ---- plots ------------------------------------------------------------------------------------------
/** Same shape as plots.ts's PlotSpec, so renderPlots takes them as they are. */
export type DeepCachePlot = PlotSpec

const WIDTH = 380
const HEIGHT = 230
const base = (title: string) => ({ $schema: "https://vega.github.io/schema/vega-lite/v6.json" as const, title, width: WIDTH, height: HEIGHT, background: "white" })
const series = (p: CachePoint): string => `${p.sampler} ${p.schedule ?? "uncached"}`
const xInterval = (points: readonly CachePoint[]) => ({
  field: "interval",
  type: "quantitative" as const,
  title: "cache interval N (1 = uncached)",
  scale: { type: "log" as const, base: 2, nice: false, padding: 10 },
  axis: { values: [...new Set(points.map((p) => p.interval ?? 1))].sort((a, b) => a - b) },
})

/** Speed-up vs interval, one plot per step count: the exact MAC speed-up (lines) and the measured one (points, min-max bars). */
export const speedupPlots = (points: readonly CachePoint[]): DeepCachePlot[] =>
  [...new Set(points.map((p) => p.steps))].map((steps) => {
    const at = points.filter((p) => p.steps === steps && p.interval !== null)
    const values = at.flatMap((p) => [
      { interval: p.interval, series: `${series(p)} · MAC`, speedup: p.macSpeedup, lo: p.macSpeedup, hi: p.macSpeedup, node: p.node },
      ...(p.wallSpeedup === null ? [] : [{ interval: p.interval, series: `${series(p)} · wall`, speedup: p.wallSpeedup, lo: p.wallMin, hi: p.wallMax, node: p.node }]),
    ])
    const color = { field: "series", type: "nominal" as const, title: null }
    return {
      id: `deepcache-speedup-${steps}`,
      title: `DeepCache speed-up vs interval, ${steps} steps`,
      spec: {
        ...base(`DeepCache speed-up vs interval, ${steps} steps`),
        data: { values },
        layer: [
          { mark: { type: "line", point: true }, encoding: { x: xInterval(at), y: { field: "speedup", type: "quantitative", title: "speed-up over uncached (x)" }, color, tooltip: [{ field: "node" }, { field: "speedup" }] } },
          { mark: { type: "rule" }, encoding: { x: xInterval(at), y: { field: "lo", type: "quantitative" }, y2: { field: "hi" }, color } },
        ],
      },
    }
  })

/** Quality vs interval per step count: SSIM against the uncached images, and FLD with the floor. */
export const qualityVsIntervalPlots = (points: readonly CachePoint[]): DeepCachePlot[] =>
  [...new Set(points.map((p) => p.steps))].flatMap((steps) => {
    const at = points.filter((p) => p.steps === steps)
    // The uncached point sits at N = 1 on every schedule's curve.
    const values = at.flatMap((p) => (p.interval === null ? ["uniform", "non-uniform"].map((s) => ({ ...p, interval: 1, schedule: s })) : [p]))
      .map((p) => ({ interval: p.interval, series: series(p), ssim: p.ssim, fld: p.fld, floor: p.floor, node: p.node }))
    const color = { field: "series", type: "nominal" as const, title: null }
    const plot = (metric: "ssim" | "fld", title: string): DeepCachePlot => ({
      id: `deepcache-${metric}-${steps}`,
      title: `${title} vs interval, ${steps} steps`,
      spec: {
        ...base(`${title} vs interval, ${steps} steps`),
        data: { values: values.filter((v) => v[metric] !== null) },
        layer: [
          { mark: { type: "line", point: true }, encoding: { x: xInterval(at), y: { field: metric, type: "quantitative", title, scale: { zero: false } }, color, tooltip: [{ field: "node" }, { field: metric }] } },
          ...(metric === "fld" ? [{ mark: { type: "rule" as const, strokeDash: [6, 4], color: "#555" }, encoding: { y: { aggregate: "mean" as const, field: "floor", type: "quantitative" as const } } }] : []),
        ],
      },
    })
    return [plot("ssim", "SSIM vs uncached (same seed)"), plot("fld", "FLD (dashed: real-vs-real floor)")]
  })

/** The speed-quality trade-off: SSIM and FLD against the speed-up (measured when timed, else MAC), all points. */
export const tradeoffPlots = (points: readonly CachePoint[]): DeepCachePlot[] => {
  const values = points.map((p) => ({
    speedup: p.wallSpeedup ?? p.macSpeedup, mac: p.macSpeedup, series: `${p.sampler}-${p.steps}`, schedule: p.schedule ?? "uncached", interval: p.interval ?? 1, ssim: p.ssim, fld: p.fld, node: p.node,
  }))
  const plot = (metric: "ssim" | "fld", title: string): DeepCachePlot => ({
    id: `deepcache-tradeoff-${metric}`,
    title: `${title} vs speed-up`,
    spec: {
      ...base(`${title} vs speed-up (wall clock; MAC where untimed)`),
      data: { values: values.filter((v) => v[metric] !== null) },
      mark: { type: "point", filled: true },
      encoding: {
        x: { field: "speedup", type: "quantitative", title: "speed-up over uncached (x)", scale: { zero: false } },
        y: { field: metric, type: "quantitative", title, scale: { zero: false } },
        color: { field: "series", type: "nominal", title: "sampler-steps" },
        shape: { field: "schedule", type: "nominal", title: "schedule" },
        tooltip: [{ field: "node" }, { field: "interval" }, { field: "mac" }, { field: "speedup" }, { field: metric }],
      },
    },
  })
  return [plot("ssim", "SSIM"), plot("fld", "FLD")]
}

/** Every DeepCache plot of a run (none when it has no cached sample). */
export const deepcachePlots = (points: readonly CachePoint[]): DeepCachePlot[] =>
  points.length === 0 ? [] : [...speedupPlots(points), ...qualityVsIntervalPlots(points), ...tradeoffPlots(points)]

// ---- table and grids --------------------------------------------------------------------------------
export const TABLE_COLUMNS = ["sampler", "steps", "N", "schedule", "full", "MAC x", "wall x", "MSE", "PSNR", "SSIM", "FLD", "floor"] as const

const fmt = (v: number | null, digits: number): string => (v === null ? "-" : Number.isFinite(v) ? v.toFixed(digits) : v > 0 ? "inf" : "-inf")

/** One row per point: the README's results table. */
export const deepcacheTable = (points: readonly CachePoint[]): string[][] =>
  points.map((p) => [
    p.sampler, String(p.steps), p.interval === null ? "uncached" : String(p.interval), p.schedule ?? "-", String(p.fullSteps),
    fmt(p.macSpeedup, 2), p.wallSpeedup === null ? "-" : `${fmt(p.wallSpeedup, 2)} (${fmt(p.wallMin, 2)}-${fmt(p.wallMax, 2)})`,
    p.mse === null ? "-" : p.mse === 0 ? "0" : p.mse.toExponential(2), fmt(p.psnr, 1), fmt(p.ssim, 4), fmt(p.fld, 1), fmt(p.floor, 1),
  ])

/** The table as Markdown. */
export const markdownTable = (rows: readonly (readonly string[])[], columns: readonly string[] = TABLE_COLUMNS): string =>
  [`| ${columns.join(" | ")} |`, `|${columns.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n")

export interface GridGroup {
  readonly title: string // "ddim, 100 steps"
  readonly grids: readonly { readonly caption: string; readonly image: ImageFile }[]
}

/**
 * The sample grids of the points, grouped per sampler and step count, uncached first, then by
 * interval and schedule (the grid files are named after the sample nodes: <node>/grid.png).
 */
export const gridGroups = (points: readonly CachePoint[], images: readonly ImageFile[], edges: readonly RunEdge[]): GridGroup[] => {
  const sampleOf = (score: string): string | undefined => edges.find((e) => e.to === score && e.input === "images")?.from
  const groups = new Map<string, { caption: string; image: ImageFile }[]>()
  for (const p of points) {
    const sample = sampleOf(p.node)
    const image = images.find((i) => i.node === sample)
    if (image === undefined) continue
    const key = `${p.sampler}, ${p.steps} steps`
    const caption = p.interval === null ? "uncached" : `N = ${p.interval}, ${p.schedule ?? ""}`
    groups.set(key, [...(groups.get(key) ?? []), { caption, image }])
  }
  return [...groups].map(([title, grids]) => ({ title, grids }))
}

// Report plots as Vega-Lite specs (Satyanarayan et al. 2017), compiled with vega-lite and rendered
// to static SVG server-side by vega's headless View: the report stays one self-contained file with
// no scripts. Spec builders are pure (tests check them as data); only `renderPlot` touches vega.
import { Worker } from "node:worker_threads"
import type { TopLevelSpec } from "vega-lite"
import type { MetricsTable } from "../artifacts/types.ts"
import type { MetricsEntry } from "./load.ts"

export interface PlotSpec {
  readonly id: string
  readonly title: string
  readonly spec: TopLevelSpec
}

export interface RenderedPlot {
  readonly id: string
  readonly title: string
  readonly svg: string
}

const WIDTH = 380
const HEIGHT = 230
/** Loss tables longer than this are strided down: the SVG keeps one path point per row. */
export const MAX_POINTS = 600

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v)

/** Log scale when every value is positive and they span more than a decade. */
const logIfWide = (values: readonly number[]): "log" | "linear" => {
  if (values.length === 0 || values.some((v) => !(v > 0))) return "linear"
  return Math.max(...values) / Math.min(...values) > 10 ? "log" : "linear"
}

/** A log scale has no zero; a linear one should not be forced to include it (losses, FLDs). */
export const scaleOf = (values: readonly number[]) => (logIfWide(values) === "log" ? { type: "log" as const } : { type: "linear" as const, zero: false })

/** Every index 0, s, 2s, ... plus the last, so at most about `max` rows survive. */
export const strideIndices = (n: number, max: number): number[] => {
  if (n <= max) return Array.from({ length: n }, (_, i) => i)
  const s = Math.ceil(n / max)
  const idx = Array.from({ length: Math.ceil(n / s) }, (_, i) => i * s)
  return idx.at(-1) === n - 1 ? idx : [...idx, n - 1]
}

/** Columns of a table that hold a loss or a loss term: "loss", "ema_loss", "recon", "kl", "mse"... */
export const lossColumns = (t: MetricsTable): string[] => t.columns.filter((c) => /loss|recon|^kl|mse|nll|elbo/i.test(c))

/** A table is a loss curve when it has a numeric "step" column and at least one loss column. */
export const isLossTable = (t: MetricsTable): boolean => t.columns.includes("step") && lossColumns(t).length > 0 && t.rows.length > 0

export interface LossPoint {
  readonly step: number
  readonly series: string
  readonly value: number
}

/** Long-format points of a loss table (non-finite losses dropped: a log axis cannot show them). */
export const lossPoints = (t: MetricsTable): LossPoint[] => {
  const si = t.columns.indexOf("step")
  const cols = lossColumns(t).map((c) => ({ c, i: t.columns.indexOf(c) }))
  return strideIndices(t.rows.length, MAX_POINTS).flatMap((r) => {
    const row = t.rows[r]!
    const step = row[si]
    if (!isNum(step)) return []
    return cols.flatMap(({ c, i }) => {
      const v = row[i]
      return isNum(v) ? [{ step, series: c, value: v }] : []
    })
  })
}

/**
 * One line chart per loss table of every metrics artifact. No smoothing here: the producers already
 * store window means (train-vae, train-classifier) or an EMA column (train-diffusion's ema_loss).
 */
export const lossCurvePlots = (entries: readonly MetricsEntry[]): PlotSpec[] =>
  entries.flatMap((e) =>
    Object.entries(e.metrics.tables)
      .filter(([, t]) => isLossTable(t))
      .flatMap(([name, t]) => {
        const values = lossPoints(t)
        // One logged step (a smoke run) makes no curve, and vega labels a one-value axis badly.
        if (new Set(values.map((v) => v.step)).size < 2) return []
        const spec: TopLevelSpec = {
          $schema: "https://vega.github.io/schema/vega-lite/v6.json",
          title: `${e.node} · ${name}`,
          width: WIDTH,
          height: HEIGHT,
          background: "white",
          data: { values },
          mark: { type: "line", strokeWidth: 1.5, point: values.length <= 30 },
          encoding: {
            x: { field: "step", type: "quantitative", title: "step" },
            y: { field: "value", type: "quantitative", title: "loss", scale: scaleOf(values.map((v) => v.value)) },
            color: { field: "series", type: "nominal", title: null },
          },
        }
        return [{ id: `loss-${e.node}-${e.port}-${name}`, title: `${e.node} · ${name}`, spec }]
      }),
  )

export interface QualityPoint {
  readonly node: string
  readonly series: string
  readonly steps: number
  readonly fld: number | null
  readonly floor: number | null
  readonly secondsPerImage: number | null
}

/** One point per metrics artifact that carries `steps` (score nodes pass the sampler's through). */
export const qualityPoints = (entries: readonly MetricsEntry[], seriesOf: (e: MetricsEntry) => string): QualityPoint[] =>
  entries.flatMap((e) => {
    const s = e.metrics.scalars
    const steps = s.steps
    if (!isNum(steps)) return []
    const num = (k: string): number | null => (isNum(s[k]) ? s[k] : null)
    return [{ node: e.node, series: seriesOf(e), steps, fld: num("fld"), floor: num("fld_floor"), secondsPerImage: num("seconds_per_image") }]
  })

const xSteps = (steps: readonly number[]) => ({
  field: "steps",
  type: "quantitative" as const,
  title: "sampling steps",
  // nice: false keeps the axis at the measured step counts instead of rounding out to a decade.
  scale: steps.every((s) => s > 0) ? { type: "log" as const, nice: false, padding: 12 } : { type: "linear" as const, nice: false, padding: 12 },
  axis: { values: [...new Set(steps)].sort((a, b) => a - b) },
})

/**
 * FLD vs steps per sampler with the real-vs-real floor as a dashed rule (one rule per distinct
 * floor: floors differ when sample counts differ), and seconds per image vs steps.
 */
export const qualityPlots = (points: readonly QualityPoint[]): PlotSpec[] => {
  const plots: PlotSpec[] = []
  const withFld = points.filter((p) => p.fld !== null)
  const color = { field: "series", type: "nominal" as const, title: "sampler" }
  if (withFld.length > 0) {
    const floors = [...new Set(withFld.map((p) => p.floor).filter((f): f is number => f !== null))]
    const ys = [...withFld.map((p) => p.fld as number), ...floors]
    const y = { type: "quantitative" as const, title: "FLD (lower is better)", scale: scaleOf(ys) }
    plots.push({
      id: "quality-fld",
      title: "FLD vs sampling steps",
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: "FLD vs sampling steps",
        width: WIDTH,
        height: HEIGHT,
        background: "white",
        layer: [
          {
            data: { values: withFld.map((p) => ({ series: p.series, steps: p.steps, fld: p.fld, node: p.node })) },
            mark: { type: "line", point: true },
            encoding: { x: xSteps(withFld.map((p) => p.steps)), y: { ...y, field: "fld" }, color, tooltip: [{ field: "node" }, { field: "fld" }] },
          },
          ...(floors.length > 0
            ? [
                {
                  data: { values: floors.map((f) => ({ floor: f, label: `real-vs-real floor ${f.toPrecision(3)}` })) },
                  layer: [
                    { mark: { type: "rule" as const, strokeDash: [6, 4], color: "#555" }, encoding: { y: { ...y, field: "floor" } } },
                    {
                      mark: { type: "text" as const, align: "left" as const, dx: 4, dy: -6, color: "#555" },
                      encoding: { y: { ...y, field: "floor" }, x: { value: 0 }, text: { field: "label" } },
                    },
                  ],
                },
              ]
            : []),
        ],
      },
    })
  }
  // A sampling node's own timing metrics and the score node passing them through give the same
  // point twice; keep one.
  const seen = new Set<string>()
  const withSpi = points.filter((p) => {
    const k = JSON.stringify([p.series, p.steps, p.secondsPerImage])
    const fresh = p.secondsPerImage !== null && !seen.has(k)
    seen.add(k)
    return fresh
  })
  if (withSpi.length > 0) {
    plots.push({
      id: "quality-speed",
      title: "seconds per image vs sampling steps",
      spec: {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: "seconds per image vs sampling steps",
        width: WIDTH,
        height: HEIGHT,
        background: "white",
        data: { values: withSpi.map((p) => ({ series: p.series, steps: p.steps, spi: p.secondsPerImage, node: p.node })) },
        mark: { type: "line", point: true },
        encoding: {
          x: xSteps(withSpi.map((p) => p.steps)),
          y: { field: "spi", type: "quantitative", title: "seconds per image", scale: scaleOf(withSpi.map((p) => p.secondsPerImage as number)) },
          color,
        },
      },
    })
  }
  return plots
}

export interface RenderResult {
  readonly plots: RenderedPlot[]
  readonly warnings: string[]
}

type WorkerReply = { svg: string; warnings: string[] } | { error: string; warnings: string[] }

const isReply = (v: unknown): v is WorkerReply =>
  typeof v === "object" && v !== null && Array.isArray((v as { warnings?: unknown }).warnings) && (typeof (v as { svg?: unknown }).svg === "string" || typeof (v as { error?: unknown }).error === "string")

/**
 * Vega-Lite -> Vega -> static SVG (no DOM, no network: data is inline), all specs in one worker
 * thread (src/report/vega-worker.mjs). A spec vega rejects becomes a warning, not an exception, so
 * one bad plot never costs the rest of the report.
 */
export const renderPlots = (specs: readonly PlotSpec[], timeoutMs = 120_000): Promise<RenderResult> => {
  if (specs.length === 0) return Promise.resolve({ plots: [], warnings: [] })
  return new Promise((resolve) => {
    // No loader hooks in the worker: execArgv drops tsx's --import, and an empty NODE_OPTIONS drops
    // hooks injected through the environment (tap's), which the worker would otherwise load again.
    const worker = new Worker(new URL("./vega-worker.mjs", import.meta.url), {
      workerData: { specs: specs.map((s) => s.spec) },
      execArgv: [],
      env: { ...process.env, NODE_OPTIONS: "" },
    })
    const settle = (r: RenderResult): void => {
      clearTimeout(timer)
      void worker.terminate()
      resolve(r)
    }
    const timer = setTimeout(() => settle({ plots: [], warnings: [`plots: vega did not finish within ${timeoutMs / 1000} s`] }), timeoutMs)
    worker.once("error", (e) => settle({ plots: [], warnings: [`plots: vega worker failed: ${e.message}`] }))
    worker.once("message", (replies: unknown) => {
      const plots: RenderedPlot[] = []
      const warnings: string[] = []
      specs.forEach((s, i) => {
        const r = Array.isArray(replies) ? (replies[i] as unknown) : undefined
        if (!isReply(r)) return void warnings.push(`plot "${s.title}": no result from vega`)
        warnings.push(...r.warnings.map((w) => `plot "${s.title}": ${w}`))
        if ("svg" in r) plots.push({ id: s.id, title: s.title, svg: r.svg })
        else warnings.push(`plot "${s.title}" failed: ${r.error}`)
      })
      settle({ plots, warnings })
    })
  })
}

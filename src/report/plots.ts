// Report plots as Vega-Lite specs (Satyanarayan et al. 2017), compiled with vega-lite and rendered
// to static SVG server-side by vega's headless View: the report stays one self-contained file with
// no scripts. Spec builders are pure (tests check them as data); only `renderPlot` touches vega.
import { existsSync, mkdirSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"
import type { TopLevelSpec } from "vega-lite"
import type { MetricsTable } from "../artifacts/types.ts"
import { sha256 } from "../key/canonical.ts"
import { writeFileAtomic } from "../store/atomic.ts"
import type { GuidancePoint } from "./guidance-series.ts"
import type { MetricsEntry } from "./load.ts"
import { localModel, type SamplerPoint, seriesLabel } from "./series.ts"

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

// Two plots with their legends side by side in the 1152-px column of a 1280-px window.
const WIDTH = 320
const HEIGHT = 220
/** Wide plots (the frontier) stay inside a 1280-px page with their legend. */
const WIDE = 760
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
export const lossCurvePlots = (entries: readonly MetricsEntry[], scope: string | null = null): PlotSpec[] =>
  entries.flatMap((e) =>
    Object.entries(e.metrics.tables)
      .filter(([, t]) => isLossTable(t))
      .flatMap(([name, t]) => {
        const values = lossPoints(t)
        // One logged step (a smoke run) makes no curve, and vega labels a one-value axis badly.
        if (new Set(values.map((v) => v.step)).size < 2) return []
        const spec: TopLevelSpec = {
          $schema: "https://vega.github.io/schema/vega-lite/v6.json",
          // Inside a study's section its namespace goes unsaid, as in the study's own report.
          title: `${scope !== null && scope !== "" && e.node.startsWith(`${scope}/`) ? e.node.slice(scope.length + 1) : e.node} · ${name}`,
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
        return [{ id: `loss-${e.node}-${e.port}-${name}`, title: String(spec.title), spec }]
      }),
  )

const xSteps = (steps: readonly number[]) => ({
  field: "steps",
  type: "quantitative" as const,
  title: "sampling steps",
  // nice: false keeps the axis at the measured step counts instead of rounding out to a decade.
  scale: steps.every((s) => s > 0) ? { type: "log" as const, nice: false, padding: 12 } : { type: "linear" as const, nice: false, padding: 12 },
  axis: { values: [...new Set(steps)].sort((a, b) => a - b) },
})

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"

/** The real-vs-real floors (one dashed rule each: floors differ when sample counts differ) on a y encoding. */
const floorLayer = (floors: readonly number[], y: object) => ({
  data: { values: floors.map((f) => ({ floor: f, label: `real-vs-real floor ${f.toPrecision(3)}` })) },
  layer: [
    { mark: { type: "rule" as const, strokeDash: [6, 4], color: "#555" }, encoding: { y: { ...y, field: "floor" } } },
    {
      mark: { type: "text" as const, align: "left" as const, dx: 4, dy: -6, color: "#555" },
      encoding: { y: { ...y, field: "floor" }, x: { value: 0 }, text: { field: "label" } },
    },
  ],
})

const floorsOf = (points: readonly { readonly floor: number | null }[]): number[] => [...new Set(points.map((p) => p.floor).filter((f): f is number => f !== null))]

// Specs carry no node ids (a static SVG has no tooltips): the same study plotted in its own run and
// inside study.yaml gives the same spec, so the second report finds the first one's SVG memoised.

/**
 * FLD vs steps, one line per series (model · sampler setting), ± its standard error when the score
 * reports one, with the real-vs-real floor as a dashed rule; and seconds per image vs steps. `scope`
 * shortens the model ids of one report section; `id` keeps plot ids unique across sections.
 */
export const qualityPlots = (points: readonly SamplerPoint[], scope: string | null = null, id = ""): PlotSpec[] => {
  const plots: PlotSpec[] = []
  const withFld = points.filter((p) => p.fld !== null)
  const color = { field: "series", type: "nominal" as const, title: "model · sampler" }
  if (withFld.length > 0) {
    const floors = floorsOf(withFld)
    const se = (p: SamplerPoint) => p.fldSe ?? 0
    const ys = [...withFld.flatMap((p) => [(p.fld as number) - se(p), (p.fld as number) + se(p)]), ...floors].filter((v) => v > 0)
    const y = { type: "quantitative" as const, title: "FLD (lower is better)", scale: scaleOf(ys) }
    const values = withFld.map((p) => ({ series: seriesLabel(p, scope), steps: p.steps, fld: p.fld, lo: (p.fld as number) - se(p), hi: (p.fld as number) + se(p) }))
    const x = xSteps(withFld.map((p) => p.steps))
    plots.push({
      id: `quality-fld${id}`,
      title: "FLD vs sampling steps",
      spec: {
        $schema: SCHEMA,
        title: "FLD vs sampling steps",
        width: WIDTH,
        height: HEIGHT,
        background: "white",
        layer: [
          {
            data: { values },
            layer: [
              { mark: { type: "line", point: true }, encoding: { x, y: { ...y, field: "fld" }, color } },
              ...(withFld.some((p) => p.fldSe !== null) ? [{ mark: { type: "rule" as const }, encoding: { x, y: { ...y, field: "lo" }, y2: { field: "hi" }, color } }] : []),
            ],
          },
          ...(floors.length > 0 ? [floorLayer(floors, y)] : []),
        ],
      },
    })
  }
  const withSpi = points.filter((p) => p.secondsPerImage !== null)
  if (withSpi.length > 0) {
    plots.push({
      id: `quality-speed${id}`,
      title: "seconds per image vs sampling steps",
      spec: {
        $schema: SCHEMA,
        title: "seconds per image vs sampling steps",
        width: WIDTH,
        height: HEIGHT,
        background: "white",
        data: { values: withSpi.map((p) => ({ series: seriesLabel(p, scope), steps: p.steps, spi: p.secondsPerImage })) },
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

/**
 * Classifier-free guidance (pipelines/cfg.yaml): accuracy against the requested labels vs the
 * guidance scale s, and FLD vs s with the real-vs-real floor, one line per conditioning route. Its
 * samplers share one step count, so these replace the section's steps plots (src/report/index.ts).
 */
export const guidancePlots = (points: readonly GuidancePoint[], id = ""): PlotSpec[] => {
  const x = { field: "s", type: "quantitative" as const, title: "guidance scale s", scale: { nice: false }, axis: { values: [...new Set(points.map((p) => p.guidance))].sort((a, b) => a - b) } }
  const color = { field: "route", type: "nominal" as const, title: "route" }
  const line = (title: string, field: string, y: object, values: readonly object[], extra: readonly object[] = []): PlotSpec => ({
    id: `guidance-${field}${id}`,
    title,
    spec: {
      $schema: SCHEMA,
      title,
      width: WIDTH,
      height: HEIGHT,
      background: "white",
      layer: [{ data: { values }, mark: { type: "line", point: true }, encoding: { x, y: { ...y, field }, color } }, ...extra],
    } as TopLevelSpec,
  })
  const plots: PlotSpec[] = []
  const acc = points.filter((p) => p.accuracy !== null)
  if (acc.length > 0)
    plots.push(line("accuracy vs guidance scale", "accuracy", { type: "quantitative", title: "accuracy (requested label)", scale: { zero: false } }, acc.map((p) => ({ route: p.route, s: p.guidance, accuracy: p.accuracy }))))
  const fld = points.filter((p) => p.fld !== null)
  if (fld.length > 0) {
    const floors = floorsOf(fld)
    const y = { type: "quantitative" as const, title: "FLD (lower is better)", scale: scaleOf([...fld.map((p) => p.fld as number), ...floors]) }
    plots.push(line("FLD vs guidance scale", "fld", y, fld.map((p) => ({ route: p.route, s: p.guidance, fld: p.fld })), floors.length > 0 ? [floorLayer(floors, y)] : []))
  }
  return plots
}

/** Points no other point beats on both axes (lower FLD and fewer seconds per image), fastest first. */
export const paretoFront = <P extends { readonly fld: number | null; readonly secondsPerImage: number | null }>(points: readonly P[]): P[] => {
  const pts = points.filter((p) => p.fld !== null && p.secondsPerImage !== null)
  const sorted = [...pts].sort((a, b) => (a.secondsPerImage as number) - (b.secondsPerImage as number) || (a.fld as number) - (b.fld as number))
  const front: P[] = []
  for (const p of sorted) if (front.length === 0 || (p.fld as number) < (front.at(-1)!.fld as number)) front.push(p)
  return front
}

/** "ddim-50", "rf-euler-1 eta=0.5": a point's label on the frontier plot (its model is the colour). */
export const pointLabel = (p: SamplerPoint): string => `${p.sampler}-${p.steps}${p.setting === "" ? "" : ` ${p.setting}`}`

/** Up to this many points every point is labelled; beyond, only the Pareto front's (the study: ~200). */
export const LABEL_ALL_UP_TO = 40

/**
 * The speed-quality frontier: FLD against seconds per image for every scored sampler of every model
 * (colour: model, shape: sampler), the Pareto front as a dashed line; points labelled as
 * `LABEL_ALL_UP_TO` says (the study's 120 DeepCache configurations would bury every label).
 */
export const frontierPlot = (points: readonly SamplerPoint[], scope: string | null = null, id = ""): PlotSpec | undefined => {
  const pts = points.filter((p) => p.fld !== null && p.secondsPerImage !== null && (p.secondsPerImage as number) > 0)
  if (pts.length === 0) return undefined
  const onFront = paretoFront(pts)
  const labelled = pts.length <= LABEL_ALL_UP_TO ? new Set(pts) : new Set(onFront)
  const values = pts.map((p) => ({ model: localModel(p, scope), sampler: p.sampler, label: labelled.has(p) ? pointLabel(p) : "", spi: p.secondsPerImage, fld: p.fld }))
  const front = onFront.map((p) => ({ spi: p.secondsPerImage, fld: p.fld }))
  const floors = floorsOf(pts)
  const y = { type: "quantitative" as const, title: "FLD (lower is better)", scale: scaleOf([...pts.map((p) => p.fld as number), ...floors]) }
  const x = { field: "spi", type: "quantitative" as const, title: "seconds per image (log)", scale: { type: "log" as const } }
  return {
    id: `frontier${id}`,
    title: "speed-quality frontier",
    spec: {
      $schema: SCHEMA,
      title: "speed-quality frontier: FLD vs seconds per image (dashed: Pareto front)",
      width: WIDE,
      height: 360,
      background: "white",
      layer: [
        { data: { values: front }, mark: { type: "line", strokeDash: [4, 3], color: "#999" }, encoding: { x, y: { ...y, field: "fld" }, order: { field: "spi" } } },
        {
          data: { values },
          layer: [
            {
              mark: { type: "point", filled: true, size: 60 },
              encoding: { x, y: { ...y, field: "fld" }, color: { field: "model", type: "nominal", title: "model", legend: { labelLimit: 200 } }, shape: { field: "sampler", type: "nominal", title: "sampler" } },
            },
            { mark: { type: "text", align: "left", dx: 6, dy: -5, fontSize: 10 }, encoding: { x, y: { ...y, field: "fld" }, text: { field: "label" }, color: { field: "model", type: "nominal", title: "model" } } },
          ],
        },
        ...(floors.length > 0 ? [floorLayer(floors, y)] : []),
      ],
    },
  }
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
 * one bad plot never costs the rest of the report. With `cacheDir`, SVGs are memoised under
 * memo/plots/ by a digest of their spec: a rerun whose metrics did not change (a fully cached run)
 * starts no worker and loads no vega, which is most of what its report used to cost.
 */
export const renderPlots = async (specs: readonly PlotSpec[], opts: { readonly cacheDir?: string; readonly timeoutMs?: number } = {}): Promise<RenderResult> => {
  if (specs.length === 0) return { plots: [], warnings: [] }
  const memoDir = opts.cacheDir === undefined ? undefined : join(opts.cacheDir, "memo", "plots")
  const format = memoDir === undefined ? "" : memoFormat()
  const memoFile = (s: PlotSpec): string | undefined => (memoDir === undefined ? undefined : join(memoDir, `${sha256(`${format}\n${JSON.stringify(s.spec)}`)}.svg`))
  const memo = new Map<string, string>()
  for (const s of specs) {
    const f = memoFile(s)
    const svg = f !== undefined && existsSync(f) ? readFileSync(f, "utf8") : ""
    if (svg.startsWith("<svg") && svg.trimEnd().endsWith("</svg>")) memo.set(s.id, svg) // else torn: render again
  }
  const missing = specs.filter((s) => !memo.has(s.id))
  const fresh = await renderInWorker(missing, opts.timeoutMs ?? 120_000)
  for (const p of fresh.plots) {
    const f = memoFile(missing.find((s) => s.id === p.id) as PlotSpec)
    if (f === undefined) continue
    try {
      mkdirSync(dirname(f), { recursive: true })
      writeFileAtomic(f, p.svg)
    } catch {
      // a read-only cache only costs speed
    }
  }
  const rendered = new Map(fresh.plots.map((p) => [p.id, p.svg]))
  return {
    plots: specs.flatMap((s) => {
      const svg = memo.get(s.id) ?? rendered.get(s.id)
      return svg === undefined ? [] : [{ id: s.id, title: s.title, svg }]
    }),
    warnings: fresh.warnings,
  }
}

/** The installed version of a package, found the way Node resolves it from this file. */
const packageVersion = (name: string): string => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const pj = join(dir, "node_modules", name, "package.json")
    if (existsSync(pj)) return String((JSON.parse(readFileSync(pj, "utf8")) as { version?: unknown }).version)
    if (dirname(dir) === dir) return "missing"
  }
}

/** What else decides an SVG besides its spec: the renderer's versions (bump the tag if the worker changes). */
const memoFormat = (): string => `vega-svg-1 vega@${packageVersion("vega")} vega-lite@${packageVersion("vega-lite")}`

const renderInWorker = (specs: readonly PlotSpec[], timeoutMs: number): Promise<RenderResult> => {
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

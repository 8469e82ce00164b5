// What a quality or speed point measures: one sampler setting of one model. A point's series is
// model + sampler + setting, never the sampler alone: latent-rf.yaml samples its base flow and its
// reflowed flow with the same Euler sampler, and one "rf-euler" line through both would jump from
// FLD 720 to 110 at one step. The model is the training node feeding the sampling node's `model`
// input; the sampling node is the nearest ancestor (or the node itself) with a `sampler` param; the
// setting is whatever sampling params differ between points of the same model and sampler (DDIM's
// eta, a guidance scale...), so a sweep over them gives one series per value.
import type { MetricsTable } from "../artifacts/types.ts"
import type { RunEdge } from "../exec/record.ts"
import type { Json } from "../key/canonical.ts"
import { scopeOf } from "../pipeline/scope.ts"
import type { MetricsEntry, NodeView } from "./load.ts"

/** "sampler" from a key/value table (columns key|name, value) or from a table with a sampler column. */
export const samplerFromTables = (tables: Readonly<Record<string, MetricsTable>>): string | undefined => {
  for (const t of Object.values(tables)) {
    const k = t.columns.findIndex((c) => c === "key" || c === "name")
    const v = t.columns.indexOf("value")
    if (k >= 0 && v >= 0) {
      const row = t.rows.find((r) => r[k] === "sampler")
      if (row !== undefined && typeof row[v] === "string") return row[v]
    }
    const s = t.columns.indexOf("sampler")
    const first = t.rows[0]
    if (s >= 0 && first !== undefined && typeof first[s] === "string") return first[s]
  }
  return undefined
}

export interface SamplerPoint {
  /** The node whose metrics these are (a score node; a sampling node's timing when nothing scored it). */
  readonly node: string
  /** Report section: the include namespace of `node` ("" for the top-level pipeline). */
  readonly scope: string
  /** The sampling node. */
  readonly sampling: string
  /** The training node whose weights were sampled (full id), or null when none is found. */
  readonly model: string | null
  readonly sampler: string
  /** Sampling params that tell this series from others of the same model and sampler ("eta=0.5"), or "". */
  readonly setting: string
  readonly steps: number
  readonly fld: number | null
  /** Bootstrap standard error of fld (score nodes that report `fld_se`). */
  readonly fldSe: number | null
  readonly floor: number | null
  /** Largest deviation of a class share from 1/10 (`class_share_max_dev`). */
  readonly classDev: number | null
  /** Share of samples the judge gives their requested label (scores of label-conditioned samplers). */
  readonly accuracy: number | null
  readonly secondsPerImage: number | null
}

const isNum = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v)

/** Params that move a point along its series (steps) or change nothing measured (batchSize). */
const NOT_SETTING = new Set(["sampler", "steps", "batchSize"])

type Params = { readonly [k: string]: Json } | null

/** Nearest ancestor-or-self (breadth first over the edges) whose params include a string `sampler`. */
export const samplingNodeOf = (node: string, params: ReadonlyMap<string, Params>, edges: readonly RunEdge[]): string | undefined => {
  const seen = new Set([node])
  let frontier = [node]
  while (frontier.length > 0) {
    const hit = frontier.find((id) => typeof params.get(id)?.sampler === "string")
    if (hit !== undefined) return hit
    frontier = [...new Set(edges.filter((e) => frontier.includes(e.to) && !seen.has(e.from)).map((e) => e.from))]
    for (const f of frontier) seen.add(f)
  }
  return undefined
}

/** `sampler` param of the nearest ancestor-or-self that has one (DeepCache's series, src/report/deepcache-series.ts). */
export const samplerFromAncestors = (node: string, nodes: readonly NodeView[], edges: readonly RunEdge[]): string | undefined => {
  const params = new Map(nodes.map((n) => [n.record.id, n.params]))
  const hit = samplingNodeOf(node, params, edges)
  const sampler = hit === undefined ? undefined : params.get(hit)?.sampler
  return typeof sampler === "string" ? sampler : undefined
}

/** Joins the trained inputs of one sampling node into one model id: "ddpm-unet + controlnet-canny/controlnet". */
export const MODEL_JOIN = " + "

/**
 * The producer of the sampling node's `model` input, followed by any other trained input it reads (a
 * ControlNet: its samples are the pair's, not the base's); else its nearest `train-*` ancestor.
 */
export const modelNodeOf = (sampling: string, kinds: ReadonlyMap<string, string>, edges: readonly RunEdge[]): string | null => {
  const trained = (id: string): boolean => kinds.get(id)?.startsWith("train") === true
  const direct = edges.find((e) => e.to === sampling && e.input === "model")
  if (direct !== undefined) {
    const adapters = edges.filter((e) => e.to === sampling && e.input !== "model" && trained(e.from)).map((e) => e.from)
    return [direct.from, ...new Set(adapters)].join(MODEL_JOIN)
  }
  const seen = new Set([sampling])
  let frontier = [sampling]
  while (frontier.length > 0) {
    frontier = [...new Set(edges.filter((e) => frontier.includes(e.to) && !seen.has(e.from)).map((e) => e.from))]
    const hit = frontier.find(trained)
    if (hit !== undefined) return hit
    for (const f of frontier) seen.add(f)
  }
  return null
}

/** The training nodes a point's model names (one, or a base and its adapters). */
export const modelNodes = (model: string): string[] => model.split(MODEL_JOIN)

const fmtParam = (v: Json | undefined): string => (v === null ? "none" : typeof v === "string" ? v : JSON.stringify(v ?? null))

const isRecord = (v: Json): v is { readonly [k: string]: Json } => v !== null && typeof v === "object" && !Array.isArray(v)

/**
 * A sampling node's params with object values spread into dotted keys ({deepcache: {interval: 2}} ->
 * "deepcache.interval": 2), so a setting names the sub-field that differs, not the whole object.
 */
export const flatParams = (ps: { readonly [k: string]: Json }, prefix = ""): Record<string, Json> =>
  Object.fromEntries(
    Object.entries(ps).flatMap(([k, v]): [string, Json][] =>
      isRecord(v) ? Object.entries(flatParams(v, `${prefix}${k}.`)) : [[`${prefix}${k}`, v]],
    ),
  )

/**
 * One point per sampler setting measured in the run: every metrics artifact with `steps` and an FLD or
 * a seconds-per-image, reduced to the score nodes when a sampling node's timing was also scored (the
 * score passes the timing through, so the two are one measurement).
 */
export const samplerPoints = (metrics: readonly MetricsEntry[], nodes: readonly NodeView[], edges: readonly RunEdge[]): SamplerPoint[] => {
  const params = new Map(nodes.map((n) => [n.record.id, n.params]))
  const kinds = new Map(nodes.map((n) => [n.record.id, n.record.kind]))
  const raw = metrics.flatMap((e) => {
    const s = e.metrics.scalars
    if (!isNum(s.steps) || !(isNum(s.fld) || isNum(s.seconds_per_image))) return []
    const sampling = samplingNodeOf(e.node, params, edges) ?? e.node
    const sampler = params.get(sampling)?.sampler
    const num = (k: string): number | null => (isNum(s[k]) ? s[k] : null)
    return [
      {
        node: e.node,
        scope: scopeOf(e.node),
        sampling,
        model: modelNodeOf(sampling, kinds, edges),
        sampler: typeof sampler === "string" ? sampler : (samplerFromTables(e.metrics.tables) ?? sampling),
        steps: s.steps,
        fld: num("fld"),
        fldSe: num("fld_se"),
        floor: num("fld_floor"),
        classDev: num("class_share_max_dev"),
        accuracy: num("accuracy"),
        secondsPerImage: num("seconds_per_image"),
      },
    ]
  })
  const scored = new Set(raw.filter((p) => p.fld !== null).map((p) => p.sampling))
  // A score that was not given the sampler's timing still has it: the sampling node's own timing entry.
  const timed = new Map(raw.filter((p) => p.fld === null && p.secondsPerImage !== null).map((p) => [p.sampling, p.secondsPerImage]))
  const kept = raw
    .filter((p) => p.fld !== null || !scored.has(p.sampling))
    .map((p) => (p.secondsPerImage === null ? { ...p, secondsPerImage: timed.get(p.sampling) ?? null } : p))
  // Settings: the sampling params that vary within a (section, model, sampler) group. Per section: a
  // shared model (ddpm-unet) is sampled by other studies with params of their own (controlScale,
  // deepcache), which say nothing about this study's samplers.
  const group = (p: (typeof kept)[number]) => JSON.stringify([p.scope, p.model, p.sampler])
  const flat = new Map([...params].map(([id, ps]) => [id, flatParams(ps ?? {})]))
  const varying = new Map<string, string[]>()
  for (const g of new Set(kept.map(group))) {
    // The scored points are the table's rows: a timing-only sampler beside them (another seed for a
    // diversity score) does not add its params to their labels.
    const inGroup = kept.filter((p) => group(p) === g)
    const rows = inGroup.some((p) => p.fld !== null) ? inGroup.filter((p) => p.fld !== null) : inGroup
    const members = rows.map((p) => flat.get(p.sampling) ?? {})
    const names = [...new Set(members.flatMap((m) => Object.keys(m)))].filter((k) => !NOT_SETTING.has(k)).sort()
    // A key only some members have (deepcache.* of the cached samplers) varies when its values do.
    varying.set(g, names.filter((k) => new Set(members.flatMap((m) => (k in m ? [fmtParam(m[k])] : []))).size > 1))
  }
  return kept.map((p) => {
    const ps = flat.get(p.sampling) ?? {}
    return { ...p, setting: (varying.get(group(p)) ?? []).filter((k) => k in ps).map((k) => `${k}=${fmtParam(ps[k])}`).join(" ") }
  })
}

/** A model id as shown inside a section: without the section's namespace. */
export const localModel = (p: SamplerPoint, scope: string | null): string => {
  if (p.model === null) return "?"
  const local = (id: string) => (scope !== null && scope !== "" && id.startsWith(`${scope}/`) ? id.slice(scope.length + 1) : id)
  return modelNodes(p.model).map(local).join(MODEL_JOIN)
}

/** "model · sampler setting"; `scope` shortens model ids of that section (null: full ids). */
export const seriesLabel = (p: SamplerPoint, scope: string | null = null): string =>
  `${localModel(p, scope)} · ${p.sampler}${p.setting === "" ? "" : ` ${p.setting}`}`

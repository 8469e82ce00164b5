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

/** The producer of the sampling node's `model` input; else its nearest `train-*` ancestor. */
export const modelNodeOf = (sampling: string, kinds: ReadonlyMap<string, string>, edges: readonly RunEdge[]): string | null => {
  const direct = edges.find((e) => e.to === sampling && e.input === "model")
  if (direct !== undefined) return direct.from
  const seen = new Set([sampling])
  let frontier = [sampling]
  while (frontier.length > 0) {
    frontier = [...new Set(edges.filter((e) => frontier.includes(e.to) && !seen.has(e.from)).map((e) => e.from))]
    const hit = frontier.find((id) => kinds.get(id)?.startsWith("train") === true)
    if (hit !== undefined) return hit
    for (const f of frontier) seen.add(f)
  }
  return null
}

const fmtParam = (v: Json | undefined): string => (typeof v === "string" ? v : JSON.stringify(v ?? null))

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
  const kept = raw.filter((p) => p.fld !== null || !scored.has(p.sampling))
  // Settings: the sampling params that vary within a (model, sampler) group.
  const group = (p: (typeof kept)[number]) => JSON.stringify([p.model, p.sampler])
  const varying = new Map<string, string[]>()
  for (const g of new Set(kept.map(group))) {
    const members = kept.filter((p) => group(p) === g).map((p) => params.get(p.sampling) ?? {})
    const names = [...new Set(members.flatMap((m) => Object.keys(m)))].filter((k) => !NOT_SETTING.has(k)).sort()
    varying.set(g, names.filter((k) => new Set(members.map((m) => fmtParam(m[k]))).size > 1))
  }
  return kept.map((p) => {
    const ps = params.get(p.sampling) ?? {}
    return { ...p, setting: (varying.get(group(p)) ?? []).map((k) => `${k}=${fmtParam(ps[k])}`).join(" ") }
  })
}

/** A model id as shown inside a section: without the section's namespace. */
export const localModel = (p: SamplerPoint, scope: string | null): string => {
  if (p.model === null) return "?"
  return scope !== null && scope !== "" && p.model.startsWith(`${scope}/`) ? p.model.slice(scope.length + 1) : p.model
}

/** "model · sampler setting"; `scope` shortens model ids of that section (null: full ids). */
export const seriesLabel = (p: SamplerPoint, scope: string | null = null): string =>
  `${localModel(p, scope)} · ${p.sampler}${p.setting === "" ? "" : ` ${p.setting}`}`

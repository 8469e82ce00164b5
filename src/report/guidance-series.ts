// The series of the classifier-free guidance plots (pipelines/cfg.yaml): accuracy against the requested
// labels vs the guidance scale s and FLD vs s, one series per conditioning route. A point is a score
// node's metrics that carry `guidance` (the sampling record's scale, passed through by score) and a
// score (accuracy or fld); its route is the `conditioning` param of the nearest upstream node that has
// one (the training node), prefixed "latent " for a latent-space model (kind train-latent-diffusion; runs
// recorded before the kinds split say `space: latent` on train-diffusion instead). Pure: no rendering here.
import type { Json } from "../key/canonical.ts"
import type { RunEdge } from "../exec/record.ts"
import type { MetricsEntry, NodeView } from "./load.ts"

export interface GuidancePoint {
  readonly node: string
  readonly route: string
  readonly guidance: number
  readonly accuracy: number | null
  readonly fld: number | null
  readonly floor: number | null
}

type Params = { readonly [k: string]: Json }

/** Kind and params of the nearest ancestor of `node` (breadth-first, nearest first) whose params satisfy `wanted`. */
const nearestParams = (node: string, nodes: readonly NodeView[], edges: readonly RunEdge[], wanted: (p: Params) => boolean): { kind: string; params: Params } | undefined => {
  const byId = new Map(nodes.map((n) => [n.record.id, n]))
  const seen = new Set([node])
  for (let frontier = [node]; frontier.length > 0; ) {
    const hit = frontier.map((id) => byId.get(id)).find((n) => n?.params !== null && n?.params !== undefined && wanted(n.params))
    if (hit?.params !== null && hit?.params !== undefined) return { kind: hit.record.kind, params: hit.params }
    frontier = [...new Set(edges.filter((e) => frontier.includes(e.to) && !seen.has(e.from)).map((e) => e.from))]
    for (const f of frontier) seen.add(f)
  }
  return undefined
}

/** "channel", "cross-attention", "embedding", or "latent channel": the route of the model a score node judged. */
export const routeOf = (node: string, nodes: readonly NodeView[], edges: readonly RunEdge[]): string | undefined => {
  const hit = nearestParams(node, nodes, edges, (q) => typeof q.conditioning === "string")
  if (hit === undefined) return undefined
  const latent = hit.kind === "train-latent-diffusion" || hit.params.space === "latent"
  return latent ? `latent ${String(hit.params.conditioning)}` : String(hit.params.conditioning)
}

const num = (s: Readonly<Record<string, number>>, k: string): number | null => (typeof s[k] === "number" && Number.isFinite(s[k]) ? s[k] : null)

/**
 * One point per scored metrics artifact with a guidance scale, sorted by route then s. The sampling
 * nodes' own timing metrics carry `guidance` too but no score: they are skipped.
 */
export const guidancePoints = (entries: readonly MetricsEntry[], route: (e: MetricsEntry) => string): GuidancePoint[] =>
  entries
    .flatMap((e) => {
      const s = e.metrics.scalars
      const guidance = num(s, "guidance")
      const accuracy = num(s, "accuracy")
      const fld = num(s, "fld")
      if (guidance === null || (accuracy === null && fld === null)) return []
      return [{ node: e.node, route: route(e), guidance, accuracy, fld, floor: num(s, "fld_floor") }]
    })
    .sort((a, b) => a.route.localeCompare(b.route) || a.guidance - b.guidance)

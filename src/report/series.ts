// Which sampler setting a metrics artifact describes, for the legend of "quality vs steps" plots.
// Metrics scalars are numbers only, so the sampler's name reaches the report one of three ways,
// tried in order: a metrics table carrying it, the `sampler` param of the nearest upstream node
// (the sampling node feeding the score node), or, failing both, the node id itself.
import type { MetricsTable } from "../artifacts/types.ts"
import type { RunEdge } from "../exec/record.ts"
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

/** `sampler` param of the nearest ancestor that has one (breadth-first over the DAG's edges). */
export const samplerFromAncestors = (node: string, nodes: readonly NodeView[], edges: readonly RunEdge[]): string | undefined => {
  const params = new Map(nodes.map((n) => [n.record.id, n.params]))
  const seen = new Set([node])
  let frontier = [node]
  while (frontier.length > 0) {
    for (const id of frontier) {
      const s = params.get(id)?.sampler
      if (typeof s === "string") return s
    }
    frontier = edges.filter((e) => frontier.includes(e.to) && !seen.has(e.from)).map((e) => e.from)
    for (const f of frontier) seen.add(f)
  }
  return undefined
}

/** DDIM's η splits one sampler into several curves (η = 0 deterministic, η = 1 DDPM-like). */
const withEta = (sampler: string, scalars: Readonly<Record<string, number>>): string => {
  const eta = scalars.eta
  return eta !== undefined && eta !== 0 && Number.isFinite(eta) ? `${sampler} η=${eta}` : sampler
}

export const seriesLabeller =
  (nodes: readonly NodeView[], edges: readonly RunEdge[]) =>
  (e: MetricsEntry): string => {
    const sampler = samplerFromTables(e.metrics.tables) ?? samplerFromAncestors(e.node, nodes, edges)
    return sampler === undefined ? e.node : withEta(sampler, e.metrics.scalars)
  }

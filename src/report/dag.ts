// The run's DAG as a static SVG: nodes in columns by topological rank (longest path from a source),
// left to right, ordered inside a column by the mean row of their parents (one barycenter pass, as
// in Sugiyama et al. 1981, enough for pipelines of tens of nodes), coloured by run status.
import type { NodeStatus } from "../exec/progress.ts"
import type { RunEdge } from "../exec/record.ts"
import { escapeHtml } from "./escape.ts"

export interface DagNode {
  readonly id: string
  readonly kind: string
  readonly status: NodeStatus
}

export interface Placed {
  readonly rank: number
  readonly row: number
}

export interface Layout {
  readonly place: ReadonlyMap<string, Placed>
  readonly ranks: number
  readonly rows: number
}

/**
 * Rank = length of the longest edge path reaching the node, so every edge points to a higher rank.
 * Edges naming unknown nodes are ignored; a cycle (impossible in a validated pipeline) is cut.
 */
export const layoutDag = (nodes: readonly DagNode[], edges: readonly RunEdge[]): Layout => {
  const ids = new Set(nodes.map((n) => n.id))
  const parents = new Map<string, string[]>(nodes.map((n) => [n.id, []]))
  for (const e of edges) if (ids.has(e.from) && ids.has(e.to) && e.from !== e.to) parents.get(e.to)!.push(e.from)
  const rank = new Map<string, number>()
  const visiting = new Set<string>()
  const rankOf = (id: string): number => {
    const known = rank.get(id)
    if (known !== undefined) return known
    if (visiting.has(id)) return 0
    visiting.add(id)
    const r = Math.max(-1, ...parents.get(id)!.map(rankOf)) + 1
    visiting.delete(id)
    rank.set(id, r)
    return r
  }
  for (const n of nodes) rankOf(n.id)
  const ranks = Math.max(0, ...rank.values()) + (nodes.length > 0 ? 1 : 0)
  const place = new Map<string, Placed>()
  for (let r = 0; r < ranks; r++) {
    const column = nodes.filter((n) => rank.get(n.id) === r)
    const key = (id: string): number => {
      const ps = parents.get(id)!.map((p) => place.get(p)?.row).filter((x): x is number => x !== undefined)
      return ps.length === 0 ? Number.POSITIVE_INFINITY : ps.reduce((a, b) => a + b, 0) / ps.length
    }
    // Stable sort keeps record (topological) order among ties.
    const sorted = column.map((n, i) => ({ id: n.id, k: key(n.id), i })).sort((a, b) => (a.k === b.k ? a.i - b.i : a.k < b.k ? -1 : 1))
    sorted.forEach((s, row) => place.set(s.id, { rank: r, row }))
  }
  const rows = Math.max(0, ...[...place.values()].map((p) => p.row + 1))
  return { place, ranks, rows }
}

export const STATUS_COLORS: Readonly<Record<NodeStatus, { fill: string; stroke: string }>> = {
  ran: { fill: "#d9f2d9", stroke: "#2e7d32" },
  cached: { fill: "#dde8f5", stroke: "#3a6ea5" },
  failed: { fill: "#f8d7d7", stroke: "#c62828" },
  interrupted: { fill: "#fdebc8", stroke: "#e08a00" },
  skipped: { fill: "#f0f0f0", stroke: "#9e9e9e" },
}

const CHAR_W = 7 // px per character at 12px monospace, a safe upper bound
const BOX_H = 38
const GAP_X = 56
const GAP_Y = 20
const PAD = 10

const clip = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 1)}…`)

/** Standalone SVG (no scripts, no external refs) of the DAG; each box shows id, kind and status. */
export const dagSvg = (nodes: readonly DagNode[], edges: readonly RunEdge[]): string => {
  if (nodes.length === 0) return ""
  const { place, ranks, rows } = layoutDag(nodes, edges)
  const label = (n: DagNode): { top: string; bottom: string } => ({ top: clip(n.id, 28), bottom: clip(`${n.kind} · ${n.status}`, 28) })
  const boxW = Math.max(110, ...nodes.map((n) => Math.max(label(n).top.length, label(n).bottom.length) * CHAR_W + 16))
  const width = PAD * 2 + ranks * boxW + (ranks - 1) * GAP_X
  const height = PAD * 2 + rows * BOX_H + (rows - 1) * GAP_Y
  const xy = (id: string): { x: number; y: number } => {
    const p = place.get(id)!
    return { x: PAD + p.rank * (boxW + GAP_X), y: PAD + p.row * (BOX_H + GAP_Y) }
  }
  const byId = new Map(nodes.map((n) => [n.id, n]))
  // An edge skipping ranks runs through the gap between rows of each column it crosses (nearest
  // to its straight line), instead of behind the boxes: the dummy nodes of Sugiyama layouts.
  const gapY = (g: number): number => PAD + g * (BOX_H + GAP_Y) - GAP_Y / 2
  const paths = edges
    .filter((e) => byId.has(e.from) && byId.has(e.to) && e.from !== e.to)
    .map((e) => {
      const a = xy(e.from)
      const b = xy(e.to)
      const [ra, rb] = [place.get(e.from)!.rank, place.get(e.to)!.rank]
      const start = { x: a.x + boxW, y: a.y + BOX_H / 2 }
      const end = { x: b.x - 2, y: b.y + BOX_H / 2 }
      const segments: string[] = []
      let from = start
      const curveTo = (x: number, y: number): void => {
        const mid = (from.x + x) / 2
        segments.push(`C${mid},${from.y} ${mid},${y} ${x},${y}`)
      }
      for (let k = ra + 1; k < rb; k++) {
        const left = PAD + k * (boxW + GAP_X)
        const ideal = start.y + ((end.y - start.y) * (k - ra)) / (rb - ra)
        const g = Math.min(rows, Math.max(0, Math.round((ideal - PAD + GAP_Y / 2) / (BOX_H + GAP_Y))))
        curveTo(left, gapY(g))
        segments.push(`L${left + boxW},${gapY(g)}`)
        from = { x: left + boxW, y: gapY(g) }
      }
      curveTo(end.x, end.y)
      return `<path d="M${start.x},${start.y} ${segments.join(" ")}" marker-end="url(#arrow)"><title>${escapeHtml(`${e.from}.${e.output} → ${e.to}.${e.input}`)}</title></path>`
    })
  const boxes = nodes.map((n) => {
    const { x, y } = xy(n.id)
    const c = STATUS_COLORS[n.status]
    const l = label(n)
    const dash = n.status === "skipped" ? ` stroke-dasharray="4 3"` : ""
    return (
      `<g class="node ${n.status}"><title>${escapeHtml(`${n.id} (${n.kind}): ${n.status}`)}</title>` +
      `<rect x="${x}" y="${y}" width="${boxW}" height="${BOX_H}" rx="5" fill="${c.fill}" stroke="${c.stroke}" stroke-width="1.5"${dash}/>` +
      `<text x="${x + 8}" y="${y + 15}" font-weight="bold">${escapeHtml(l.top)}</text>` +
      `<text x="${x + 8}" y="${y + 30}" fill="#444">${escapeHtml(l.bottom)}</text></g>`
    )
  })
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="12">` +
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker></defs>` +
    `<g fill="none" stroke="#888" stroke-width="1.3">${paths.join("")}</g>${boxes.join("")}</svg>`
  )
}

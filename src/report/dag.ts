// The run's DAG as a static SVG: boxes in layers by topological rank (longest path from a source),
// top to bottom, ordered inside a layer by the mean position of their parents (one barycenter pass,
// as in Sugiyama et al. 1981), coloured by run status. Sweeps collapse to one box each, and a rank
// wider than the page wraps onto several lines, so a study of 100+ nodes stays one page wide.
import type { NodeStatus } from "../exec/progress.ts"
import type { RunEdge } from "../exec/record.ts"
import { escapeHtml } from "./escape.ts"

export interface DagNode {
  readonly id: string
  readonly kind: string
  readonly status: NodeStatus
  /** The sweep that expanded the node (run.json records it): the DAG draws each sweep as one box. */
  readonly sweep?: string | undefined
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

const CHAR_W = 7.4 // px per character at 12px monospace (7.2 in Chromium's DejaVu Sans Mono), a safe upper bound
const BOX_H = 38
const GAP_X = 22 // between boxes of one line: edges crossing a layer run through these gaps
const GAP_Y = 40
const PAD = 10
/** Widest drawing: a report column at 1280 px (body 1200 px less padding); wider ranks wrap. */
export const MAX_DAG_WIDTH = 1100
const LABEL_CHARS = 30

const clip = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 1)}…`)

/** Worst first: a box standing for several nodes takes the colour of its worst status. */
const SEVERITY: readonly NodeStatus[] = ["failed", "interrupted", "skipped", "ran", "cached"]

export interface DagBox extends DagNode {
  /** The recorded nodes this box stands for (one, or every node of a collapsed sweep). */
  readonly members: readonly DagNode[]
  readonly label: string
  readonly detail: string
}

const statusSummary = (ns: readonly DagNode[]): string =>
  [...SEVERITY].reverse().flatMap((s) => {
    const c = ns.filter((n) => n.status === s).length
    return c > 0 ? [`${c} ${s}`] : []
  }).join(", ")

/**
 * Every sweep's expanded nodes become one box ("latent-rf/euler", "20 nodes · 20 cached"); edges are
 * merged between boxes. Nodes without a sweep keep their own box. The node table keeps the details.
 */
export const collapseSweeps = (nodes: readonly DagNode[], edges: readonly RunEdge[]): { boxes: DagBox[]; edges: RunEdge[] } => {
  const boxOf = new Map<string, string>()
  const groups = new Map<string, DagNode[]>()
  for (const n of nodes) {
    const id = n.sweep === undefined ? n.id : `sweep:${n.sweep}`
    boxOf.set(n.id, id)
    groups.set(id, [...(groups.get(id) ?? []), n])
  }
  const boxes = [...groups].map(([id, members]): DagBox => {
    const first = members[0] as DagNode
    if (first.sweep === undefined) return { ...first, members, label: first.id, detail: `${first.kind} · ${first.status}` }
    const status = SEVERITY.find((s) => members.some((m) => m.status === s)) as NodeStatus
    const kinds = [...new Set(members.map((m) => m.kind))]
    return { id, kind: kinds.join(", "), status, sweep: first.sweep, members, label: first.sweep, detail: `sweep · ${members.length} nodes · ${statusSummary(members)}` }
  })
  const seen = new Set<string>()
  const merged: RunEdge[] = []
  for (const e of edges) {
    const from = boxOf.get(e.from)
    const to = boxOf.get(e.to)
    if (from === undefined || to === undefined || from === to || seen.has(`${from}\0${to}`)) continue
    seen.add(`${from}\0${to}`)
    merged.push({ ...e, from, to })
  }
  return { boxes, edges: merged }
}

/** Where each box goes: ranks top to bottom, a rank wider than `perLine` boxes wraps onto more lines. */
export interface Drawing {
  readonly x: ReadonlyMap<string, number>
  readonly layer: ReadonlyMap<string, number>
  /** Left edges of the boxes on each layer (for routing edges through the gaps). */
  readonly lines: readonly (readonly number[])[]
  readonly width: number
  readonly height: number
  readonly boxW: number
}

export const drawLayout = (boxes: readonly DagBox[], edges: readonly RunEdge[], maxWidth = MAX_DAG_WIDTH): Drawing => {
  const boxW = Math.max(110, ...boxes.map((b) => Math.ceil(Math.max(clip(b.label, LABEL_CHARS).length, clip(b.detail, LABEL_CHARS + 4).length) * CHAR_W + 18)))
  const perLine = Math.max(1, Math.floor((maxWidth - 2 * PAD + GAP_X) / (boxW + GAP_X)))
  const { place, ranks } = layoutDag(boxes, edges)
  const byRank = Array.from({ length: ranks }, (_, r) =>
    boxes
      .filter((b) => place.get(b.id)?.rank === r)
      .sort((a, b) => (place.get(a.id)?.row ?? 0) - (place.get(b.id)?.row ?? 0))
      .map((b) => b.id),
  )
  const cols = Math.min(perLine, Math.max(1, ...byRank.map((r) => r.length)))
  const width = 2 * PAD + cols * boxW + (cols - 1) * GAP_X
  const x = new Map<string, number>()
  const layer = new Map<string, number>()
  const lines: number[][] = []
  for (const ids of byRank)
    for (let start = 0; start < ids.length; start += perLine) {
      const line = ids.slice(start, start + perLine)
      // Lines are centred, so a rank of one box sits in the middle.
      const left = PAD + ((cols - line.length) * (boxW + GAP_X)) / 2
      const xs = line.map((_, i) => left + i * (boxW + GAP_X))
      line.forEach((id, i) => {
        x.set(id, xs[i] as number)
        layer.set(id, lines.length)
      })
      lines.push(xs)
    }
  const height = 2 * PAD + lines.length * BOX_H + Math.max(0, lines.length - 1) * GAP_Y
  return { x, layer, lines, width, height, boxW }
}

const layerTop = (l: number): number => PAD + l * (BOX_H + GAP_Y)

/**
 * Standalone SVG (no scripts, no external refs) of the DAG, top to bottom, at most MAX_DAG_WIDTH
 * wide: sweeps collapsed to one box each, each box showing id (or sweep) and kind · status (or node
 * count and statuses).
 */
export const dagSvg = (nodes: readonly DagNode[], edges: readonly RunEdge[], maxWidth = MAX_DAG_WIDTH): string => {
  if (nodes.length === 0) return ""
  const { boxes, edges: boxEdges } = collapseSweeps(nodes, edges)
  const d = drawLayout(boxes, boxEdges, maxWidth)
  const byId = new Map(boxes.map((b) => [b.id, b]))
  const center = (id: string): number => (d.x.get(id) as number) + d.boxW / 2
  // Each edge leaves and enters its box at its own point, spread over the middle of the box's bottom
  // (top) side in the order of the boxes at the other end, so a fan of edges does not start as one line.
  const port = (side: "out" | "in") => {
    const at = new Map<RunEdge, number>()
    for (const b of boxes) {
      const mine = boxEdges.filter((e) => (side === "out" ? e.from : e.to) === b.id && byId.has(e.from) && byId.has(e.to))
      const other = (e: RunEdge) => center(side === "out" ? e.to : e.from)
      mine.sort((p, q) => other(p) - other(q)).forEach((e, i) => at.set(e, (d.x.get(b.id) as number) + d.boxW * (0.2 + (0.6 * (i + 0.5)) / mine.length)))
    }
    return at
  }
  const [outX, inX] = [port("out"), port("in")]
  // An edge crossing layers runs through the gap of each layer nearest to its straight line
  // (the dummy nodes of Sugiyama layouts), not behind the boxes.
  const paths = boxEdges
    .filter((e) => byId.has(e.from) && byId.has(e.to))
    .map((e) => {
      const [la, lb] = [d.layer.get(e.from) as number, d.layer.get(e.to) as number]
      const start = { x: outX.get(e) ?? center(e.from), y: layerTop(la) + BOX_H }
      const end = { x: inX.get(e) ?? center(e.to), y: layerTop(lb) - 2 }
      const segments: string[] = []
      let from = start
      const curveTo = (x: number, y: number): void => {
        const mid = (from.y + y) / 2
        segments.push(`C${from.x},${mid} ${x},${mid} ${x},${y}`)
        from = { x, y }
      }
      for (let l = la + 1; l < lb; l++) {
        const ideal = start.x + ((end.x - start.x) * (l - la)) / (lb - la)
        const xs = d.lines[l] as readonly number[]
        const gaps = [...xs.map((x) => x - GAP_X / 2), (xs.at(-1) as number) + d.boxW + GAP_X / 2]
        const gx = gaps.reduce((best, g) => (Math.abs(g - ideal) < Math.abs(best - ideal) ? g : best))
        curveTo(gx, layerTop(l))
        segments.push(`L${gx},${layerTop(l) + BOX_H}`)
        from = { x: gx, y: layerTop(l) + BOX_H }
      }
      curveTo(end.x, end.y)
      return `<path d="M${start.x},${start.y} ${segments.join(" ")}" marker-end="url(#arrow)"><title>${escapeHtml(`${e.from.replace(/^sweep:/, "")} → ${e.to.replace(/^sweep:/, "")}`)}</title></path>`
    })
  const drawn = boxes.map((b) => {
    const x = d.x.get(b.id) as number
    const y = layerTop(d.layer.get(b.id) as number)
    const c = STATUS_COLORS[b.status]
    const dash = b.status === "skipped" ? ` stroke-dasharray="4 3"` : ""
    const sweep = b.sweep !== undefined
    const title = sweep ? `sweep ${b.label} (${b.members.length} nodes): ${b.members.map((m) => `${m.id} ${m.status}`).join(", ")}` : `${b.id} (${b.kind}): ${b.status}`
    // A sweep box is drawn as a small stack of cards.
    const stack = sweep ? `<rect x="${x + 4}" y="${y - 4}" width="${d.boxW}" height="${BOX_H}" rx="5" fill="${c.fill}" stroke="${c.stroke}" stroke-width="1"/>` : ""
    return (
      `<g class="${sweep ? "sweep" : "node"} ${b.status}"><title>${escapeHtml(title)}</title>${stack}` +
      `<rect x="${x}" y="${y}" width="${d.boxW}" height="${BOX_H}" rx="5" fill="${c.fill}" stroke="${c.stroke}" stroke-width="1.5"${dash}/>` +
      `<text x="${x + 8}" y="${y + 15}" font-weight="bold">${escapeHtml(clip(b.label, LABEL_CHARS))}</text>` +
      `<text x="${x + 8}" y="${y + 30}" fill="#444">${escapeHtml(clip(b.detail, LABEL_CHARS + 4))}</text></g>`
    )
  })
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="${d.width}" height="${d.height}" viewBox="0 0 ${d.width} ${d.height}" font-family="monospace" font-size="12">` +
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#666"/></marker></defs>` +
    `<g fill="none" stroke="#888" stroke-width="1.3">${paths.join("")}</g>${drawn.join("")}</svg>`
  )
}

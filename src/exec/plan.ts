// Planning: which nodes a command touches (selectors), their cache keys where already knowable, and
// whether each is cached. A key is knowable when every input comes from a cached upstream (its output
// digests are in that upstream's manifest); otherwise it is only known after the upstream runs,
// because keys use input *content* digests (early cutoff).
import { InvalidPipeline, SelectionError } from "../errors.ts"
import type { Json } from "../key/canonical.ts"
import { cacheKey, type KeyComponents, keyComponents, pathParams } from "../key/key.ts"
import type { PathDigester } from "../key/path-digest.ts"
import type { Manifest, Store } from "../store/store.ts"
import { didYouMean } from "../pipeline/ajv-errors.ts"
import { ancestors, descendants } from "../pipeline/graph.ts"
import type { Pipeline, PipelineNode } from "../pipeline/load.ts"

export interface Selectors {
  readonly force?: readonly string[]
  readonly from?: string
  readonly until?: string
  readonly only?: readonly string[]
}

export interface Selection {
  /** Nodes the command runs (or would run), in topological order. */
  readonly selected: readonly string[]
  /** Nodes whose cache entry is ignored and recomputed. */
  readonly forced: ReadonlySet<string>
}

/** An id that names no node: the nearest id, not the whole list (the study has 400+ nodes). */
export const unknownNode = (p: Pipeline, id: string, flag?: string): SelectionError =>
  new SelectionError({
    message: `${flag === undefined ? "" : `${flag} ${id}: `}no node "${id}" in ${p.display}${didYouMean(id, p.order)}; \`pipe plan ${p.display}\` lists its ${p.order.length} nodes`,
  })

export const select = (p: Pipeline, s: Selectors): Selection => {
  const known = (id: string, flag: string): string => {
    if (!p.nodes.has(id)) throw unknownNode(p, id, flag)
    return id
  }
  let set = new Set(p.order)
  if (s.until !== undefined) set = new Set([known(s.until, "--until"), ...ancestors(p.deps, s.until)])
  if (s.only !== undefined && s.only.length > 0) {
    const only = new Set(s.only.map((id) => known(id, "--only")))
    set = new Set([...set].filter((id) => only.has(id)))
  }
  const forced = new Set<string>((s.force ?? []).map((id) => known(id, "--force")))
  if (s.from !== undefined) for (const id of [known(s.from, "--from"), ...descendants(p.deps, s.from)]) forced.add(id)
  return { selected: p.order.filter((id) => set.has(id)), forced: new Set([...forced].filter((id) => set.has(id))) }
}

/** Key components of a node given its upstream output digests (by upstream node id). */
export const componentsOf = (
  node: PipelineNode,
  upstream: (id: string) => Readonly<Record<string, string>> | undefined,
  paths: PathDigester,
): KeyComponents | undefined => {
  const inputs: Record<string, string> = {}
  for (const [port, ref] of Object.entries(node.inputs)) {
    const d = upstream(ref.node)?.[ref.port]
    if (d === undefined) return undefined
    inputs[port] = d
  }
  const pathDigests: Record<string, string> = {}
  for (const [name, abs] of Object.entries(node.paths))
    try {
      pathDigests[name] = paths.digest(abs)
    } catch (e) {
      // A symlink out of the project inside the directory, or a file that vanished or cannot be read.
      const why = e instanceof Error ? e.message : String(e)
      throw new InvalidPipeline({ diagnostics: [{ pos: node.pos, message: `${node.id}: path param "${name}": ${why}` }] })
    }
  return keyComponents({
    kind: node.kind,
    codeVersion: node.entry.code.digest,
    params: node.params as { [k: string]: Json },
    pathNames: pathParams(node.entry.meta.params),
    inputs,
    paths: pathDigests,
  })
}

export interface PlannedNode {
  readonly id: string
  readonly kind: string
  readonly key: string | null
  readonly components: KeyComponents | null
  readonly cached: boolean
  readonly manifest: Manifest | null
  readonly selected: boolean
  readonly forced: boolean
}

export const planPipeline = (p: Pipeline, store: Store, paths: PathDigester, sel: Selection): PlannedNode[] => {
  const selected = new Set(sel.selected)
  const digests = new Map<string, Readonly<Record<string, string>>>()
  const out: PlannedNode[] = []
  for (const id of p.order) {
    const node = p.nodes.get(id) as PipelineNode
    const components = componentsOf(node, (u) => digests.get(u), paths) ?? null
    const key = components === null ? null : cacheKey(components)
    const manifest = key === null ? undefined : store.complete(key)
    const forced = sel.forced.has(id)
    if (manifest !== undefined && !forced) digests.set(id, Object.fromEntries(Object.entries(manifest.outputs).map(([k, o]) => [k, o.digest])))
    out.push({ id, kind: node.kind, key, components, cached: manifest !== undefined && !forced, manifest: manifest ?? null, selected: selected.has(id), forced })
  }
  // Unselected upstreams are never run, so they must already be in the cache.
  for (const id of sel.selected) {
    for (const ref of Object.values((p.nodes.get(id) as PipelineNode).inputs))
      if (!selected.has(ref.node) && !digests.has(ref.node))
        throw new SelectionError({ message: `${id} needs ${ref.node}.${ref.port}, which is not cached and not selected; run without --only/--until first` })
  }
  return out
}

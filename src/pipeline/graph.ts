// Pure DAG helpers over `id -> ids it depends on`. Deterministic: ties are broken by declaration
// order, so `pipe plan` and run records list nodes in the same order every time.

export type Deps = ReadonlyMap<string, readonly string[]>

/** Kahn's algorithm. Returns the order, or undefined when there is a cycle. */
export const topoSort = (deps: Deps): string[] | undefined => {
  const ids = [...deps.keys()]
  const indeg = new Map(ids.map((id) => [id, 0]))
  const users = new Map<string, string[]>(ids.map((id) => [id, []]))
  for (const [id, ds] of deps)
    for (const d of new Set(ds)) {
      if (!deps.has(d)) continue
      indeg.set(id, (indeg.get(id) ?? 0) + 1)
      users.get(d)?.push(id)
    }
  const rank = new Map(ids.map((id, i) => [id, i]))
  const ready = ids.filter((id) => indeg.get(id) === 0)
  const order: string[] = []
  while (ready.length > 0) {
    ready.sort((a, b) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0))
    const id = ready.shift() as string
    order.push(id)
    for (const u of users.get(id) ?? []) {
      const n = (indeg.get(u) ?? 0) - 1
      indeg.set(u, n)
      if (n === 0) ready.push(u)
    }
  }
  return order.length === ids.length ? order : undefined
}

/**
 * Every elementary cycle found by a depth-first search (one per back edge), each as the list of ids
 * along the cycle starting and ending at the same id, e.g. ["a", "b", "a"]. Empty when acyclic.
 */
export const findCycles = (deps: Deps): string[][] => {
  const state = new Map<string, "active" | "done">()
  const stack: string[] = []
  const cycles: string[][] = []
  const seen = new Set<string>()
  const visit = (id: string): void => {
    state.set(id, "active")
    stack.push(id)
    for (const d of deps.get(id) ?? []) {
      if (!deps.has(d)) continue
      const s = state.get(d)
      if (s === "active") {
        // The path from d to id plus the edge id -> d; printed in data-flow order (producer first).
        const cyc = stack.slice(stack.indexOf(d)).reverse()
        const canon = [...cyc].sort().join("\u0000")
        if (!seen.has(canon)) {
          seen.add(canon)
          cycles.push([...cyc, cyc[0] as string])
        }
      } else if (s === undefined) visit(d)
    }
    stack.pop()
    state.set(id, "done")
  }
  for (const id of deps.keys()) if (!state.has(id)) visit(id)
  return cycles
}

/** All transitive dependencies of `id` (excluding id). */
export const ancestors = (deps: Deps, id: string): Set<string> => {
  const out = new Set<string>()
  const stack = [...(deps.get(id) ?? [])]
  while (stack.length > 0) {
    const d = stack.pop() as string
    if (out.has(d)) continue
    out.add(d)
    stack.push(...(deps.get(d) ?? []))
  }
  return out
}

/** All nodes that transitively depend on `id` (excluding id). */
export const descendants = (deps: Deps, id: string): Set<string> => {
  const users = new Map<string, string[]>()
  for (const [n, ds] of deps) for (const d of ds) users.set(d, [...(users.get(d) ?? []), n])
  const out = new Set<string>()
  const stack = [...(users.get(id) ?? [])]
  while (stack.length > 0) {
    const u = stack.pop() as string
    if (out.has(u)) continue
    out.add(u)
    stack.push(...(users.get(u) ?? []))
  }
  return out
}

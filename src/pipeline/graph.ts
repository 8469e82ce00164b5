// Pure DAG helpers over `id -> ids it depends on`. Deterministic: ties are broken by declaration
// order, so `pipe plan` and run records list nodes in the same order every time.

export type Deps = ReadonlyMap<string, readonly string[]>

/** A binary min-heap of declaration ranks: Kahn's ready set, so ties go to the earliest declared node. */
const rankHeap = () => {
  const h: number[] = []
  const push = (x: number): void => {
    h.push(x)
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1
      if ((h[parent] as number) <= x) break
      h[i] = h[parent] as number
      h[parent] = x
      i = parent
    }
  }
  const pop = (): number => {
    const top = h[0] as number
    const last = h.pop() as number
    if (h.length > 0) {
      h[0] = last
      for (let i = 0; ; ) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && (h[l] as number) < (h[m] as number)) m = l
        if (r < h.length && (h[r] as number) < (h[m] as number)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m] as number, h[i] as number]
        i = m
      }
    }
    return top
  }
  return { push, pop, size: () => h.length }
}

/** Kahn's algorithm, O((V + E) log V). Returns the order, or undefined when there is a cycle. */
export const topoSort = (deps: Deps): string[] | undefined => {
  const ids = [...deps.keys()]
  const rank = new Map(ids.map((id, i) => [id, i]))
  const indeg = new Array<number>(ids.length).fill(0)
  const users: number[][] = ids.map(() => [])
  ids.forEach((id, i) => {
    for (const d of new Set(deps.get(id))) {
      const j = rank.get(d)
      if (j === undefined) continue
      indeg[i] = (indeg[i] as number) + 1
      users[j]?.push(i)
    }
  })
  const ready = rankHeap()
  indeg.forEach((n, i) => n === 0 && ready.push(i))
  const order: string[] = []
  while (ready.size() > 0) {
    const i = ready.pop()
    order.push(ids[i] as string)
    for (const u of users[i] ?? []) {
      indeg[u] = (indeg[u] as number) - 1
      if (indeg[u] === 0) ready.push(u)
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
  const cycles: string[][] = []
  const seen = new Set<string>()
  // An explicit stack rather than recursion: a long chain (a sweep of 100k nodes) must not overflow.
  for (const root of deps.keys()) {
    if (state.has(root)) continue
    const path: string[] = []
    const frames: { id: string; next: number }[] = []
    const enter = (id: string): void => {
      state.set(id, "active")
      path.push(id)
      frames.push({ id, next: 0 })
    }
    enter(root)
    while (frames.length > 0) {
      const f = frames[frames.length - 1] as { id: string; next: number }
      const ds = deps.get(f.id) ?? []
      if (f.next >= ds.length) {
        frames.pop()
        path.pop()
        state.set(f.id, "done")
        continue
      }
      const d = ds[f.next++] as string
      if (!deps.has(d)) continue
      const s = state.get(d)
      if (s === "active") {
        // The path from d to f.id plus the edge f.id -> d; printed in data-flow order (producer first).
        const cyc = path.slice(path.lastIndexOf(d)).reverse()
        const canon = [...cyc].sort().join("\u0000")
        if (!seen.has(canon)) {
          seen.add(canon)
          cycles.push([...cyc, cyc[0] as string])
        }
      } else if (s === undefined) enter(d)
    }
  }
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
  for (const [n, ds] of deps)
    for (const d of ds) {
      const us = users.get(d)
      if (us === undefined) users.set(d, [n])
      else us.push(n)
    }
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

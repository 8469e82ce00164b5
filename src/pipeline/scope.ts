// Include namespaces. `include: [{ file: ddpm.yaml, as: ddpm }]` brings in ddpm.yaml's own nodes
// (hand-written and expanded) as `ddpm/<id>`, so several study pipelines that all call their model
// `train` fit in one DAG. A plain `include: [shared/judge.yaml]` brings in a shared sub-DAG: its
// nodes stay global (one copy, however many files include it), so the shared nodes of every study
// are computed once. Names written in a file (input references, profile entries) resolve lexically:
// the file's own scope first, then each enclosing one, then the global scope, the way ddpm.yaml's
// `judge.classifier` finds the shared judge. Keys never contain ids, so a namespaced node has the
// same cache key as the node of the standalone pipeline.
import { globMatcher, isGlob } from "./sweep.ts"

/** The scope of top-level files and of plain includes. */
export const GLOBAL = ""

export const qualify = (scope: string, id: string): string => (scope === GLOBAL ? id : `${scope}/${id}`)

/** Written ids contain no "/", so everything before the last one is the scope. */
export const scopeOf = (id: string): string => {
  const i = id.lastIndexOf("/")
  return i < 0 ? GLOBAL : id.slice(0, i)
}

/** "a/b" -> ["a/b", "a", ""]: where a name written in scope "a/b" is looked up, innermost first. */
export const scopeChain = (scope: string): string[] => {
  const out = [scope]
  for (let s = scope; s !== GLOBAL; ) {
    s = scopeOf(s)
    out.push(s)
  }
  return out
}

/** The id a name written in `scope` refers to: the innermost scope declaring it. */
export const resolveIn = (scope: string, name: string, has: (id: string) => boolean): string | undefined =>
  scopeChain(scope)
    .map((s) => qualify(s, name))
    .find(has)

/**
 * The ids a profile entry (an id or a `*` glob) written in `scope` names. A glob matches the ids of
 * the innermost scope where it matches any (relative to that scope); in the global scope it matches
 * full ids, so `--set 'ddpm/*.count=8'` works.
 */
export const idsIn = (scope: string, entry: string, ids: readonly string[]): string[] => {
  const set = new Set(ids)
  if (!isGlob(entry)) {
    const id = resolveIn(scope, entry, (i) => set.has(i))
    return id === undefined ? [] : [id]
  }
  const match = globMatcher(entry)
  for (const s of scopeChain(scope)) {
    const prefix = s === GLOBAL ? "" : `${s}/`
    const hits = ids.filter((id) => id.startsWith(prefix) && match(id.slice(prefix.length)))
    if (hits.length > 0) return hits
  }
  return []
}

export interface IncludeEntry {
  readonly file: string
  /** The namespace, or null for a plain (shared) include. */
  readonly as: string | null
}

/** `"file.yaml"` or `{ file, as }`; undefined for anything else (the file schema reports it). */
export const includeEntry = (v: unknown): IncludeEntry | undefined => {
  if (typeof v === "string") return { file: v, as: null }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined
  const { file, as } = v as { file?: unknown; as?: unknown }
  return typeof file === "string" && typeof as === "string" ? { file, as } : undefined
}

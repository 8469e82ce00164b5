// Sweeps: one block of template nodes instantiated once per binding of its variables, expanded at
// load time, before validation, into ordinary nodes (the matrix of DVC `foreach`/`matrix` or GitHub
// Actions' `strategy.matrix`). Expansion is pure data -> data: the expanded nodes are exactly what a
// hand-written file would declare, so cache keys (which never include ids) cannot tell the two apart.
//
//   sweeps:
//     euler:
//       over: { steps: [1, 2, 5] }              # map of lists: the cartesian product, first key slowest
//       # over: [{ sampler: ddpm, steps: 1000 }, { sampler: ddim, steps: 50 }]   # or explicit bindings
//       nodes:
//         "euler-${steps}": { kind: sample, params: { steps: "${steps}" } }
//
// Substitution: a string that is exactly "${v}" becomes v's YAML value (a number stays a number, a
// list stays a list); "${v}" inside a longer string interpolates v's text; "$${" is a literal "${".
// Applies to template ids and to every string value of a template node (never to map keys below it).
import type { Diagnostic, SourcePos } from "../errors.ts"
import { didYouMean } from "./ajv-errors.ts"

export const VAR_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$"
const VAR_RE = new RegExp(VAR_PATTERN)
/** `$${` (escape), `${name}`, or an unterminated / malformed `${`. */
const TOKEN_RE = /\$\$\{|\$\{([^}]*)\}|\$\{/g

type Obj = Record<string, unknown>
type Path = readonly (string | number)[]
type PosFn = (path: Path, which?: "key" | "value") => SourcePos
export type Binding = Readonly<Record<string, unknown>>

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)

/** Where an expanded node came from: its template, for positions in diagnostics. */
export interface ExpandedOrigin {
  readonly sweep: string
  /** Path of the template node in the file: ["sweeps", sweep, "nodes", templateId]. */
  readonly template: Path
  readonly binding: number
}

export interface Expansion {
  /** The file's data with `sweeps` removed and its expansions added under `nodes`. */
  readonly data: unknown
  readonly origins: ReadonlyMap<string, ExpandedOrigin>
  readonly diagnostics: readonly Diagnostic[]
  /**
   * Template strings that failed to substitute (kept as written): the loader drops its own later
   * complaints at these positions ("must be integer, got "${nn}""), which would only repeat the cause.
   */
  readonly broken: readonly SourcePos[]
}

/** A problem found while substituting, with the path (relative to the substituted value) it is at. */
interface SubstError {
  readonly at: Path
  readonly message: string
}

const bindingVars = (b: Binding): string => Object.keys(b).join(", ") || "none"

/** Substitutes `binding` into one string; whole-string "${v}" keeps v's type. */
export const substituteString = (s: string, binding: Binding): { value: unknown } | { error: string } => {
  const whole = /^\$\{([^}]*)\}$/.exec(s)
  if (whole !== null) {
    const name = whole[1] as string
    if (!Object.hasOwn(binding, name)) return { error: unknownVar(name, binding) }
    return { value: structuredClone(binding[name]) }
  }
  let error: string | undefined
  const text = s.replace(TOKEN_RE, (tok, name: string | undefined) => {
    if (tok === "$${") return "${"
    if (name === undefined) {
      error ??= `unterminated "\${" in ${JSON.stringify(s)} (write "$\${" for a literal "\${")`
      return tok
    }
    if (!Object.hasOwn(binding, name)) {
      error ??= unknownVar(name, binding)
      return tok
    }
    const v = binding[name]
    if (typeof v === "object" && v !== null) {
      error ??= `variable "${name}" is a ${Array.isArray(v) ? "list" : "map"}: only a whole-string "\${${name}}" can use it, not ${JSON.stringify(s)}`
      return tok
    }
    return String(v)
  })
  return error === undefined ? { value: text } : { error }
}

const unknownVar = (name: string, binding: Binding): string =>
  VAR_RE.test(name)
    ? `unknown variable "${name}"${didYouMean(name, Object.keys(binding))} (variables: ${bindingVars(binding)})`
    : `invalid variable name "${name}": names are letters, digits and "_"`

/** Substitutes every string below `v` (map keys are left alone); collects located errors. */
export const substitute = (v: unknown, binding: Binding, at: Path = [], errors: SubstError[] = []): { value: unknown; errors: SubstError[] } => {
  if (typeof v === "string") {
    const r = substituteString(v, binding)
    if ("error" in r) errors.push({ at, message: r.error })
    return { value: "value" in r ? r.value : v, errors }
  }
  if (Array.isArray(v)) return { value: v.map((x, i) => substitute(x, binding, [...at, i], errors).value), errors }
  if (isObj(v)) return { value: Object.fromEntries(Object.entries(v).map(([k, x]) => [k, substitute(x, binding, [...at, k], errors).value])), errors }
  return { value: v, errors }
}

/** The cartesian product of `lists`, first key slowest (as written: `{a: [1, 2], b: [x, y]}` -> a1b x, a1 by, ...). */
export const cartesian = (lists: Readonly<Record<string, readonly unknown[]>>): Binding[] =>
  Object.entries(lists).reduce<Binding[]>((acc, [k, vs]) => acc.flatMap((b) => vs.map((v) => ({ ...b, [k]: v }))), [{}])

/**
 * At most this many nodes come out of the sweeps of one file. Expansion is linear, but a product of a
 * few lists grows fast (three lists of 100 are a million nodes): the limit is checked on the counts,
 * before anything is expanded, and reported at the sweep's `over`.
 */
export const MAX_EXPANDED_NODES = 100_000

/** `over` -> its bindings, or located problems; `budget` is how many nodes may still be expanded. */
const bindingsOf = (over: unknown, at: Path, pos: PosFn, sweep: string, templates: number, budget: number): { bindings: Binding[]; diags: Diagnostic[] } => {
  const tooMany = (bindings: number): Diagnostic[] =>
    bindings * templates <= budget
      ? []
      : [
          {
            pos: pos(at),
            message: `sweep "${sweep}" would expand to ${(bindings * templates).toLocaleString("en-US")} nodes (${bindings.toLocaleString("en-US")} bindings x ${templates} template${templates === 1 ? "" : "s"}); the sweeps of one file may expand to at most ${MAX_EXPANDED_NODES.toLocaleString("en-US")}: split the sweep or narrow "over"`,
          },
        ]
  const diags: Diagnostic[] = []
  const badName = (name: string, path: Path): void => {
    if (!VAR_RE.test(name)) diags.push({ pos: pos(path, "key"), message: `sweep "${sweep}": invalid variable name "${name}": names are letters, digits and "_"` })
  }
  if (Array.isArray(over)) {
    if (over.length === 0) return { bindings: [], diags: [{ pos: pos(at), message: `sweep "${sweep}": empty "over" (it needs at least one binding)` }] }
    over.forEach((b, i) => {
      if (!isObj(b) || Object.keys(b).length === 0) diags.push({ pos: pos([...at, i]), message: `sweep "${sweep}": over[${i}] must be a non-empty map of variable -> value` })
      else for (const k of Object.keys(b)) badName(k, [...at, i, k])
    })
    if (diags.length === 0) diags.push(...tooMany(over.length))
    return { bindings: diags.length > 0 ? [] : (over as Binding[]), diags }
  }
  if (isObj(over)) {
    if (Object.keys(over).length === 0) return { bindings: [], diags: [{ pos: pos(at), message: `sweep "${sweep}": empty "over" (it needs at least one variable)` }] }
    for (const [k, vs] of Object.entries(over)) {
      badName(k, [...at, k])
      if (!Array.isArray(vs)) diags.push({ pos: pos([...at, k]), message: `sweep "${sweep}": over.${k} must be a list of values, got ${JSON.stringify(vs)}` })
      else if (vs.length === 0) diags.push({ pos: pos([...at, k]), message: `sweep "${sweep}": empty "over" list "${k}" (the sweep would have no nodes)` })
    }
    if (diags.length === 0) diags.push(...tooMany(Object.values(over).reduce<number>((n, vs) => n * (vs as unknown[]).length, 1)))
    return { bindings: diags.length > 0 ? [] : cartesian(over as Record<string, unknown[]>), diags }
  }
  return {
    bindings: [],
    diags: [{ pos: pos(at), message: `sweep "${sweep}": "over" must be a map of variable -> list of values, or a list of bindings (maps)` }],
  }
}

const SWEEP_KEYS = ["description", "over", "nodes"]

/**
 * Expands the `sweeps` of one parsed file into `nodes`. `pos` locates paths in the file as written.
 * Ids already in `nodes` (hand-written) and ids produced twice are located errors at the template key.
 */
export const expandSweeps = (data: unknown, pos: PosFn): Expansion => {
  const origins = new Map<string, ExpandedOrigin>()
  if (!isObj(data) || data.sweeps === undefined) return { data, origins, diagnostics: [], broken: [] }
  const diags: Diagnostic[] = []
  const broken: SourcePos[] = []
  const { sweeps, ...rest } = data
  const nodes: Obj = isObj(rest.nodes) ? { ...rest.nodes } : {}
  const out = { ...rest, nodes }
  if (!isObj(sweeps)) {
    diags.push({ pos: pos(["sweeps"]), message: `sweeps must be a map of sweep name -> { over, nodes }` })
    return { data: out, origins, diagnostics: diags, broken }
  }
  let expanded = 0
  const where = (path: Path): string => {
    const p = pos(path, "key")
    return `${p.file}:${p.line}:${p.column}`
  }
  for (const [name, sweep] of Object.entries(sweeps)) {
    const base = ["sweeps", name]
    if (!isObj(sweep)) {
      diags.push({ pos: pos(base), message: `sweep "${name}" must be a map with "over" and "nodes"` })
      continue
    }
    for (const k of Object.keys(sweep))
      if (!SWEEP_KEYS.includes(k)) diags.push({ pos: pos([...base, k], "key"), message: `sweep "${name}": unknown field "${k}"${didYouMean(k, SWEEP_KEYS)} (known: ${SWEEP_KEYS.join(", ")})` })
    for (const k of ["over", "nodes"])
      if (sweep[k] === undefined) diags.push({ pos: pos(base, "key"), message: `sweep "${name}": missing required "${k}"` })
    if (sweep.over === undefined || sweep.nodes === undefined) continue
    if (!isObj(sweep.nodes) || Object.keys(sweep.nodes).length === 0) {
      diags.push({ pos: pos([...base, "nodes"]), message: `sweep "${name}": "nodes" must be a non-empty map of template id -> node` })
      continue
    }
    const templates = Object.keys(sweep.nodes).length
    const { bindings, diags: overDiags } = bindingsOf(sweep.over, [...base, "over"], pos, name, templates, MAX_EXPANDED_NODES - expanded)
    diags.push(...overDiags)
    expanded += bindings.length * templates
    // binding-major order, as a hand-written file lists each sampler's block together
    bindings.forEach((binding, bi) => {
      for (const [tid, tnode] of Object.entries(sweep.nodes as Obj)) {
        const template = [...base, "nodes", tid]
        if (!isObj(tnode)) {
          if (bi === 0) diags.push({ pos: pos(template), message: `sweep "${name}": template "${tid}" must be a node map ({ kind, params, inputs })` })
          continue
        }
        const idr = substituteString(tid, binding)
        if ("error" in idr) {
          diags.push({ pos: pos(template, "key"), message: `sweep "${name}": ${idr.error}` })
          continue
        }
        if (typeof idr.value !== "string" && typeof idr.value !== "number") {
          diags.push({ pos: pos(template, "key"), message: `sweep "${name}": template id "${tid}" must expand to a string, got ${JSON.stringify(idr.value)}` })
          continue
        }
        const id = String(idr.value)
        const prev = origins.get(id)
        if (prev !== undefined) {
          diags.push({
            pos: pos(template, "key"),
            message: `duplicate node id "${id}": sweep "${name}" expands "${tid}" to it again (binding ${bi + 1}; first from sweep "${prev.sweep}", binding ${prev.binding + 1}, at ${where(prev.template)})`,
          })
          continue
        }
        if (Object.hasOwn(nodes, id)) {
          diags.push({ pos: pos(template, "key"), message: `duplicate node id "${id}": sweep "${name}" expands "${tid}" to an id already declared at ${where(["nodes", id])}` })
          continue
        }
        const { value, errors } = substitute(tnode, binding)
        for (const e of errors) {
          const at = pos([...template, ...e.at])
          diags.push({ pos: at, message: `sweep "${name}": ${e.message}` })
          broken.push(at)
        }
        nodes[id] = value
        origins.set(id, { sweep: name, template, binding: bi })
      }
    })
  }
  return { data: out, origins, diagnostics: diags, broken }
}

/** Positions of expanded nodes point into their template: ["nodes", id, ...rest] -> [...template, ...rest]. */
export const templatePos =
  (pos: PosFn, origins: ReadonlyMap<string, ExpandedOrigin>): PosFn =>
  (path, which) => {
    const o = path[0] === "nodes" && typeof path[1] === "string" ? origins.get(path[1]) : undefined
    return o === undefined ? pos(path, which) : pos([...o.template, ...path.slice(2)], which)
  }

/** `*` matches any run of characters (also none); every other character is literal. */
export const isGlob = (pattern: string): boolean => pattern.includes("*")

export const globMatcher = (pattern: string): ((id: string) => boolean) => {
  const re = new RegExp(`^${pattern.split("*").map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`)
  return (id) => re.test(id)
}

// Loads a pipeline file with its includes, expands its sweeps (src/pipeline/sweep.ts), applies a
// profile and --set overrides, validates everything (schema, params, references, port types, cycles, paths) and returns the resolved DAG.
// Every problem is collected as a located Diagnostic and all of them are reported together, before
// any node runs.
import { existsSync, realpathSync, statSync } from "node:fs"
import { dirname, isAbsolute, relative, resolve } from "node:path"
import { parse as parseYaml } from "yaml"
import type { ValidateFunction } from "ajv"
import { type Diagnostic, InvalidPipeline, type SourcePos } from "../errors.ts"
import { type Json, NON_FINITE_HINT, nonFinitePaths } from "../key/canonical.ts"
import type { NodeEntry, Registry } from "../registry/registry.ts"
import { pathParams } from "../key/key.ts"
import { compile, diagnosticsOf, didYouMean, makeAjv } from "./ajv-errors.ts"
import { type Deps, findCycles, topoSort } from "./graph.ts"
import { paramsSchema, pipelineSchema } from "./schema.ts"
import { displayPath, parseSource, type SourceFile } from "./source.ts"
import { GLOBAL, idsIn, includeEntry, qualify, resolveIn } from "./scope.ts"
import { expandSweeps, globMatcher, isGlob, templatePos } from "./sweep.ts"
import { checkPath, insideRoot } from "./path-param.ts"

export { checkPath, insideRoot }

export interface InputRef {
  readonly node: string
  readonly port: string
}

export interface PipelineNode {
  readonly id: string
  readonly kind: string
  readonly entry: NodeEntry
  /** Params after includes, profile, --set and schema defaults. */
  readonly params: { readonly [k: string]: Json }
  readonly inputs: Readonly<Record<string, InputRef>>
  /** Path param -> absolute path inside the project. */
  readonly paths: Readonly<Record<string, string>>
  /** Where the node is declared (its id key). */
  readonly pos: SourcePos
  /** The sweep that expanded this node (namespaced like ids: "ddpm/samplers"), or null when hand-written. */
  readonly sweep: string | null
}

/** A namespaced include (`{ file, as }`): its scope, file and description, for reports. */
export interface PipelineScope {
  readonly scope: string
  readonly file: string // relative to the project root
  readonly name: string
  readonly description: string
}

export interface Pipeline {
  readonly name: string
  readonly description: string
  readonly file: string // absolute
  readonly display: string
  readonly root: string
  readonly files: readonly string[] // this file and every include, absolute
  /** Namespaced includes, in load order (empty when every include is plain). */
  readonly scopes: readonly PipelineScope[]
  readonly profile: string | null
  readonly profiles: readonly string[]
  readonly sets: readonly string[]
  readonly nodes: ReadonlyMap<string, PipelineNode>
  readonly order: readonly string[] // topological
  readonly deps: Deps
}

export interface LoadOptions {
  readonly root: string
  readonly registry: Registry
  readonly cwd?: string
  readonly profile?: string
  readonly sets?: readonly string[]
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)

interface Decl {
  readonly id: string
  readonly kind: string
  readonly params: Obj
  readonly inputs: Obj
  readonly file: SourceFile
  /** Namespace of the file instance that declares it: input references resolve from here. */
  readonly scope: string
  readonly sweep: string | null
}

/** One loaded file instance: a file included under two namespaces is loaded twice. */
interface Loaded {
  readonly file: SourceFile
  readonly scope: string
  readonly sweepOf: (localId: string) => string | undefined
}

interface Origin {
  readonly pos: SourcePos
  /** Base params were already checked by the file schema; only overrides need a second look. */
  readonly override: boolean
}

const setPos = (arg: string): SourcePos => ({ file: `--set ${arg}`, line: 0, column: 0 })

/** Parses `node.param[.sub...]=yamlValue`. */
export const parseSet = (arg: string): { node: string; path: string[]; value: unknown } | string => {
  const eq = arg.indexOf("=")
  if (eq <= 0) return `expected NODE.PARAM=VALUE`
  const [node, ...path] = arg.slice(0, eq).split(".")
  if (node === undefined || node === "" || path.length === 0 || path.some((p) => p === ""))
    return `expected NODE.PARAM=VALUE`
  let value: unknown
  try {
    value = parseYaml(arg.slice(eq + 1)) as unknown
  } catch (e) {
    return `value is not valid YAML: ${(e instanceof Error ? e.message : String(e)).split("\n")[0]}`
  }
  const bad = nonFinitePaths(value)[0]
  if (bad !== undefined) return `${bad.length > 0 ? `value at ${bad.join(".")}` : "value"} ${NON_FINITE_HINT}`
  return { node, path, value }
}

const setIn = (obj: Obj, path: readonly string[], value: unknown): void => {
  const [head, ...rest] = path
  if (head === undefined) return
  if (rest.length === 0) {
    obj[head] = value
    return
  }
  const child = isObj(obj[head]) ? { ...(obj[head] as Obj) } : {}
  obj[head] = child
  setIn(child, rest, value)
}

/** One line per (position, message), in file order. */
const dedupe = (ds: readonly Diagnostic[]): Diagnostic[] => {
  const seen = new Set<string>()
  return ds
    .filter((d) => {
      const k = `${d.pos.file}:${d.pos.line}:${d.pos.column}:${d.message}`
      if (seen.has(k)) return false
      seen.add(k)
      return true
    })
    .map((d, i) => ({ d, i, f: d.pos.file.startsWith("--set") ? "\uffff" : d.pos.file }))
    .sort((x, y) => (x.f === y.f ? x.d.pos.line - y.d.pos.line || x.d.pos.column - y.d.pos.column || x.i - y.i : x.i - y.i))
    .map((x) => x.d)
}

const posKey = (p: SourcePos): string => `${p.file}:${p.line}:${p.column}`

const deepClone = <T>(v: T): T => structuredClone(v)

interface Validators {
  readonly fileValidator: ValidateFunction
  readonly paramValidator: (kind: string) => ValidateFunction
}

// Compiled schemas per registry: compiling costs far more than validating (tens of ms per pipeline
// schema), and gc loads every pipeline under every profile with one registry. A registry never
// changes after loading, so its validators never go stale; the WeakMap lets both be collected.
const compiled = new WeakMap<Registry, Validators>()

const validatorsOf = (registry: Registry): Validators => {
  const hit = compiled.get(registry)
  if (hit !== undefined) return hit
  const ajv = makeAjv()
  const fileValidator = compile(ajv, pipelineSchema([...registry.entries.values()].map((e) => e.meta), "expanded"))
  const paramValidators = new Map<string, ValidateFunction>()
  const paramValidator = (kind: string): ValidateFunction => {
    const known = paramValidators.get(kind)
    if (known !== undefined) return known
    const v = compile(ajv, paramsSchema((registry.entries.get(kind) as NodeEntry).meta))
    paramValidators.set(kind, v)
    return v
  }
  const v = { fileValidator, paramValidator }
  compiled.set(registry, v)
  return v
}

export const loadPipeline = (file: string, opts: LoadOptions): Pipeline => {
  const cwd = opts.cwd ?? process.cwd()
  const root = resolve(opts.root)
  const mainAbs = resolve(cwd, file)
  if (opts.registry.entries.size === 0)
    throw new InvalidPipeline({
      diagnostics: [
        {
          pos: { file: displayPath(mainAbs, cwd), line: 0, column: 0 },
          message: `no node kinds in ${opts.registry.nodesDir} (is this file inside a pipe project? Its root is the nearest directory with a package.json, here ${root}; use --root or --nodes)`,
        },
      ],
    })
  const diags: Diagnostic[] = []
  // Positions ("file:line:col") whose problem is already explained by a diagnostic in `causes` (a
  // template string that did not substitute, a non-finite number): later complaints there only
  // repeat the cause and are dropped.
  const explained = new Set<string>()
  const causes = new Set<Diagnostic>()
  const cause = (d: Diagnostic): void => {
    diags.push(d)
    causes.add(d)
    explained.add(posKey(d.pos))
  }
  const { fileValidator, paramValidator } = validatorsOf(opts.registry)

  // 1. Files: this one and its includes (depth first, includes before includers, each once per scope).
  const instances: Loaded[] = []
  const loaded = new Set<string>()
  /** `from`: the include entry naming `abs` (with its text), or undefined for the main file. */
  const visit = (abs: string, chain: readonly string[], from: { pos: SourcePos; text: string } | undefined, scope: string): void => {
    if (chain.includes(abs)) {
      diags.push({ pos: (from as { pos: SourcePos }).pos, message: `include cycle: ${[...chain, abs].map((f) => relative(root, f)).join(" -> ")}` })
      return
    }
    if (loaded.has(`${scope}\0${abs}`)) return
    loaded.add(`${scope}\0${abs}`)
    const self = { file: displayPath(abs, cwd), line: 0, column: 0 }
    if (!existsSync(abs)) {
      diags.push({ pos: from?.pos ?? self, message: `file not found: ${abs}` })
      return
    }
    if (statSync(abs).isDirectory()) {
      diags.push(from === undefined ? { pos: self, message: "is a directory, not a pipeline file" } : { pos: from.pos, message: `include "${from.text}" is a directory, not a pipeline file` })
      return
    }
    const { file: parsed, errors } = parseSource(abs, cwd)
    diags.push(...errors)
    if (errors.length > 0) return
    for (const path of nonFinitePaths(parsed.data))
      cause({ pos: parsed.pos(path), message: `${path.join(".")}: ${String(path.reduce<unknown>((v, k) => (v as Obj)[k], parsed.data))} ${NON_FINITE_HINT}` })
    // Sweeps become plain nodes before anything else looks at the file; positions inside an expanded
    // node resolve to its template, so every later diagnostic points at what the user wrote.
    const expansion = expandSweeps(parsed.data, parsed.pos)
    diags.push(...expansion.diagnostics)
    for (const d of expansion.diagnostics) causes.add(d)
    for (const b of expansion.broken) explained.add(posKey(b))
    const filePos = templatePos(parsed.pos, expansion.origins)
    // Positions are asked for by full id ("ddpm/train"); the file knows its nodes by the local one.
    const prefix = scope === GLOBAL ? "" : `${scope}/`
    const src: SourceFile = {
      ...parsed,
      data: expansion.data,
      pos: (path, which) =>
        prefix !== "" && path[0] === "nodes" && typeof path[1] === "string" && path[1].startsWith(prefix)
          ? filePos(["nodes", path[1].slice(prefix.length), ...path.slice(2)], which)
          : filePos(path, which),
    }
    const data: unknown = src.data
    const valid: boolean = fileValidator(data)
    if (!valid) {
      diags.push(
        ...diagnosticsOf(fileValidator.errors ?? [], {
          base: [],
          pos: src.pos,
          data,
          known: (p) => {
            if (p[0] !== "nodes" || p.length !== 3) return undefined
            const node = isObj(data) && isObj(data.nodes) ? data.nodes[p[1] as string] : undefined
            const kind = isObj(node) ? node.kind : undefined
            const meta = typeof kind === "string" ? opts.registry.entries.get(kind)?.meta : undefined
            if (meta === undefined) return undefined
            if (p[2] === "params") return { what: `param of kind "${kind}"`, names: Object.keys(meta.params.properties ?? {}) }
            if (p[2] === "inputs") return { what: `input port of kind "${kind}"`, names: Object.keys(meta.inputs) }
            return undefined
          },
        }),
      )
      // keep going: graph problems (cycles, references) are reported in the same pass
    }
    const includes: unknown[] = isObj(data) && Array.isArray(data.include) ? data.include : []
    includes.forEach((raw, i) => {
      const inc = includeEntry(raw)
      if (inc === undefined) return
      const at = src.pos(["include", i])
      const target = resolve(dirname(abs), inc.file)
      if (isAbsolute(inc.file) || !insideRoot(root, target)) {
        diags.push({ pos: at, message: `include "${inc.file}" escapes the project (${root})` })
        return
      }
      // A plain include is a shared sub-DAG (global); `as` nests the file's own nodes in a namespace.
      visit(target, [...chain, abs], { pos: at, text: inc.file }, inc.as === null ? GLOBAL : qualify(scope, inc.as))
    })
    instances.push({ file: src, scope, sweepOf: (id) => expansion.origins.get(id)?.sweep })
  }
  visit(mainAbs, [], undefined, GLOBAL)
  const files = instances.map((l) => l.file)
  if (!files.some((f) => f.path === mainAbs)) throw new InvalidPipeline({ diagnostics: diags })
  const main = files.find((f) => f.path === mainAbs) as SourceFile
  const dataOf = (f: SourceFile): Obj => (isObj(f.data) ? f.data : {})
  const mainData = dataOf(main)

  // 2. Nodes, merged across files; ids must be unique across the whole include closure.
  const decls = new Map<string, Decl>()
  for (const { file: f, scope, sweepOf } of instances) {
    const nodes = isObj(dataOf(f).nodes) ? (dataOf(f).nodes as Obj) : {}
    for (const [local, raw] of Object.entries(nodes)) {
      if (!isObj(raw)) continue
      const n = raw
      const id = qualify(scope, local)
      const prev = decls.get(id)
      if (prev !== undefined && prev.file !== f) {
        const p = prev.file.pos(["nodes", id], "key")
        diags.push({ pos: f.pos(["nodes", id], "key"), message: `duplicate node id "${id}" (also declared at ${p.file}:${p.line}:${p.column})` })
        continue
      }
      decls.set(id, {
        id,
        kind: typeof n.kind === "string" ? n.kind : "",
        params: isObj(n.params) ? n.params : {},
        inputs: isObj(n.inputs) ? n.inputs : {},
        file: f,
        scope,
        sweep: ((s) => (s === undefined ? null : qualify(scope, s)))(sweepOf(local)),
      })
    }
  }
  // A namespace named like a node would put both into runs/<run-id>/<name>/.
  for (const { file: f, scope } of instances) {
    const clash = scope !== GLOBAL ? decls.get(scope) : undefined
    if (clash !== undefined) diags.push({ pos: clash.file.pos(["nodes", scope], "key"), message: `node id "${scope}" is also the namespace of an include (as: ${scope.slice(scope.lastIndexOf("/") + 1)}, ${f.display})` })
  }

  // 3. Profiles (merged; the including file wins) and --set, each value remembering its origin.
  const profileNames = [...new Set(files.flatMap((f) => Object.keys(isObj(dataOf(f).profiles) ? (dataOf(f).profiles as Obj) : {})))].sort()
  const params = new Map<string, Obj>([...decls].map(([id, d]) => [id, deepClone(d.params)]))
  const origins = new Map<string, Map<string, Origin>>()
  const origin = (id: string, param: string): SourcePos | undefined => origins.get(id)?.get(param)?.pos
  /** The ids a profile entry or --set (global scope) names: one id, or every id a `*` glob matches (declaration order). */
  const nodeIds = (entry: string, scope: string = GLOBAL): string[] => idsIn(scope, entry, [...params.keys()])
  const setOrigin = (id: string, param: string, pos: SourcePos, override = true): void => {
    const m = origins.get(id) ?? new Map<string, Origin>()
    m.set(param, { pos, override })
    origins.set(id, m)
  }
  for (const d of decls.values())
    for (const k of Object.keys(d.params)) setOrigin(d.id, k, d.file.pos(["nodes", d.id, "params", k]), false)
  if (opts.profile !== undefined) {
    if (!profileNames.includes(opts.profile))
      diags.push({ pos: main.pos([]), message: `unknown profile "${opts.profile}"${didYouMean(opts.profile, profileNames)} (profiles: ${profileNames.join(", ") || "none"})` })
    for (const { file: f, scope } of instances) {
      const profs = dataOf(f).profiles
      const prof = isObj(profs) ? profs[opts.profile] : undefined
      if (!isObj(prof)) continue
      // Entries apply in the order written (later wins); a key with `*` is a glob over node ids.
      for (const [entry, over] of Object.entries(prof)) {
        const ids = nodeIds(entry, scope)
        if (ids.length === 0) {
          const message = isGlob(entry)
            ? `profile "${opts.profile}": "${entry}" matches no node`
            : `profile "${opts.profile}" sets params of unknown node "${entry}"${didYouMean(entry, [...decls.keys()])}`
          diags.push({ pos: f.pos(["profiles", opts.profile, entry], "key"), message })
          continue
        }
        if (!isObj(over)) continue
        for (const id of ids)
          for (const [k, v] of Object.entries(over)) {
            ;(params.get(id) as Obj)[k] = deepClone(v)
            setOrigin(id, k, f.pos(["profiles", opts.profile, entry, k]))
          }
      }
    }
  }
  for (const arg of opts.sets ?? []) {
    const s = parseSet(arg)
    if (typeof s === "string") {
      diags.push({ pos: setPos(arg), message: s })
      continue
    }
    const ids = nodeIds(s.node)
    if (ids.length === 0) {
      diags.push({ pos: setPos(arg), message: isGlob(s.node) ? `"${s.node}" matches no node` : `unknown node "${s.node}"${didYouMean(s.node, [...decls.keys()])}` })
      continue
    }
    for (const id of ids) {
      setIn(params.get(id) as Obj, s.path, deepClone(s.value))
      setOrigin(id, s.path[0] as string, setPos(arg))
    }
  }

  // 4. Params against each kind's schema (defaults filled in here, once).
  const known = (d: Decl): NodeEntry | undefined => opts.registry.entries.get(d.kind)
  for (const d of decls.values()) {
    if (known(d) === undefined) continue // reported by the file schema (with "did you mean")
    const p = params.get(d.id) as Obj
    const v = paramValidator(d.kind)
    if (v(p)) continue
    const meta = opts.registry.entries.get(d.kind)?.meta
    for (const e of v.errors ?? []) {
      const top = e.instancePath.split("/")[1] ?? (e.keyword === "additionalProperties" ? String((e.params as { additionalProperty: string }).additionalProperty) : undefined)
      const o = top === undefined ? undefined : origins.get(d.id)?.get(top)
      if (o === undefined || !o.override) continue // a base param: the file schema reported it
      const at = o.pos
      const [diag] = diagnosticsOf([e], {
        base: ["nodes", d.id, "params"],
        pos: () => at,
        data: p,
        known: () => ({ what: `param of kind "${d.kind}"`, names: Object.keys(meta?.params.properties ?? {}) }),
      })
      if (diag !== undefined) diags.push(diag)
    }
  }

  // 5. References and port types.
  const inputs = new Map<string, Record<string, InputRef>>()
  for (const d of decls.values()) {
    const meta = known(d)?.meta
    const refs: Record<string, InputRef> = {}
    for (const [port, raw] of Object.entries(d.inputs)) {
      const at = d.file.pos(["nodes", d.id, "inputs", port])
      if (typeof raw !== "string" || !/^[^.]+\.[^.]+$/.test(raw)) continue // reported by the file schema
      const [written, out] = raw.split(".") as [string, string]
      const node = resolveIn(d.scope, written, (id) => decls.has(id)) ?? written
      const up = decls.get(node)
      if (up === undefined) {
        diags.push({ pos: at, message: `input "${port}" of "${d.id}" refers to unknown node "${written}"${didYouMean(written, [...decls.keys()])}` })
        continue
      }
      const upMeta = known(up)?.meta
      if (upMeta === undefined || meta === undefined) {
        refs[port] = { node, port: out } // kind unknown: keep the edge for cycle detection
        continue
      }
      const produced = upMeta.outputs[out]
      if (produced === undefined) {
        const outs = Object.keys(upMeta.outputs)
        diags.push({ pos: at, message: `node "${node}" (${up.kind}) has no output "${out}"${didYouMean(out, outs)} (outputs: ${outs.join(", ") || "none"})` })
        continue
      }
      const wanted = meta.inputs[port]
      if (wanted !== undefined && wanted.type !== produced.type) {
        diags.push({ pos: at, message: `port type mismatch: ${node}.${out} is "${produced.type}" but input "${port}" of "${d.id}" (${d.kind}) takes "${wanted.type}"` })
        continue
      }
      refs[port] = { node, port: out }
    }
    inputs.set(d.id, refs)
  }
  const deps: Map<string, string[]> = new Map([...decls.keys()].map((id) => [id, [...new Set(Object.values(inputs.get(id) ?? {}).map((r) => r.node))]]))
  for (const cyc of findCycles(deps)) {
    const first = decls.get(cyc[1] as string) as Decl
    const port = Object.entries(inputs.get(first.id) ?? {}).find(([, r]) => r.node === cyc[0])?.[0]
    diags.push({
      pos: first.file.pos(port === undefined ? ["nodes", first.id] : ["nodes", first.id, "inputs", port]),
      message: `cycle: ${cyc.join(" -> ")}`,
    })
  }

  // 6. Path params stay inside the project (after resolving symlinks: a link may point anywhere), exist,
  // and name something smaller than the whole project (whose content includes the cache itself).
  const realRoot = realpathSync(root)
  const paths = new Map<string, Record<string, string>>()
  for (const d of decls.values()) {
    const meta = known(d)?.meta
    if (meta === undefined) continue
    const p = params.get(d.id) as Obj
    const resolved: Record<string, string> = {}
    for (const name of pathParams(meta.params)) {
      const v = p[name]
      if (typeof v !== "string") continue
      const at = origin(d.id, name) ?? d.file.pos(["nodes", d.id])
      const checked = checkPath(root, realRoot, v)
      if (typeof checked === "string") resolved[name] = checked
      else diags.push({ pos: at, message: `path param "${name}"${checked.problem}` })
    }
    paths.set(d.id, resolved)
  }

  const shown = diags.filter((d) => causes.has(d) || !explained.has(posKey(d.pos)))
  if (shown.length > 0) throw new InvalidPipeline({ diagnostics: dedupe(shown) })
  const order = topoSort(deps) as string[]
  const nodes = new Map<string, PipelineNode>(
    order.map((id) => {
      const d = decls.get(id) as Decl
      return [
        id,
        {
          id,
          kind: d.kind,
          entry: opts.registry.entries.get(d.kind) as NodeEntry,
          params: params.get(id) as { [k: string]: Json },
          inputs: inputs.get(id) ?? {},
          paths: paths.get(id) ?? {},
          pos: d.file.pos(["nodes", id], "key"),
          sweep: d.sweep,
        },
      ]
    }),
  )
  return {
    name: String(mainData.name),
    description: typeof mainData.description === "string" ? mainData.description : "",
    file: mainAbs,
    display: main.display,
    root,
    files: [...new Set(files.map((f) => f.path))],
    scopes: instances
      .filter((l) => l.scope !== GLOBAL)
      .map((l) => ({
        scope: l.scope,
        file: relative(root, l.file.path).split("\\").join("/"),
        name: typeof dataOf(l.file).name === "string" ? String(dataOf(l.file).name) : l.scope,
        description: typeof dataOf(l.file).description === "string" ? String(dataOf(l.file).description) : "",
      })),
    profile: opts.profile ?? null,
    profiles: profileNames,
    sets: [...(opts.sets ?? [])],
    nodes,
    order,
    deps,
  }
}

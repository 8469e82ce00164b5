// Include namespaces (src/pipeline/scope.ts): `{ file, as }` nests a file's own nodes under `as/`,
// plain includes stay shared, names resolve innermost scope first, profiles compose, and a
// namespaced node has exactly the key of the same node in its standalone pipeline.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import fc from "fast-check"
import t from "tap"
import { formatDiagnostic, InvalidPipeline } from "../../src/errors.ts"
import * as Effect from "effect/Effect"
import { execute } from "../../src/exec/executor.ts"
import { planPipeline, select } from "../../src/exec/plan.ts"
import { silentReporter } from "../../src/exec/progress.ts"
import { makePathDigester } from "../../src/key/path-digest.ts"
import { loadPipeline, type Pipeline } from "../../src/pipeline/load.ts"
import { idsIn, qualify, resolveIn, scopeChain, scopeOf } from "../../src/pipeline/scope.ts"
import { loadRegistry } from "../../src/registry/registry.ts"
import { openStore } from "../../src/store/store.ts"
import { FIXTURE } from "./helpers.ts"

const registry = await loadRegistry({ root: FIXTURE, nodesDir: join(FIXTURE, "nodes") })

interface Teardown {
  teardown: (fn: () => void) => void
}

const FILES: Record<string, string> = {
  "shared/base.yaml": `name: base
nodes:
  src: { kind: source, params: { n: 4 } }
profiles:
  smoke:
    src: { n: 2 }
`,
  // Two "studies" with the same local ids (r, out), both on the shared src.
  "a.yaml": `name: a
description: study A
include: [shared/base.yaml]
nodes:
  r: { kind: round, inputs: { x: src.values } }
  out: { kind: render, inputs: { x: r.y } }
sweeps:
  scales:
    over: { by: [2, 3] }
    nodes:
      "sc-\${by}": { kind: scale, params: { by: "\${by}" }, inputs: { x: r.y } }
profiles:
  smoke:
    out: { name: a.txt }
    "sc-*": { by: 5 }
`,
  "b.yaml": `name: b
include: [shared/base.yaml]
nodes:
  r: { kind: round, inputs: { x: src.values } }
  out: { kind: render, inputs: { x: r.y } }
  sc-9: { kind: scale, inputs: { x: r.y } }
profiles:
  smoke:
    out: { name: b.txt }
`,
  "study.yaml": `name: study
include:
  - shared/base.yaml
  - { file: a.yaml, as: a }
  - { file: b.yaml, as: b }
nodes:
  total: { kind: add, inputs: { a: a/r.y, b: b/r.y } }
`,
}

const project = (t: Teardown, files: Record<string, string>): string => {
  const root = mkdtempSync(join(tmpdir(), "pipe-ns-"))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(root, name, ".."), { recursive: true })
    writeFileSync(join(root, name), text)
  }
  return root
}

const load = (root: string, file: string, opts: { profile?: string; sets?: string[] } = {}): Pipeline =>
  loadPipeline(file, { root, registry, cwd: root, ...opts })

const keys = (t: Teardown, p: Pipeline, cache?: string): Record<string, string | null> => {
  const dir = cache ?? mkdtempSync(join(tmpdir(), "pipe-ns-cache-"))
  if (cache === undefined) t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return Object.fromEntries(planPipeline(p, openStore(dir), makePathDigester(dir), select(p, {})).map((n) => [n.id, n.key]))
}

/** Runs a pipeline into `cache` (fixture nodes: pure and fast); returns each node's status. */
const run = async (p: Pipeline, cache: string, runDir: string): Promise<Record<string, string>> => {
  const r = await Effect.runPromise(
    execute({ pipeline: p, registry, store: openStore(cache), paths: makePathDigester(cache), selection: select(p, {}), jobs: 2, reporter: silentReporter(), runDir, interrupted: () => false, prepareRuntime: async () => null }),
  )
  return Object.fromEntries(r.nodes.map((n) => [n.id, n.status]))
}

const errorsOf = (root: string, file: string): string[] => {
  try {
    load(root, file)
    return []
  } catch (e) {
    if (e instanceof InvalidPipeline) return e.diagnostics.map(formatDiagnostic)
    throw e
  }
}

t.test("namespaced includes: local ids under as/, shared nodes once, references resolve innermost first", (t) => {
  const root = project(t, FILES)
  const p = load(root, "study.yaml")
  t.same([...p.nodes.keys()].sort(), ["a/out", "a/r", "a/sc-2", "a/sc-3", "b/out", "b/r", "b/sc-9", "src", "total"])
  t.same(p.nodes.get("a/r")?.inputs, { x: { node: "src", port: "values" } }, "a's src is the shared one")
  t.same(p.nodes.get("a/out")?.inputs, { x: { node: "a/r", port: "y" } }, "a's r is its own")
  t.same(p.nodes.get("b/out")?.inputs, { x: { node: "b/r", port: "y" } })
  t.same(p.nodes.get("total")?.inputs, { a: { node: "a/r", port: "y" }, b: { node: "b/r", port: "y" } }, "the including file names namespaced nodes")
  t.equal(p.nodes.get("a/sc-2")?.sweep, "a/scales", "sweep of origin, namespaced like ids")
  t.equal(p.nodes.get("b/sc-9")?.sweep, null, "hand-written")
  t.same(p.scopes.map((s) => [s.scope, s.file, s.name, s.description]), [["a", "a.yaml", "a", "study A"], ["b", "b.yaml", "b", ""]])
  t.match(formatDiagnostic({ pos: p.nodes.get("a/out")!.pos, message: "" }), /^a\.yaml:6:3/, "positions point into the included file")
  t.end()
})

t.test("keys: after the standalone pipelines ran, every study node is cached with their keys (profiles composed)", async (t) => {
  const root = project(t, FILES)
  for (const profile of [undefined, "smoke"]) {
    const opts = profile === undefined ? {} : { profile }
    const cache = join(root, `cache-${profile ?? "default"}`)
    const alone: Record<string, string | null> = {}
    for (const ns of ["a", "b"]) {
      const statuses = await run(load(root, `${ns}.yaml`, opts), cache, join(root, "runs", ns))
      t.ok(Object.values(statuses).every((s) => s === "ran" || s === "cached"), JSON.stringify(statuses))
      for (const [id, key] of Object.entries(keys(t, load(root, `${ns}.yaml`, opts), cache))) alone[id === "src" ? id : qualify(ns, id)] = key
    }
    const study = keys(t, load(root, "study.yaml", opts), cache)
    for (const [id, key] of Object.entries(alone)) {
      t.type(key, "string", `${id} computed`)
      t.equal(study[id], key, `${profile ?? "default"}: ${id} has the standalone key`)
    }
  }
  const smoke = load(root, "study.yaml", { profile: "smoke" })
  t.equal(smoke.nodes.get("a/out")?.params.name, "a.txt", "a's profile on a's out")
  t.equal(smoke.nodes.get("b/out")?.params.name, "b.txt")
  t.same([smoke.nodes.get("a/sc-2")?.params.by, smoke.nodes.get("b/sc-9")?.params.by], [5, 2], "a glob in a's profile stays in a")
  t.equal(smoke.nodes.get("src")?.params.n, 2, "the shared file's profile applies once")
})

t.test("--set and globs in the global scope see full ids", (t) => {
  const root = project(t, FILES)
  const p = load(root, "study.yaml", { sets: ["*/sc-*.by=7", "a/out.name=x.txt"] })
  t.same(["a/sc-2", "a/sc-3", "b/sc-9"].map((id) => p.nodes.get(id)?.params.by), [7, 7, 7])
  t.equal(p.nodes.get("a/out")?.params.name, "x.txt")
  t.end()
})

t.test("errors in a namespaced file are located there and name the full id", (t) => {
  const root = project(t, {
    ...FILES,
    "a.yaml": FILES["a.yaml"]!.replace("inputs: { x: r.y } }", "inputs: { x: nope.y } }"),
    "study.yaml": `${FILES["study.yaml"]}  a: { kind: source }\n`,
  })
  const errs = errorsOf(root, "study.yaml")
  t.ok(errs.some((e) => /^a\.yaml:6:\d+: input "x" of "a\/out" refers to unknown node "nope"/.test(e)), errs.join("\n"))
  t.ok(errs.some((e) => /^study\.yaml:\d+:3: node id "a" is also the namespace of an include/.test(e)), errs.join("\n"))
  t.end()
})

t.test("the same file under two namespaces: two copies with equal keys", (t) => {
  const root = project(t, { ...FILES, "twice.yaml": "name: twice\ninclude: [{ file: a.yaml, as: x }, { file: a.yaml, as: y }]\n" })
  const p = load(root, "twice.yaml")
  t.equal(p.nodes.size, 1 + 2 * 4, "src once, a's four nodes twice")
  const strip = (id: string) => id.replace(/^[xy]\//, "")
  const same = (id: string) => ({ ...p.nodes.get(id)!, id: strip(id), pos: null, sweep: null, inputs: Object.fromEntries(Object.entries(p.nodes.get(id)!.inputs).map(([k, r]) => [k, strip(r.node)])) })
  for (const id of ["r", "out", "sc-2"]) t.same(same(`x/${id}`), same(`y/${id}`), `${id}: same kind, params and inputs`)
  t.end()
})

t.test("scope helpers: chain ends global, resolution is innermost first, globs stay in the first scope that matches", (t) => {
  const seg = fc.stringMatching(/^[a-z][a-z0-9-]{0,5}$/)
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 4 }), seg, (parts, id) => {
        const scope = parts.join("/")
        const chain = scopeChain(scope)
        const full = qualify(scope, id)
        return chain[0] === scope && chain.at(-1) === "" && chain.length === parts.length + 1 && scopeOf(full) === scope && resolveIn(scope, id, (x) => x === id) === id
      }),
    ),
  )
  t.equal(resolveIn("a/b", "n", (x) => x === "a/n" || x === "n"), "a/n")
  t.same(idsIn("a", "s*", ["s1", "a/s2", "a/t", "b/s3"]), ["a/s2"])
  t.same(idsIn("a", "t*", ["s1", "a/s2", "b/t"]), [], "no fall-through to sibling namespaces")
  t.same(idsIn("", "*/s*", ["s1", "a/s2", "b/s3"]), ["a/s2", "b/s3"])
  t.end()
})

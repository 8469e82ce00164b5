// Sweeps: template nodes expanded once per binding, before validation. An expansion must resolve to
// exactly the pipeline (params, inputs, cache keys) a hand-written file gives, and every problem
// inside an expanded node must be located at its template.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import fc from "fast-check"
import t from "tap"
import { formatDiagnostic, formatPos, InvalidPipeline } from "../../src/errors.ts"
import { planPipeline, select } from "../../src/exec/plan.ts"
import { makePathDigester } from "../../src/key/path-digest.ts"
import { loadPipeline, type Pipeline } from "../../src/pipeline/load.ts"
import { cartesian, globMatcher, substitute, substituteString } from "../../src/pipeline/sweep.ts"
import { loadRegistry } from "../../src/registry/registry.ts"
import { openStore } from "../../src/store/store.ts"
import { FIXTURE } from "./helpers.ts"

const registry = await loadRegistry({ root: FIXTURE, nodesDir: join(FIXTURE, "nodes") })

interface Teardown {
  teardown: (fn: () => void) => void
}
type Opts = { profile?: string; sets?: string[] }

const project = (t: Teardown, files: Record<string, string>): string => {
  const root = mkdtempSync(join(tmpdir(), "pipe-sweep-"))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(root, name, ".."), { recursive: true })
    writeFileSync(join(root, name), text)
  }
  return root
}

const load = (t: Teardown, text: string, opts: Opts = {}): Pipeline => {
  const root = project(t, { "p.yaml": text })
  return loadPipeline("p.yaml", { root, registry, cwd: root, ...opts })
}

const errorsOf = (t: Teardown, text: string, opts: Opts = {}): string[] => {
  try {
    load(t, text, opts)
    return []
  } catch (e) {
    if (e instanceof InvalidPipeline) return e.diagnostics.map(formatDiagnostic)
    throw e
  }
}

/** What the executor sees of each node: everything but ids and positions, keyed by id. */
const resolved = (p: Pipeline) => Object.fromEntries([...p.nodes.values()].map((n) => [n.id, { kind: n.kind, params: n.params, inputs: n.inputs }]))

const keys = (t: Teardown, p: Pipeline): Record<string, string | null> => {
  const cache = mkdtempSync(join(tmpdir(), "pipe-sweep-cache-"))
  t.teardown(() => rmSync(cache, { recursive: true, force: true }))
  return Object.fromEntries(planPipeline(p, openStore(cache), makePathDigester(cache), select(p, {})).map((n) => [n.id, n.key]))
}

const SWEPT = [
  "name: swept", //                                                       1
  "nodes:", //                                                            2
  "  base:", //                                                           3
  "    kind: source", //                                                  4
  "sweeps:", //                                                           5
  "  grid:", //                                                           6
  "    over: { n: [1, 2], s: [5, 30] }", //                               7
  "    nodes:", //                                                        8
  '      "src-${n}-${s}":', //                                        9
  "        kind: source", //                                              10
  '        params: { n: "${n}", scale: "${s}", label: "n=${n}" }', // 11
  '      "sq-${n}-${s}":', //                                         12
  "        kind: scale", //                                               13
  '        inputs: { x: "src-${n}-${s}.values" }', //                 14
].join("\n")

const handWritten = (n: number, s: number): string =>
  [
    `  src-${n}-${s}:`,
    "    kind: source",
    `    params: { n: ${n}, scale: ${s}, label: "n=${n}" }`,
    `  sq-${n}-${s}:`,
    "    kind: scale",
    `    inputs: { x: src-${n}-${s}.values }`,
  ].join("\n")
const HAND = ["name: hand", "nodes:", "  base:", "    kind: source", ...[[1, 5], [1, 30], [2, 5], [2, 30]].map(([n, s]) => handWritten(n as number, s as number))].join("\n")

t.test("a map `over` expands to the cartesian product: same nodes, params, inputs and keys as by hand", (t) => {
  const p = load(t, SWEPT)
  const h = load(t, HAND)
  t.same([...p.nodes.keys()].sort(), [...h.nodes.keys()].sort())
  t.same(resolved(p), resolved(h))
  t.same(p.nodes.get("src-2-5")?.params, { n: 2, scale: 5, label: "n=2" }, "whole-string ${v} keeps numbers; substrings interpolate")
  t.same(p.nodes.get("sq-1-30")?.inputs, { x: { node: "src-1-30", port: "values" } })
  const k = keys(t, p)
  t.same(k, keys(t, h), "cache keys do not see the sweep")
  t.equal(new Set(Object.values(k).filter((x) => x !== null)).size, 5, "base + four distinct sources (sq keys wait on inputs)")
  t.equal(formatPos(p.nodes.get("sq-2-30")?.pos ?? { file: "", line: 0, column: 0 }), "p.yaml:12:7", "an expanded node is declared at its template")
  t.end()
})

t.test("a list `over` gives one binding per entry; whole-string lists and booleans keep their type", (t) => {
  const text = [
    "name: list",
    "sweeps:",
    "  s:",
    "    over:",
    "      - { id: a, n: 4, s: 0.25, label: first }",
    "      - { id: b, n: 0, s: 1e-3, label: second }",
    "    nodes:",
    '      "src-${id}": { kind: source, params: { n: "${n}", scale: "${s}", label: "${label}-${n}" } }',
  ].join("\n")
  const p = load(t, text)
  t.same([...p.nodes.keys()], ["src-a", "src-b"])
  t.same(p.nodes.get("src-a")?.params, { n: 4, scale: 0.25, label: "first-4" })
  t.same(p.nodes.get("src-b")?.params, { n: 0, scale: 0.001, label: "second-0" })
  t.same(substituteString("${v}", { v: [1, [2, { a: true }]] }), { value: [1, [2, { a: true }]] })
  t.same(substituteString("x${v}y$${v}", { v: false }), { value: "xfalsey${v}" }, "$${ is a literal ${")
  t.same(cartesian({ a: [1, 2], b: ["x", "y"] }), [
    { a: 1, b: "x" },
    { a: 1, b: "y" },
    { a: 2, b: "x" },
    { a: 2, b: "y" },
  ])
  t.end()
})

t.test("substitution properties", (t) => {
  const json = fc.jsonValue({ maxDepth: 3 })
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(json, (v) => {
        const r = substituteString("${v}", { v })
        return "value" in r && JSON.stringify(r.value) === JSON.stringify(v)
      }),
    ),
    "a whole-string variable is its value, of any type",
  )
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(json, fc.dictionary(fc.string().filter((k) => /^[A-Za-z_]\w*$/.test(k)), json), (tree, binding) => {
        const noDollar = JSON.parse(JSON.stringify(tree).replaceAll("$", "")) as unknown
        const r = substitute(noDollar, binding)
        return r.errors.length === 0 && JSON.stringify(r.value) === JSON.stringify(noDollar)
      }),
    ),
    "values without ${ are left alone",
  )
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.string(), fc.oneof(fc.integer(), fc.double({ noNaN: true }), fc.boolean(), fc.string()), fc.string(), (pre, v, post) => {
        const tmpl = `${pre.replaceAll("$", "")}[\${v}]${post.replaceAll("$", "")}`
        const r = substituteString(tmpl, { v })
        return "value" in r && r.value === tmpl.replace("${v}", () => String(v))
      }),
    ),
    "a variable inside a string interpolates its text",
  )
  t.end()
})

t.test("sweep errors are located at the template: unknown variables, duplicate ids, empty over", (t) => {
  const text = [
    "name: bad", //                                                   1
    "nodes:", //                                                      2
    "  src-1:", //                                                    3
    "    kind: source", //                                            4
    "sweeps:", //                                                     5
    "  a:", //                                                        6
    "    over: { n: [1, 2, 2] }", //                                  7
    "    nodes:", //                                                  8
    '      "src-${n}": { kind: source, params: { n: "${nn}" } }', //  9
    '      "x-${m}": { kind: source }', //                            10
    "  b:", //                                                        11
    "    over: {}", //                                                12
    "    nodes: { z: { kind: source } }", //                          13
    "  c:", //                                                        14
    "    over: { k: [] }", //                                         15
    "    nodes: { y: { kind: source } }", //                          16
    "  d:", //                                                        17
    "    over: [1]", //                                               18
    "    nodes: { w: { kind: source } }", //                          19
    "    nodez: {}", //                                               20
  ].join("\n")
  t.same(errorsOf(t, text), [
    'p.yaml:9:7: duplicate node id "src-1": sweep "a" expands "src-${n}" to an id already declared at p.yaml:3:3',
    'p.yaml:9:7: duplicate node id "src-2": sweep "a" expands "src-${n}" to it again (binding 3; first from sweep "a", binding 2, at p.yaml:9:7)',
    'p.yaml:9:48: sweep "a": unknown variable "nn" (did you mean "n"?) (variables: n)',
    'p.yaml:10:7: sweep "a": unknown variable "m" (did you mean "n"?) (variables: n)',
    'p.yaml:12:11: sweep "b": empty "over" (it needs at least one variable)',
    'p.yaml:15:16: sweep "c": empty "over" list "k" (the sweep would have no nodes)',
    'p.yaml:18:12: sweep "d": over[0] must be a non-empty map of variable -> value',
    'p.yaml:20:5: sweep "d": unknown field "nodez" (did you mean "nodes"?) (known: description, over, nodes)',
  ].sort(byLine))
  t.end()
})

t.test("problems inside an expanded node point at the template's YAML", (t) => {
  const text = [
    "name: tmpl", //                                                              1
    "sweeps:", //                                                                 2
    "  s:", //                                                                    3
    "    over: [{ n: 1 }, { n: two }]", //                                        4
    "    nodes:", //                                                              5
    '      "src-${n}":', //                                                       6
    "        kind: source", //                                                    7
    '        params: { n: "${n}", sacle: 2 }', //                                 8
    '      "sq-${n}":', //                                                        9
    "        kind: scale", //                                                     10
    '        inputs: { x: "srx-${n}.values" }', //                                11
    '      "r-${n}": { kind: round, inputs: { x: "src-${n}.values" }, prams: {} }', // 12
  ].join("\n")
  t.same(errorsOf(t, text), [
    'p.yaml:8:22: nodes.src-two.params.n: must be integer, got "two"',
    'p.yaml:8:30: unknown param of kind "source" "sacle" (did you mean "scale"?) (known: n, scale, label)',
    'p.yaml:11:22: input "x" of "sq-1" refers to unknown node "srx-1" (did you mean "src-1"?)',
    'p.yaml:11:22: input "x" of "sq-two" refers to unknown node "srx-two" (did you mean "src-two"?)',
    'p.yaml:12:66: nodes.r-1: unknown field "prams"',
    'p.yaml:12:66: nodes.r-two: unknown field "prams"',
  ])
  t.end()
})

t.test("duplicate expanded ids across includes are located at the template", (t) => {
  const root = project(t, {
    "main.yaml": 'name: m\ninclude: [shared.yaml]\nsweeps:\n  s:\n    over: { n: [1] }\n    nodes: { "src-${n}": { kind: source } }\n',
    "shared.yaml": "name: s\nnodes:\n  src-1:\n    kind: source\n",
  })
  try {
    loadPipeline("main.yaml", { root, registry, cwd: root })
    t.fail("expected InvalidPipeline")
  } catch (e) {
    t.ok(e instanceof InvalidPipeline)
    if (e instanceof InvalidPipeline)
      t.same(e.diagnostics.map(formatDiagnostic), ['main.yaml:6:14: duplicate node id "src-1" (also declared at shared.yaml:3:3)'])
  }
  t.end()
})

const PROFILED = [
  "name: prof", //                                         1
  "nodes:", //                                             2
  "  base: { kind: source, params: { n: 7 } }", //         3
  "sweeps:", //                                            4
  "  s:", //                                               5
  "    over: { n: [1, 2, 3] }", //                         6
  "    nodes:", //                                         7
  '      "src-${n}": { kind: source, params: { n: "${n}" } }', // 8
  "profiles:", //                                          9
  "  smoke:", //                                           10
  '    "src-*": { scale: 4 }', //                          11
  "    src-3: { scale: 5, label: three }", //              12
  '    "*": { label: all }', //                            13
  "  bad:", //                                             14
  '    "euler-*": { n: 1 }', //                            15
  '    "src-*": { n: -1 }', //                             16
].join("\n")

t.test("profile keys with * are globs over node ids (expanded ones too); later entries win", (t) => {
  const p = load(t, PROFILED, { profile: "smoke" })
  t.same(
    Object.fromEntries([...p.nodes.values()].map((n) => [n.id, n.params])),
    {
      base: { n: 7, scale: 1, label: "all" },
      "src-1": { n: 1, scale: 4, label: "all" },
      "src-2": { n: 2, scale: 4, label: "all" },
      "src-3": { n: 3, scale: 5, label: "all" },
    },
  )
  const q = load(t, PROFILED, { sets: ["src-*.scale=9", "src-2.scale=8"] })
  t.same([...q.nodes.values()].map((n) => n.params.scale), [1, 9, 8, 9], "--set takes globs too, applied in order")
  t.same(errorsOf(t, PROFILED, { profile: "bad" }), [
    'p.yaml:15:5: profile "bad": "euler-*" matches no node',
    "p.yaml:16:19: nodes.src-1.params.n: must be >= 0 (got -1)",
    "p.yaml:16:19: nodes.src-2.params.n: must be >= 0 (got -1)",
    "p.yaml:16:19: nodes.src-3.params.n: must be >= 0 (got -1)",
  ])
  t.same(errorsOf(t, PROFILED, { sets: ["nope-*.n=1"] }), ['--set nope-*.n=1: "nope-*" matches no node'])
  t.ok(globMatcher("a.*")("a.b") && !globMatcher("a.*")("axb"), "only * is special")
  t.end()
})

function byLine(a: string, b: string): number {
  const [, la, ca] = /:(\d+):(\d+):/.exec(a) ?? []
  const [, lb, cb] = /:(\d+):(\d+):/.exec(b) ?? []
  return Number(la) - Number(lb) || Number(ca) - Number(cb)
}

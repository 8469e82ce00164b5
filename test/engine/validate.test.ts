// Validation before any work: every problem located as FILE:LINE:COL, all reported in one pass.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import t from "tap"
import { formatDiagnostic, InvalidPipeline } from "../../src/errors.ts"
import { loadPipeline } from "../../src/pipeline/load.ts"
import { loadRegistry } from "../../src/registry/registry.ts"
import { FIXTURE } from "./helpers.ts"

const registry = await loadRegistry({ root: FIXTURE, nodesDir: join(FIXTURE, "nodes") })

/** Writes `files` into a fresh project dir (root) and validates `main`; returns the error lines. */
const errorsOf = (t: { teardown: (fn: () => void) => void }, files: Record<string, string>, main: string, opts: { profile?: string; sets?: string[] } = {}): string[] => {
  const root = mkdtempSync(join(tmpdir(), "pipe-validate-"))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(root, name, ".."), { recursive: true })
    writeFileSync(join(root, name), text)
  }
  try {
    loadPipeline(main, { root, registry, cwd: root, ...opts })
    return []
  } catch (e) {
    if (e instanceof InvalidPipeline) return e.diagnostics.map(formatDiagnostic)
    throw e
  }
}

t.test("unknown kind, bad param type and a cycle: three located errors", (t) => {
  const bad = [
    "name: bad", //                       1
    "nodes:", //                          2
    "  src:", //                          3
    "    kind: sorce", //                 4
    "  r:", //                            5
    "    kind: round", //                 6
    "    inputs: { x: sq.y }", //         7
    "  sq:", //                           8
    "    kind: scale", //                 9
    '    params: { by: "two" }', //       10
    "    inputs: { x: r.y }", //          11
  ].join("\n")
  t.same(errorsOf(t, { "bad.yaml": bad }, "bad.yaml"), [
    'bad.yaml:4:11: unknown node kind "sorce" (did you mean "source"?) (kinds are the files in nodes/)',
    "bad.yaml:7:18: cycle: sq -> r -> sq",
    'bad.yaml:10:19: nodes.sq.params.by: must be number, got "two"',
  ])
  t.end()
})

t.test("unknown param, missing node and port, type mismatch, missing input", (t) => {
  const text = [
    "name: refs",
    "nodes:",
    "  src:",
    "    kind: source",
    "    params: { n: 2, sacle: 3 }",
    "  a:",
    "    kind: round",
    "    inputs: { x: srcc.values }",
    "  b:",
    "    kind: round",
    "    inputs: { x: src.value }",
    "  c:",
    "    kind: round",
    "    inputs: { x: t.text }",
    "  t:",
    "    kind: read-path",
    "    params: { path: a.txt }",
    "  d:",
    "    kind: add",
    "    inputs: {}",
  ].join("\n")
  t.same(errorsOf(t, { "refs.yaml": text, "a.txt": "x" }, "refs.yaml"), [
    'refs.yaml:5:21: unknown param of kind "source" "sacle" (did you mean "scale"?) (known: n, scale, label)',
    'refs.yaml:8:18: input "x" of "a" refers to unknown node "srcc" (did you mean "src"?)',
    'refs.yaml:11:18: node "src" (source) has no output "value" (did you mean "values"?) (outputs: values)',
    'refs.yaml:14:18: port type mismatch: t.text is "text" but input "x" of "c" (round) takes "numbers"',
    'refs.yaml:20:13: nodes.d.inputs: missing required "a"',
  ])
  t.end()
})

t.test("paths escaping the project, duplicate ids across includes, include escapes", (t) => {
  const files = {
    "p/main.yaml": "name: m\ninclude: [shared.yaml, ../../outside.yaml]\nnodes:\n  src:\n    kind: source\n  t:\n    kind: read-path\n    params: { path: ../x }\n  u:\n    kind: read-path\n    params: { path: /etc/passwd }\n  v:\n    kind: read-path\n    params: { path: missing.txt }\n",
    "p/shared.yaml": "name: s\nnodes:\n  src:\n    kind: source\n",
  }
  const errs = errorsOf(t, files, "p/main.yaml")
  t.equal(errs.length, 5, errs.join("\n"))
  t.match(errs[0], /^p\/main\.yaml:2:24: include "\.\.\/\.\.\/outside\.yaml" escapes the project/)
  t.match(errs[1], /^p\/main\.yaml:4:3: duplicate node id "src" \(also declared at p\/shared\.yaml:3:3\)/)
  t.match(errs[2], /^p\/main\.yaml:8:21: path param "path" = "\.\.\/x" escapes the project/)
  t.match(errs[3], /^p\/main\.yaml:11:21: path param "path" = "\/etc\/passwd" escapes the project/)
  t.match(errs[4], /^p\/main\.yaml:14:21: path param "path": "missing\.txt" does not exist/)
  t.end()
})

t.test("YAML duplicate keys, unknown fields, bad ids", (t) => {
  const errs = errorsOf(t, { "d.yaml": "name: d\nnodes:\n  a:\n    kind: source\n  a:\n    kind: source\n" }, "d.yaml")
  t.equal(errs.length, 1)
  t.match(errs[0], /^d\.yaml:5:3: duplicate key/)
  const errs2 = errorsOf(t, { "e.yaml": "name: e\nnodez: {}\nnodes:\n  a.b:\n    kind: source\n    parms: {}\n" }, "e.yaml")
  t.same(errs2, [
    'e.yaml:2:1: unknown field "nodez"',
    'e.yaml:4:3: invalid id "a.b": ids are letters, digits, "_" and "-"',
    'e.yaml:6:5: nodes.a.b: unknown field "parms"',
  ])
  t.end()
})

t.test("profiles and --set are validated and located too", (t) => {
  const text = "name: p\nnodes:\n  src:\n    kind: source\nprofiles:\n  smoke:\n    src: { n: -1 }\n    nope: { n: 1 }\n"
  t.same(errorsOf(t, { "p.yaml": text }, "p.yaml", { profile: "smoke" }), [
    'p.yaml:7:15: nodes.src.params.n: must be >= 0 (got -1)',
    'p.yaml:8:5: profile "smoke" sets params of unknown node "nope"',
  ])
  t.same(errorsOf(t, { "p.yaml": text }, "p.yaml", { profile: "smoek" }), ['p.yaml:1:1: unknown profile "smoek" (did you mean "smoke"?) (profiles: smoke)'])
  t.same(errorsOf(t, { "p.yaml": text }, "p.yaml", { sets: ["src.n=abc", "src.bogus=1", "srx.n=1", "nonsense"] }), [
    '--set srx.n=1: unknown node "srx" (did you mean "src"?)',
    "--set nonsense: expected NODE.PARAM=VALUE",
    '--set src.bogus=1: unknown param of kind "source" "bogus" (known: n, scale, label)',
    '--set src.n=abc: nodes.src.params.n: must be integer, got "abc"',
  ])
  t.end()
})

t.test("includes, profiles and defaults resolve", (t) => {
  const p = loadPipeline(join(FIXTURE, "pipelines/a.yaml"), { root: FIXTURE, registry, cwd: FIXTURE, profile: "smoke" })
  t.same(p.order, ["src", "sq", "r", "out"])
  t.same(p.nodes.get("src")?.params, { n: 2, scale: 1.5, label: "" })
  t.same(p.nodes.get("out")?.params, { name: "smoke.txt" })
  t.same(p.nodes.get("sq")?.inputs, { x: { node: "src", port: "values" } })
  t.equal(p.files.length, 2)
  t.same(p.profiles, ["smoke"])
  t.end()
})

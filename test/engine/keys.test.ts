// Cache-key properties: invariant to YAML key order, number spelling, node ids and file names;
// sensitive to every param, input digest and the code version.
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import fc from "fast-check"
import t from "tap"
import { canonicalJson } from "../../src/key/canonical.ts"
import { cacheKey, keyComponents } from "../../src/key/key.ts"
import { makePathDigester } from "../../src/key/path-digest.ts"
import { importSpecifiers, makeCodeVersioner } from "../../src/registry/code-version.ts"
import { planPipeline, select } from "../../src/exec/plan.ts"
import { loadPipeline } from "../../src/pipeline/load.ts"
import { loadRegistry } from "../../src/registry/registry.ts"
import { openStore } from "../../src/store/store.ts"
import { FIXTURE, REPO } from "./helpers.ts"

const registry = await loadRegistry({ root: FIXTURE, nodesDir: join(FIXTURE, "nodes") })

const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string(),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 4 }), tie("value"), { maxKeys: 4 }),
  ),
})).value

const shuffleKeys = (v: unknown, seed: number): unknown => {
  if (Array.isArray(v)) return v.map((x) => shuffleKeys(x, seed))
  if (typeof v !== "object" || v === null) return v
  const entries = Object.entries(v).map(([k, x]) => [k, shuffleKeys(x, seed)] as const)
  // deterministic permutation from the seed (fast-check supplies it): rotate by seed
  const r = entries.length === 0 ? 0 : seed % entries.length
  return Object.fromEntries([...entries.slice(r), ...entries.slice(0, r)].reverse())
}

t.test("canonical JSON ignores key order and -0; rejects non-JSON", (t) => {
  t.doesNotThrow(() =>
    fc.assert(fc.property(jsonValue, fc.nat(), (v, seed) => canonicalJson(v) === canonicalJson(shuffleKeys(v, seed)))),
  )
  t.equal(canonicalJson({ b: 1e-3, a: -0 }), '{"a":0,"b":0.001}')
  t.equal(canonicalJson({ x: 0.001 }), canonicalJson({ x: 1e-3 }))
  t.throws(() => canonicalJson({ x: Number.NaN }))
  t.throws(() => canonicalJson({ x: new Date(0) }))
  t.end()
})

const base: { kind: string; codeVersion: string; pathNames: string[]; inputs: Record<string, string>; paths: Record<string, string> } = {
  kind: "k",
  codeVersion: "c",
  pathNames: [],
  inputs: { a: "d1" },
  paths: {},
}

t.test("changing any param, input digest, kind or code version changes the key", (t) => {
  const params = fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), jsonValue, { minKeys: 1, maxKeys: 5 })
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(params, jsonValue, fc.nat(), (p, v, i) => {
        const name = Object.keys(p)[i % Object.keys(p).length] as string
        const changed = { ...p, [name]: v }
        const same = canonicalJson(changed[name]) === canonicalJson(p[name])
        const k1 = cacheKey(keyComponents({ ...base, params: p as never }))
        const k2 = cacheKey(keyComponents({ ...base, params: changed as never }))
        return same ? k1 === k2 : k1 !== k2
      }),
    ),
  )
  const k = (o: Partial<typeof base>) => cacheKey(keyComponents({ ...base, params: { x: 1 }, ...o }))
  t.not(k({}), k({ kind: "k2" }))
  t.not(k({}), k({ codeVersion: "c2" }))
  t.not(k({}), k({ inputs: { a: "d2" } }))
  t.not(k({}), k({ inputs: { b: "d1" } }))
  t.end()
})

t.test("path params enter keys by content, not by path string", (t) => {
  const a = keyComponents({ ...base, params: { path: "data/x" }, pathNames: ["path"], paths: { path: "sha" } })
  const b = keyComponents({ ...base, params: { path: "elsewhere/y" }, pathNames: ["path"], paths: { path: "sha" } })
  t.equal(cacheKey(a), cacheKey(b))
  t.not(cacheKey(a), cacheKey({ ...a, paths: { path: "other" } }))
  const dir = mkdtempSync(join(tmpdir(), "pipe-paths-"))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(join(FIXTURE, "data"), join(dir, "one"), { recursive: true })
  cpSync(join(FIXTURE, "data"), join(dir, "two"), { recursive: true })
  const d = makePathDigester(join(dir, "cache"))
  t.equal(d.digest(join(dir, "one")), d.digest(join(dir, "two")), "same content, different location")
  writeFileSync(join(dir, "two/digits/a.txt"), "changed")
  t.not(d.digest(join(dir, "one")), d.digest(join(dir, "two")))
  t.end()
})

const yamlWith = (order: readonly string[], nodes: Record<string, string>, name: string): string =>
  `name: ${name}\nnodes:\n${order.map((id) => nodes[id]).join("")}`

t.test("keys ignore YAML key order, number spelling, node ids and file names", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "pipe-keys-"))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const store = openStore(join(dir, "cache"))
  const paths = makePathDigester(undefined)
  const keysOf = (file: string, text: string): string[] => {
    writeFileSync(join(dir, file), text)
    const p = loadPipeline(join(dir, file), { root: dir, registry, cwd: dir })
    return planPipeline(p, store, paths, select(p, {})).map((n) => n.key ?? "?")
  }
  const spellings = [
    ["0.001", "1e-3", "1.0e-3", "0.0010"],
    ["2", "2.0", "0x2", "+2"],
  ] as const
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.nat(3), fc.nat(3), fc.boolean(), fc.boolean(), (i, j, flipNodes, flipParams) => {
        const s = spellings[0][i] as string
        const n = spellings[1][j] as string
        const params = flipParams ? `{ scale: ${s}, n: ${n} }` : `{ n: ${n}, scale: ${s} }`
        const nodes = { src: `  src:\n    kind: source\n    params: ${params}\n`, other: "  other:\n    kind: source\n" }
        const text = yamlWith(flipNodes ? ["other", "src"] : ["src", "other"], nodes, flipNodes ? "x" : "y")
        const ref = keysOf("ref.yaml", yamlWith(["src", "other"], { src: "  src:\n    kind: source\n    params: { n: 2, scale: 0.001 }\n", other: nodes.other }, "ref"))
        const renamed = text.replace(/\bsrc\b/g, "renamed")
        const got = keysOf(`p${i}${j}.yaml`, renamed)
        return new Set(got).size === 2 && got.every((k) => ref.includes(k))
      }),
      { numRuns: 20 },
    ),
  )
  t.end()
})

t.test("import scanning: static, re-export, side effect and dynamic; not type-only", (t) => {
  const src = [
    'import { a } from "./a.ts"',
    'import type { B } from "./b.ts"',
    'import {\n  c,\n  type C,\n} from "./c.ts"',
    'export * from "./d.ts"',
    'export type { E } from "./e.ts"',
    'import "./f.ts"',
    'const g = await import("./g.ts")',
    'import * as tf from "@tensorflow/tfjs"',
    'import { readFileSync } from "node:fs"',
  ].join("\n")
  t.same(importSpecifiers(src).sort(), ["./a.ts", "./c.ts", "./d.ts", "./f.ts", "./g.ts", "@tensorflow/tfjs", "node:fs"].sort())
  t.end()
})

t.test("editing a module changes exactly the code versions of the nodes that import it", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "pipe-code-"))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  cpSync(FIXTURE, dir, { recursive: true })
  symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"))
  const kinds = ["source", "add", "round", "scale", "read-path", "render", "slow", "fail"]
  const versions = () => {
    const v = makeCodeVersioner(dir)
    return Object.fromEntries(kinds.map((k) => [k, v(join(dir, "nodes", `${k}.ts`))]))
  }
  const before = versions()
  t.same(Object.keys(before.scale?.files ?? {}).sort(), ["lib/artifacts.ts", "lib/helper.ts", "nodes/scale.ts"])
  t.same(Object.keys(before.scale?.packages ?? {}).sort(), ["@sinclair/typebox", "apache-arrow", "effect"])
  writeFileSync(join(dir, "lib/helper.ts"), "export const factor = (x: number): number => x * 2\n")
  const afterHelper = versions()
  for (const k of kinds) t.equal(afterHelper[k]?.digest !== before[k]?.digest, k === "scale", `${k} after editing lib/helper.ts`)
  writeFileSync(join(dir, "lib/artifacts.ts"), "// appended comment\n", { flag: "a" })
  const afterShared = versions()
  for (const k of ["source", "add", "round", "scale", "render", "slow", "fail", "read-path"])
    t.not(afterShared[k]?.digest, afterHelper[k]?.digest, `${k} imports lib/artifacts.ts`)
  t.end()
})

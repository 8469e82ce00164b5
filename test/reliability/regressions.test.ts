// One test per failure found by the adversarial review of issue 18 (numbered as there). Each failed
// on the code before its fix.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import t from "tap"
import { makeProject, type Project } from "../engine/helpers.ts"
import { hasStack } from "./helpers.ts"

const keysDir = (p: Project): string[] => (existsSync(join(p.dir, "cache/keys")) ? readdirSync(join(p.dir, "cache/keys")).filter((f) => f.endsWith(".json")) : [])

t.test("(1) non-finite numbers are located errors in validate and run, never cached", async (t) => {
  const p = makeProject(t)
  for (const [i, v] of [".inf", "-.inf", ".nan", "1e400", "-1e400"].entries()) {
    writeFileSync(join(p.dir, `pipelines/inf${i}.yaml`), `name: inf\nnodes:\n  src:\n    kind: source\n    params: { scale: ${v} }\n`)
    const val = await p.pipe(["validate", `pipelines/inf${i}.yaml`])
    t.equal(val.code, 1, `validate ${v}`)
    t.match(val.stderr, new RegExp(`pipelines/inf${i}\\.yaml:5:22: .*not a finite number`), `validate ${v} is located`)
    // before: the first run failed unlocated, the second ran with null (the memoised pipeline's JSON)
    for (const attempt of i === 0 ? [1, 2] : []) {
      const run = await p.pipe(["run", `pipelines/inf${i}.yaml`])
      t.equal(run.code, 1, `run ${v} (attempt ${attempt})`)
      t.match(run.stderr, /not a finite number/)
    }
  }
  for (const v of [".inf", "-.inf", ".nan", "1e400"]) {
    const set = await p.pipe(["run", "pipelines/a.yaml", "--set", `src.scale=${v}`])
    t.equal(set.code, 1)
    t.match(set.stderr, new RegExp(`--set src\\.scale=${v.replace(".", "\\.")}: .*not a finite number`))
  }
  // nested, in a sweep binding and in a profile
  writeFileSync(join(p.dir, "pipelines/nested.yaml"), "name: n\nnodes:\n  src: { kind: source }\nsweeps:\n  s:\n    over: { v: [1, .inf] }\n    nodes:\n      \"x-${v}\": { kind: scale, params: { by: \"${v}\" }, inputs: { x: src.values } }\nprofiles:\n  p:\n    src: { scale: .nan }\n")
  const nested = await p.pipe(["validate", "pipelines/nested.yaml", "--profile", "p"])
  t.equal(nested.code, 1)
  t.match(nested.stderr, /nested\.yaml:6:20: .*not a finite number/)
  t.match(nested.stderr, /nested\.yaml:11:19: .*not a finite number/)
  t.same(keysDir(p), [], "nothing was cached")
})

t.test("(7) path params: symlinks are resolved before the inside-the-project check; empty paths are rejected", async (t) => {
  const p = makeProject(t)
  const outside = mkdtempSync(join(tmpdir(), "pipe-outside-"))
  t.teardown(() => rmSync(outside, { recursive: true, force: true }))
  writeFileSync(join(outside, "secret.txt"), "x")
  symlinkSync(outside, join(p.dir, "data/link"))
  symlinkSync(join(p.dir, "data/digits"), join(p.dir, "data/inside"))
  const yaml = (path: string) => `name: paths\nnodes:\n  text:\n    kind: read-path\n    params: { path: "${path}" }\n`
  writeFileSync(join(p.dir, "pipelines/link.yaml"), yaml("data/link"))
  const link = await p.pipe(["validate", "pipelines/link.yaml"])
  t.equal(link.code, 1)
  t.match(link.stderr, /link\.yaml:5:21: path param "path" = "data\/link" leaves the project through a symlink/)
  writeFileSync(join(p.dir, "pipelines/file.yaml"), yaml("data/link/secret.txt"))
  t.match((await p.pipe(["validate", "pipelines/file.yaml"])).stderr, /leaves the project through a symlink/)
  for (const v of ["", "."]) {
    writeFileSync(join(p.dir, "pipelines/empty.yaml"), yaml(v))
    const empty = await p.pipe(["run", "pipelines/empty.yaml"])
    t.equal(empty.code, 1, `"${v}"`)
    t.match(empty.stderr, /empty\.yaml:5:21: path param "path"( = "\.")? (is empty|names the whole project)/)
    t.same(keysDir(p), [])
  }
  writeFileSync(join(p.dir, "pipelines/inside.yaml"), yaml("data/inside"))
  const ok = await p.pipe(["run", "pipelines/inside.yaml"])
  t.equal(ok.code, 0, ok.stderr)
  // a symlink inside a path param's directory that points out of the project is refused too
  symlinkSync(join(outside, "secret.txt"), join(p.dir, "data/digits/escape.txt"))
  const inner = await p.pipe(["run", "pipelines/inside.yaml"])
  t.equal(inner.code, 1)
  t.match(inner.stderr, /escape\.txt.* leaves the project/)
  t.notOk(hasStack(inner))
})

t.test("(8) a sweep too large to expand is a located error, found before expanding", { timeout: 60_000 }, async (t) => {
  const p = makeProject(t)
  const list = `[${Array.from({ length: 1000 }, (_, i) => i).join(", ")}]`
  writeFileSync(join(p.dir, "pipelines/huge.yaml"), `name: huge\nnodes:\n  src: { kind: source }\nsweeps:\n  s:\n    over: { a: ${list}, b: ${list} }\n    nodes:\n      "x-\${a}-\${b}": { kind: scale, params: { by: "\${a}" }, inputs: { x: src.values } }\n`)
  const r = await p.pipe(["validate", "pipelines/huge.yaml"])
  t.equal(r.code, 1)
  t.match(r.stderr, /huge\.yaml:6:11: sweep "s" would expand to 1,000,000 nodes/)
})

t.test("(9) raw errors become located or usage errors", async (t) => {
  const p = makeProject(t)
  const bomb = ["name: bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]", ...["b", "c", "d", "e", "f"].map((k, i) => `${k}: &${k} [${Array(10).fill(`*${"abcde"[i]}`).join(", ")}]`)].join("\n")
  writeFileSync(join(p.dir, "pipelines/bomb.yaml"), `${bomb}\n`)
  const b = await p.pipe(["validate", "pipelines/bomb.yaml"])
  t.equal(b.code, 1)
  t.match(b.stderr, /bomb\.yaml:\d+:\d+: .*alias/i)
  mkdirSync(join(p.dir, "pipelines/dir.yaml"))
  writeFileSync(join(p.dir, "pipelines/incdir.yaml"), "name: x\ninclude: [dir.yaml]\nnodes:\n  src: { kind: source }\n")
  const inc = await p.pipe(["validate", "pipelines/incdir.yaml"])
  t.equal(inc.code, 1)
  t.match(inc.stderr, /incdir\.yaml:2:11: include "dir\.yaml" is a directory/)
  const dir = await p.pipe(["validate", "pipelines"])
  t.equal(dir.code, 1)
  t.match(dir.stderr, /pipelines: is a directory, not a pipeline file/)
  const cache = await p.pipe(["run", "pipelines/a.yaml", "--cache", "package.json"])
  t.equal(cache.code, 2)
  t.match(cache.stderr, /--cache .*package\.json is not a directory/)
  const lone = mkdtempSync(join(tmpdir(), "pipe-lone-"))
  t.teardown(() => rmSync(lone, { recursive: true, force: true }))
  writeFileSync(join(lone, "x.yaml"), "name: x\nnodes:\n  a: { kind: source }\n")
  const outside = await p.pipe(["validate", join(lone, "x.yaml")])
  t.equal(outside.code, 1)
  t.match(outside.stderr, /x\.yaml: no node kinds in .*nodes/)
  t.notMatch(outside.stderr, /schema is invalid/)
  for (const r of [b, inc, dir, cache, outside]) t.notOk(hasStack(r))
})

// The install-time build (bin/build.mjs): compiled modules behave as their sources
// (import.meta.url, relative imports), a build is used only for exactly the sources it was built
// from, and bin/pipe.mjs works from the build and from the TypeScript fallback alike.
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { pathToFileURL } from "node:url"
import t from "tap"
// @ts-expect-error: plain JavaScript without type declarations
import { buildsDir, ensureBuild, rewriteImports, sourceDigest } from "../../bin/build.mjs"
import { compiledTwin } from "../../src/import-module.ts"
import { REPO } from "./helpers.ts"

type Ensure = (root: string, o?: { build?: boolean; onError?: (e: unknown) => void }) => Promise<string | undefined>
const ensure = ensureBuild as Ensure

const project = (t: { teardown: (f: () => void) => void }): string => {
  const root = mkdtempSync(join(tmpdir(), "pipe-build-"))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const files: Record<string, string> = {
    "src/a.ts": `import { b } from "./b.ts"\nimport type { T } from "./t.ts"\nexport const a = (): string => b + "a"\nexport const where: string = import.meta.url\nexport const build = import.meta.pipeBuild\nexport const lazy = async (): Promise<string> => (await import("./b.ts")).b\n`,
    "src/b.ts": `export const b: string = "b"\n`,
    "src/t.ts": `export type T = number\n`,
    "nodes/n.ts": `export { a } from "../src/a.ts"\nimport "../src/b.ts"\nexport default { kind: "n" as const }\n`,
  }
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(join(root, f, ".."), { recursive: true })
    writeFileSync(join(root, f), text)
  }
  return root
}

t.test("a build behaves as its sources: import.meta.url is the source's, relative imports reach the compiled twins", async (t) => {
  const root = project(t)
  const dir = await ensure(root)
  t.type(dir, "string")
  t.ok(dir!.startsWith(buildsDir(root)))
  const a = (await import(pathToFileURL(join(dir!, "src/a.js")).href)) as { a: () => string; where: string; build: unknown; lazy: () => Promise<string> }
  t.equal(a.a(), "ba")
  t.equal(a.where, pathToFileURL(join(root, "src/a.ts")).href, "paths computed from import.meta.url stay those of the source")
  t.same(a.build, { dir, root }, "import.meta.pipeBuild names the build")
  t.equal(await a.lazy(), "b", "dynamic relative import")
  const n = (await import(pathToFileURL(join(dir!, "nodes/n.js")).href)) as { a: () => string; default: { kind: string } }
  t.equal(n.default.kind, "n")
  t.equal(n.a, a.a, "one module instance: the node re-exports the engine's function")
  t.equal(compiledTwin({ dir: dir!, root }, join(root, "nodes/n.ts")), join(dir!, "nodes/n.js"))
  t.equal(compiledTwin({ dir: dir!, root }, join(tmpdir(), "elsewhere.ts")), undefined, "a file outside the project has no twin")
})

t.test("never stale: any source change (or a new file) selects another build; the old one stays for running processes", async (t) => {
  const root = project(t)
  const first = await ensure(root)
  t.equal(await ensure(root, { build: false }), first, "unchanged sources: the same build, found without building")
  writeFileSync(join(root, "src/b.ts"), `export const b: string = "B"\n`)
  t.equal(await ensure(root, { build: false }), undefined, "edited source: no usable build until one is made")
  const second = await ensure(root)
  t.not(second, first)
  const a = (await import(pathToFileURL(join(second!, "src/a.js")).href)) as { a: () => string }
  t.equal(a.a(), "Ba", "the new build runs the new source")
  t.ok(existsSync(first!), "the previous build is kept")
  const before = sourceDigest(root)
  writeFileSync(join(root, "nodes/extra.ts"), "export const x = 1\n")
  t.not(sourceDigest(root), before, "a new file changes the digest")
  t.equal(await ensure(root, { build: false }), undefined)
})

t.test("pruning: a build whose project is gone is removed; this project's recent builds stay", async (t) => {
  const a = project(t)
  const b = project(t)
  mkdirSync(join(a, "node_modules"))
  symlinkSync(join(a, "node_modules"), join(b, "node_modules")) // a scratch copy sharing node_modules, as tests make
  const aFirst = await ensure(a)
  const bBuild = await ensure(b)
  t.ok(readdirSync(buildsDir(a)).includes(basename(bBuild!)), "b's build lands in the shared node_modules")
  rmSync(b, { recursive: true, force: true })
  writeFileSync(join(a, "src/b.ts"), `export const b: string = "changed"\n`)
  const aSecond = await ensure(a)
  t.same(readdirSync(buildsDir(a)).sort(), [aFirst!, aSecond!].map((d) => d.slice(buildsDir(a).length + 1)).sort(), "b's build pruned, both of a's kept (used within a day)")
})

t.test("a build that cannot be made reports why and returns nothing (the CLI then runs the sources)", async (t) => {
  const root = project(t)
  writeFileSync(join(root, "src/bad.ts"), "export const = ;\n")
  const errors: unknown[] = []
  t.equal(await ensure(root, { onError: (e) => errors.push(e) }), undefined)
  t.equal(errors.length, 1)
  t.same(existsSync(buildsDir(root)) ? readdirSync(buildsDir(root)) : [], [], "no half build is left behind")
})

t.test("rewriteImports: relative .ts specifiers of every import form become .js; nothing else changes", (t) => {
  t.equal(rewriteImports(`import { a } from "./a.ts";\nexport { b } from "../b.ts";\nimport "./c.ts";\nconst d = await import("./d/e.ts");`), `import { a } from "./a.js";\nexport { b } from "../b.js";\nimport "./c.js";\nconst d = await import("./d/e.js");`)
  const untouched = `import x from "effect/Effect"; const s = "./not-an-import.ts"; import("pkg/x.ts"); const u = new URL("./w.ts", base)`
  t.equal(rewriteImports(untouched), untouched)
  t.end()
})

t.test("bin/pipe.mjs: the same help from the build and from the TypeScript fallback", (t) => {
  const run = (env: Record<string, string>) => spawnSync(process.execPath, [join(REPO, "bin/pipe.mjs"), "report", "--help"], { env: { ...process.env, NODE_OPTIONS: "", ...env }, encoding: "utf8" })
  const built = run({})
  const ts = run({ PIPE_NO_BUILD: "1" })
  t.equal(built.status, 0, built.stderr)
  t.equal(ts.status, 0, ts.stderr)
  t.equal(built.stdout, ts.stdout)
  t.match(built.stdout, /pipe report RUN \[--markdown\]/)
  t.end()
})

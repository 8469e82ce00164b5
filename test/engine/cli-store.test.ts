// The store under stress: corrupt objects, processes killed mid-write, concurrent runs, gc, ls, export.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import t from "tap"
import { makeProject, type Project } from "./helpers.ts"

const files = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)) : []

const objectOf = (p: Project, node: string): string => {
  const digest = Object.values(p.lastRun().nodes.find((n) => n.id === node)?.outputs ?? {})[0] as string
  return join(p.dir, "cache/objects", digest.slice(0, 2), `${digest}.arrow`)
}

t.test("a corrupt object is detected by digest, reported and recomputed, never used", async (t) => {
  const p = makeProject(t)
  t.equal((await p.pipe(["run", "pipelines/a.yaml"])).code, 0)
  const obj = objectOf(p, "sq")
  const bytes = readFileSync(obj)
  bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff // same size: only the hash can tell
  writeFileSync(obj, bytes)
  // r must run (forced), reads sq's output, finds it corrupt, recomputes sq, then carries on
  const r = await p.pipe(["run", "pipelines/a.yaml", "--force", "r"])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /corrupt cache object for sq\.y/)
  t.same(p.statuses(), { src: "cached", sq: "ran", r: "ran", out: "cached" })
  t.equal(readFileSync(join(p.dir, "runs", p.lastRun().id, "out", "values.txt"), "utf8"), "0 3 6 9")
  // a truncated object makes its entry not cached at all; the rerun restores identical bytes
  writeFileSync(objectOf(p, "src"), "")
  t.equal((await p.pipe(["run", "pipelines/a.yaml"])).code, 0)
  t.same(p.statuses(), { src: "ran", sq: "cached", r: "cached", out: "cached" })
})

for (const at of ["object", "manifest"] as const) {
  t.test(`SIGKILL right before the ${at} rename leaves no visible partial entry`, async (t) => {
    const p = makeProject(t)
    const r = await p.pipe(["run", "pipelines/a.yaml", "--until", "src"], { PIPE_TEST_CRASH: at })
    t.equal(r.signal, "SIGKILL")
    t.same(files(join(p.dir, "cache/keys")).filter((f) => f.endsWith(".json")), [], "no manifest visible")
    const tmps = files(join(p.dir, "cache", at === "object" ? "objects" : "keys")).filter((f) => /\.tmp-/.test(f))
    t.equal(tmps.length, 1, "the interrupted write left only a temp file")
    if (at === "object") t.same(files(join(p.dir, "cache/objects")).filter((f) => f.endsWith(".arrow")), [], "no object visible")
    t.same(files(join(p.dir, "cache/locks")).length, 1, "a stale lock of the dead process remains")
    const plan = JSON.parse((await p.pipe(["plan", "pipelines/a.yaml", "--json"])).stdout) as { nodes: { cached: boolean }[] }
    t.ok(plan.nodes.every((n) => !n.cached))
    const ok = await p.pipe(["run", "pipelines/a.yaml"])
    t.equal(ok.code, 0, ok.stderr)
    t.same(p.statuses(), { src: "ran", sq: "ran", r: "ran", out: "ran" })
    t.same(files(join(p.dir, "cache/locks")), [], "stale lock broken and released")
  })
}

t.test("two concurrent runs compute each node once", async (t) => {
  const p = makeProject(t)
  const a = p.spawnPipe(["run", "pipelines/b.yaml", "--set", "slow.ms=300"])
  const b = p.spawnPipe(["run", "pipelines/b.yaml", "--set", "slow.ms=300"])
  const [ra, rb] = await Promise.all([a.done, b.done])
  t.equal(ra.code, 0, ra.stderr)
  t.equal(rb.code, 0, rb.stderr)
  const [x, y] = p.runs()
  for (const id of ["src", "sq", "slow"]) {
    const statuses = [x, y].map((r) => r?.nodes.find((n) => n.id === id)?.status).sort()
    t.same(statuses, ["cached", "ran"], `${id} ran in exactly one process`)
  }
  t.equal(readdirSync(join(p.dir, "cache/keys")).length, 3)
})

t.test("ls, gc --dry-run, gc and export", async (t) => {
  const p = makeProject(t)
  t.equal((await p.pipe(["run", "pipelines/a.yaml"])).code, 0)
  t.equal((await p.pipe(["run", "pipelines/a.yaml", "--set", "src.n=7"])).code, 0)
  t.equal((await p.pipe(["run", "pipelines/a.yaml", "--set", "src.n=5"])).code, 0)
  const ls = await p.pipe(["ls"])
  t.equal(ls.code, 0, ls.stderr)
  t.match(ls.stdout, /12 entries/)
  t.match(ls.stdout, /render/)
  // Roots: a.yaml's and b.yaml's computable keys (the n=4 default) and the newest run (n=5).
  // The n=7 entries are referenced by nothing kept.
  const dry = await p.pipe(["gc", "--dry-run", "--keep-runs", "1"])
  t.equal(dry.code, 0, dry.stderr)
  t.equal(dry.stdout.match(/would delete .*keys.*unreferenced/g)?.length, 4, dry.stdout)
  t.equal(readdirSync(join(p.dir, "cache/keys")).length, 12, "dry run deletes nothing")
  const gc = await p.pipe(["gc", "--keep-runs", "1"])
  t.equal(gc.code, 0, gc.stderr)
  t.equal(readdirSync(join(p.dir, "cache/keys")).length, 8)
  const tight = await p.pipe(["gc", "--keep-runs", "0", "--max-size", "0"])
  t.equal(tight.code, 0, tight.stderr)
  t.equal(readdirSync(join(p.dir, "cache/keys")).length, 0, "a zero budget evicts everything")
  t.same(files(join(p.dir, "cache/objects")).filter((f) => f.endsWith(".arrow")).length, 0)
  t.equal((await p.pipe(["run", "pipelines/a.yaml"])).code, 0)
  const ex = await p.pipe(["export", "pipelines/a.yaml", "src.values", "--out", "out/src.arrow"])
  t.equal(ex.code, 0, ex.stderr)
  t.same(readFileSync(join(p.dir, "out/src.arrow")), readFileSync(objectOf(p, "src")))
  const npy = await p.pipe(["export", "pipelines/a.yaml", "src.values", "--out", "out/src.npy", "--format", "npy"])
  t.equal(npy.code, 2, "numbers are not a tensor type: usage error")
  t.match(npy.stderr, /npy export supports/)
  const missing = await p.pipe(["export", "pipelines/a.yaml", "src.values", "--out", "x.arrow", "--set", "src.n=99"])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /src is not computed/)
})

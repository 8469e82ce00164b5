// kill -9 at seeded random points of a small pipeline run, then `pipe verify` (every object, file and
// manifest in the store must check out) and a resumed run (exit 0, the right output). The points are
// either "right before the N-th rename of a store file" (PIPE_TEST_CRASH=rename:N: exactly between two
// atomic writes) or "T ms after start" (anywhere: start-up, validation, locking, mid-node, writing).
// Seeded (PIPE_RELIABILITY_SEED, default 18), so a failure reproduces; PIPE_RELIABILITY=heavy kills more.
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import t from "tap"
import { makeProject } from "../engine/helpers.ts"
import { files, HEAVY, inProcess, newestRun, rng } from "./helpers.ts"

// Many CLI starts (each a tsx process) one after another: on the shared 2-core machine under load
// this file outgrows tap's 300 s per-file timeout (package.json), so it asks for more. Its CPU time
// is far below that (README, Reliability).
t.setTimeout(900_000)

/** How many kills the README quotes (PIPE_RELIABILITY=heavy: more). */
export const KILLS = HEAVY ? 64 : 10
const SEED = Number(process.env.PIPE_RELIABILITY_SEED ?? 18)

// Seven nodes, two of them writing file blobs, one heavy and slow enough to be killed inside.
const PIPELINE = `name: crash
nodes:
  src: { kind: source, params: { n: 6 } }
  sq: { kind: scale, inputs: { x: src.values } }
  r: { kind: round, inputs: { x: sq.y } }
  out: { kind: render, inputs: { x: r.y } }
  s1: { kind: slow, params: { ms: 15, steps: 4 }, inputs: { x: sq.y } }
  sum: { kind: add, inputs: { a: s1.y, b: r.y } }
  out2: { kind: render, params: { name: sum.txt }, inputs: { x: sum.sum } }
`

/** out2's text for src.scale = s: sum = (2ks + 1) + 2ks for k = 0..5. */
const expected = (s: number): string => Array.from({ length: 6 }, (_, k) => 4 * k * s + 1).join(" ")

t.test(`${KILLS} kill -9 at seeded points: the store verifies after each, and the run resumes`, async (t) => {
  const p = makeProject(t)
  const pipe = inProcess(p.dir)
  writeFileSync(join(p.dir, "crash.yaml"), PIPELINE)
  const outcomes: Record<string, number> = {}
  for (let i = 0; i < KILLS; i++) {
    const r = rng(SEED * 1000 + i)
    // a new scale per kill, so every killed run has all of its writes still to do
    const args = ["run", "crash.yaml", "--set", `src.scale=${i + 1}`]
    const byRename = r() < 0.6
    const point = byRename ? `rename:${1 + Math.floor(r() * 14)}` : `${Math.floor(r() * 2500)} ms`
    const { child, done } = p.spawnPipe(args, byRename ? { PIPE_TEST_CRASH: point } : {})
    const timer = byRename ? undefined : setTimeout(() => child.kill("SIGKILL"), Number.parseInt(point))
    const killed = await done
    clearTimeout(timer)
    const outcome = killed.signal === "SIGKILL" ? "killed" : killed.code === 0 ? "finished first" : `exit ${killed.code}`
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
    t.ok(outcome === "killed" || outcome === "finished first", `kill ${i} at ${point}: ${outcome} ${killed.stderr.slice(-300)}`)
    const v = await pipe(["verify"])
    t.equal(v.code, 0, `kill ${i} at ${point}: the store verifies (${v.stdout.trim()})`)
    const resumed = await pipe(args)
    t.equal(resumed.code, 0, `kill ${i}: the run resumes (${resumed.stderr.slice(-500)})`)
    t.equal(readFileSync(join(p.dir, "runs", newestRun(p).id, "out2/sum.txt"), "utf8"), expected(i + 1), `kill ${i}: the right result`)
  }
  t.comment(`outcomes: ${JSON.stringify(outcomes)}`)
  t.ok((outcomes.killed ?? 0) >= KILLS / 2, "most runs were killed mid-way")
  // What the killed processes left behind: gc breaks their locks (a process killed between its last
  // write and its unlock leaves one) and removes their leases; the store still verifies.
  const gc = await pipe(["gc", "--keep-runs", "0"])
  t.equal(gc.code, 0, gc.stderr)
  t.same(files(join(p.dir, "cache/locks")), [], "no lock left")
  t.same(files(join(p.dir, "cache/leases")), [], "no lease left")
  t.equal((await pipe(["verify"])).code, 0)
})

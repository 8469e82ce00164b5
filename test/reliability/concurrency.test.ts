// Several processes on one store: concurrent runs that share nodes compute each key once; gc while
// runs are in the middle of their nodes deletes nothing they use; a run waits for a live gc and
// ignores a dead one.
import { spawn } from "node:child_process"
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import t from "tap"
import { makeProject, type Project, type Result } from "../engine/helpers.ts"
import type { RunRecord } from "../../src/exec/record.ts"
import { processStart, selfIdentity } from "../../src/store/identity.ts"
import { GATE, files, inProcess, waitFor } from "./helpers.ts"

// Many CLI starts (each a tsx process) one after another: on the shared 2-core machine under load
// this file outgrows tap's 300 s per-file timeout (package.json), so it asks for more. Its CPU time
// is far below that (README, Reliability).
t.setTimeout(900_000)

t.test("three concurrent runs of two pipelines sharing a sub-DAG: each key is computed once", async (t) => {
  const p = makeProject(t)
  const runs = [
    p.spawnPipe(["run", "pipelines/a.yaml"]),
    p.spawnPipe(["run", "pipelines/b.yaml", "--set", "slow.ms=100"]),
    p.spawnPipe(["run", "pipelines/a.yaml"]),
  ]
  for (const r of await Promise.all(runs.map((x) => x.done))) t.equal(r.code, 0, r.stderr)
  const ran = new Map<string, number>()
  for (const run of p.runs()) for (const n of run.nodes) if (n.status === "ran") ran.set(n.key as string, (ran.get(n.key as string) ?? 0) + 1)
  t.same([...ran.values()].filter((c) => c !== 1), [], "no key was computed twice")
  t.equal(ran.size, 5, "src, sq, r, out and slow: each computed by exactly one process")
  t.equal((await inProcess(p.dir)(["verify"])).code, 0)
  t.same(files(join(p.dir, "cache/locks")), [], "every lock released")
})

// different src.n, so the two runs share no key (a shared key would make one wait for the other)
const GATED = (tag: string, n: number): string =>
  `name: gated-${tag}\nnodes:\n  src: { kind: source, params: { n: ${n} } }\n  sq: { kind: scale, inputs: { x: src.values } }\n  gate: { kind: gate, inputs: { x: sq.y } }\n  after: { kind: round, inputs: { x: gate.y } }\n`

t.test("gc, repeatedly, while two runs are inside a node: both finish and keep every entry", async (t) => {
  const p = makeProject(t)
  writeFileSync(join(p.dir, "nodes/gate.ts"), GATE)
  // outside pipelines/: no key of these runs is a gc root, only their leases protect them
  for (const [tag, n] of [["x", 3], ["y", 4]] as const) writeFileSync(join(p.dir, `${tag}.yaml`), GATED(tag, n))
  const a = p.spawnPipe(["run", "x.yaml"])
  const b = p.spawnPipe(["run", "y.yaml"])
  await Promise.all([waitFor(a.child, /▸ gate \(gate\) started/), waitFor(b.child, /▸ gate \(gate\) started/)])
  for (let i = 0; i < 3; i++) {
    const gc = await p.pipe(["gc", "--keep-runs", "0", "--max-size", "0"])
    t.equal(gc.code, 0, gc.stderr)
    t.match(gc.stdout, /in use by pid .*x\.yaml/)
    t.match(gc.stdout, /in use by pid .*y\.yaml/)
  }
  writeFileSync(join(p.dir, "go"), "")
  for (const r of await Promise.all([a.done, b.done])) {
    t.equal(r.code, 0, r.stderr)
    t.notMatch(r.stderr, /corrupt|missing/)
  }
  const pipe = inProcess(p.dir)
  t.equal((await pipe(["verify"])).code, 0)
  for (const tag of ["x", "y"]) {
    const again = await pipe(["run", `${tag}.yaml`])
    t.equal(again.code, 0, again.stderr)
    t.match(again.stderr, /4 cached, 0 ran/, `${tag}: everything it computed is still there`)
  }
})

t.test("a run waits while a live gc holds gc.lock, and ignores a dead gc's", async (t) => {
  const p = makeProject(t)
  const gcLock = join(p.dir, "cache/locks/gc.lock")
  mkdirSync(join(p.dir, "cache/locks"), { recursive: true })
  const sleeper = spawn("sleep", ["60"], { stdio: "ignore" })
  t.teardown(() => void sleeper.kill("SIGKILL"))
  const holder = { ...selfIdentity(), pid: sleeper.pid as number, start: processStart(sleeper.pid as number) ?? "", token: "gc", created: new Date().toISOString(), what: "pipe gc" }
  writeFileSync(gcLock, JSON.stringify(holder))
  const busy = await p.pipe(["gc"])
  t.equal(busy.code, 1)
  t.match(busy.stderr, new RegExp(`another pipe gc is running \\(pid ${sleeper.pid}`))
  const { done } = p.spawnPipe(["run", "pipelines/a.yaml"])
  // the run's lease appears right before its first key is looked up; then it must wait for the gc
  while (files(join(p.dir, "cache/leases")).length === 0) await new Promise((r) => setTimeout(r, 50))
  await new Promise((r) => setTimeout(r, 500))
  const released = Date.now()
  rmSync(gcLock)
  const r = await done
  t.equal(r.code, 0, r.stderr)
  const src = p.lastRun().nodes.find((n) => n.id === "src")
  const created = (JSON.parse(readFileSync(join(p.dir, "cache/keys", `${src?.key}.json`), "utf8")) as { created: string }).created
  t.ok(Date.parse(created) >= released - 5, `src was computed after gc.lock went away (${created})`)
  // a gc.lock whose holder is dead does not hold anyone up
  writeFileSync(gcLock, JSON.stringify({ ...holder, pid: 2 ** 22 + 3 }))
  const dead = await inProcess(p.dir)(["run", "pipelines/a.yaml", "--force", "src"])
  t.equal(dead.code, 0, dead.stderr)
  const gc = await inProcess(p.dir)(["gc"])
  t.equal(gc.code, 0, gc.stderr)
})

// Waits (polling) until the file named by param `file` exists in the working directory: lets a test
// hold a node, heavy or light, at a point of its choosing, whatever the machine's load.
const FILE_GATE = (kind: string, heavy: boolean): string => `import { existsSync } from "node:fs"
import { Type } from "@sinclair/typebox"
import * as Effect from "effect/Effect"
import { Numbers } from "../lib/artifacts.ts"

const params = Type.Object({ file: Type.String() })
export default {
  kind: "${kind}",
  description: "Input plus one, once the file named by param file exists.",
  params,
  inputs: { x: Numbers },
  outputs: { y: Numbers },
  heavy: ${heavy},
  run: (i: { x: Float64Array }, p: { file: string }) =>
    Effect.gen(function* () {
      for (let k = 0; k < 6000 && !existsSync(p.file); k++) yield* Effect.sleep(50) // at most 5 min
      return { y: i.x.map((v) => v + 1) }
    }),
}
`

// big: a heavy node held until the file go-big exists; q: a quick heavy node independent of it, whose
// input (mid) is held until go-mid exists, so q only becomes ready once big holds the heavy slot.
const QUEUED = `name: queued
nodes:
  src: { kind: source }
  big: { kind: hgate, params: { file: go-big }, inputs: { x: src.values } }
  mid: { kind: lgate, params: { file: go-mid }, inputs: { x: src.values } }
  q: { kind: slow, params: { ms: 10, steps: 2 }, inputs: { x: mid.y } }
`

/** The run record a finished `pipe run` names on its last line (other runs may still be going). */
const recordOf = (p: Project, r: Result): RunRecord => {
  const path = / -> (\S+run\.json)$/m.exec(r.stderr)?.[1]
  if (path === undefined) throw new Error(`no run record named in: ${r.stderr}`)
  return JSON.parse(readFileSync(join(p.dir, path), "utf8")) as RunRecord
}

t.test("a node queued for the heavy slot holds no lock: another run computes it meanwhile, and the first then finds it cached", async (t) => {
  const p = makeProject(t)
  writeFileSync(join(p.dir, "nodes/hgate.ts"), FILE_GATE("hgate", true))
  writeFileSync(join(p.dir, "nodes/lgate.ts"), FILE_GATE("lgate", false))
  writeFileSync(join(p.dir, "queued.yaml"), QUEUED)
  const a = p.spawnPipe(["run", "queued.yaml"])
  t.teardown(() => writeFileSync(join(p.dir, "go-big"), "")) // never leave A behind on a failed assertion
  await waitFor(a.child, /▸ big \(hgate\) started/)
  writeFileSync(join(p.dir, "go-mid"), "")
  await waitFor(a.child, /✓ mid ran/)
  // q is now queued in A behind big; give it ample time to reach that point (the old code took q's
  // key lock there, before waiting for the heavy slot)
  await new Promise((r) => setTimeout(r, 1500))
  // The old code made B wait for A's lock until big ended (never, here): the lock timeout turns that
  // into a failure instead of a hang.
  const b = await p.pipe(["run", "queued.yaml", "--only", "q", "--lock-timeout", "20s"])
  t.equal(b.code, 0, b.stderr)
  t.notMatch(b.stderr, /is being computed by/, "B did not wait for A")
  t.same(p.statuses(recordOf(p, b)), { q: "ran" }, "B computed q itself")
  t.equal(a.child.exitCode, null, "while A's big node was still running")
  writeFileSync(join(p.dir, "go-big"), "")
  const ra = await a.done
  t.equal(ra.code, 0, ra.stderr)
  t.same(p.statuses(recordOf(p, ra)), { src: "ran", big: "ran", mid: "ran", q: "cached" }, "A took B's result for q")
  t.same(files(join(p.dir, "cache/locks")), [], "every lock released")
})

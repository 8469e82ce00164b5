// `pipe run --executor bullmq` against three `pipe worker`s on a throwaway redis-server: same
// results as the local executor, one computation per key across submissions, a worker SIGKILLed
// mid-node recovered from, deterministic failures not retried, stale checkouts refused, and a Redis
// restart or loss ending in a result or a clear error, never a hang. Tiny fixture nodes keep it fast.
import { existsSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import t from "tap"
import type { RunRecord } from "../../src/exec/record.ts"
import { makeProject, type Project } from "../engine/helpers.ts"
import { leftoverLocks, redisCommand, redisServerPath, startRedis, startWorker, storeProblems, until } from "./helpers.ts"

const SWEEP = `name: sweep
description: 13 nodes, 12 of them independent (6 light, 6 heavy)
nodes:
  src: { kind: source, params: { n: 4 } }
sweeps:
  light:
    over: { by: [1, 2, 3, 4, 5, 6] }
    nodes:
      "scale-\${by}": { kind: scale, params: { by: "\${by}" }, inputs: { x: src.values } }
  heavy:
    over: { ms: [20, 21, 22, 23, 24, 25] }
    nodes:
      "slow-\${ms}": { kind: slow, params: { ms: "\${ms}", steps: 2 }, inputs: { x: src.values } }
`
const shared = (extra: string) => `name: share
nodes:
  src: { kind: source, params: { n: 5 } }
  shared: { kind: slow, params: { ms: 100, steps: 15 }, inputs: { x: src.values } }
${extra}`
const PIPELINES: Record<string, string> = {
  "sweep.yaml": SWEEP,
  "share-a.yaml": shared("  a: { kind: round, inputs: { x: shared.y } }\n"),
  "share-b.yaml": shared("  b: { kind: scale, params: { by: 3 }, inputs: { x: shared.y } }\n"),
  "failing.yaml": "name: failing\nnodes:\n  src: { kind: source, params: { n: 6 } }\n  bad: { kind: fail, inputs: { x: src.values } }\n",
  "refuse.yaml": "name: refuse\nnodes:\n  src: { kind: source, params: { n: 7 } }\n  sc: { kind: scale, params: { by: 9 }, inputs: { x: src.values } }\n",
  "kill.yaml": `name: kill
nodes:
  src: { kind: source, params: { n: 8 } }
  long: { kind: slow, params: { ms: 100, steps: 40 }, inputs: { x: src.values } }
  side: { kind: scale, params: { by: 5 }, inputs: { x: src.values } }
`,
  "ctrlc.yaml": `name: ctrlc
nodes:
  src: { kind: source, params: { n: 11 } }
sweeps:
  s:
    over: { ms: [50, 51, 52, 53, 54, 55, 56, 57] }
    nodes:
      "slow-\${ms}": { kind: slow, params: { ms: "\${ms}", steps: 20 }, inputs: { x: src.values } }
`,
  "restart.yaml": `name: restart
nodes:
  src: { kind: source, params: { n: 9 } }
sweeps:
  s:
    over: { ms: [100, 101, 102, 103, 104, 105] }
    nodes:
      "slow-\${ms}": { kind: slow, params: { ms: "\${ms}", steps: 10 }, inputs: { x: src.values } }
`,
  "gone.yaml": `name: gone
nodes:
  src: { kind: source, params: { n: 10 } }
  s1: { kind: slow, params: { ms: 100, steps: 20 }, inputs: { x: src.values } }
  s2: { kind: slow, params: { ms: 10, steps: 2 }, inputs: { x: s1.y } }
`,
}

const withPipelines = (p: Project): Project => {
  for (const [f, text] of Object.entries(PIPELINES)) writeFileSync(join(p.dir, "pipelines", f), text)
  return p
}

const outputsOf = (r: RunRecord) => Object.fromEntries(r.nodes.map((n) => [n.id, n.outputs]))
const keyOf = (r: RunRecord, id: string): string => r.nodes.find((n) => n.id === id)?.key ?? "?"
/** Most heavy (slow) jobs a worker's log shows running at once. */
const maxHeavyAtOnce = (log: string): number => {
  let running = 0
  let max = 0
  for (const l of log.split("\n")) {
    if (l.startsWith("▸ slow ")) max = Math.max(max, ++running)
    else if (/^(✓|-|✗) slow /.test(l)) running--
  }
  return max
}
const errorLines = (stderr: string): string[] => stderr.split("\n").filter((l) => l.startsWith("error:"))

/** Parsed --json event lines of a submitter. */
const events = (stdout: string): Record<string, unknown>[] =>
  stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)

const suite = async (bin: string): Promise<void> => {
  const redis = await startRedis(t, bin)
  const p = withPipelines(makeProject(t))
  const cache = join(p.dir, "cache")
  // Short job locks so a killed worker's job is requeued within seconds.
  const workerArgs = ["--redis", redis.url, "--lock-duration", "3", "--concurrency", "1"]
  const workers = await Promise.all(["w1", "w2", "w3"].map((name) => startWorker(t, p, workerArgs, name)))
  const bull = ["--executor", "bullmq", "--redis", redis.url]
  const computedLines = (kind: string, key: string): number =>
    workers.map((w) => w.log().split("\n").filter((l) => l.startsWith(`✓ ${kind} ${key.slice(0, 12)}`)).length).reduce((a, b) => a + b, 0)

  await t.test("a 13-node sweep on 3 workers gives the local executor's output digests", async (t) => {
    const local = withPipelines(makeProject(t))
    const l = await local.pipe(["run", "pipelines/sweep.yaml"])
    t.equal(l.code, 0, l.stderr)
    const r = await p.pipe(["run", "pipelines/sweep.yaml", ...bull, "--json"])
    t.equal(r.code, 0, r.stderr)
    t.ok(Object.values(p.statuses()).every((s) => s === "ran"), "every node ran on the workers")
    t.same(outputsOf(p.lastRun()), outputsOf(local.lastRun()), "same output digests")
    t.same(p.lastRun().nodes.map((n) => n.key), local.lastRun().nodes.map((n) => n.key), "same cache keys")
    const used = new Set([...r.stdout.matchAll(/running on worker (w\d)/g)].map((m) => m[1]))
    t.ok(used.size >= 2, `the jobs spread over workers (${[...used].join(", ")})`)
    t.same(storeProblems(cache), [])
    for (const w of workers) t.ok(maxHeavyAtOnce(w.log()) <= 1, `${w.name} ran one heavy node at a time`)
    const status = await p.pipe(["workers", "--redis", redis.url, "--json"])
    t.equal(status.code, 0, status.stderr)
    const s = JSON.parse(status.stdout) as { workers: { name: string; lanes: string[] }[]; counts: Record<string, Record<string, number>> }
    t.same(s.workers.map((w) => [w.name, [...w.lanes].sort()]), ["w1", "w2", "w3"].map((n) => [n, ["heavy", "light"]]), "pipe workers lists the three")
    t.equal(s.counts.heavy?.completed, 6)
    t.equal(s.counts.light?.completed, 7)
  })

  await t.test("two submissions needing the same key attach to one job: it is computed once", async (t) => {
    const a = p.spawnPipe(["run", "pipelines/share-a.yaml", ...bull])
    const b = p.spawnPipe(["run", "pipelines/share-b.yaml", ...bull])
    const [ra, rb] = await Promise.all([a.done, b.done])
    t.equal(ra.code, 0, ra.stderr)
    t.equal(rb.code, 0, rb.stderr)
    const runs = p.runs().slice(-2)
    const key = keyOf(runs[0] as RunRecord, "shared")
    t.equal(keyOf(runs[1] as RunRecord, "shared"), key, "both pipelines need the same key")
    t.same(runs.map((r) => r.nodes.find((n) => n.id === "shared")?.status).sort(), ["cached", "ran"], "one ran it, the other took its result")
    t.equal(computedLines("slow", key), 1, "exactly one worker computed it")
  })

  await t.test("a deterministic failure is not retried and reads as the local executor's error", async (t) => {
    const r = await p.pipe(["run", "pipelines/failing.yaml", ...bull])
    t.equal(r.code, 1, r.stderr)
    // The local executor's line for this node (test/engine/cli-run.test.ts checks the same format).
    t.same(errorLines(r.stderr), ["error: bad (fail) at pipelines/failing.yaml:4:3: boom: deliberate failure"])
    const key = keyOf(p.lastRun(), "bad")
    const attempts = workers.flatMap((w) => w.log().split("\n").filter((l) => l.startsWith(`✗ fail ${key.slice(0, 12)}`)))
    t.equal(attempts.length, 1, "one attempt only (UnrecoverableError)")
    t.match(attempts[0], /attempt 1\/3/)
  })

  await t.test("a worker whose code version differs from the submitter's refuses the job", async (t) => {
    // The submitter runs from a checkout with a newer lib/helper.ts; the three workers have the old one.
    const newer = withPipelines(makeProject(t))
    writeFileSync(join(newer.dir, "lib/helper.ts"), "// a newer helper\nexport const factor = (x: number): number => x * 1\n")
    const r = await newer.pipe(["run", "pipelines/refuse.yaml", ...bull, "--cache", cache])
    t.equal(r.code, 1, r.stderr)
    t.match(
      r.stderr,
      /error: sc \(scale\) at pipelines\/refuse\.yaml:4:3: worker w\d refused scale \(key [0-9a-f]{12}\): its code version differs from the submitter's \(lib\/helper\.ts\); update this worker's checkout/,
    )
    const key = keyOf(newer.lastRun(), "sc")
    const refusals = workers.flatMap((w) => w.log().split("\n").filter((l) => l.startsWith(`✗ scale ${key.slice(0, 12)}`)))
    t.equal(refusals.length, 3, "refused on every attempt (3), never computed")
    t.equal(computedLines("scale", key), 0)
    t.equal(existsSync(join(cache, "keys", `${key}.json`)), false, "nothing was stored under the key")
  })

  await t.test("Ctrl-C: running jobs are left to finish (and be stored), waiting ones withdrawn", async (t) => {
    const run = p.spawnPipe(["run", "pipelines/ctrlc.yaml", ...bull, "--json"])
    let out = ""
    run.child.stdout?.on("data", (d: Buffer) => (out += d.toString()))
    await until("a slow node to start", () => events(out).some((e) => e.event === "start" && String(e.node).startsWith("slow")), 30_000)
    run.child.kill("SIGINT")
    const r = await run.done
    t.equal(r.code, 130, r.stderr)
    const nodes = p.lastRun().nodes.filter((n) => n.id !== "src")
    t.ok(nodes.every((n) => n.status === "interrupted" || n.status === "skipped" || n.status === "ran"), JSON.stringify(p.statuses()))
    const interrupted = nodes.filter((n) => n.status === "interrupted")
    t.ok(interrupted.length > 0 && nodes.some((n) => n.status === "skipped"), "some were running, some waiting")
    for (const n of interrupted) t.match(n.error, /^interrupted \(the job keeps running on worker w\d; its result will be stored\)$/)
    t.equal(await redisCommand(redis.port, "LLEN", "bull:pipe-heavy:wait"), ":0", "nothing left waiting in the queue")
  })

  await t.test("a worker SIGKILLed mid-node: its job is retried elsewhere, nothing corrupt is stored", async (t) => {
    const run = p.spawnPipe(["run", "pipelines/kill.yaml", ...bull, "--json"])
    let out = ""
    run.child.stdout?.on("data", (d: Buffer) => (out += d.toString()))
    const onLong = (): Record<string, unknown>[] => events(out).filter((e) => e.node === "long")
    await until("long to report progress", () => onLong().some((e) => e.event === "progress"), 30_000)
    const victim = /running on worker (w\d)/.exec(onLong().map((e) => String(e.message ?? "")).join("\n"))?.[1]
    const worker = workers.find((w) => w.name === victim)
    if (worker === undefined) return t.fail(`no worker named in ${out}`)
    worker.child.kill("SIGKILL")
    const r = await run.done
    t.equal(r.code, 0, r.stderr)
    t.same(p.statuses(), { src: "ran", long: "ran", side: "ran" })
    const startedOn = [...r.stdout.matchAll(/"node":"long","message":"running on worker (w\d)"/g)].map((m) => m[1])
    t.equal(startedOn[0], victim)
    t.ok(startedOn.slice(1).some((w) => w !== victim), `retried on another worker (${startedOn.join(" -> ")})`)
    t.same(storeProblems(cache), [], "every object hashes to its name; every manifest is complete")
    await until("the key lock to be released", () => leftoverLocks(cache).length === 0, 10_000)
  })

  await t.test("Redis restarted mid-run: the run completes or fails with a clear message", async (t) => {
    const run = p.spawnPipe(["run", "pipelines/restart.yaml", ...bull, "--json", "--redis-timeout", "20"])
    let out = ""
    run.child.stdout?.on("data", (d: Buffer) => (out += d.toString()))
    await until("a slow node to start", () => events(out).some((e) => e.event === "start" && String(e.node).startsWith("slow")), 30_000)
    const t0 = Date.now()
    await redis.restart(1000)
    const r = await Promise.race([run.done, new Promise<null>((res) => setTimeout(() => res(null), 60_000))])
    if (r === null) {
      run.child.kill("SIGKILL")
      return t.fail("the run hung after a Redis restart")
    }
    t.ok(r.code === 0 || /Redis/.test(r.stderr), `exit ${r.code}: ${r.stderr}`)
    if (r.code === 0) t.ok(Object.values(p.statuses()).every((s) => s === "ran" || s === "cached"), JSON.stringify(p.statuses()))
    t.comment(`finished ${((Date.now() - t0) / 1000).toFixed(1)} s after the restart, exit ${r.code}`)
    t.same(storeProblems(cache), [])
  })

  await t.test("Redis gone for good: the run fails within --redis-timeout with a clear message", async (t) => {
    const run = p.spawnPipe(["run", "pipelines/gone.yaml", ...bull, "--json", "--redis-timeout", "3"])
    let out = ""
    run.child.stdout?.on("data", (d: Buffer) => (out += d.toString()))
    await until("s1 to start", () => events(out).some((e) => e.event === "start" && e.node === "s1"), 30_000)
    await redis.stop()
    const t0 = Date.now()
    const r = await Promise.race([run.done, new Promise<null>((res) => setTimeout(() => res(null), 40_000))])
    if (r === null) {
      run.child.kill("SIGKILL")
      return t.fail("the run hung without Redis")
    }
    t.comment(`exited ${((Date.now() - t0) / 1000).toFixed(1)} s after Redis stopped`)
    t.equal(r.code, 1, r.stderr)
    const done = events(r.stdout).find((e) => e.event === "done") as { nodes: { id: string; status: string; error?: string }[] } | undefined
    const s2 = done?.nodes.find((n) => n.id === "s2")
    // s1 was running: its worker still stores it, which the submitter sees in the store (or s1 fails the same way).
    t.equal(s2?.status, "failed", "s2 could not be submitted")
    t.match(s2?.error, /^s2 \(slow\) at pipelines\/gone\.yaml:5:3: lost Redis at redis:\/\/127\.0\.0\.1:\d+: no answer for \d+ s .*run again to resume$/)
  })
}

const bin = redisServerPath()
if (bin !== undefined) await suite(bin)
else if (process.env.CI || process.env.PIPE_REQUIRE_REDIS) t.fail("redis-server is missing; .ci/run installs it (apt-get install redis-server)")
else t.plan(0, "redis-server not installed (apt-get install redis-server): skipping the BullMQ tests")

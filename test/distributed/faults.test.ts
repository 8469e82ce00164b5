// Faults under `pipe run --executor bullmq` with three workers: a worker SIGKILLed mid-node (its job
// is retried elsewhere, nothing corrupt is stored), Redis restarted mid-run (the run completes or
// fails clearly) and Redis gone (the run fails within --redis-timeout): never a hang.
import t from "tap"
import { events, leftoverLocks, storeProblems, until, withCluster, within } from "./helpers.ts"

// Four node processes per worker plus a CLI process per run: on a saturated 2-core machine this file
// needs more than tap's default 300 s (it tells the runner so through this call).
t.setTimeout(600_000)

await withCluster(t, async ({ redis, p, cache, workers, bull }) => {
  await t.test("a worker SIGKILLed mid-node: its job is retried elsewhere, nothing corrupt is stored", async (t) => {
    const run = p.spawnPipe(["run", "pipelines/kill.yaml", ...bull, "--json"])
    let out = ""
    run.child.stdout?.on("data", (d: Buffer) => (out += d.toString()))
    const onLong = (): Record<string, unknown>[] => events(out).filter((e) => e.node === "long")
    await until("long to report progress", () => onLong().some((e) => e.event === "progress"), 120_000)
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
    await until("a slow node to start", () => events(out).some((e) => e.event === "start" && String(e.node).startsWith("slow")), 120_000)
    const t0 = Date.now()
    await redis.restart(1000)
    const r = await within(run.done, 150_000)
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
    await until("s1 to start", () => events(out).some((e) => e.event === "start" && e.node === "s1"), 120_000)
    await redis.stop()
    const t0 = Date.now()
    const r = await within(run.done, 120_000)
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
})

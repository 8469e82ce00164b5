// `pipe run --executor bullmq` against three `pipe worker`s on a throwaway redis-server: the same
// keys and output digests as the local executor, one computation per key across submissions, one
// heavy node at a time per worker, deterministic failures not retried, stale checkouts refused,
// Ctrl-C, and `pipe workers`. Failures of workers and of Redis: faults.test.ts.
import { existsSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import t from "tap"
import type { RunRecord } from "../../src/exec/record.ts"
import { makeProject } from "../engine/helpers.ts"
import { events, keyOf, outputsOf, redisCommand, storeProblems, until, withCluster, withPipelines } from "./helpers.ts"

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

// Four node processes per worker plus a CLI process per run: on a saturated 2-core machine this file
// needs more than tap's default 300 s (it tells the runner so through this call).
t.setTimeout(600_000)

await withCluster(t, async ({ redis, p, cache, workers, bull, computedLines }) => {
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
    await until("a slow node to start", () => events(out).some((e) => e.event === "start" && String(e.node).startsWith("slow")), 120_000)
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
})

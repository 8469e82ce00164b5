// Scale-out on a real pipeline: the same command run by the local executor and by 1, 2 and 3 `pipe
// worker`s (BullMQ on a throwaway redis-server, the store in --cache shared by all), from this
// checkout. Every measured run sets fresh values of the --vary params (a sampler seed, say), so the
// nodes downstream of them are computed afresh while everything upstream (data, trained models) is
// cached: populate --cache first with one local run of the same command. Wall time is the run
// record's (`pipe run` start to end, CLI start-up excluded: the same clock for both executors).
// Overhead per job: (wall x parallel heavy slots - sum of the node bodies' seconds) / jobs, where the
// local executor and each worker have one heavy slot (the queueing, transfer and idle time per job).
//
//   npx tsx bench/scale-out-pipeline.ts --file pipelines/cfg.yaml --profile smoke --cache DIR \
//     --vary 'channel-s*.seed,cross-attention-s*.seed,embedding-s*.seed,latent-s*.seed' [--repeat 2] [--workers 1,2,3]
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { redisServerPath, startRedis, startWorker } from "../test/distributed/helpers.ts"
import { type Project, projectAt, REPO } from "../test/engine/helpers.ts"

const arg = (name: string, dflt?: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? process.argv[i + 1] : dflt
  if (v === undefined) throw new Error(`--${name} is required`)
  return v
}
const FILE = arg("file")
const PROFILE = arg("profile", "smoke")
const CACHE = arg("cache")
const VARY = arg("vary").split(",")
const REPEAT = Number(arg("repeat", "2"))
const WORKERS = arg("workers", "1,2,3").split(",").map(Number)

const cleanups: (() => void | Promise<void>)[] = []
const scope = { teardown: (fn: () => void | Promise<void>) => void cleanups.push(fn) }

/** This checkout as a Project, its run records in a scratch directory. */
const checkout = (): Project => {
  const runs = mkdtempSync(join(tmpdir(), "pipe-bench-runs-"))
  return projectAt(REPO, { PIPE_CACHE: CACHE, PIPE_RUNS: runs }, runs)
}

interface Timed {
  readonly wall: number
  readonly jobs: number
  readonly bodies: number
}

let fresh = 1000
/** One run with fresh --vary values: the record's seconds, the nodes computed and their bodies' seconds. */
const timedRun = async (p: Project, extra: readonly string[]): Promise<Timed> => {
  fresh++
  const sets = VARY.flatMap((v) => ["--set", `${v}=${fresh}`])
  const r = await p.pipe(["run", FILE, "--profile", PROFILE, ...sets, ...extra])
  if (r.code !== 0) throw new Error(`run failed: ${r.stderr}`)
  const ran = p.lastRun().nodes.filter((n) => n.status === "ran")
  return { wall: p.lastRun().seconds, jobs: ran.length, bodies: ran.reduce((s, n) => s + n.seconds, 0) }
}

/** One line per executor: every run (the first on new workers forks their job processes: cold), then the last. */
const report = (executor: string, slots: number, runs: readonly Timed[]): void => {
  const overheadMs = (r: Timed): number => ((r.wall * slots - r.bodies) * 1000) / r.jobs
  const last = runs.at(-1) as Timed
  console.log(
    `${executor.padEnd(10)} ${last.jobs} nodes computed; runs ${runs.map((r) => `${r.wall.toFixed(1)} s (${overheadMs(r).toFixed(0)} ms/job)`).join(", ")};` +
      ` last: wall ${last.wall.toFixed(1)} s, node bodies ${last.bodies.toFixed(1)} s, overhead ${overheadMs(last).toFixed(0)} ms/job`,
  )
}

const main = async (): Promise<void> => {
  const bin = redisServerPath()
  if (bin === undefined) throw new Error("redis-server is not installed")
  const p = checkout()
  try {
    const local: Timed[] = []
    for (let k = 0; k < REPEAT; k++) local.push(await timedRun(p, []))
    report("local", 1, local)
    const redis = await startRedis(scope, bin)
    for (const n of WORKERS) {
      const queue = `bench${n}`
      const workers = await Promise.all(Array.from({ length: n }, (_, i) => startWorker(scope, p, ["--redis", redis.url, "--queue", queue, "--cache", CACHE], `b${n}-${i + 1}`)))
      const bull = ["--executor", "bullmq", "--redis", redis.url, "--queue", queue]
      const runs: Timed[] = []
      for (let k = 0; k < REPEAT; k++) runs.push(await timedRun(p, bull))
      report(`${n} worker${n === 1 ? "" : "s"}`, n, runs)
      for (const w of workers) w.child.kill("SIGKILL")
    }
  } finally {
    for (const c of cleanups.reverse()) await c()
  }
}

await main()

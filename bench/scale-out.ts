// Scale-out overhead: one sweep of independent fixture nodes run by the local executor and by 1, 2
// and 3 `pipe worker`s (BullMQ on a throwaway redis-server, one shared store), wall time taken from
// each run record (the same clock for both executors: `pipe run` start to finish, CLI start-up
// excluded). Two workloads: `empty` (light nodes that do nothing: pure per-job cost) and `sleep`
// (heavy nodes that sleep --sleep-ms: no CPU, so 2 cores do not cap the parallel speed-up). Every
// measured run changes src's scale a little, so every node is computed afresh.
//
//   npx tsx bench/scale-out.ts [--jobs 24] [--sleep-ms 200] [--repeat 3] [--workers 1,2,3]
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { makeProject, type Project } from "../test/engine/helpers.ts"
import { redisServerPath, startRedis, startWorker } from "../test/distributed/helpers.ts"

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? (process.argv[i + 1] ?? dflt) : dflt
}
const JOBS = Number(arg("jobs", "24"))
const SLEEP_MS = Number(arg("sleep-ms", "200"))
const REPEAT = Number(arg("repeat", "3"))
const WORKERS = arg("workers", "1,2,3").split(",").map(Number)

const cleanups: (() => void | Promise<void>)[] = []
const scope = { teardown: (fn: () => void | Promise<void>) => void cleanups.push(fn) }

/** Sleep of the i-th sleep node (distinct, so every node has its own key). */
const sleepMs = (i: number): number => SLEEP_MS + i
const SLEEP_TOTAL_S = Array.from({ length: JOBS }, (_, i) => sleepMs(i)).reduce((a, b) => a + b, 0) / 1000

const sweep = (workload: "empty" | "sleep"): string => {
  const ids = Array.from({ length: JOBS }, (_, i) => (workload === "empty" ? i + 1 : sleepMs(i)))
  const node =
    workload === "empty"
      ? `"n-\${i}": { kind: scale, params: { by: "\${i}" }, inputs: { x: src.values } }`
      : `"n-\${i}": { kind: slow, params: { ms: "\${i}", steps: 1 }, inputs: { x: src.values } }`
  return `name: ${workload}\nnodes:\n  src: { kind: source, params: { n: 4 } }\nsweeps:\n  s:\n    over: { i: [${ids.join(", ")}] }\n    nodes:\n      ${node}\n`
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

let fresh = 0
/** One run of `workload` with new keys; returns the run record's seconds. */
const timedRun = async (p: Project, workload: string, extra: readonly string[]): Promise<number> => {
  fresh++
  const r = await p.pipe(["run", `pipelines/${workload}.yaml`, "--set", `src.scale=${1 + fresh / 1e6}`, ...extra])
  if (r.code !== 0) throw new Error(`run failed: ${r.stderr}`)
  const rec = p.lastRun()
  if (rec.nodes.some((n) => n.status !== "ran")) throw new Error(`not every node ran: ${JSON.stringify(p.statuses())}`)
  return rec.seconds
}

const main = async (): Promise<void> => {
  const bin = redisServerPath()
  if (bin === undefined) throw new Error("redis-server is not installed")
  const rows: { executor: string; workload: string; cold: number | null; wall: number; overheadPerJobMs: number }[] = []
  /** `slots`: heavy nodes at once (1 locally, one per worker), the parallelism of the sleep workload. */
  const report = (executor: string, slots: number, workload: string, cold: number | null, walls: number[]): void => {
    const wall = median(walls)
    // sleep: time beyond the node bodies per job, summed over the heavy slots running them in
    // parallel; empty: wall time per job (the bodies do nothing).
    const busy = workload === "sleep" ? SLEEP_TOTAL_S : 0
    const overheadPerJobMs = ((wall * (workload === "sleep" ? slots : 1) - busy) * 1000) / JOBS
    rows.push({ executor, workload, cold, wall, overheadPerJobMs })
    console.log(
      `${executor.padEnd(10)} ${workload.padEnd(6)} wall ${wall.toFixed(2)} s (runs ${walls.map((w) => w.toFixed(2)).join(", ")}; bodies ${busy.toFixed(2)} s)` +
        ` overhead ${overheadPerJobMs.toFixed(0)} ms/job${cold === null ? "" : `; cold first run ${cold.toFixed(2)} s`}`,
    )
  }
  const project = (): Project => {
    const p = makeProject(scope)
    for (const w of ["empty", "sleep"] as const) writeFileSync(join(p.dir, "pipelines", `${w}.yaml`), sweep(w))
    return p
  }
  try {
    const local = project()
    for (const w of ["empty", "sleep"]) {
      await timedRun(local, w, []) // warm the registry metadata and the OS caches
      const walls: number[] = []
      for (let k = 0; k < REPEAT; k++) walls.push(await timedRun(local, w, []))
      report("local", 1, w, null, walls)
    }
    const redis = await startRedis(scope, bin)
    for (const n of WORKERS) {
      const p = project()
      const queue = `bench${n}`
      const workers = await Promise.all(Array.from({ length: n }, (_, i) => startWorker(scope, p, ["--redis", redis.url, "--queue", queue, "--concurrency", "2"], `b${n}-${i + 1}`)))
      const bull = ["--executor", "bullmq", "--redis", redis.url, "--queue", queue]
      for (const w of ["empty", "sleep"]) {
        const cold = await timedRun(p, w, bull) // the first jobs of each worker fork its job processes
        const walls: number[] = []
        for (let k = 0; k < REPEAT; k++) walls.push(await timedRun(p, w, bull))
        report(`${n} worker${n === 1 ? "" : "s"}`, n, w, cold, walls)
      }
      for (const w of workers) w.child.kill("SIGKILL")
    }
    console.log(JSON.stringify({ jobs: JOBS, sleepMs: SLEEP_MS, repeat: REPEAT, rows }))
  } finally {
    for (const c of cleanups.reverse()) await c()
  }
}

await main()

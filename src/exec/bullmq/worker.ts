// `pipe worker`: BullMQ workers that take node jobs and compute them into the shared store. Two
// BullMQ Workers share this process: the light queue at --concurrency, the heavy queue at 1, so a
// worker never runs two heavy (tensor backend) nodes at once. Each job runs in a sandboxed child
// process (processor.ts); this process only holds the job locks, which BullMQ renews, and heartbeats
// the store's lock files of running jobs so that other hosts do not take them for stale.
// Failure handling is BullMQ's: a worker that dies stops renewing its job locks, another worker's
// stalled-job check requeues those jobs (up to `maxStalledCount` times); failed attempts are retried
// with exponential backoff up to the job's `attempts`; an UnrecoverableError fails the job at once.
import { utimesSync } from "node:fs"
import { hostname } from "node:os"
import { fileURLToPath } from "node:url"
import { type Job, Worker } from "bullmq"
import { readLock } from "../../store/lock.ts"
import type { Store } from "../../store/store.ts"
import { bounded, closeAll, connectionOf, displayUrl, RedisUnavailable } from "./connection.ts"
import { type Lane, LANES, type NodeJobData, type NodeJobResult, queueName, WORKER_CONFIG_ENV, type WorkerConfig } from "./job.ts"

export interface WorkerOptions {
  readonly redis: string
  readonly queue: string
  /** Light nodes at once (heavy nodes: always one). */
  readonly concurrency: number
  readonly config: WorkerConfig
  readonly store: Store
  /** BullMQ job lock: a dead worker's jobs are requeued about this long (up to twice) after it died. */
  readonly lockDurationMs: number
  /** Times a job may be requeued after its worker died before it fails. */
  readonly maxStalledCount: number
  readonly log: (line: string) => void
}

export interface RunningWorker {
  /** Stops taking jobs; waits for running ones unless `force`. */
  readonly close: (force: boolean) => Promise<void>
}

const PROCESSOR = fileURLToPath(new URL("./processor-entry.mjs", import.meta.url))

const describe = (job: Job<NodeJobData>): string => `${job.data.spec.components.kind} ${job.data.spec.key.slice(0, 12)} (${job.data.spec.computedBy.pipeline}#${job.data.spec.computedBy.node})`

export const startWorker = async (o: WorkerOptions): Promise<RunningWorker> => {
  const connection = connectionOf(o.redis)
  const running = new Map<string, Lane>()
  const errors = new Set<string>()
  const workers = LANES.map((lane) => {
    const w = new Worker<NodeJobData, NodeJobResult>(queueName(o.queue, lane), PROCESSOR, {
      connection,
      name: o.config.name,
      concurrency: lane === "heavy" ? 1 : o.concurrency,
      lockDuration: o.lockDurationMs,
      stalledInterval: o.lockDurationMs,
      maxStalledCount: o.maxStalledCount,
      // Own process group: a Ctrl-C in the worker's terminal reaches this process only, which lets
      // running jobs finish; the children exit when this process goes (processor-entry.mjs).
      workerForkOptions: { cwd: o.config.root, detached: true, env: { ...process.env, [WORKER_CONFIG_ENV]: JSON.stringify(o.config) } },
    })
    w.on("active", (job) => {
      running.set(job.data.spec.key, lane)
      o.log(`▸ ${describe(job)} started`)
    })
    w.on("completed", (job, r) => {
      running.delete(job.data.spec.key)
      o.log(`${r.cached ? "- " : "✓ "}${describe(job)} ${r.cached ? "was already stored" : `computed in ${r.seconds.toFixed(2)} s`}`)
    })
    w.on("failed", (job, e) => {
      if (job === undefined) return
      running.delete(job.data.spec.key)
      o.log(`✗ ${describe(job)} attempt ${job.attemptsMade}/${job.opts.attempts ?? 1}: ${e.message}`)
    })
    w.on("error", (e) => {
      // ioredis repeats a lost connection's error on every retry: say each distinct one once.
      if (errors.has(e.message)) return
      errors.add(e.message)
      o.log(`redis: ${e.message}`)
    })
    w.on("ready", () => errors.clear())
    return w
  })
  try {
    await bounded(Promise.all(workers.map((w) => w.waitUntilReady())), 10_000, `connecting to ${displayUrl(o.redis)}`)
  } catch (e) {
    await closeAll(workers.map((w) => ({ close: () => w.close(true), disconnect: () => w.disconnect() })), 1000)
    throw new RedisUnavailable(`cannot reach Redis at ${displayUrl(o.redis)} (${e instanceof Error ? e.message : String(e)}); is redis-server running?`)
  }
  // Lock files are judged by pid on their own host and by age elsewhere: keep ours young.
  const beat = setInterval(
    () => {
      const now = new Date()
      for (const key of running.keys()) {
        const file = o.store.lockPath(key)
        const r = readLock(file)
        if (r.kind !== "held" || r.info.host !== hostname()) continue
        try {
          utimesSync(file, now, now)
        } catch {
          // released meanwhile
        }
      }
    },
    Math.max(1000, o.config.lockStaleMs / 4),
  )
  o.log(
    `worker ${o.config.name} ready: ${queueName(o.queue, "light")} x${o.concurrency}, ${queueName(o.queue, "heavy")} x1 at ${displayUrl(o.redis)}; store ${o.config.cache}`,
  )
  return {
    close: async (force) => {
      clearInterval(beat)
      await Promise.all(workers.map((w) => w.close(force)))
    },
  }
}

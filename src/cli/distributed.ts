// Scale-out commands: `pipe worker`, `pipe workers`, and the BullMQ executor of `pipe run`
// (--executor bullmq --redis URL, or $PIPE_REDIS). BullMQ is imported only here, on demand.
import { cpus } from "node:os"
import type { Store } from "../store/store.ts"
import type { Submitter } from "../exec/bullmq/submitter.ts"
import { flag, intFlag, str, UsageError, type Values } from "./args.ts"
import { resolveDirs } from "./context.ts"
import { dirFlags, type Io } from "./run.ts"

const redisOf = (v: Values, io: Io): string => {
  const url = str(v, "redis") ?? io.env.PIPE_REDIS
  if (url === undefined || url === "") throw new UsageError("needs --redis URL (or $PIPE_REDIS), e.g. --redis redis://127.0.0.1:6379")
  return url
}

const checked = async (url: string): Promise<string> => {
  const { checkRedisUrl } = await import("../exec/bullmq/connection.ts")
  const problem = checkRedisUrl(url)
  if (problem !== undefined) throw new UsageError(`--redis ${problem}`)
  return url
}

const queueOf = (v: Values): string => {
  const q = str(v, "queue") ?? "pipe"
  if (!/^[A-Za-z0-9_.-]+$/.test(q)) throw new UsageError(`--queue "${q}": letters, digits, '_', '.' and '-' only`)
  return q
}

const secondsFlag = (v: Values, k: string, dflt: number): number => intFlag(v, k, dflt) * 1000

/** `pipe run`'s executor: undefined for the local one (the default), else a connected submitter. */
export const openRemote = async (v: Values, io: Io, store: Store): Promise<Submitter | undefined> => {
  const executor = str(v, "executor") ?? "local"
  if (executor !== "local" && executor !== "bullmq") throw new UsageError(`--executor must be local or bullmq, got "${executor}"`)
  if (executor === "local") {
    if (str(v, "redis") !== undefined) throw new UsageError("--redis is for --executor bullmq")
    return undefined
  }
  const redis = await checked(redisOf(v, io))
  const { openSubmitter } = await import("../exec/bullmq/submitter.ts")
  return openSubmitter({ redis, queue: queueOf(v), store, timeoutMs: secondsFlag(v, "redis-timeout", 30) })
}

export const workerCommand = async (v: Values, _: string[], io: Io): Promise<number> => {
  const redis = await checked(redisOf(v, io))
  const dirs = resolveDirs(dirFlags(v), undefined, io.env, io.cwd)
  // The node registry is loaded by each job process, not here: importing every node module (tfjs)
  // in this process would only slow its start.
  const { openStore } = await import("../store/store.ts")
  const { processTag } = await import("../exec/bullmq/job.ts")
  const { startWorker } = await import("../exec/bullmq/worker.ts")
  const lockDurationMs = secondsFlag(v, "lock-duration", 30)
  const worker = await startWorker({
    redis,
    queue: queueOf(v),
    concurrency: intFlag(v, "concurrency", Math.max(1, Math.min(2, cpus().length))),
    config: {
      name: str(v, "name") ?? processTag(),
      root: dirs.root,
      nodes: dirs.nodes,
      cache: dirs.cache,
      lockStaleMs: Math.max(60_000, 4 * lockDurationMs),
      backend: str(v, "backend"),
    },
    store: openStore(dirs.cache),
    lockDurationMs,
    maxStalledCount: 2,
    log: (line) => io.err(`${line}\n`),
  })
  // Ctrl-C or SIGTERM: finish running jobs, take no new ones. A second signal exits at once: the
  // sandboxed children follow (they exit when their parent goes) and BullMQ requeues their jobs
  // once the locks expire; nothing partial is ever visible in the store.
  return new Promise<number>((done) => {
    let stops = 0
    const stop = (): void => {
      stops++
      if (stops > 1) {
        io.err("stopping now\n")
        return done(130)
      }
      io.err("stopping: finishing running jobs (Ctrl-C again to stop now)\n")
      void worker.close(false).then(() => done(0))
    }
    io.onInterrupt(stop) // Ctrl-C and SIGTERM
  })
}

export const workersCommand = async (v: Values, _: string[], io: Io): Promise<number> => {
  const redis = await checked(redisOf(v, io))
  const { formatStatus, queueStatus } = await import("../exec/bullmq/status.ts")
  const queue = queueOf(v)
  const s = await queueStatus(redis, queue, 10_000, Date.now())
  io.out(flag(v, "json") ? `${JSON.stringify(s)}\n` : formatStatus(s, queue))
  return 0
}

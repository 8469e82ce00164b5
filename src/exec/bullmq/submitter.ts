// The submitting side of `pipe run --executor bullmq`: the executor keeps the plan, the run record
// and the reporter, and hands each node whose inputs are stored to `compute` here, which enqueues a
// BullMQ job (id = cache key) or attaches to the job already computing that key, then waits for it.
// Completion is taken from QueueEvents and confirmed by polling the job state, so a missed event, a
// job lost with a restarted Redis, or a Redis that went silent all end in a result or a clear error
// within `timeoutMs`: never a hang. The store stays the source of truth: a completed job counts only
// once its manifest is visible in this process's store.
import { randomBytes } from "node:crypto"
import { Job, Queue, QueueEvents } from "bullmq"
import type { ProgressEvent } from "../../node.ts"
import type { Manifest, Store } from "../../store/store.ts"
import { type ComputeResult, digestsOf, NotStarted } from "../compute.ts"
import type { RemoteExecutor, RemoteRequest } from "../executor.ts"
import { bounded, closeAll, connectionOf, displayUrl, RedisUnavailable } from "./connection.ts"
import {
  DEFAULT_RETRY,
  failureOf,
  isJobProgress,
  jobOptions,
  type JobProgress,
  type Lane,
  LANES,
  laneOf,
  type NodeJobData,
  type NodeJobResult,
  processTag,
  queueName,
  type RetryPolicy,
} from "./job.ts"

export interface SubmitterOptions {
  readonly redis: string
  /** Base queue name (queues `<name>-light` and `<name>-heavy`). */
  readonly queue: string
  /** This run's store; workers must write to the same directory. */
  readonly store: Store
  readonly retry?: RetryPolicy
  /** Longest Redis silence tolerated before waiting nodes fail. */
  readonly timeoutMs?: number
  /** Job state poll period (events normally arrive first). */
  readonly pollMs?: number
}

export interface Submitter extends RemoteExecutor {
  /** Tensor backend reported by the workers (for the run record), once a job ran. */
  readonly backend: () => string | null
  /** Warning when a queue has no worker connected (jobs would wait for one). */
  readonly idleWarning: () => Promise<string | undefined>
  readonly close: () => Promise<void>
}

/** Wakes one waiting node early when an event about its job arrives. */
interface Waiter {
  readonly request: RemoteRequest
  started: string | null
  poke: () => void
}

/** A Redis call that did not answer this time (the caller polls again). */
const SILENT: unique symbol = Symbol("silent")
const WAITING = new Set(["waiting", "delayed", "prioritized", "waiting-children"])
const MAX_RESUBMITS = 3
/** ioredis' messages for a connection that is down (as opposed to an error Redis answered with). */
const CONNECTION_ERROR = /connect|connection|ECONN|EPIPE|ETIMEDOUT|max retries|writeable/i

export const openSubmitter = async (o: SubmitterOptions): Promise<Submitter> => {
  const timeoutMs = o.timeoutMs ?? 30_000
  const pollMs = o.pollMs ?? 1000
  const retry = o.retry ?? DEFAULT_RETRY
  const where = displayUrl(o.redis)
  const connection = connectionOf(o.redis)
  const submission = `${processTag()}:${randomBytes(4).toString("hex")}`
  const queues = new Map<Lane, Queue>(LANES.map((l) => [l, new Queue(queueName(o.queue, l), { connection })]))
  const events = new Map<Lane, QueueEvents>(LANES.map((l) => [l, new QueueEvents(queueName(o.queue, l), { connection })]))
  const waiters = new Map<string, Set<Waiter>>()
  const health = { lastContact: Date.now(), backend: null as string | null }
  const seen = (): void => void (health.lastContact = Date.now())
  // ioredis reports every failed reconnect as an 'error'; the poll loop turns silence into one clear error.
  for (const q of queues.values()) q.on("error", () => undefined)

  const close = async (): Promise<void> => {
    const all = [...events.values(), ...queues.values()]
    // A silent Redis cannot take a graceful close: drop the connections then.
    const graceful = Date.now() - health.lastContact < 2000 ? 3000 : 0
    await closeAll(all, graceful)
  }

  try {
    await bounded(Promise.all([...queues.values(), ...events.values()].map((c) => c.waitUntilReady())), Math.min(timeoutMs, 10_000), `connecting to ${where}`)
  } catch (e) {
    await close()
    throw new RedisUnavailable(`cannot reach Redis at ${where} (${e instanceof Error ? e.message : String(e)}); is redis-server running?`)
  }

  const each = (jobId: string, f: (w: Waiter) => void): void => {
    for (const w of waiters.get(jobId) ?? []) f(w)
  }
  const replay = (w: Waiter, p: JobProgress): void => {
    const { node, reporter } = w.request
    if (p.t === "start") {
      // Said once per worker: the poll may have seen the job active before this event arrived.
      if (w.started === p.worker) return
      if (w.started === null) reporter.start(node.id, node.kind)
      w.started = p.worker
      reporter.log(node.id, `running on worker ${p.worker}`)
    } else if (p.t === "progress") reporter.progress(node.id, p.e as ProgressEvent)
    else reporter.log(node.id, p.m)
  }
  for (const qe of events.values()) {
    qe.on("error", () => undefined)
    qe.on("progress", ({ jobId, data }) => {
      seen()
      if (isJobProgress(data)) each(jobId, (w) => replay(w, data))
    })
    qe.on("stalled", ({ jobId }) => each(jobId, (w) => w.request.reporter.log(w.request.node.id, `worker ${w.started ?? "?"} stopped answering; BullMQ requeues the job`)))
    for (const ev of ["completed", "failed", "removed"] as const) qe.on(ev, ({ jobId }: { jobId: string }) => (seen(), each(jobId, (w) => w.poke())))
  }

  /**
   * One Redis call, bounded: SILENT when Redis did not answer (the caller polls again), a clear
   * error once it has been silent for `timeoutMs`. An error Redis did answer with is rethrown.
   */
  const ask = async <A>(what: string, call: () => Promise<A>): Promise<A | typeof SILENT> => {
    try {
      const a = await bounded(call(), Math.max(500, Math.min(5000, timeoutMs / 3)), what)
      seen()
      return a
    } catch (e) {
      if (!(e instanceof RedisUnavailable) && !CONNECTION_ERROR.test(e instanceof Error ? e.message : String(e))) {
        seen()
        throw e
      }
      const silent = Date.now() - health.lastContact
      if (silent > timeoutMs)
        throw new RedisUnavailable(
          `lost Redis at ${where}: no answer for ${(silent / 1000).toFixed(0)} s (${e instanceof Error ? e.message : String(e)}); finished nodes are stored, run again to resume`,
        )
      return SILENT
    }
  }

  const add = async (q: Queue, r: RemoteRequest): Promise<void> => {
    const data: NodeJobData = { format: 1, spec: r.spec, params: r.node.params, submitter: processTag(), submission }
    await q.add(r.spec.components.kind, data, jobOptions(r.spec.key, retry))
  }

  /** Adds the job, or attaches to the one computing this key; true when attached to someone else's. */
  const enqueue = async (q: Queue, r: RemoteRequest): Promise<boolean | typeof SILENT> => {
    const key = r.spec.key
    const existing = await ask("looking up the job", () => q.getJob(key))
    if (existing === SILENT) return SILENT
    if (existing !== undefined) {
      const state = await ask("job state", () => existing.getState())
      if (state === SILENT) return SILENT
      // An old outcome (the store lacks the key, or the run forces it): a new submission retries.
      // (It may have been removed or retried meanwhile: the add below then attaches or recreates.)
      if (state === "completed" || state === "failed") await ask("removing a finished job", () => existing.remove().catch(() => undefined))
      else return true
    }
    if ((await ask("adding the job", () => add(q, r))) === SILENT) return SILENT
    const job = await ask("reading the job back", () => q.getJob(key))
    return job !== SILENT && job !== undefined && (job.data as NodeJobData).submission !== submission
  }

  /** A stored result; `cached` when someone else's job or process computed it. */
  const stored = (m: Manifest, cached: boolean): ComputeResult => {
    if (!cached) health.backend ??= m.backend
    return { digests: digestsOf(m), seconds: cached ? 0 : m.seconds, cached }
  }

  /** A completed job's outcome, confirmed by the manifest in this process's store. */
  const outcome = (r: RemoteRequest, result: NodeJobResult | undefined, attached: boolean): ComputeResult => {
    const m = o.store.complete(r.spec.key)
    if (m === undefined)
      throw new Error(
        `worker ${result?.worker ?? "?"} finished key ${r.spec.key.slice(0, 12)} but its manifest is not in ${o.store.dir}: do the workers use the same --cache directory (a shared filesystem) as this run?`,
      )
    return stored(m, attached || (result?.cached ?? false))
  }

  const compute = async (r: RemoteRequest): Promise<ComputeResult> => {
    const key = r.spec.key
    const q = queues.get(laneOf(r.heavy)) as Queue
    let wake = (): void => undefined
    const w: Waiter = { request: r, started: null, poke: () => wake() }
    const sleep = (ms: number): Promise<void> =>
      new Promise((res) => {
        const t = setTimeout(res, ms)
        wake = () => (clearTimeout(t), res())
      })
    waiters.set(key, (waiters.get(key) ?? new Set()).add(w))
    try {
      let attached: boolean | typeof SILENT = SILENT
      while (attached === SILENT) {
        if (r.stopping() !== null) throw new NotStarted(r.stopping() as string)
        attached = await enqueue(q, r)
        if (attached === SILENT) await sleep(pollMs)
      }
      for (let resubmits = 0; ; ) {
        // The store answers first: it works while Redis does not, and a forced job must replace what it holds.
        const m = r.spec.forced ? undefined : o.store.complete(key)
        if (m !== undefined) return stored(m, attached)
        const state = await ask("job state", () => q.getJobState(key))
        if (state === "completed") {
          const job = await ask("reading the result", () => Job.fromId(q, key))
          if (job !== SILENT) return outcome(r, job?.returnvalue as NodeJobResult | undefined, attached)
        } else if (state === "failed") {
          const job = await ask("reading the failure", () => Job.fromId(q, key))
          if (job !== SILENT) throw failureOf(job?.failedReason ?? "failed without a reason")
        } else if (state === "unknown") {
          // Removed (a withdrawn or expired job) or lost with a Redis restart: submit it again.
          if (r.stopping() !== null) throw new NotStarted(r.stopping() as string)
          if (++resubmits > MAX_RESUBMITS) throw new Error(`job ${key.slice(0, 12)} vanished from Redis ${MAX_RESUBMITS} times; giving up`)
          r.reporter.info(`${r.node.id}: job ${key.slice(0, 12)} is gone from Redis (restarted?); submitting it again`)
          if ((await ask("adding the job", () => add(q, r))) !== SILENT) attached = false
        } else if (state !== SILENT && WAITING.has(state) && r.stopping() !== null) {
          // Not started yet: withdraw it (anyone else waiting for it resubmits).
          await ask("withdrawing the job", () => q.remove(key).catch(() => 0)) // taken by a worker meanwhile: it runs on
          throw new NotStarted(r.stopping() as string)
        } else if (state === "active") {
          if (w.started === null) {
            const job = await ask("reading the job", () => q.getJob(key))
            replay(w, { t: "start", worker: job !== SILENT ? (job?.processedBy ?? "?") : "?" })
          }
          if (r.interrupted()) throw new Error(`the job keeps running on worker ${w.started ?? "?"}; its result will be stored`)
        }
        await sleep(pollMs)
      }
    } finally {
      const set = waiters.get(key)
      set?.delete(w)
      if (set?.size === 0) waiters.delete(key)
    }
  }

  const idleWarning = async (): Promise<string | undefined> => {
    const counts = await Promise.all(LANES.map(async (l) => [l, await ask("listing workers", () => (queues.get(l) as Queue).getWorkersCount())] as const))
    const idle = counts.filter(([, n]) => n === 0).map(([l]) => queueName(o.queue, l))
    return idle.length === 0 ? undefined : `no worker is connected to ${idle.join(" and ")} at ${where}; jobs wait until one starts (pipe worker --redis URL)`
  }

  return { compute, backend: () => health.backend, idleWarning, close }
}

// `pipe workers`: who is connected to the queues, what each one runs, and how many jobs wait.
// Workers are Redis clients that BullMQ names after the queue and the worker (CLIENT LIST), running
// jobs carry the name of the worker that took them (`processedBy`) and their last progress.
import { Queue } from "bullmq"
import { bounded, closeAll, connectionOf, displayUrl, RedisUnavailable } from "./connection.ts"
import { isJobProgress, type Lane, LANES, type NodeJobData, queueName } from "./job.ts"

export interface WorkerInfo {
  readonly name: string
  readonly addr: string
  /** Seconds connected. */
  readonly age: number
  readonly lanes: readonly Lane[]
}

export interface RunningJob {
  readonly lane: Lane
  readonly key: string
  readonly kind: string
  /** pipeline#node that submitted it first. */
  readonly node: string
  readonly worker: string
  /** Seconds since the worker took it. */
  readonly seconds: number
  /** "phase step/total", when the node reported progress. */
  readonly progress: string | null
}

export interface QueueStatus {
  readonly redis: string
  readonly workers: readonly WorkerInfo[]
  readonly running: readonly RunningJob[]
  readonly counts: Readonly<Record<Lane, Readonly<Record<string, number>>>>
}

const WORKER_NAME = /:w:(.+)$/

export const queueStatus = async (redis: string, base: string, timeoutMs: number, now: number): Promise<QueueStatus> => {
  const queues = LANES.map((lane) => ({ lane, q: new Queue(queueName(base, lane), { connection: connectionOf(redis) }) }))
  for (const { q } of queues) q.on("error", () => undefined)
  try {
    const per = await bounded(
      Promise.all(
        queues.map(async ({ lane, q }) => ({
          lane,
          clients: await q.getWorkers(),
          active: await q.getActive(),
          counts: await q.getJobCounts("waiting", "prioritized", "delayed", "active", "completed", "failed"),
        })),
      ),
      timeoutMs,
      `asking ${displayUrl(redis)}`,
    ).catch((e: unknown) => {
      throw new RedisUnavailable(`cannot reach Redis at ${displayUrl(redis)} (${e instanceof Error ? e.message : String(e)}); is redis-server running?`)
    })
    const workers = new Map<string, WorkerInfo>()
    for (const { lane, clients } of per)
      for (const c of clients) {
        // BullMQ puts the queue name in `name` and the Redis client name in `rawname`.
        const name = WORKER_NAME.exec(c.rawname ?? "")?.[1] ?? "(unnamed)"
        const prev = workers.get(name)
        workers.set(name, { name, addr: prev?.addr ?? c.addr ?? "?", age: Math.max(prev?.age ?? 0, Number(c.age ?? 0)), lanes: [...(prev?.lanes ?? []), lane] })
      }
    const running = per.flatMap(({ lane, active }) =>
      active.map((job): RunningJob => {
        const data = job.data as NodeJobData
        const p = isJobProgress(job.progress) && job.progress.t === "progress" ? job.progress.e : null
        return {
          lane,
          key: data.spec.key,
          kind: data.spec.components.kind,
          node: `${data.spec.computedBy.pipeline}#${data.spec.computedBy.node}`,
          worker: job.processedBy ?? "?",
          seconds: job.processedOn === undefined ? 0 : (now - job.processedOn) / 1000,
          progress: p === null ? null : `${p.phase} ${p.step}/${p.total}`,
        }
      }),
    )
    const counts = Object.fromEntries(per.map(({ lane, counts }) => [lane, counts])) as Record<Lane, Record<string, number>>
    return { redis: displayUrl(redis), workers: [...workers.values()].sort((a, b) => a.name.localeCompare(b.name)), running, counts }
  } finally {
    await closeAll(queues.map(({ q }) => q), 3000)
  }
}

const pad = (rows: readonly (readonly string[])[]): string[] => {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? []
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  "))
}

export const formatStatus = (s: QueueStatus, base: string): string => {
  const lines = [`${s.workers.length} worker${s.workers.length === 1 ? "" : "s"} on ${s.redis} (queues ${queueName(base, "light")}, ${queueName(base, "heavy")})`]
  if (s.workers.length > 0) {
    const rows = s.workers.map((w) => {
      const jobs = s.running.filter((j) => j.worker === w.name)
      return [w.name, w.addr, `up ${Math.round(w.age)} s`, jobs.length === 0 ? "idle" : jobs.map((j) => `${j.kind} ${j.key.slice(0, 12)} (${j.node}) ${Math.round(j.seconds)} s${j.progress ? ` ${j.progress}` : ""}`).join("; ")]
    })
    lines.push(...pad([["worker", "address", "connected", "running"], ...rows]))
  }
  const orphans = s.running.filter((j) => !s.workers.some((w) => w.name === j.worker))
  for (const j of orphans) lines.push(`running on a worker that is not connected (its lock will expire): ${j.kind} ${j.key.slice(0, 12)} (${j.node}) by ${j.worker}`)
  for (const lane of LANES) {
    const c = s.counts[lane]
    lines.push(
      `${queueName(base, lane)}: ${(c.waiting ?? 0) + (c.prioritized ?? 0)} waiting, ${c.delayed ?? 0} delayed (retry backoff), ${c.active ?? 0} running, ${c.completed ?? 0} completed, ${c.failed ?? 0} failed (kept 1 h / 24 h)`,
    )
  }
  return `${lines.join("\n")}\n`
}

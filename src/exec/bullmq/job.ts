// The job protocol between a submitter (`pipe run --executor bullmq`) and `pipe worker`: one BullMQ
// job computes one cache key, so its job id is the key and two submissions needing the same key
// attach to one job. Heavy kinds (the tensor backend) go to their own queue, which every worker
// consumes with concurrency 1; light kinds share the other queue at the worker's --concurrency.
// Failure reasons travel as BullMQ's plain `failedReason` string, so they carry a readable prefix
// that the submitter parses back into the executor's typed failures.
import { hostname } from "node:os"
import type { JobsOptions } from "bullmq"
import type { Json } from "../../key/canonical.ts"
import type { ProgressEvent } from "../../node.ts"
import { type ComputeSpec, CorruptInput, NodeBodyFailed } from "../compute.ts"

export const DEFAULT_QUEUE = "pipe"

export type Lane = "light" | "heavy"
export const LANES: readonly Lane[] = ["light", "heavy"]
export const laneOf = (heavy: boolean): Lane => (heavy ? "heavy" : "light")
export const queueName = (base: string, lane: Lane): string => `${base}-${lane}`

export interface NodeJobData {
  readonly format: 1
  /** Key, key components (kind, code version, input and path digests), code files, forced. */
  readonly spec: ComputeSpec
  /** The node's params as the body sees them (path params as project-relative paths). */
  readonly params: { readonly [k: string]: Json }
  /** host:pid of the process that added the job. */
  readonly submitter: string
  /** Unique per `pipe run`: tells the run that added a job from runs that attached to it. */
  readonly submission: string
}

export interface NodeJobResult {
  /** The key was already stored when the worker got the lock (computed by someone else). */
  readonly cached: boolean
  readonly seconds: number
  readonly worker: string
  readonly backend: string | null
}

/** What a worker sends through BullMQ job progress; the submitter replays it on its reporter. */
export type JobProgress =
  | { readonly t: "start"; readonly worker: string }
  | { readonly t: "progress"; readonly e: ProgressEvent }
  | { readonly t: "log"; readonly m: string }

export const isJobProgress = (v: unknown): v is JobProgress =>
  typeof v === "object" && v !== null && "t" in v && (v.t === "start" || v.t === "progress" || v.t === "log")

/** What `pipe worker` passes to its sandboxed job processes (src/exec/bullmq/processor.ts). */
export interface WorkerConfig {
  readonly name: string
  readonly root: string
  readonly nodes: string
  readonly cache: string
  /** Lock files (and leases) of another host older than this count as stale; the worker heartbeats its own. */
  readonly lockStaleMs: number
  readonly backend: string | undefined
}
export const WORKER_CONFIG_ENV = "PIPE_WORKER_CONFIG"

/** host:pid, the default worker name and the submitter tag. */
export const processTag = (): string => `${hostname()}:${process.pid}`

export interface RetryPolicy {
  /** Attempts per job (transient failures: a lost worker, a full disk, a refusal). */
  readonly attempts: number
  /** First retry delay; doubles per attempt (BullMQ's exponential backoff). */
  readonly backoffMs: number
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, backoffMs: 1000 }

export const jobOptions = (key: string, r: RetryPolicy): JobsOptions => ({
  jobId: key,
  attempts: r.attempts,
  backoff: { type: "exponential", delay: r.backoffMs },
  // Finished jobs are kept a while so late attachers see the outcome; the store stays the truth.
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 24 * 3600, count: 10_000 },
})

const NODE_FAILED = /^node failed after ([0-9.]+) s: ([\s\S]*)$/
const CORRUPT_INPUT = /^corrupt input (\S+) ([0-9a-f]+): ([\s\S]*)$/

/** The node's own (deterministic) failure: not retried. */
export const nodeFailedReason = (seconds: number, message: string): string => `node failed after ${seconds.toFixed(3)} s: ${message}`

/** An input object failed its hash on the worker (and was deleted there): the submitter recomputes it. */
export const corruptInputReason = (port: string, digest: string, reason: string): string => `corrupt input ${port} ${digest}: ${reason}`

/** A failed job's reason as the executor's typed failure. */
export const failureOf = (reason: string): Error => {
  const failed = NODE_FAILED.exec(reason)
  if (failed !== null) return new NodeBodyFailed(failed[2] as string, Number(failed[1]))
  const corrupt = CORRUPT_INPUT.exec(reason)
  if (corrupt !== null) return new CorruptInput(corrupt[1] as string, corrupt[2] as string, corrupt[3] as string)
  return new Error(reason)
}

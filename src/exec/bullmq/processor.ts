// The job body of `pipe worker`, run by BullMQ in a sandboxed child process (entered through
// processor-entry.mjs) so that a node whose JavaScript never yields cannot starve the worker's lock renewals:
// the parent keeps the job alive, this process computes. It runs exactly the local executor's
// per-node step (src/exec/compute.ts: lock, compute, store) after checking that this checkout has
// the code and the path contents the job was keyed with; otherwise it refuses rather than store a
// wrong artifact under the job's key. While it runs, its run lease protects the job's key and input
// objects from a `pipe gc` anywhere on the shared store.
// Failures: the node's own error and a corrupt input are final (UnrecoverableError: retrying cannot
// help); anything else (a refusal, a full disk, a stopping worker) is retried by BullMQ with backoff.
import { realpathSync } from "node:fs"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Cause from "effect/Cause"
import type { SandboxedJob } from "bullmq"
import { CorruptObject } from "../../errors.ts"
import { makePathDigester, type PathDigester } from "../../key/path-digest.ts"
import type { NodeContext, ProgressEvent } from "../../node.ts"
import { checkPath } from "../../pipeline/path-param.ts"
import { loadRegistry, type Registry } from "../../registry/registry.ts"
import { makeLocker } from "../../store/lock.ts"
import { openStore, type Store } from "../../store/store.ts"
import { computeLocked, CorruptInput, NodeBodyFailed } from "../compute.ts"
import type { RuntimeInfo } from "../executor.ts"
import { loadRuntime } from "../runtime.ts"
import { corruptInputReason, type JobProgress, type NodeJobData, type NodeJobResult, nodeFailedReason, WORKER_CONFIG_ENV, type WorkerConfig } from "./job.ts"

// This child's configuration layer: the parent passes its resolved config through one variable.
const config = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? "null") as WorkerConfig

interface Local {
  readonly registry: Registry
  readonly store: Store
  readonly paths: PathDigester
}
const state = { local: null as Promise<Local> | null, runtime: null as Promise<RuntimeInfo | null> | null, stopping: false }

const local = (): Promise<Local> =>
  (state.local ??= (async () => ({
    registry: await loadRegistry({ root: config.root, nodesDir: config.nodes, cacheDir: config.cache }),
    // Lock files of other hosts (other workers) are judged by age: the worker heartbeats its own.
    store: openStore(config.cache, { locker: makeLocker({ staleMs: config.lockStaleMs }) }),
    paths: makePathDigester(config.cache, { root: config.root }),
  }))())

// SIGTERM or SIGINT (sent to this process itself): a running node stops at its next interrupt
// check, and the job is retried elsewhere rather than failed.
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => void (state.stopping = true))

/**
 * The body's params (path params as the real absolute paths in this checkout, as the local executor
 * passes them), or why this checkout cannot compute the job.
 */
const paramsHere = (l: Local, data: NodeJobData): { readonly params: Record<string, unknown> } | { readonly refused: string } => {
  const { components, code } = data.spec
  const entry = l.registry.entries.get(components.kind)
  const who = `worker ${config.name} refused ${components.kind} (key ${data.spec.key.slice(0, 12)})`
  if (entry === undefined) return { refused: `${who}: no node kind "${components.kind}" in ${config.nodes}; is it the same project checkout?` }
  if (entry.code.digest !== components.codeVersion) {
    const files = [...new Set([...Object.keys(entry.code.files), ...Object.keys(code.files)])].filter((f) => entry.code.files[f] !== code.files[f])
    const pkgs = [...new Set([...Object.keys(entry.code.packages), ...Object.keys(code.packages)])]
      .filter((p) => entry.code.packages[p] !== code.packages[p])
      .map((p) => `${p} ${code.packages[p] ?? "-"} here ${entry.code.packages[p] ?? "-"}`)
    return { refused: `${who}: its code version differs from the submitter's (${[...files, ...pkgs].join(", ") || "code digest"}); update this worker's checkout (and npm ci), then restart it` }
  }
  // Jobs carry path params as written (project-relative): each resolves against this checkout, with
  // the loader's checks (inside the project, also through symlinks).
  const params: Record<string, unknown> = { ...data.params }
  const realRoot = realpathSync(config.root)
  for (const [name, digest] of Object.entries(components.paths)) {
    const rel = data.params[name]
    const real = typeof rel === "string" ? checkPath(config.root, realRoot, rel) : { problem: " is not a path" }
    if (typeof real !== "string") return { refused: `${who}: path param ${name}${real.problem}` }
    if (l.paths.digest(real) !== digest) return { refused: `${who}: path param ${name} = ${String(rel)} has different content in ${config.root}` }
    params[name] = real
  }
  return { params }
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** BullMQ's UnrecoverableError, which it recognises by name: importing bullmq here costs ~0.3 s per job process. */
const unrecoverable = (message: string): Error => Object.assign(new Error(message), { name: "UnrecoverableError" })

const computeJob = async (job: SandboxedJob<NodeJobData, NodeJobResult>, l: Local): Promise<NodeJobResult> => {
  const data = job.data
  l.store.protect("k", data.spec.key)
  for (const digest of Object.values(data.spec.components.inputs)) l.store.protect("o", digest)
  const here = paramsHere(l, data)
  if ("refused" in here) throw new Error(here.refused)
  const send = (p: JobProgress): void => void job.updateProgress(p).catch(() => undefined)
  let lastSent = 0
  let lastPhase = ""
  // Progress goes through Redis: at most 4 updates a second per job, plus every phase change and end.
  const progress = (e: ProgressEvent): void => {
    const now = performance.now()
    if (now - lastSent < 250 && e.phase === lastPhase && e.step !== e.total) return
    lastSent = now
    lastPhase = e.phase
    send({ t: "progress", e })
  }
  const rt = { info: null as RuntimeInfo | null }
  // The native addon counts SIGINT in C (a loop that never yields still sees it).
  const stopping = (): boolean => state.stopping || (rt.info?.interruptRequested?.() ?? false)
  try {
    const r = await computeLocked(data.spec, {
      store: l.store,
      what: `pipe worker ${config.name}`,
      onWait: (m) => send({ t: "log", m }),
      stopping: () => (state.stopping ? `worker ${config.name} is stopping` : null),
      load: () => l.registry.load(data.spec.components.kind),
      readInput: async (port, digest) => {
        try {
          return l.store.readObject(digest)
        } catch (e) {
          throw e instanceof CorruptObject ? new CorruptInput(port, digest, e.reason) : e
        }
      },
      run: async (def, inputs) => {
        rt.info = await (state.runtime ??= loadRuntime(config.nodes, config.backend))
        const ctx: NodeContext = {
          nodeId: data.spec.computedBy.node,
          progress,
          log: (m) => send({ t: "log", m }),
          interrupted: stopping,
        }
        send({ t: "start", worker: config.name })
        const t0 = performance.now()
        const exit = await Effect.runPromiseExit(Effect.suspend(() => def.run(inputs as never, here.params as never, ctx)))
        const seconds = (performance.now() - t0) / 1000
        if (Exit.isSuccess(exit)) return { values: exit.value as Record<string, unknown>, seconds }
        const e = Cause.squash(exit.cause)
        if (stopping()) throw new Error(`worker ${config.name} is stopping (${messageOf(e)})`)
        throw new NodeBodyFailed(messageOf(e), seconds)
      },
      backend: () => rt.info?.backend ?? null,
    })
    return { cached: r.cached, seconds: r.seconds, worker: config.name, backend: rt.info?.backend ?? null }
  } catch (e) {
    if (e instanceof NodeBodyFailed) throw unrecoverable(nodeFailedReason(e.seconds, e.message || "failed without a message"))
    if (e instanceof CorruptInput) throw unrecoverable(corruptInputReason(e.port, e.digest, e.message))
    throw e
  }
}

export default async (job: SandboxedJob<NodeJobData, NodeJobResult>): Promise<NodeJobResult> => {
  const data = job.data
  const l = await local()
  // One job at a time per job process: the lease is this job's. The key and the input objects are
  // recorded before anything reads them, so a concurrent gc keeps them (or we wait for it to finish).
  l.store.startLease(`pipe worker ${config.name}: ${data.spec.computedBy.pipeline}#${data.spec.computedBy.node}`)
  try {
    return await computeJob(job, l)
  } finally {
    l.store.release()
    l.paths.flush()
  }
}

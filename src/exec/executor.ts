// The executor: runs a validated pipeline on Effect. Every node gets a fiber that waits for its
// upstream digests, computes its key, and either takes the result from the cache or computes it
// under a per-key lock (so concurrent `pipe run` processes compute each key once). Actual work is
// bounded by permits: `jobs` nodes at a time and at most one `heavy` node (the tensor backend) at a
// time. A node takes its permits first and the key lock only then, so the lock is held only while
// computing: a node queued for a permit locks nothing, and another process with a free slot that
// needs the same key computes it meanwhile (this one then finds it cached). While another process
// holds the lock, the node gives its permits back and waits without them.
// Ctrl-C sets ctx.interrupted() and stops scheduling; a failure stops scheduling too; running nodes
// finish or stop cooperatively, so the store only ever sees complete, atomically written entries.
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Semaphore from "effect/Semaphore"
import type { AnyNode, NodeContext } from "../node.ts"
import { CorruptObject, formatPos } from "../errors.ts"
import { cacheKey, type KeyComponents } from "../key/key.ts"
import type { PathDigester } from "../key/path-digest.ts"
import type { Registry } from "../registry/registry.ts"
import type { Manifest, Store } from "../store/store.ts"
import type { InputRef, Pipeline, PipelineNode } from "../pipeline/load.ts"
import { type ComputeResult, type ComputeSpec, computeLocked, CorruptInput, type Digests, digestsOf, NodeBodyFailed, NotStarted } from "./compute.ts"
import { componentsOf, type Selection } from "./plan.ts"
import type { NodeStatus, Reporter } from "./progress.ts"
import type { NodeRecord } from "./record.ts"

export interface RuntimeInfo {
  readonly backend: string
  readonly notes: readonly string[]
  /**
   * A synchronous Ctrl-C check that works while a node's JavaScript never yields (Node runs SIGINT
   * listeners only between calls, so `interrupted` alone would flip after a long training loop).
   */
  readonly interruptRequested?: () => boolean
}

export interface ExecuteOptions {
  readonly pipeline: Pipeline
  readonly registry: Registry
  readonly store: Store
  readonly paths: PathDigester
  readonly selection: Selection
  readonly jobs: number
  readonly reporter: Reporter
  /** Absolute runs/<run-id> directory; file artifacts are copied into <runDir>/<node>/<name>. */
  readonly runDir: string
  readonly interrupted: () => boolean
  /** Called once, before the first node that has to run (never on a fully cached run). */
  readonly prepareRuntime: () => Promise<RuntimeInfo | null>
  /** How long to wait for a key another live process is computing before failing the node (default 6 h). */
  readonly lockTimeoutMs?: number
  /** What this process is, recorded in its locks for whoever waits on them: "pipe run pipelines/a.yaml". */
  readonly what?: string
  /** Where nodes are computed when not here (`pipe run --executor bullmq`); omitted: in this process. */
  readonly remote?: RemoteExecutor
}

/** One node handed to a remote executor; it reports start, progress and logs through `reporter`. */
export interface RemoteRequest {
  readonly node: PipelineNode
  readonly spec: ComputeSpec
  readonly heavy: boolean
  readonly reporter: Reporter
  readonly interrupted: () => boolean
  /** Why the run is stopping (a not yet started job is withdrawn), or null. */
  readonly stopping: () => string | null
}

/**
 * Computes nodes elsewhere and resolves once their outputs are in the shared store. Rejects with
 * NodeBodyFailed (the node's own error), NotStarted (withdrawn while stopping), CorruptInput (an
 * input object failed its hash there) or any Error (e.g. lost connection) with a clear message.
 */
export interface RemoteExecutor {
  readonly compute: (r: RemoteRequest) => Promise<ComputeResult>
}

export interface ExecuteResult {
  readonly nodes: readonly NodeRecord[]
  readonly runtime: RuntimeInfo | null
  readonly status: "ok" | "failed" | "interrupted"
}

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/**
 * An input was found corrupt and its recomputation gave different bytes (a non-deterministic output,
 * like a wall-clock timing): the consumer's key, which names its input digests, is stale. The node is
 * retried under its new key.
 */
class InputsChanged extends Error {}

/** Retries after InputsChanged; each retry follows a recomputation, so more than this means a loop. */
const MAX_INPUT_RETRIES = 3

/** A promise's outcome as a value, so it passes through an Effect that must not fail. */
type Settled<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: unknown }

const settle = <A>(run: () => Promise<A>): Promise<Settled<A>> =>
  Promise.resolve()
    .then(run)
    .then(
      (value): Settled<A> => ({ ok: true, value }),
      (error: unknown): Settled<A> => ({ ok: false, error }),
    )

const causeMessage = (cause: Cause.Cause<unknown>): string => {
  const e = Cause.squash(cause)
  return e instanceof Error ? e.message : String(e)
}

export const execute = (o: ExecuteOptions): Effect.Effect<ExecuteResult> =>
  Effect.gen(function* () {
    const { pipeline: p, store } = o
    const jobs = Semaphore.makeUnsafe(Math.max(1, o.jobs))
    const heavy = Semaphore.makeUnsafe(1)
    const selected = new Set(o.selection.selected)
    const done = new Map<string, Deferred.Deferred<Digests | null>>(p.order.map((id) => [id, Deferred.makeUnsafe<Digests | null>()]))
    const current = new Map<string, Digests>() // latest digests per node (recovery may replace them)
    const records = new Map<string, NodeRecord>()
    const recoveries = new Map<string, Promise<Digests>>()
    const state = { failed: false, runtime: null as RuntimeInfo | null, runtimePromise: null as Promise<RuntimeInfo | null> | null }
    const interrupted = (): boolean => o.interrupted() || (state.runtime?.interruptRequested?.() ?? false)
    const stopping = (): boolean => state.failed || interrupted()

    const prepare = (): Promise<RuntimeInfo | null> => {
      state.runtimePromise ??= o.prepareRuntime().then((r) => {
        state.runtime = r
        if (r !== null) o.reporter.info(`backend: ${r.backend}${r.notes.length > 0 ? ` (${r.notes.join("; ")})` : ""}`)
        return r
      })
      return state.runtimePromise
    }

    const fail = (node: PipelineNode, message: string): string => `${node.id} (${node.kind}) at ${formatPos(node.pos)}: ${message}`
    /** Why a node is not run when the run is stopping. */
    const stopReason = (): string => (interrupted() ? "interrupted" : "an earlier node failed")
    /** Keys being computed by this run, with the node computing each (two nodes may share a key). */
    const inFlight = new Map<string, string>()

    /**
     * Recomputes the producer of a corrupt input object. Different bytes (a non-deterministic node)
     * make the consumer's key stale: InputsChanged, and the consumer is retried under its new key.
     */
    const recoverInput = async (node: PipelineNode, ref: InputRef, digest: string): Promise<void> => {
      const fresh = await recover(ref.node)
      if (fresh[ref.port] !== digest)
        throw new InputsChanged(`${ref.node} was recomputed and produced different bytes (it is not deterministic); ${node.id} runs again with the new input`)
    }

    /**
     * Input bytes. A corrupt or missing object (the store deleted a corrupt one) is CorruptInput: the
     * node gives back its lock and permits, and inputsRecovered recomputes the producer, which may
     * need those very permits (the one heavy slot, --jobs 1).
     */
    const readInput = async (port: string, digest: string): Promise<Uint8Array> => {
      try {
        return store.readObject(digest)
      } catch (e) {
        throw e instanceof CorruptObject ? new CorruptInput(port, digest, e.reason) : e
      }
    }

    /**
     * Runs `compute`; on CorruptInput recomputes that input's producer and runs it again (each corrupt
     * object once: the same one again is an error).
     */
    const inputsRecovered = async (node: PipelineNode, compute: () => Promise<ComputeResult>): Promise<ComputeResult> => {
      const recovered = new Set<string>()
      for (;;) {
        try {
          return await compute()
        } catch (e) {
          if (!(e instanceof CorruptInput) || recovered.has(e.digest)) throw e
          recovered.add(e.digest)
          const ref = node.inputs[e.port] as InputRef
          o.reporter.info(`corrupt cache object for ${ref.node}.${ref.port}: ${e.message}`)
          await recoverInput(node, ref, e.digest)
        }
      }
    }

    /** Recomputes a node whose stored output turned out corrupt (once per run per node). */
    const recover = (id: string): Promise<Digests> => {
      const hit = recoveries.get(id)
      if (hit !== undefined) return hit
      const node = p.nodes.get(id) as PipelineNode
      const promise = (async () => {
        const components = componentsOf(node, (u) => current.get(u), o.paths) as KeyComponents
        const key = cacheKey(components)
        store.protect("k", key)
        store.deleteManifest(key)
        const r = await computeAny(node, key, components, true)
        const prev = records.get(id)
        if (prev !== undefined) records.set(id, { ...prev, status: "ran", seconds: prev.seconds + r.seconds })
        current.set(id, r.digests)
        return r.digests
      })()
      recoveries.set(id, promise)
      return promise
    }

    /**
     * Runs `body` under the run's permits (the one `heavy` permit first for a tensor backend node, then
     * one of `jobs`), which it gives back when `body` settles.
     */
    const slot =
      (node: PipelineNode) =>
      async <A>(body: () => Promise<A>): Promise<A> => {
        // Waiting for a permit can outlast a Ctrl-C or a failure elsewhere: then do not start.
        const turn = Effect.suspend(() => (stopping() ? Effect.succeed(null) : Effect.promise(() => settle(body))))
        const permitted = node.entry.meta.heavy ? heavy.withPermits(1)(jobs.withPermits(1)(turn)) : jobs.withPermits(1)(turn)
        const settled = await Effect.runPromise(permitted)
        if (settled === null) throw new NotStarted(stopReason())
        if (!settled.ok) throw settled.error
        return settled.value
      }

    /** Runs the node body here; the caller holds the node's permits (its slot) and the key lock. */
    const runBody =
      (node: PipelineNode) =>
      async (def: AnyNode, inputs: Record<string, unknown>): Promise<{ values: Record<string, unknown>; seconds: number }> => {
        // Path params reach the node as the real absolute path validation checked (and the key hashed),
        // never relative to whatever directory the CLI was started in.
        const params = { ...node.params, ...node.paths }
        await prepare()
        const ctx: NodeContext = {
          nodeId: node.id,
          progress: (e) => o.reporter.progress(node.id, e),
          log: (m) => o.reporter.log(node.id, m),
          interrupted,
        }
        const t0 = performance.now()
        o.reporter.start(node.id, node.kind)
        const exit = await Effect.runPromiseExit(Effect.suspend(() => def.run(inputs as never, params as never, ctx)))
        const seconds = (performance.now() - t0) / 1000
        if (Exit.isFailure(exit)) throw new NodeBodyFailed(causeMessage(exit.cause), seconds)
        return { values: exit.value as Record<string, unknown>, seconds }
      }

    const specOf = (node: PipelineNode, key: string, components: KeyComponents, forced: boolean): ComputeSpec => ({
      key,
      components,
      code: { files: node.entry.code.files, packages: node.entry.code.packages },
      computedBy: { pipeline: p.display, node: node.id },
      forced,
    })

    /**
     * Computes here, in the node's slot and under the key lock, unless cached by then. While another
     * process holds the lock it waits without permits (naming the holder; the wait ends on Ctrl-C and
     * after lockTimeoutMs).
     */
    const computeHere = (node: PipelineNode, key: string, components: KeyComponents, forced: boolean): Promise<ComputeResult> =>
      computeLocked(specOf(node, key, components, forced), {
        store,
        what: o.what ?? "pipe run",
        ...(o.lockTimeoutMs !== undefined ? { lockTimeoutMs: o.lockTimeoutMs } : {}),
        load: () => o.registry.load(node.kind),
        readInput,
        run: runBody(node),
        slot: slot(node),
        backend: () => state.runtime?.backend ?? null,
        onWait: (message) => o.reporter.info(message),
        sibling: () => inFlight.get(key),
        stopping: () => (stopping() ? stopReason() : null),
        computing: (on) => (on ? inFlight.set(key, node.id) : inFlight.delete(key)),
      })

    /** Computes on a remote worker (which reports a corrupt input as CorruptInput). */
    const computeRemote = (remote: RemoteExecutor, node: PipelineNode, key: string, components: KeyComponents, forced: boolean): Promise<ComputeResult> =>
      remote.compute({
        node,
        spec: specOf(node, key, components, forced),
        heavy: node.entry.meta.heavy,
        reporter: o.reporter,
        interrupted,
        stopping: () => (stopping() ? stopReason() : null),
      })

    /** Computes here or remotely; a corrupt input is recomputed (the same way) and the node computed again. */
    const computeAny = (node: PipelineNode, key: string, components: KeyComponents, forced: boolean): Promise<ComputeResult> => {
      const remote = o.remote
      return inputsRecovered(node, () => (remote === undefined ? computeHere(node, key, components, forced) : computeRemote(remote, node, key, components, forced)))
    }

    /**
     * Copies a node's file outputs into the run dir from verified bytes. Undefined when a stored file is
     * corrupt or missing: the caller recomputes the node, which rewrites it.
     */
    const copyFiles = (node: PipelineNode, m: Manifest): string[] | undefined => {
      const files: string[] = []
      for (const out of Object.values(m.outputs)) {
        if (out.file === undefined) continue
        let bytes: Uint8Array
        try {
          bytes = store.readBlob(out.file.sha256)
        } catch (e) {
          if (!(e instanceof CorruptObject)) throw e
          o.reporter.info(`corrupt cache file ${out.file.name} of ${node.id}: ${e.reason}`)
          return undefined
        }
        const dir = join(o.runDir, node.id)
        mkdirSync(dir, { recursive: true })
        writeFileSync(join(dir, out.file.name.replace(/[\\/]/g, "_")), bytes)
        files.push(`${node.id}/${out.file.name}`)
      }
      return files
    }

    const record = (node: PipelineNode, key: string | null, status: NodeStatus, seconds: number, digests: Digests, files: string[], error?: string): void => {
      records.set(node.id, { id: node.id, kind: node.kind, key, status, seconds, outputs: digests, files, ...(error !== undefined ? { error } : {}) })
      o.reporter.finish(node.id, status, seconds, error)
    }

    const task = (id: string): Effect.Effect<void> =>
      Effect.gen(function* () {
        const node = p.nodes.get(id) as PipelineNode
        const self = done.get(id) as Deferred.Deferred<Digests | null>
        const ups = [...new Set(Object.values(node.inputs).map((r) => r.node))]
        const upDigests = yield* Effect.forEach(ups, (u) => Deferred.await(done.get(u) as Deferred.Deferred<Digests | null>))
        const finish = (d: Digests | null) => Deferred.succeed(self, d)
        const isSelected = selected.has(id)
        if (upDigests.some((d) => d === null)) {
          if (isSelected) record(node, null, "skipped", 0, {}, [], interrupted() ? "interrupted" : "an input is unavailable")
          return yield* finish(null)
        }
        const keyOf = (): { components: KeyComponents; key: string } => {
          const components = componentsOf(node, (u) => current.get(u), o.paths) as KeyComponents
          const key = cacheKey(components)
          store.protect("k", key) // before it is looked up: a concurrent gc now keeps it
          return { components, key }
        }
        let k: { components: KeyComponents; key: string }
        try {
          k = keyOf()
        } catch (e) {
          // e.g. a path param's directory changed since validation (a symlink out of the project)
          state.failed = true
          record(node, null, "failed", 0, {}, [], fail(node, messageOf(e)))
          return yield* finish(null)
        }
        let forced = o.selection.forced.has(id)
        const cachedManifest = forced ? undefined : store.complete(k.key)
        if (cachedManifest !== undefined) {
          const files = isSelected ? copyFiles(node, cachedManifest) : []
          if (files !== undefined) {
            store.touch(k.key)
            const digests = digestsOf(cachedManifest)
            current.set(id, digests)
            if (isSelected) record(node, k.key, "cached", 0, digests, files)
            return yield* finish(digests)
          }
          forced = true // a stored file is corrupt: recompute, which rewrites it
        }
        if (!isSelected || stopping()) {
          if (isSelected) record(node, k.key, "skipped", 0, {}, [], stopReason())
          return yield* finish(null)
        }
        const attempt = async (): Promise<ComputeResult> => {
          for (let retry = 0; ; retry++) {
            try {
              return await computeAny(node, k.key, k.components, forced)
            } catch (e) {
              if (!(e instanceof InputsChanged) || retry >= MAX_INPUT_RETRIES) throw e
              o.reporter.info(e.message)
              k = keyOf()
            }
          }
        }
        const result = yield* Effect.exit(Effect.tryPromise(attempt))
        if (Exit.isFailure(result)) {
          const err = Cause.squash(result.cause)
          const cause = err instanceof Error && err.cause !== undefined ? err.cause : err
          if (cause instanceof NotStarted) {
            if (isSelected) record(node, k.key, "skipped", 0, {}, [], cause.message)
            return yield* finish(null)
          }
          const seconds = cause instanceof NodeBodyFailed ? cause.seconds : 0
          if (interrupted()) {
            // A node stopped by Ctrl-C is not a failure of the pipeline: nothing of it is cached, rerun resumes.
            const own = messageOf(cause)
            record(node, k.key, "interrupted", seconds, {}, [], own === "" || /^interrupted\b/i.test(own) ? "interrupted" : `interrupted (${own})`)
            return yield* finish(null)
          }
          state.failed = true
          record(node, k.key, "failed", seconds, {}, [], fail(node, messageOf(cause) || "failed without a message"))
          return yield* finish(null)
        }
        const r = result.value
        current.set(id, r.digests)
        const m = store.readManifest(k.key)
        record(node, k.key, r.cached ? "cached" : "ran", r.seconds, r.digests, (m === undefined ? undefined : copyFiles(node, m)) ?? [])
        return yield* finish(r.digests)
      })

    yield* Effect.forEach(p.order, task, { concurrency: p.order.length || 1, discard: true })
    const nodes = o.selection.selected.map((id) => records.get(id)).filter((r): r is NodeRecord => r !== undefined)
    const status = nodes.some((n) => n.status === "failed") ? "failed" : interrupted() ? "interrupted" : "ok"
    return { nodes, runtime: state.runtime, status }
  })


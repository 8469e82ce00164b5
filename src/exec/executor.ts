// The executor: runs a validated pipeline on Effect. Every node gets a fiber that waits for its
// upstream digests, computes its key, and either takes the result from the cache or computes it
// under a per-key lock (so concurrent `pipe run` processes compute each key once). Actual work is
// bounded: `jobs` nodes at a time and at most one `heavy` node (the tensor backend) at a time.
// Ctrl-C sets ctx.interrupted() and stops scheduling; a failure stops scheduling too; running nodes
// finish or stop cooperatively, so the store only ever sees complete, atomically written entries.
import { copyFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Semaphore from "effect/Semaphore"
import type { Table } from "apache-arrow"
import type { ArtifactType } from "../artifact.ts"
import type { FileArtifact } from "../artifacts/types.ts"
import { type AnyNode, type NodeContext, portOf } from "../node.ts"
import { CorruptObject, formatPos } from "../errors.ts"
import { cacheKey, type KeyComponents } from "../key/key.ts"
import type { PathDigester } from "../key/path-digest.ts"
import type { Registry } from "../registry/registry.ts"
import type { Manifest, OutputRecord, Store } from "../store/store.ts"
import { tryLock, unlock } from "../store/lock.ts"
import type { Pipeline, PipelineNode } from "../pipeline/load.ts"
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
  /** Lock staleness for locks we cannot check by pid. */
  readonly lockStaleMs?: number
}

export interface ExecuteResult {
  readonly nodes: readonly NodeRecord[]
  readonly runtime: RuntimeInfo | null
  readonly status: "ok" | "failed" | "interrupted"
}

type Digests = Readonly<Record<string, string>>

const FILE_TYPE = "file"

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** The node body failed (after `seconds` of running); `message` is the node's own reason. */
class NodeBodyFailed extends Error {
  constructor(message: string, readonly seconds: number) {
    super(message)
  }
}

/** The node never started: the run was stopping (Ctrl-C or a failure) when its turn came. */
class NotStarted extends Error {}

const causeMessage = (cause: Cause.Cause<unknown>): string => {
  const e = Cause.squash(cause)
  return e instanceof Error ? e.message : String(e)
}

const digestsOf = (m: Manifest): Digests => Object.fromEntries(Object.entries(m.outputs).map(([k, o]) => [k, o.digest]))

const isFileArtifact = (v: unknown): v is FileArtifact =>
  typeof v === "object" && v !== null && "bytes" in v && "name" in v && (v as FileArtifact).bytes instanceof Uint8Array

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
    // apache-arrow is only needed to decode inputs and encode outputs: a fully cached run skips it.
    const arrowModule = (): Promise<typeof import("apache-arrow")> => import("apache-arrow")

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

    /** Decoded input values, recovering corrupt or missing upstream objects by recomputing them. */
    const loadInputs = async (node: PipelineNode, def: AnyNode): Promise<Record<string, unknown>> => {
      const arrow = await arrowModule()
      const values: Record<string, unknown> = {}
      for (const [port, ref] of Object.entries(node.inputs)) {
        const spec = def.inputs[port]
        if (spec === undefined) continue
        const type = portOf(spec).type
        let digest = (current.get(ref.node) ?? {})[ref.port] as string
        let bytes: Uint8Array
        try {
          bytes = store.readObject(digest)
        } catch (e) {
          if (!(e instanceof CorruptObject)) throw e
          o.reporter.info(`corrupt cache object for ${ref.node}.${ref.port}: ${e.reason}`)
          const fresh = await recover(ref.node)
          if (fresh[ref.port] !== digest)
            throw new Error(`${ref.node} was recomputed after corruption but produced different bytes (is it deterministic?); run again`)
          bytes = store.readObject(digest)
        }
        values[port] = type.decode(arrow.tableFromIPC(bytes) as Table)
      }
      return values
    }

    /** Recomputes a node whose stored output turned out corrupt (once per run per node). */
    const recover = (id: string): Promise<Digests> => {
      const hit = recoveries.get(id)
      if (hit !== undefined) return hit
      const node = p.nodes.get(id) as PipelineNode
      const promise = (async () => {
        const components = componentsOf(node, (u) => current.get(u), o.paths) as KeyComponents
        const key = cacheKey(components)
        store.deleteManifest(key)
        const r = await computeLocked(node, key, components, true)
        const prev = records.get(id)
        if (prev !== undefined) records.set(id, { ...prev, status: "ran", seconds: prev.seconds + r.seconds })
        current.set(id, r.digests)
        return r.digests
      })()
      recoveries.set(id, promise)
      return promise
    }

    /** Runs the node body and stores its outputs; caller holds the key lock. */
    const compute = async (node: PipelineNode, key: string, components: KeyComponents): Promise<{ digests: Digests; seconds: number }> => {
      const def = await o.registry.load(node.kind)
      const inputs = await loadInputs(node, def)
      const body = Effect.gen(function* () {
        // Waiting for a permit can outlast a Ctrl-C or a failure elsewhere: then do not start.
        if (stopping()) return { started: false as const }
        yield* Effect.promise(prepare)
        const ctx: NodeContext = {
          nodeId: node.id,
          progress: (e) => o.reporter.progress(node.id, e),
          log: (m) => o.reporter.log(node.id, m),
          interrupted,
        }
        const t0 = performance.now()
        o.reporter.start(node.id, node.kind)
        const exit = yield* Effect.exit(Effect.suspend(() => def.run(inputs as never, node.params as never, ctx)))
        return { started: true as const, exit, seconds: (performance.now() - t0) / 1000 }
      })
      const guarded = def.heavy ? heavy.withPermits(1)(jobs.withPermits(1)(body)) : jobs.withPermits(1)(body)
      const ran = await Effect.runPromise(guarded)
      if (!ran.started) throw new NotStarted(stopReason())
      const { exit, seconds } = ran
      if (Exit.isFailure(exit)) throw new NodeBodyFailed(causeMessage(exit.cause), seconds)
      const values = exit.value as Record<string, unknown>
      const arrow = await arrowModule()
      const outputs: Record<string, OutputRecord> = {}
      for (const [port, type] of Object.entries(def.outputs) as [string, ArtifactType<unknown>][]) {
        const value = values[port]
        if (value === undefined) throw new Error(`did not produce output "${port}"`)
        const bytes = arrow.tableToIPC(type.encode(value), "file")
        const digest = store.writeObject(bytes)
        const file =
          type.name === FILE_TYPE && isFileArtifact(value)
            ? { name: value.name, mediaType: value.mediaType, sha256: store.writeBlob(value.bytes), bytes: value.bytes.byteLength }
            : undefined
        outputs[port] = { digest, type: type.name, bytes: bytes.byteLength, ...(file ? { file } : {}) }
      }
      store.writeManifest({
        format: 1,
        key,
        kind: node.kind,
        components,
        code: { files: node.entry.code.files, packages: node.entry.code.packages },
        outputs,
        seconds,
        backend: state.runtime?.backend ?? null,
        created: new Date().toISOString(),
        computedBy: { pipeline: p.display, node: node.id },
      })
      return { digests: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.digest])), seconds }
    }

    /** Takes the key lock (waiting for another process if needed), then computes unless cached by then. */
    const computeLocked = async (
      node: PipelineNode,
      key: string,
      components: KeyComponents,
      forced: boolean,
    ): Promise<{ digests: Digests; seconds: number; cached: boolean }> => {
      const lock = store.lockPath(key)
      let announced = false
      while (!tryLock(lock, o.lockStaleMs ?? 6 * 3600_000, Date.now())) {
        const sibling = inFlight.get(key)
        if (!announced)
          o.reporter.info(
            sibling === undefined
              ? `${node.id}: another process is computing ${key.slice(0, 12)}; waiting`
              : `${node.id}: same key as ${sibling} (identical kind, params and inputs); waiting for its result`,
          )
        announced = true
        await new Promise((r) => setTimeout(r, 100))
        const m = forced ? undefined : store.complete(key)
        if (m !== undefined) return { digests: digestsOf(m), seconds: 0, cached: true }
      }
      try {
        const m = forced && !announced ? undefined : store.complete(key)
        if (m !== undefined) return { digests: digestsOf(m), seconds: 0, cached: true }
        inFlight.set(key, node.id)
        return { ...(await compute(node, key, components)), cached: false }
      } finally {
        inFlight.delete(key)
        unlock(lock)
      }
    }

    const copyFiles = (node: PipelineNode, m: Manifest): string[] => {
      const files: string[] = []
      for (const out of Object.values(m.outputs)) {
        if (out.file === undefined) continue
        const dir = join(o.runDir, node.id)
        mkdirSync(dir, { recursive: true })
        const target = join(dir, out.file.name.replace(/[\\/]/g, "_"))
        const src = store.blobPath(out.file.sha256)
        try {
          store.readBlob(out.file.sha256) // verify before handing it to a user
          copyFileSync(src, target)
          files.push(`${node.id}/${out.file.name}`)
        } catch (e) {
          o.reporter.log(node.id, `could not copy ${out.file.name}: ${messageOf(e)}`)
        }
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
        const components = componentsOf(node, (u) => current.get(u), o.paths) as KeyComponents
        const key = cacheKey(components)
        const forced = o.selection.forced.has(id)
        const cachedManifest = forced ? undefined : store.complete(key)
        if (cachedManifest !== undefined) {
          store.touch(key)
          const digests = digestsOf(cachedManifest)
          current.set(id, digests)
          if (isSelected) record(node, key, "cached", 0, digests, copyFiles(node, cachedManifest))
          return yield* finish(digests)
        }
        if (!isSelected || stopping()) {
          if (isSelected) record(node, key, "skipped", 0, {}, [], stopReason())
          return yield* finish(null)
        }
        const result = yield* Effect.exit(Effect.tryPromise(() => computeLocked(node, key, components, forced)))
        if (Exit.isFailure(result)) {
          const err = Cause.squash(result.cause)
          const cause = err instanceof Error && err.cause !== undefined ? err.cause : err
          if (cause instanceof NotStarted) {
            if (isSelected) record(node, key, "skipped", 0, {}, [], cause.message)
            return yield* finish(null)
          }
          const seconds = cause instanceof NodeBodyFailed ? cause.seconds : 0
          if (interrupted()) {
            // A node stopped by Ctrl-C is not a failure of the pipeline: nothing of it is cached, rerun resumes.
            const own = messageOf(cause)
            record(node, key, "interrupted", seconds, {}, [], own === "" || /^interrupted\b/i.test(own) ? "interrupted" : `interrupted (${own})`)
            return yield* finish(null)
          }
          state.failed = true
          record(node, key, "failed", seconds, {}, [], fail(node, messageOf(cause) || "failed without a message"))
          return yield* finish(null)
        }
        const r = result.value
        current.set(id, r.digests)
        const m = store.readManifest(key)
        record(node, key, r.cached ? "cached" : "ran", r.seconds, r.digests, m === undefined ? [] : copyFiles(node, m))
        return yield* finish(r.digests)
      })

    yield* Effect.forEach(p.order, task, { concurrency: p.order.length || 1, discard: true })
    const nodes = o.selection.selected.map((id) => records.get(id)).filter((r): r is NodeRecord => r !== undefined)
    const status = nodes.some((n) => n.status === "failed") ? "failed" : interrupted() ? "interrupted" : "ok"
    return { nodes, runtime: state.runtime, status }
  })


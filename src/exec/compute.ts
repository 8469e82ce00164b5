// One node's "compute under lock and store" step, shared by the local executor and BullMQ workers
// (src/exec/bullmq/): once the caller may compute (its permits, `ComputeHooks.slot`), take the key's
// lock file, stop if another process stored the key meanwhile, decode the inputs, run the body, encode
// and write the outputs, then the manifest. The lock is held only while computing: a node merely
// queued for a permit holds none, so another process with a free slot computes the key meanwhile.
// Objects are written before the manifest, each atomically, so a process killed at any point leaves no
// visible partial entry. Scheduling (permits, Ctrl-C), the node context and the tensor runtime belong
// to the caller and come in through `ComputeHooks.slot` and `ComputeHooks.run`.
import type { Table } from "apache-arrow"
import type { ArtifactType } from "../artifact.ts"
import type { FileArtifact } from "../artifacts/types.ts"
import type { KeyComponents } from "../key/key.ts"
import { type AnyNode, portOf } from "../node.ts"
import { describeHolder } from "../store/identity.ts"
import { type LockInfo, readLock } from "../store/lock.ts"
import type { Manifest, OutputRecord, Store } from "../store/store.ts"

export type Digests = Readonly<Record<string, string>>

/** The node body failed (after `seconds` of running); `message` is the node's own reason. */
export class NodeBodyFailed extends Error {
  constructor(
    message: string,
    readonly seconds: number,
  ) {
    super(message)
  }
}

/** The node never started: the run was stopping (Ctrl-C or a failure) when its turn came. */
export class NotStarted extends Error {}

/** A worker found an input object corrupt (it deleted it); the submitter recomputes its producer. */
export class CorruptInput extends Error {
  constructor(
    readonly port: string,
    readonly digest: string,
    reason: string,
  ) {
    super(reason)
  }
}

/** Everything that identifies one computation; a worker receives exactly this in its job. */
export interface ComputeSpec {
  readonly key: string
  /** Kind, code version, params, input digests (by port) and path digests: the key's preimage. */
  readonly components: KeyComponents
  readonly code: Manifest["code"]
  readonly computedBy: Manifest["computedBy"]
  /** Recompute even when the key is already stored (--force, --from, corruption recovery). */
  readonly forced: boolean
}

export interface ComputeHooks {
  /** Its locker judges lock files (a holder on another host counts as gone after the locker's staleMs). */
  readonly store: Store
  /** What this process is, recorded in its locks for whoever waits on them: "pipe run pipelines/a.yaml". */
  readonly what: string
  /** How long to wait for a key another live process is computing before failing (default 6 h). */
  readonly lockTimeoutMs?: number
  readonly load: () => Promise<AnyNode>
  /** Bytes of the object feeding input `port` (the local executor recovers a corrupt one here). */
  readonly readInput: (port: string, digest: string) => Promise<Uint8Array>
  /** Runs the body on decoded inputs; rejects with NodeBodyFailed (its own failure) or NotStarted. */
  readonly run: (def: AnyNode, inputs: Record<string, unknown>) => Promise<{ readonly values: Record<string, unknown>; readonly seconds: number }>
  /** Tensor backend recorded in the manifest (never part of the key). */
  readonly backend: () => string | null
  /** Says who is computing the key we wait for: at once, then every minute. */
  readonly onWait?: (message: string) => void
  /** The node of this same process computing the key (two nodes may share a key): waited for without a timeout. */
  readonly sibling?: () => string | undefined
  /** Why the caller is stopping (Ctrl-C, a failure elsewhere), or null: a waiting node then never starts. */
  readonly stopping?: () => string | null
  /** Called with true once the lock is held and the body is about to run, false when done. */
  readonly computing?: (on: boolean) => void
  /**
   * Runs `body` once this process may compute the node (the local executor: a `jobs` permit and, for a
   * heavy node, the `heavy` one), releasing that right when `body` settles; rejects with NotStarted when
   * the caller stopped meanwhile. The key lock is taken inside, so it is never held while queued.
   * Default: `body` at once (a BullMQ worker's lanes already bound what it runs).
   */
  readonly slot?: <A>(body: () => Promise<A>) => Promise<A>
}

export interface ComputeResult {
  readonly digests: Digests
  readonly seconds: number
  /** Another process stored the key while we waited for its lock. */
  readonly cached: boolean
}

const FILE_TYPE = "file"

export const digestsOf = (m: Manifest): Digests => Object.fromEntries(Object.entries(m.outputs).map(([k, o]) => [k, o.digest]))

const isFileArtifact = (v: unknown): v is FileArtifact =>
  typeof v === "object" && v !== null && "bytes" in v && "name" in v && (v as FileArtifact).bytes instanceof Uint8Array

// apache-arrow is only needed to decode inputs and encode outputs: a fully cached run never loads it.
const arrowModule = (): Promise<typeof import("apache-arrow")> => import("apache-arrow")

/** Decoded input values by port, from the digests in the key components. */
export const decodeInputs = async (def: AnyNode, inputs: Digests, read: ComputeHooks["readInput"]): Promise<Record<string, unknown>> => {
  const arrow = await arrowModule()
  const values: Record<string, unknown> = {}
  for (const [port, digest] of Object.entries(inputs)) {
    const spec = def.inputs[port]
    if (spec === undefined) continue
    values[port] = portOf(spec).type.decode(arrow.tableFromIPC(await read(port, digest)) as Table)
  }
  return values
}

/** Encodes and writes every output (objects, then file blobs), then the manifest that names them. */
const storeOutputs = async (spec: ComputeSpec, def: AnyNode, values: Record<string, unknown>, seconds: number, hooks: ComputeHooks): Promise<Digests> => {
  const { store } = hooks
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
    key: spec.key,
    kind: spec.components.kind,
    components: spec.components,
    code: spec.code,
    outputs,
    seconds,
    backend: hooks.backend(),
    created: new Date().toISOString(),
    computedBy: spec.computedBy,
  })
  return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.digest]))
}

const fmtWait = (ms: number): string => (ms >= 3600_000 ? `${+(ms / 3600_000).toFixed(1)} h` : ms >= 60_000 ? `${+(ms / 60_000).toFixed(1)} min` : `${+(ms / 1000).toFixed(1)} s`)

const cachedResult = (m: Manifest): ComputeResult => ({ digests: digestsOf(m), seconds: 0, cached: true })

/** What one turn in the slot gave: the result, or the holder of the lock another process has. */
type Turn = { readonly result: ComputeResult } | { readonly busy: LockInfo | undefined }

/**
 * Inside the slot: takes the key lock and computes and stores unless cached by then, or says who
 * holds the lock. `waited`: we waited for another holder before, whose result even a forced
 * recompute takes.
 */
const computeIfFree = async (spec: ComputeSpec, hooks: ComputeHooks, waited: boolean): Promise<Turn> => {
  const { store } = hooks
  const lock = store.lockPath(spec.key)
  const r = store.locks.tryLock(lock, `${hooks.what}: node ${spec.computedBy.node}`)
  if (!r.ok) return { busy: r.holder }
  try {
    // A forced recompute still takes a result another process produced while we waited.
    const m = spec.forced && !waited ? undefined : store.complete(spec.key)
    if (m !== undefined) return { result: cachedResult(m) }
    hooks.computing?.(true)
    const def = await hooks.load()
    const inputs = await decodeInputs(def, spec.components.inputs, hooks.readInput)
    const { values, seconds } = await hooks.run(def, inputs)
    return { result: { digests: await storeOutputs(spec, def, values, seconds, hooks), seconds, cached: false } }
  } finally {
    hooks.computing?.(false)
    store.locks.unlock(lock)
  }
}

/** The live holder of a lock, or "free" when nobody holds it or its holder is gone (tryLock breaks it). */
const liveHolder = (store: Store, lock: string): { readonly holder: LockInfo | undefined } | "free" => {
  const r = readLock(lock)
  if (r.kind === "missing" || store.locks.staleReason(lock) !== undefined) return "free"
  return { holder: r.kind === "held" ? r.info : undefined }
}

interface LockWaiter {
  /** Whether the lock was ever found busy: a forced recompute then takes the holder's result. */
  readonly waited: () => boolean
  /** Waits for the holder: the key's result, or undefined once the lock is free. */
  readonly wait: (holder: LockInfo | undefined) => Promise<ComputeResult | undefined>
}

/**
 * Waiting for another holder of a key's lock, outside the slot: its state (start, last message) lasts
 * across the turns of one computeLocked, so the timeout and the once-a-minute messages count from the
 * first time the lock was found busy.
 */
const lockWaiter = (spec: ComputeSpec, hooks: ComputeHooks): LockWaiter => {
  const { store } = hooks
  const { key } = spec
  const node = spec.computedBy.node
  const lock = store.lockPath(key)
  const timeout = hooks.lockTimeoutMs ?? 6 * 3600_000
  let t0 = 0
  let noted = -Infinity
  let told = false
  let waited = false

  /** Says who computes the key (at once, then every minute); throws on timeout or when stopping. */
  const check = (holder: LockInfo | undefined): void => {
    const sibling = hooks.sibling?.()
    const elapsed = performance.now() - t0
    const who = holder === undefined ? "another process" : describeHolder(holder)
    if (elapsed - noted >= 60_000) {
      noted = elapsed
      hooks.onWait?.(
        sibling !== undefined
          ? `${node}: same key as ${sibling} (identical kind, params and inputs); waiting for its result`
          : `${node}: ${key.slice(0, 12)} is being computed by ${who}; ${told ? `still waiting (${fmtWait(elapsed)})` : `waiting (at most ${fmtWait(timeout)})`}`,
      )
      told = true
    }
    if (sibling === undefined && elapsed >= timeout)
      throw new Error(`timed out after ${fmtWait(timeout)} waiting for ${key.slice(0, 12)}, locked by ${who}; if that process is stuck, stop it (pipe gc lists locks)`)
    const stop = hooks.stopping?.() ?? null
    if (stop !== null) throw new NotStarted(stop)
  }

  return {
    waited: () => waited,
    // Polls every 100 ms, holding no permit, until the key is stored (not for a forced recompute,
    // which decides once it holds the lock) or the lock is free (then the caller takes a turn).
    wait: async (first) => {
      if (!waited) t0 = performance.now()
      waited = true
      let holder = first
      for (;;) {
        check(holder)
        await new Promise((res) => setTimeout(res, 100))
        const m = spec.forced ? undefined : store.complete(key)
        if (m !== undefined) return cachedResult(m)
        const live = liveHolder(store, lock)
        if (live === "free") return undefined
        holder = live.holder
      }
    },
  }
}

/**
 * Computes and stores unless cached by then, holding the key lock only while computing: each turn
 * first gets the slot, then tries the lock. While another process holds it, the slot is given back
 * and we wait without it (the holder is named; the wait ends when the caller stops and after
 * lockTimeoutMs), then take another turn. A lock whose holder is gone is broken by tryLock.
 */
export const computeLocked = async (spec: ComputeSpec, hooks: ComputeHooks): Promise<ComputeResult> => {
  const slot = hooks.slot ?? (<A>(body: () => Promise<A>): Promise<A> => body())
  const waiter = lockWaiter(spec, hooks)
  for (;;) {
    const turn = await slot(() => computeIfFree(spec, hooks, waiter.waited()))
    if ("result" in turn) return turn.result
    const cached = await waiter.wait(turn.busy)
    if (cached !== undefined) return cached
  }
}

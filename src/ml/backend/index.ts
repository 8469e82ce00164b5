// Backend choice at start-up, best first: tfjs-node-gpu, tfjs-node (optional dependencies, loaded
// by dynamic import so they are never required), pipe-native (our AVX-512 addon on top of tfjs-cpu),
// wasm, cpu. Prints nothing: returns the chosen backend and notes saying why better ones were
// unavailable, for the caller to print once and record in run.json.
//
// Known backend caveats (tfjs 4.22), handled here or in src/ml/nn:
// - wasm: ResizeNearestNeighborGrad is wrong for batch > 1, so src/ml/nn upsamples by
//   reshape + broadcast and never calls tf.image.resizeNearestNeighbor.
// - wasm: no Conv2DBackpropFilter kernel; registerWasmConv2DBackpropFilter adds one (im2col + BatchMatMul
//   on wasm's XNNPACK matmul), so wasm can train, slowly.
import * as tf from "@tensorflow/tfjs"
import { NATIVE_BACKEND, registerNativeBackend } from "./native.ts"

export type BackendPreference = "native" | "tfjs-node-gpu" | "tfjs-node" | "wasm" | "cpu"
export const BACKEND_PREFERENCES: readonly BackendPreference[] = ["tfjs-node-gpu", "tfjs-node", "native", "wasm", "cpu"]

export interface BackendChoice {
  /** The tfjs backend name now active (e.g. "tensorflow", "pipe-native", "wasm", "cpu"). */
  readonly backend: string
  readonly notes: string[]
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message.split("\n")[0]! : String(e))

/** Imports a package by name without TypeScript resolving it (it is an optional dependency). */
const importOptional = async (name: string): Promise<unknown> => import(name)

type Attempt = { readonly ok: true; readonly backend: string } | { readonly ok: false; readonly reason: string }

const activate = async (name: string): Promise<Attempt> => {
  try {
    const ok = await tf.setBackend(name)
    await tf.ready()
    return ok ? { ok: true, backend: tf.getBackend() } : { ok: false, reason: `tf.setBackend("${name}") failed` }
  } catch (e) {
    return { ok: false, reason: errorText(e) }
  }
}

const tryTfjsNode = async (pkg: "@tensorflow/tfjs-node-gpu" | "@tensorflow/tfjs-node"): Promise<Attempt> => {
  try {
    await importOptional(pkg) // registers the "tensorflow" backend
  } catch (e) {
    return { ok: false, reason: `${pkg} not installed or failed to load (${errorText(e)})` }
  }
  if (tf.findBackendFactory("tensorflow") === null) return { ok: false, reason: `${pkg} loaded but registered no backend (two copies of tfjs-core?)` }
  if (pkg === "@tensorflow/tfjs-node-gpu") {
    const r = await activate("tensorflow")
    if (!r.ok) return r
    // tfjs-node-gpu silently runs on CPU when CUDA is absent; only claim it with a GPU present.
    const gpu = (tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice
    return gpu === true ? r : { ok: false, reason: `${pkg} found no CUDA GPU` }
  }
  return activate("tensorflow")
}

const tryNative = async (): Promise<Attempt> => {
  const threads = Number.parseInt(process.env.PIPE_NATIVE_THREADS ?? "", 10)
  const r = registerNativeBackend(Number.isFinite(threads) && threads > 0 ? { threads } : {})
  if (!r.ok) return r
  return activate(NATIVE_BACKEND)
}

const tryWasm = async (): Promise<Attempt> => {
  try {
    await importOptional("@tensorflow/tfjs-backend-wasm")
    const r = await activate("wasm")
    if (r.ok) {
      const { registerWasmConv2DBackpropFilter } = await import("./wasm.ts")
      registerWasmConv2DBackpropFilter()
    }
    return r
  } catch (e) {
    return { ok: false, reason: `wasm backend failed (${errorText(e)})` }
  }
}

const attempts: Record<BackendPreference, () => Promise<Attempt>> = {
  "tfjs-node-gpu": () => tryTfjsNode("@tensorflow/tfjs-node-gpu"),
  "tfjs-node": () => tryTfjsNode("@tensorflow/tfjs-node"),
  native: tryNative,
  wasm: tryWasm,
  cpu: () => activate("cpu"),
}

/**
 * Activates the best available backend (or exactly `preference` when given: an unavailable forced
 * backend is an error, not a silent downgrade).
 */
export const selectBackend = async (preference?: BackendPreference): Promise<BackendChoice> => {
  const notes: string[] = []
  if (preference !== undefined) {
    const r = await attempts[preference]()
    if (!r.ok) throw new Error(`backend "${preference}" is unavailable: ${r.reason}`)
    notes.push(`backend forced: ${preference}`)
    return { backend: r.backend, notes }
  }
  for (const name of BACKEND_PREFERENCES) {
    const r = await attempts[name]()
    if (r.ok) return { backend: r.backend, notes }
    notes.push(`${name}: ${r.reason}`)
  }
  throw new Error(`no tfjs backend could be activated: ${notes.join("; ")}`)
}

export const isBackendPreference = (s: string): s is BackendPreference =>
  (BACKEND_PREFERENCES as readonly string[]).includes(s)

export { NATIVE_BACKEND, nativeInterruptProbe, registerNativeBackend } from "./native.ts"

// Backend choice at start-up, best first: tfjs-node-gpu (only with a CUDA GPU), pipe-native (our
// SIMD addon on top of tfjs-cpu), tfjs-node (CPU), wasm, cpu. pipe-native comes before tfjs-node:
// measured here, tfjs-node's CPU build trained the reference U-Net at 45 img/s where pipe-native
// trains at PyTorch's speed (README, "Fast compute"); `--backend tfjs-node` still forces it. Optional
// dependencies are loaded by dynamic import so they are never required. Prints nothing: returns the
// chosen backend and notes (why better ones were unavailable; which ISA pipe-native runs) for the
// caller to print once and record in run.json.
//
// Known backend caveats (tfjs 4.22), handled here or in src/ml/nn:
// - wasm: ResizeNearestNeighborGrad is wrong for batch > 1, so src/ml/nn upsamples by
//   reshape + broadcast and never calls tf.image.resizeNearestNeighbor.
// - wasm: no Conv2DBackpropFilter kernel; registerWasmConv2DBackpropFilter adds one (im2col + BatchMatMul
//   on wasm's XNNPACK matmul), so wasm can train, slowly.
import * as tf from "@tensorflow/tfjs"
import { NATIVE_BACKEND, registerNativeBackend } from "./native.ts"

export type BackendPreference = "native" | "tfjs-node-gpu" | "tfjs-node" | "wasm" | "cpu"
export const BACKEND_PREFERENCES: readonly BackendPreference[] = ["tfjs-node-gpu", "native", "tfjs-node", "wasm", "cpu"]

export interface BackendChoice {
  /** The tfjs backend name now active (e.g. "tensorflow", "pipe-native", "wasm", "cpu"). */
  readonly backend: string
  readonly notes: string[]
}

const errorText = (e: unknown): string => (e instanceof Error ? e.message.split("\n")[0]! : String(e))

/** Imports a package by name without TypeScript resolving it (it is an optional dependency). */
const importOptional = async (name: string): Promise<unknown> => import(name)

type Attempt = { readonly ok: true; readonly backend: string; readonly note?: string } | { readonly ok: false; readonly reason: string }

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

// PIPE_NATIVE_THREADS (default 2) and PIPE_NATIVE_ISA (avx512 | avx2 | neon | portable; default:
// the widest the CPU runs) are read here and nowhere else.
const tryNative = async (): Promise<Attempt> => {
  const parsed = Number.parseInt(process.env.PIPE_NATIVE_THREADS ?? "", 10)
  const threads = Number.isFinite(parsed) && parsed > 0 ? parsed : 2
  const isa = process.env.PIPE_NATIVE_ISA === undefined || process.env.PIPE_NATIVE_ISA === "" ? undefined : process.env.PIPE_NATIVE_ISA
  const r = registerNativeBackend({ threads, ...(isa === undefined ? {} : { isa }) })
  if (!r.ok) return r
  const a = await activate(NATIVE_BACKEND)
  if (!a.ok) return a
  const { isa: chosen, built, forced } = r.isa
  return { ...a, note: `pipe-native: ${chosen} kernels${forced ? " (PIPE_NATIVE_ISA)" : ""}, ${threads} threads; built for ${built.join(", ")}` }
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
    if (r.note !== undefined) notes.push(r.note)
    return { backend: r.backend, notes }
  }
  for (const name of BACKEND_PREFERENCES) {
    const r = await attempts[name]()
    if (r.ok) return { backend: r.backend, notes: r.note === undefined ? notes : [...notes, r.note] }
    notes.push(`${name}: ${r.reason}`)
  }
  throw new Error(`no tfjs backend could be activated: ${notes.join("; ")}`)
}

export const isBackendPreference = (s: string): s is BackendPreference =>
  (BACKEND_PREFERENCES as readonly string[]).includes(s)

export { nativeInterruptProbe } from "./interrupts.ts"
export { NATIVE_BACKEND, registerNativeBackend } from "./native.ts"

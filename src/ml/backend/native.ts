// The "pipe-native" tfjs backend: tfjs's CPU backend (MathBackendCPU, Float32Array storage) with
// its hot kernels replaced by the C++ addon in native/ (GEMM convolutions, matmuls, fused dense
// layers, fused GroupNorm+SiLU, SiLU, nearest x2 upsampling, Adam, reductions). Every other kernel
// is the CPU backend's own, copied under the new backend name, so any tfjs program runs unchanged.
// Kernels fall back to the CPU implementation for cases the addon does not cover (dilations,
// activations, odd broadcasts): results never depend on which path ran, only speed does.
//
// The addon holds one copy of its kernels per instruction set (avx512, avx2, neon, portable) and
// runs the widest one the CPU supports; `isa` (PIPE_NATIVE_ISA) forces one. Results agree across
// ISAs within float tolerance but not to the bit (vector widths change summation order), so
// trained weights are reproducible per ISA and thread count.
import { createRequire } from "node:module"
import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import * as tf from "@tensorflow/tfjs"
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu"
import * as K from "./kernel-names.ts"
import * as D from "./dense-kernel-names.ts"

export const NATIVE_BACKEND = "pipe-native"
/** Must equal kAbiVersion in native/kernels.h (and ABI in scripts/build-native.mjs). */
export const NATIVE_ABI = 3
export const NATIVE_ISAS = ["avx512", "avx2", "neon", "portable"] as const
export type NativeIsa = (typeof NATIVE_ISAS)[number]
export const isNativeIsa = (s: string): s is NativeIsa => (NATIVE_ISAS as readonly string[]).includes(s)

/** The addon's exports (native/addon.cc). All arrays are written in place. */
export interface NativeAddon {
  readonly abiVersion: number
  /** ISAs compiled into this build, widest first. */
  readonly isas: readonly string[]
  conv2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, shape: Int32Array, biasMode: number): void
  conv2dBackpropInput(dy: Float32Array, w: Float32Array, dx: Float32Array, shape: Int32Array): void
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, shape: Int32Array): void
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, bias: Float32Array | null, dims: Int32Array): void
  groupNorm(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, b: number, hw: number, c: number, g: number, eps: number, silu: number): void
  groupNormGrad(dy: Float32Array, x: Float32Array, gamma: Float32Array, beta: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, b: number, hw: number, c: number, g: number, eps: number, silu: number): void
  silu(x: Float32Array, y: Float32Array, n: number): void
  siluGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, n: number): void
  upsample2x(x: Float32Array, y: Float32Array, b: number, h: number, w: number, c: number): void
  upsample2xGrad(dy: Float32Array, dx: Float32Array, b: number, h: number, w: number, c: number): void
  adam(p: Float32Array, m: Float32Array, v: Float32Array, g: Float32Array, po: Float32Array, mo: Float32Array, vo: Float32Array, lr: number, b1: number, b2: number, eps: number, c1: number, c2: number): void
  sumMiddle(x: Float32Array, out: Float32Array, outer: number, mid: number, inner: number): void
  binaryBcast(a: Float32Array, b: Float32Array, out: Float32Array, n: number, nb: number, op: number): void
  copyStrided(src: Float32Array, srcOffset: number, srcStride: number, dst: Float32Array, dstOffset: number, dstStride: number, rows: number, cols: number): void
  linear(x: Float32Array, w: Float32Array, b: Float32Array, y: Float32Array, z: Float32Array | null, m: number, n: number, k: number, silu: number): void
  linearGrad(dy: Float32Array, x: Float32Array, z: Float32Array | null, dz: Float32Array | null, dw: Float32Array, db: Float32Array, m: number, n: number, k: number, silu: number): void
  trig(x: Float32Array, y: Float32Array, n: number, op: number): void
  clip(x: Float32Array, y: Float32Array, n: number, lo: number, hi: number): void
  setThreads(n: number): void
  /** This CPU's features as the addon's cpuid code reads them, e.g. ["avx512f", "avx2", "fma"]. */
  cpuFeatures(): string[]
  /** The ISA dispatch picks for a CPU with these features (or `requested`, if usable), else null. Pure. */
  chooseIsa(features: readonly string[], requested?: string): string | null
  /** Switches kernels; false (and no change) unless compiled in and supported by the real CPU. */
  setIsa(isa: string): boolean
  /** The ISA in use, null when none is usable. */
  isa(): string | null
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
/** Where scripts/build-native.mjs puts the addon, and the manifest it writes beside it. */
export const addonPath = join(repoRoot, "native", "build", "Release", "pipe_native.node")
const manifestPathOf = (path: string): string => path.replace(/\.node$/, ".json")

export type LoadResult = { readonly ok: true; readonly addon: NativeAddon } | { readonly ok: false; readonly reason: string }

const rebuildHint = "run `node scripts/build-native.mjs`"

/**
 * Why the build at `path` must not be loaded, or null. Read from the manifest the build script
 * writes, before any require(): an old build (-march=native, ABI 1) could fault inside require()
 * on another CPU, and a build for another platform cannot load at all.
 */
const staleReason = (path: string): string | null => {
  const mpath = manifestPathOf(path)
  if (!existsSync(mpath)) return `native addon at ${path} has no manifest (a build older than ABI ${NATIVE_ABI}): skipped; ${rebuildHint}`
  let m: { abi?: unknown; platform?: unknown; arch?: unknown }
  try {
    m = JSON.parse(readFileSync(mpath, "utf8")) as typeof m
  } catch {
    return `native addon manifest ${mpath} is unreadable: skipped; ${rebuildHint}`
  }
  if (m.abi !== NATIVE_ABI) return `native addon is stale (ABI ${String(m.abi)}, expected ${NATIVE_ABI}): skipped; ${rebuildHint}`
  if (m.platform !== process.platform || m.arch !== process.arch) {
    return `native addon was built for ${String(m.platform)}/${String(m.arch)}, this is ${process.platform}/${process.arch}: skipped; ${rebuildHint}`
  }
  return null
}

/** Loads the kernel addon; never throws. Its own cpuid dispatch keeps it off instructions the CPU lacks. */
export const loadAddon = (path: string = addonPath): LoadResult => {
  if (!existsSync(path)) return { ok: false, reason: `native addon not built (${path} missing; ${rebuildHint})` }
  const stale = staleReason(path)
  if (stale !== null) return { ok: false, reason: stale }
  try {
    // libgomp reads these when the addon loads it: sleep instead of spinning at barriers, which
    // matters on shared 2-core machines where a spinning thread steals the core its partner needs.
    process.env.OMP_WAIT_POLICY ??= "PASSIVE"
    const addon = createRequire(import.meta.url)(path) as NativeAddon
    if (addon.abiVersion !== NATIVE_ABI) return { ok: false, reason: `native addon has ABI ${addon.abiVersion}, expected ${NATIVE_ABI}: ${rebuildHint}` }
    return { ok: true, addon }
  } catch (e) {
    return { ok: false, reason: `native addon failed to load: ${e instanceof Error ? e.message : String(e)}` }
  }
}

export interface IsaChoice {
  readonly isa: NativeIsa
  /** Compiled into the addon, widest first. */
  readonly built: readonly string[]
  readonly forced: boolean
}

/**
 * Picks and activates the addon's kernels: `requested` if given (PIPE_NATIVE_ISA), else the widest
 * the CPU supports. `cpuFeatures` replaces the cpuid answer (tests fake CPUs with it); it can only
 * narrow the choice, since the addon's setIsa re-checks the real CPU.
 */
export const selectIsa = (addon: NativeAddon, o: { requested?: string; cpuFeatures?: readonly string[] } = {}): { ok: true; choice: IsaChoice } | { ok: false; reason: string } => {
  const features = o.cpuFeatures ?? addon.cpuFeatures()
  const described = `built: ${addon.isas.join(", ")}; CPU features: ${features.length > 0 ? features.join(", ") : "none of avx512f, avx2, fma, neon"}`
  if (o.requested !== undefined && !isNativeIsa(o.requested)) {
    return { ok: false, reason: `PIPE_NATIVE_ISA=${o.requested} is not one of ${NATIVE_ISAS.join(", ")}` }
  }
  const isa = addon.chooseIsa(features, o.requested)
  if (isa === null || !isNativeIsa(isa)) {
    return { ok: false, reason: o.requested === undefined ? `no usable kernels (${described})` : `PIPE_NATIVE_ISA=${o.requested} unusable here (${described})` }
  }
  if (!addon.setIsa(isa)) return { ok: false, reason: `the CPU refuses ${isa} kernels (${described})` }
  return { ok: true, choice: { isa, built: addon.isas, forced: o.requested !== undefined } }
}

// ---- backend with an output-buffer pool --------------------------------------------------------------
/**
 * MathBackendCPU that recycles the Float32Arrays our native kernels allocate. Why: tfjs allocates a
 * fresh output array per kernel, and on the target VM first-touching MBs of fresh pages costs more
 * CPU than the kernel itself. Safety: only arrays this backend allocated are recycled, only once
 * the backend has dropped them (refCount 0), every native kernel overwrites its whole output, and
 * reads (dataSync/data/array) of pooled arrays return copies so no caller can hold one.
 */
export class PipeNativeBackend extends MathBackendCPU {
  private readonly pool = new Map<number, Float32Array[]>()
  private readonly owned = new WeakSet<Float32Array>()
  private pooledBytes = 0
  private static readonly MIN_POOLED = 1024 // elements; smaller arrays are cheap to allocate (and collect)
  private static readonly MAX_POOL_BYTES = 512 * 1024 * 1024

  constructor() {
    super()
    // MathBackendCPU prints a "install tfjs-node to speed things up" banner on first use; this
    // backend is the fast path, and backend choice is already reported by selectBackend's notes.
    Object.assign(this, { firstUse: false }) // private in tfjs's typings
  }

  /** An uninitialised (recycled) or fresh array of n floats; callers must overwrite all of it. */
  alloc(n: number): Float32Array {
    if (n < PipeNativeBackend.MIN_POOLED) return new Float32Array(n)
    const free = this.pool.get(n)
    const a = free?.pop()
    if (a !== undefined) {
      this.pooledBytes -= a.byteLength
      return a
    }
    const fresh = new Float32Array(n)
    this.owned.add(fresh)
    return fresh
  }

  override disposeData(dataId: tf.DataId, force = false): boolean {
    const values = this.data.has(dataId) ? this.data.get(dataId).values : undefined
    const deleted = super.disposeData(dataId, force)
    if (deleted && values instanceof Float32Array && this.owned.has(values) && !this.data.has(dataId)
      && this.pooledBytes + values.byteLength <= PipeNativeBackend.MAX_POOL_BYTES) {
      const list = this.pool.get(values.length) ?? []
      list.push(values)
      this.pool.set(values.length, list)
      this.pooledBytes += values.byteLength
    }
    return deleted
  }

  override readSync(dataId: tf.DataId): tf.backend_util.BackendValues {
    const v = super.readSync(dataId)
    return v instanceof Float32Array && this.owned.has(v) ? v.slice() : v
  }

  override dispose(): void {
    this.pool.clear()
    this.pooledBytes = 0
    super.dispose()
  }
}

// ---- kernel plumbing ------------------------------------------------------------------------------
type Backend = MathBackendCPU
type Attrs = Record<string, unknown>
interface KArgs {
  readonly inputs: Record<string, tf.TensorInfo | undefined>
  readonly backend: Backend
  readonly attrs?: Attrs
}
type KFunc = (args: KArgs) => tf.TensorInfo | tf.TensorInfo[]

const vals = (b: Backend, t: tf.TensorInfo): Float32Array => b.data.get(t.dataId).values as Float32Array
const isF32 = (b: Backend, t: tf.TensorInfo | undefined): t is tf.TensorInfo =>
  t !== undefined && t.dtype === "float32" && b.data.get(t.dataId).values instanceof Float32Array
const size = (shape: readonly number[]): number => shape.reduce((a, c) => a * c, 1)
const out = (b: Backend, shape: number[], values: Float32Array): tf.TensorInfo => b.makeTensorInfo(shape, "float32", values)
/** Output storage for a kernel that writes every element (recycled on pipe-native). */
const alloc = (b: Backend, n: number): Float32Array => (b instanceof PipeNativeBackend ? b.alloc(n) : new Float32Array(n))
const input = (a: KArgs, name: string): tf.TensorInfo => {
  const t = a.inputs[name]
  if (t === undefined) throw new Error(`pipe-native: kernel input ${name} missing`)
  return t
}

const cpuKernel = (name: string): KFunc => {
  const k = tf.getKernel(name, "cpu")
  if (k === undefined) throw new Error(`pipe-native: tfjs cpu backend has no ${name} kernel`)
  return k.kernelFunc as unknown as KFunc
}

type ConvInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>

const convShape = (c: ConvInfo): Int32Array =>
  Int32Array.from([
    c.batchSize, c.inHeight, c.inWidth, c.inChannels, c.outHeight, c.outWidth, c.outChannels,
    c.filterHeight, c.filterWidth, c.strideHeight, c.strideWidth, c.padInfo.top, c.padInfo.left,
  ])

const convInfoOf = (xShape: number[], filterShape: number[], attrs: Attrs): ConvInfo | null => {
  const dataFormat = (attrs.dataFormat as string | undefined) ?? "NHWC"
  const dil = attrs.dilations as number | [number, number] | undefined
  if (dataFormat !== "NHWC" || (dil !== undefined && dil !== 1 && !(Array.isArray(dil) && dil[0] === 1 && dil[1] === 1))) return null
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides as number | [number, number], 1,
    attrs.pad as "same" | "valid" | number, attrs.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    false, "channelsLast",
  )
}

// ---- kernels -------------------------------------------------------------------------------------
const makeKernels = (n: NativeAddon): Record<string, KFunc> => {
  const conv2D: KFunc = (a) => {
    const x = input(a, "x"), f = input(a, "filter")
    const info = isF32(a.backend, x) && isF32(a.backend, f) ? convInfoOf(x.shape, f.shape, a.attrs ?? {}) : null
    if (info === null) return cpuKernel("Conv2D")(a)
    const y = alloc(a.backend, size(info.outShape))
    n.conv2d(vals(a.backend, x), vals(a.backend, f), null, y, convShape(info), 0)
    return out(a.backend, info.outShape, y)
  }

  const fusedConv2D: KFunc = (a) => {
    const x = input(a, "x"), f = input(a, "filter"), bias = a.inputs.bias
    const attrs = a.attrs ?? {}
    const act = (attrs.activation as string | undefined) ?? "linear"
    const info = isF32(a.backend, x) && isF32(a.backend, f) && act === "linear" ? convInfoOf(x.shape, f.shape, attrs) : null
    if (info === null) return cpuKernel("FusedConv2D")(a)
    let mode = 0
    if (bias !== undefined) {
      if (!isF32(a.backend, bias)) return cpuKernel("FusedConv2D")(a)
      const bs = bias.shape
      if (size(bs) === info.outChannels && bs[bs.length - 1] === info.outChannels) mode = 1
      else if (bs.length === 4 && bs[0] === info.batchSize && bs[1] === 1 && bs[2] === 1 && bs[3] === info.outChannels) mode = 2
      else return cpuKernel("FusedConv2D")(a)
    }
    const y = alloc(a.backend, size(info.outShape))
    n.conv2d(vals(a.backend, x), vals(a.backend, f), bias === undefined ? null : vals(a.backend, bias), y, convShape(info), mode)
    return out(a.backend, info.outShape, y)
  }

  const conv2DBackpropInput: KFunc = (a) => {
    const dy = input(a, "dy"), f = input(a, "filter")
    const attrs = a.attrs ?? {}
    const xShape = attrs.inputShape as number[]
    const info = isF32(a.backend, dy) && isF32(a.backend, f) ? convInfoOf(xShape, f.shape, attrs) : null
    if (info === null) return cpuKernel("Conv2DBackpropInput")(a)
    const dx = alloc(a.backend, size(xShape))
    n.conv2dBackpropInput(vals(a.backend, dy), vals(a.backend, f), dx, convShape(info))
    return out(a.backend, [...xShape], dx)
  }

  const conv2DBackpropFilter: KFunc = (a) => {
    const x = input(a, "x"), dy = input(a, "dy")
    const attrs = a.attrs ?? {}
    const fShape = attrs.filterShape as number[]
    const info = isF32(a.backend, x) && isF32(a.backend, dy) ? convInfoOf(x.shape, fShape, attrs) : null
    if (info === null) return cpuKernel("Conv2DBackpropFilter")(a)
    const dw = alloc(a.backend, size(fShape))
    n.conv2dBackpropFilter(vals(a.backend, x), vals(a.backend, dy), dw, convShape(info))
    return out(a.backend, [...fShape], dw)
  }

  // [..., M, K] x [..., K, N] with equal batch dims or one side unbatched.
  const matmulInto = (a: KArgs, bias: tf.TensorInfo | undefined, fallback: string): tf.TensorInfo => {
    const A = input(a, "a"), B = input(a, "b")
    const attrs = a.attrs ?? {}
    const ta = attrs.transposeA === true, tb = attrs.transposeB === true
    const ra = A.shape.length, rb = B.shape.length
    const fb = (): tf.TensorInfo => cpuKernel(fallback)(a) as tf.TensorInfo
    if (!isF32(a.backend, A) || !isF32(a.backend, B) || ra < 2 || rb < 2) return fb()
    const m = ta ? A.shape[ra - 1]! : A.shape[ra - 2]!
    const k = ta ? A.shape[ra - 2]! : A.shape[ra - 1]!
    const k2 = tb ? B.shape[rb - 1]! : B.shape[rb - 2]!
    const nn = tb ? B.shape[rb - 2]! : B.shape[rb - 1]!
    if (k !== k2) return fb()
    const batchA = size(A.shape.slice(0, -2)), batchB = size(B.shape.slice(0, -2))
    const outBatchShape = batchA >= batchB ? A.shape.slice(0, -2) : B.shape.slice(0, -2)
    if (batchA !== batchB && batchA !== 1 && batchB !== 1) return fb()
    if (batchA === batchB && ra !== rb) return fb()
    let biasVals: Float32Array | null = null
    if (bias !== undefined) {
      if (!isF32(a.backend, bias) || size(bias.shape) !== nn) return fb()
      biasVals = vals(a.backend, bias)
    }
    const batch = Math.max(batchA, batchB)
    const c = alloc(a.backend, batch * m * nn)
    n.matmul(vals(a.backend, A), vals(a.backend, B), c, biasVals,
      Int32Array.from([batch, m, nn, k, ta ? 1 : 0, tb ? 1 : 0, batchA === 1 ? 0 : m * k, batchB === 1 ? 0 : k * nn]))
    return out(a.backend, [...outBatchShape, m, nn], c)
  }
  const batchMatMul: KFunc = (a) => matmulInto(a, undefined, "BatchMatMul")
  const fusedMatMul: KFunc = (a) => {
    const act = (a.attrs?.activation as string | undefined) ?? "linear"
    if (act !== "linear" || a.inputs.preluActivationWeights !== undefined) return cpuKernel("_FusedMatMul")(a)
    return matmulInto(a, a.inputs.bias, "_FusedMatMul")
  }

  const sum: KFunc = (a) => {
    const x = input(a, "x")
    if (!isF32(a.backend, x)) return cpuKernel("Sum")(a)
    const attrs = a.attrs ?? {}
    const axes = tf.util.parseAxisParam(attrs.axis as number | number[], x.shape).sort((p, q) => p - q)
    const contiguous = axes.every((ax, i) => i === 0 || ax === axes[i - 1]! + 1)
    if (axes.length === 0 || !contiguous) return cpuKernel("Sum")(a)
    const a0 = axes[0]!, a1 = axes[axes.length - 1]!
    const outer = size(x.shape.slice(0, a0)), mid = size(x.shape.slice(a0, a1 + 1)), inner = size(x.shape.slice(a1 + 1))
    const res = alloc(a.backend, outer * inner)
    n.sumMiddle(vals(a.backend, x), res, outer, mid, inner)
    const shape = attrs.keepDims === true
      ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : x.shape.filter((_, i) => !axes.includes(i))
    return out(a.backend, shape, res)
  }

  // a op b where b equals a's shape or a suffix of it (bias-like broadcast), or the reverse for add/mul.
  const binary = (name: string, op: number, commutes: boolean): KFunc => (args) => {
    const A = input(args, "a"), B = input(args, "b")
    const fb = () => cpuKernel(name)(args)
    if (!isF32(args.backend, A) || !isF32(args.backend, B)) return fb()
    const isSuffix = (big: number[], small: number[]) => {
      const s = small.slice(small.findIndex((d) => d !== 1) === -1 ? small.length : small.findIndex((d) => d !== 1))
      return s.length <= big.length && s.every((d, i) => d === big[big.length - s.length + i]) && small.length <= big.length
    }
    const sa = size(A.shape), sb = size(B.shape)
    if (sa >= 1024 && sb >= 1 && isSuffix(A.shape, B.shape)) {
      const res = alloc(args.backend, sa)
      n.binaryBcast(vals(args.backend, A), vals(args.backend, B), res, sa, sb, op)
      return out(args.backend, [...A.shape], res)
    }
    if (commutes && sb >= 1024 && isSuffix(B.shape, A.shape)) {
      const res = alloc(args.backend, sb)
      n.binaryBcast(vals(args.backend, B), vals(args.backend, A), res, sb, sa, op)
      return out(args.backend, [...B.shape], res)
    }
    return fb()
  }

  const siluK: KFunc = (a) => {
    const x = input(a, "x")
    const y = alloc(a.backend, size(x.shape))
    n.silu(vals(a.backend, x), y, y.length)
    return out(a.backend, [...x.shape], y)
  }
  const siluGradK: KFunc = (a) => {
    const dy = input(a, "dy"), x = input(a, "x")
    const dx = alloc(a.backend, size(x.shape))
    n.siluGrad(vals(a.backend, dy), vals(a.backend, x), dx, dx.length)
    return out(a.backend, [...x.shape], dx)
  }
  const gnDims = (x: tf.TensorInfo): [number, number, number] => {
    const s = x.shape
    return [s[0]!, size(s.slice(1, -1)), s[s.length - 1]!]
  }
  const groupNormK: KFunc = (a) => {
    const x = input(a, "x"), gamma = input(a, "gamma"), beta = input(a, "beta")
    const attrs = a.attrs ?? {}
    const [b, hw, c] = gnDims(x)
    const y = alloc(a.backend, size(x.shape))
    n.groupNorm(vals(a.backend, x), vals(a.backend, gamma), vals(a.backend, beta), y, b, hw, c,
      attrs.groups as number, attrs.eps as number, attrs.silu === true ? 1 : 0)
    return out(a.backend, [...x.shape], y)
  }
  const groupNormGradK: KFunc = (a) => {
    const dy = input(a, "dy"), x = input(a, "x"), gamma = input(a, "gamma"), beta = input(a, "beta")
    const attrs = a.attrs ?? {}
    const [b, hw, c] = gnDims(x)
    const dx = alloc(a.backend, size(x.shape)), dg = new Float32Array(c), db = new Float32Array(c)
    n.groupNormGrad(vals(a.backend, dy), vals(a.backend, x), vals(a.backend, gamma), vals(a.backend, beta), dx, dg, db,
      b, hw, c, attrs.groups as number, attrs.eps as number, attrs.silu === true ? 1 : 0)
    return [out(a.backend, [...x.shape], dx), out(a.backend, [c], dg), out(a.backend, [c], db)]
  }
  const upsampleK: KFunc = (a) => {
    const x = input(a, "x")
    const [b, h, w, c] = x.shape as [number, number, number, number]
    const y = alloc(a.backend, b * 4 * h * w * c)
    n.upsample2x(vals(a.backend, x), y, b, h, w, c)
    return out(a.backend, [b, 2 * h, 2 * w, c], y)
  }
  const upsampleGradK: KFunc = (a) => {
    const dy = input(a, "dy")
    const [b, h2, w2, c] = dy.shape as [number, number, number, number]
    const dx = alloc(a.backend, (b * h2 * w2 * c) / 4)
    n.upsample2xGrad(vals(a.backend, dy), dx, b, h2 / 2, w2 / 2, c)
    return out(a.backend, [b, h2 / 2, w2 / 2, c], dx)
  }
  const adamK: KFunc = (a) => {
    const p = input(a, "p"), m = input(a, "m"), v = input(a, "v"), g = input(a, "g")
    const at = a.attrs ?? {}
    const len = size(p.shape)
    const po = alloc(a.backend, len), mo = alloc(a.backend, len), vo = alloc(a.backend, len)
    n.adam(vals(a.backend, p), vals(a.backend, m), vals(a.backend, v), vals(a.backend, g), po, mo, vo,
      at.lr as number, at.beta1 as number, at.beta2 as number, at.eps as number, at.c1 as number, at.c2 as number)
    return [out(a.backend, [...p.shape], po), out(a.backend, [...p.shape], mo), out(a.backend, [...p.shape], vo)]
  }

  // Concat / split / slice along one axis: [outer, axis * inner] row copies.
  const concat: KFunc = (a) => {
    const xs = Object.values(a.inputs).filter((t): t is tf.TensorInfo => t !== undefined)
    if (xs.length === 0 || !xs.every((t) => isF32(a.backend, t))) return cpuKernel("Concat")(a)
    const rank = xs[0]!.shape.length
    const axis = tf.util.parseAxisParam(a.attrs?.axis as number, xs[0]!.shape)[0]!
    const outer = size(xs[0]!.shape.slice(0, axis))
    const cols = xs.map((t) => size(t.shape.slice(axis)))
    if (xs.some((t) => t.shape.length !== rank || size(t.shape.slice(0, axis)) !== outer)) return cpuKernel("Concat")(a)
    const total = cols.reduce((p, q) => p + q, 0)
    const res = alloc(a.backend, outer * total)
    let off = 0
    xs.forEach((t, i) => {
      if (cols[i]! > 0) n.copyStrided(vals(a.backend, t), 0, cols[i]!, res, off, total, outer, cols[i]!)
      off += cols[i]!
    })
    const shape = [...xs[0]!.shape]
    shape[axis] = xs.reduce((p, t) => p + t.shape[axis]!, 0)
    return out(a.backend, shape, res)
  }
  const splitV: KFunc = (a) => {
    const x = input(a, "x")
    if (!isF32(a.backend, x)) return cpuKernel("SplitV")(a)
    const axis = tf.util.parseAxisParam(a.attrs?.axis as number, x.shape)[0]!
    const splits = tf.backend_util.prepareSplitSize(x, a.attrs?.numOrSizeSplits as number | number[], axis)
    const outer = size(x.shape.slice(0, axis)), inner = size(x.shape.slice(axis + 1))
    const rowLen = x.shape[axis]! * inner
    const src = vals(a.backend, x)
    let off = 0
    return splits.map((len) => {
      const res = alloc(a.backend, outer * len * inner)
      if (res.length > 0) n.copyStrided(src, off * inner, rowLen, res, 0, len * inner, outer, len * inner)
      off += len
      const shape = [...x.shape]
      shape[axis] = len
      return out(a.backend, shape, res)
    })
  }
  const slice: KFunc = (a) => {
    const x = input(a, "x")
    if (!isF32(a.backend, x)) return cpuKernel("Slice")(a)
    const parsed = tf.slice_util.parseSliceParams(x, a.attrs?.begin as number[], a.attrs?.size as number[])
    const begin = parsed[0]!, sz = parsed[1]!
    const partial = x.shape.map((d, i) => begin[i] !== 0 || sz[i] !== d)
    const ax = partial.indexOf(true)
    if (ax === -1 || partial.lastIndexOf(true) !== ax || size(x.shape.slice(0, ax)) < 1) return cpuKernel("Slice")(a)
    const outer = size(x.shape.slice(0, ax)), inner = size(x.shape.slice(ax + 1))
    const res = alloc(a.backend, outer * sz[ax]! * inner)
    if (res.length > 0) n.copyStrided(vals(a.backend, x), begin[ax]! * inner, x.shape[ax]! * inner, res, 0, sz[ax]! * inner, outer, sz[ax]! * inner)
    return out(a.backend, [...sz], res)
  }

  // The judge's max-pool gradient mask (equal -> cast -> multiply) and its pooling ran as tfjs-cpu's
  // generic JavaScript (bench/profile-judge.ts: ~75% of a LeNet step). tfjs-cpu's bool -> float32
  // Cast also returns the bool bytes relabelled float32, which sent the following Multiply to the
  // slow path. Specialised loops for those cases; anything else falls back to cpu.
  const cast: KFunc = (a) => {
    const x = input(a, "x")
    const values = a.backend.data.get(x.dataId).values
    if (x.dtype !== "bool" || a.attrs?.dtype !== "float32" || !(values instanceof Uint8Array)) return cpuKernel("Cast")(a)
    const res = alloc(a.backend, values.length)
    res.set(values)
    return out(a.backend, [...x.shape], res)
  }
  const equal: KFunc = (a) => {
    const A = input(a, "a"), B = input(a, "b")
    if (!isF32(a.backend, A) || !isF32(a.backend, B) || !tf.util.arraysEqual(A.shape, B.shape)) return cpuKernel("Equal")(a)
    const x = vals(a.backend, A), y = vals(a.backend, B)
    const res = new Uint8Array(x.length)
    for (let i = 0; i < x.length; i++) res[i] = x[i] === y[i] ? 1 : 0
    return a.backend.makeTensorInfo([...A.shape], "bool", res)
  }
  const maxPool: KFunc = (a) => {
    const x = input(a, "x")
    if (!isF32(a.backend, x) || x.shape.length !== 4) return cpuKernel("MaxPool")(a)
    // tfjs's own normalisation of filterSize / strides / pad (the cpu kernel reads the same info)
    const info = tf.backend_util.computePool2DInfo(
      x.shape as [number, number, number, number], a.attrs?.filterSize as [number, number] | number, a.attrs?.strides as [number, number] | number,
      1, a.attrs?.pad as "valid" | "same" | number, a.attrs?.dimRoundingMode as "floor" | "round" | "ceil" | undefined,
    )
    const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo, outHeight: oh, outWidth: ow } = info
    const unpadded = padInfo.top === 0 && padInfo.bottom === 0 && padInfo.left === 0 && padInfo.right === 0
    if (filterHeight !== 2 || filterWidth !== 2 || strideHeight !== 2 || strideWidth !== 2 || !unpadded) return cpuKernel("MaxPool")(a)
    const [B, H, W, C] = x.shape as [number, number, number, number]
    const v = vals(a.backend, x)
    const res = alloc(a.backend, B * oh * ow * C)
    let o = 0
    for (let b = 0; b < B; b++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          const p00 = ((b * H + 2 * i) * W + 2 * j) * C, p01 = p00 + C, p10 = p00 + W * C, p11 = p10 + C
          for (let c = 0; c < C; c++) res[o++] = Math.max(v[p00 + c]!, v[p01 + c]!, v[p10 + c]!, v[p11 + c]!)
        }
    return out(a.backend, [B, oh, ow, C], res)
  }

  // Fused dense layer: y = x W + b (then SiLU, keeping the pre-activation z for the gradient).
  const linearK: KFunc = (a) => {
    const x = input(a, "x"), w = input(a, "w"), b = input(a, "b")
    const silu = a.attrs?.silu === true
    const [m, k] = x.shape as [number, number], nOut = w.shape[1]!
    const y = alloc(a.backend, m * nOut), z = silu ? alloc(a.backend, m * nOut) : null
    n.linear(vals(a.backend, x), vals(a.backend, w), vals(a.backend, b), y, z, m, nOut, k, silu ? 1 : 0)
    const yt = out(a.backend, [m, nOut], y)
    return z === null ? yt : [yt, out(a.backend, [m, nOut], z)]
  }
  // [dw, db] (+ dz = dy * silu'(z) with silu): the parameter gradients in one pass.
  const linearGradK: KFunc = (a) => {
    const dy = input(a, "dy"), x = input(a, "x")
    const silu = a.attrs?.silu === true
    const [m, k] = x.shape as [number, number], nOut = dy.shape[1]!
    const dw = alloc(a.backend, k * nOut), db = new Float32Array(nOut), dz = silu ? alloc(a.backend, m * nOut) : null
    n.linearGrad(vals(a.backend, dy), vals(a.backend, x), silu ? vals(a.backend, input(a, "z")) : null, dz, dw, db, m, nOut, k, silu ? 1 : 0)
    const parts = [out(a.backend, [k, nOut], dw), out(a.backend, [nOut], db)]
    return dz === null ? parts : [...parts, out(a.backend, [m, nOut], dz)]
  }
  // A DDIM step's clamp of x̂0 and its division took 1.8 of its 2.2 ms in tfjs-cpu at batch 128.
  // The bounds round to float32 first: the same results as tfjs-cpu's float64 comparisons.
  const clipByValue: KFunc = (a) => {
    const x = input(a, "x")
    if (!isF32(a.backend, x)) return cpuKernel("ClipByValue")(a)
    const y = alloc(a.backend, size(x.shape))
    n.clip(vals(a.backend, x), y, y.length, a.attrs?.clipValueMin as number, a.attrs?.clipValueMax as number)
    return out(a.backend, [...x.shape], y)
  }
  // tfjs-cpu's generic unary loop is slow for the timestep embedding's sin / cos.
  const trig = (name: "Sin" | "Cos", op: number): KFunc => (a) => {
    const x = input(a, "x")
    if (!isF32(a.backend, x)) return cpuKernel(name)(a)
    const y = alloc(a.backend, size(x.shape))
    n.trig(vals(a.backend, x), y, y.length, op)
    return out(a.backend, [...x.shape], y)
  }

  return {
    Cast: cast, Equal: equal, MaxPool: maxPool,
    Concat: concat, SplitV: splitV, Slice: slice,
    Conv2D: conv2D, FusedConv2D: fusedConv2D, Conv2DBackpropInput: conv2DBackpropInput,
    Conv2DBackpropFilter: conv2DBackpropFilter, BatchMatMul: batchMatMul, _FusedMatMul: fusedMatMul, Sum: sum,
    Add: binary("Add", 0, true), Sub: binary("Sub", 1, false), Multiply: binary("Multiply", 2, true),
    RealDiv: binary("RealDiv", 3, false), ClipByValue: clipByValue,
    [K.SILU]: siluK, [K.SILU_GRAD]: siluGradK, [K.GROUP_NORM]: groupNormK, [K.GROUP_NORM_GRAD]: groupNormGradK,
    [K.UPSAMPLE2X]: upsampleK, [K.UPSAMPLE2X_GRAD]: upsampleGradK, [K.ADAM_UPDATE]: adamK,
    [D.LINEAR]: linearK, [D.LINEAR_GRAD]: linearGradK, Sin: trig("Sin", 0), Cos: trig("Cos", 1),
  }
}

/** Gradients of pipe's fused kernels (kernel-name keyed, hence shared by every backend registering them). */
export const registerFusedGradients = (): void => {
  const reg = (name: string, cfg: Omit<tf.GradConfig, "kernelName">) => {
    if (tf.getGradient(name) === undefined) tf.registerGradient({ kernelName: name, ...cfg })
  }
  const run = (name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap = {}) =>
    tf.engine().runKernel(name, inputs, attrs)
  reg(K.SILU, {
    inputsToSave: ["x"],
    gradFunc: (dy, saved) => ({ x: () => run(K.SILU_GRAD, { dy: dy as tf.Tensor, x: saved[0]! }) as tf.Tensor }),
  })
  reg(K.GROUP_NORM, {
    inputsToSave: ["x", "gamma", "beta"],
    gradFunc: (dy, saved, attrs) => {
      const [x, gamma, beta] = saved as [tf.Tensor, tf.Tensor, tf.Tensor]
      // One kernel yields all three; each closure picks its part (tfjs calls every closure once).
      const parts = run(K.GROUP_NORM_GRAD, { dy: dy as tf.Tensor, x, gamma, beta }, attrs) as tf.Tensor[]
      return { x: () => parts[0]!, gamma: () => parts[1]!, beta: () => parts[2]! }
    },
  })
  reg(K.UPSAMPLE2X, {
    gradFunc: (dy) => ({ x: () => run(K.UPSAMPLE2X_GRAD, { dy: dy as tf.Tensor }) as tf.Tensor }),
  })
  reg(D.LINEAR, {
    inputsToSave: ["x", "w"],
    outputsToSave: [false, true], // z, the pre-activation (only with silu)
    gradFunc: (dys, saved, attrs) => {
      const dy = Array.isArray(dys) ? dys[0]! : dys // with silu the kernel has two outputs; z's dy is unused
      const [x, w, z] = saved as [tf.Tensor, tf.Tensor, tf.Tensor | undefined]
      const silu = attrs?.silu === true
      // One kernel yields [dw, db(, dz)]; each closure picks its part (tfjs calls every closure once).
      const parts = run(D.LINEAR_GRAD, silu ? { dy, x, z: z! } : { dy, x }, { silu }) as tf.Tensor[]
      const g = silu ? parts[2]! : dy
      return { x: () => tf.matMul(g, w, false, true), w: () => parts[0]!, b: () => parts[1]! }
    },
  })
}

export type NativeRegistration = { readonly ok: true; readonly isa: IsaChoice } | { readonly ok: false; readonly reason: string }

let loaded: NativeAddon | undefined // the addon is a process-wide singleton anyway (require cache)

/**
 * Registers the pipe-native backend and selects its kernels' ISA (idempotent; a second call may
 * switch ISA). Returns why it is unavailable instead of throwing. `threads` defaults to 2 (the
 * machines this targets); `isa` forces an instruction set; `cpuFeatures` fakes the CPU (tests).
 * The caller reads PIPE_NATIVE_THREADS / PIPE_NATIVE_ISA (src/ml/backend/index.ts).
 */
export const registerNativeBackend = (o: { threads?: number; addon?: string; isa?: string; cpuFeatures?: readonly string[] } = {}): NativeRegistration => {
  if (loaded === undefined) {
    const r = loadAddon(o.addon)
    if (!r.ok) return r
    loaded = r.addon
  }
  const chosen = selectIsa(loaded, { ...(o.isa === undefined ? {} : { requested: o.isa }), ...(o.cpuFeatures === undefined ? {} : { cpuFeatures: o.cpuFeatures }) })
  if (!chosen.ok) return chosen
  loaded.setThreads(o.threads ?? 2)
  if (tf.findBackendFactory(NATIVE_BACKEND) !== null) return { ok: true, isa: chosen.choice }
  tf.registerBackend(NATIVE_BACKEND, () => new PipeNativeBackend(), 0)
  for (const k of tf.getKernelsForBackend("cpu")) {
    tf.registerKernel({ ...k, backendName: NATIVE_BACKEND })
  }
  for (const [name, fn] of Object.entries(makeKernels(loaded))) {
    if (tf.getKernel(name, NATIVE_BACKEND) !== undefined) tf.unregisterKernel(name, NATIVE_BACKEND)
    tf.registerKernel({ kernelName: name, backendName: NATIVE_BACKEND, kernelFunc: fn as unknown as tf.KernelFunc })
  }
  registerFusedGradients()
  return { ok: true, isa: chosen.choice }
}

/** The loaded addon (after registerNativeBackend succeeded): tests switch ISA per call with it. */
export const nativeAddon = (): NativeAddon | undefined => loaded

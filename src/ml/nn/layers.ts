// Functional layers: `xxxParams(builder, name, ...)` creates named variables, `xxx(params, input)`
// applies them. Shapes: images NHWC [B, H, W, C]; conv filters [kh, kw, cin, cout] (tfjs layout).
import * as tf from "@tensorflow/tfjs"
import type { Rng } from "../random.ts"
import * as K from "../backend/kernel-names.ts"
import { groupNorm, hasFused, silu, upsampleNearest2x } from "./ops.ts"
import { type ParamBuilder, torchDefaultBound } from "./params.ts"

// ---- Linear ------------------------------------------------------------------------------------
export interface LinearParams {
  readonly weight: tf.Variable // [in, out]
  readonly bias: tf.Variable // [out]
}
export const linearParams = (pb: ParamBuilder, name: string, inDim: number, outDim: number): LinearParams => {
  const bound = torchDefaultBound(inDim)
  return { weight: pb.uniform(`${name}.weight`, [inDim, outDim], bound), bias: pb.uniform(`${name}.bias`, [outDim], bound) }
}
/** y = x W + b, [B, in] -> [B, out] (one fused matmul+bias kernel). */
export const linear = (p: LinearParams, x: tf.Tensor2D): tf.Tensor2D =>
  tf.fused.matMul({ a: x, b: p.weight as tf.Tensor2D, bias: p.bias }) as tf.Tensor2D

// ---- Conv2d ------------------------------------------------------------------------------------
export interface Conv2dParams {
  readonly weight: tf.Variable // [k, k, cin, cout]
  readonly bias: tf.Variable // [cout]
  readonly stride: number
  readonly padding: number
}
export const conv2dParams = (
  pb: ParamBuilder, name: string, cin: number, cout: number,
  o: { kernel?: number; stride?: number; padding?: number } = {},
): Conv2dParams => {
  const k = o.kernel ?? 3
  const bound = torchDefaultBound(cin * k * k)
  return {
    weight: pb.uniform(`${name}.weight`, [k, k, cin, cout], bound),
    bias: pb.uniform(`${name}.bias`, [cout], bound),
    stride: o.stride ?? 1,
    padding: o.padding ?? (k - 1) >> 1, // PyTorch-style symmetric padding ("same" for odd k, stride 1)
  }
}
/**
 * Conv2d with bias, PyTorch padding semantics (explicit symmetric padding, so stride-2 convs sample
 * the same pixels as nn.Conv2d(stride=2, padding=1), unlike TF "same"). `extraBias` [B,1,1,cout]
 * adds a per-sample bias (e.g. the ResBlock time projection) inside the same fused kernel.
 */
export const conv2d = (p: Conv2dParams, x: tf.Tensor4D, extraBias?: tf.Tensor4D): tf.Tensor4D =>
  tf.tidy(() => {
    const conv = (bias: tf.Tensor) => tf.fused.conv2d({ x, filter: p.weight as tf.Tensor4D, bias, strides: p.stride, pad: p.padding })
    if (extraBias === undefined) return conv(p.bias)
    // pipe-native's FusedConv2D takes a [B,1,1,C] bias (one pass); wasm's accepts only rank 1.
    return hasFused(K.GROUP_NORM) ? conv(extraBias.add(p.bias)) : conv(p.bias).add(extraBias)
  })

// ---- GroupNorm ---------------------------------------------------------------------------------
export interface GroupNormParams {
  readonly gamma: tf.Variable // [C]
  readonly beta: tf.Variable // [C]
  readonly groups: number
}
export const groupNormParams = (pb: ParamBuilder, name: string, channels: number, groups: number): GroupNormParams => ({
  gamma: pb.constant(`${name}.weight`, [channels], 1),
  beta: pb.constant(`${name}.bias`, [channels], 0),
  groups,
})
/** GroupNorm(groups, C, eps=1e-5, affine) and optionally SiLU, as one fused op where available. */
export const groupNormLayer = (p: GroupNormParams, x: tf.Tensor4D, o: { silu?: boolean } = {}): tf.Tensor4D =>
  groupNorm(x, p.gamma as tf.Tensor1D, p.beta as tf.Tensor1D, { groups: p.groups, silu: o.silu === true })

// ---- Time embedding ----------------------------------------------------------------------------
/**
 * Sinusoidal embedding (Vaswani et al. arXiv:1706.03762 sec. 3.5; DDPM's form): for half = dim/2,
 * freq_k = exp(-ln(10000) k / half), k < half; output [sin(t freq), cos(t freq)] ("half sin, half cos").
 */
export const sinusoidalEmbedding = (t: tf.Tensor1D, dim: number): tf.Tensor2D =>
  tf.tidy(() => {
    const half = dim >> 1
    const freqs = new Float32Array(half)
    for (let k = 0; k < half; k++) freqs[k] = Math.exp((-Math.log(10000) * k) / half)
    // Outer product t freq^T as a [B,1] x [1,half] matmul: exact (one product per entry) and a fast
    // kernel everywhere, where a broadcasting mul takes tfjs-cpu's slow generic path.
    const a = tf.matMul(t.toFloat().reshape([-1, 1]), tf.tensor2d(freqs, [1, half]))
    return tf.concat([tf.sin(a), tf.cos(a)], 1) as tf.Tensor2D
  })

// ---- Class embedding ---------------------------------------------------------------------------
/**
 * Rows of `table` [numRows, D] for integer ids [B], as oneHot(ids) @ table: same values as tf.gather,
 * but its gradient is a matmul, which every backend has (wasm lacks gather's UnsortedSegmentSum).
 */
export const classEmbedding = (table: tf.Tensor, ids: tf.Tensor1D, numRows: number): tf.Tensor2D =>
  tf.tidy(() => tf.oneHot(ids.toInt(), numRows).toFloat().matMul(table as tf.Tensor2D) as tf.Tensor2D)

// ---- Dropout -----------------------------------------------------------------------------------
/** Inverted dropout with a mask drawn from `rng`; identity unless training with p > 0. */
export const dropout = <T extends tf.Tensor>(x: T, p: number, training: boolean, rng: Rng | undefined): T => {
  if (!training || p <= 0) return x
  if (rng === undefined) throw new Error("dropout: training with dropout > 0 needs an rng")
  return tf.tidy(() => {
    const u = rng.uniforms(x.size)
    const mask = new Float32Array(x.size)
    for (let i = 0; i < u.length; i++) mask[i] = u[i]! >= p ? 1 / (1 - p) : 0
    return x.mul(tf.tensor(mask, x.shape)) as T
  })
}

// ---- ResBlock ----------------------------------------------------------------------------------
export interface ResBlockParams {
  readonly gn1: GroupNormParams
  readonly conv1: Conv2dParams
  readonly temb: LinearParams
  readonly gn2: GroupNormParams
  readonly conv2: Conv2dParams
  readonly skip: Conv2dParams | null // 1x1 when cin != cout
}
export const resBlockParams = (
  pb: ParamBuilder, name: string, cin: number, cout: number, tembDim: number, groups: number,
): ResBlockParams => ({
  gn1: groupNormParams(pb, `${name}.gn1`, cin, groups),
  conv1: conv2dParams(pb, `${name}.conv1`, cin, cout),
  temb: linearParams(pb, `${name}.temb`, tembDim, cout),
  gn2: groupNormParams(pb, `${name}.gn2`, cout, groups),
  conv2: conv2dParams(pb, `${name}.conv2`, cout, cout),
  skip: cin === cout ? null : conv2dParams(pb, `${name}.skip`, cin, cout, { kernel: 1 }),
})
export interface ApplyOptions {
  readonly training: boolean
  readonly dropout: number
  readonly rng: Rng | undefined
}
/**
 * DDPM-style residual block (Ho et al. arXiv:2006.11239, App. B): GN -> SiLU -> conv3x3 -> + Linear(emb)
 * -> GN -> SiLU -> [dropout] -> conv3x3, plus skip (1x1 conv if channels change). emb: [B, tembDim].
 */
export const resBlock = (p: ResBlockParams, x: tf.Tensor4D, emb: tf.Tensor2D, o: ApplyOptions): tf.Tensor4D =>
  tf.tidy(() => {
    const cout = p.conv1.bias.shape[0]!
    const t = linear(p.temb, emb).reshape([-1, 1, 1, cout]) as tf.Tensor4D
    const h1 = conv2d(p.conv1, groupNormLayer(p.gn1, x, { silu: true }), t)
    const h2 = dropout(groupNormLayer(p.gn2, h1, { silu: true }), o.dropout, o.training, o.rng)
    const h3 = conv2d(p.conv2, h2)
    return h3.add(p.skip === null ? x : conv2d(p.skip, x))
  })

// ---- Down / up sampling ------------------------------------------------------------------------
/** Stride-2 3x3 conv with padding 1: 28 -> 14 -> 7. */
export const downParams = (pb: ParamBuilder, name: string, channels: number): Conv2dParams =>
  conv2dParams(pb, name, channels, channels, { kernel: 3, stride: 2, padding: 1 })
export const down = (p: Conv2dParams, x: tf.Tensor4D): tf.Tensor4D => conv2d(p, x)
/** Nearest x2 (reshape + broadcast) then 3x3 conv. */
export const upParams = (pb: ParamBuilder, name: string, channels: number): Conv2dParams =>
  conv2dParams(pb, name, channels, channels)
export const up = (p: Conv2dParams, x: tf.Tensor4D): tf.Tensor4D =>
  tf.tidy(() => conv2d(p, upsampleNearest2x(x)))

// ---- Self-attention ----------------------------------------------------------------------------
export interface AttentionParams {
  readonly norm: GroupNormParams
  readonly qkv: LinearParams // [C, 3C], a 1x1 conv as a matmul over pixels
  readonly proj: LinearParams // [C, C]
}
export const attentionParams = (pb: ParamBuilder, name: string, channels: number, groups: number): AttentionParams => ({
  norm: groupNormParams(pb, `${name}.norm`, channels, groups),
  qkv: linearParams(pb, `${name}.qkv`, channels, 3 * channels),
  proj: linearParams(pb, `${name}.proj`, channels, channels),
})
/** Single-head spatial self-attention with residual (DDPM's AttnBlock): x + proj(softmax(q k^T / sqrt(C)) v). */
export const attention = (p: AttentionParams, x: tf.Tensor4D): tf.Tensor4D =>
  tf.tidy(() => {
    const [b, h, w, c] = x.shape
    const n = h * w
    const hn = groupNormLayer(p.norm, x).reshape([b * n, c]) as tf.Tensor2D
    const qkv = linear(p.qkv, hn).reshape([b, n, 3 * c])
    const [q, k, v] = tf.split(qkv, 3, 2) as [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D]
    const att = tf.softmax(tf.matMul(q, k, false, true).mul(1 / Math.sqrt(c)), -1)
    const o = tf.matMul(att, v).reshape([b * n, c]) as tf.Tensor2D
    return x.add(linear(p.proj, o).reshape([b, h, w, c]))
  })

// ---- Cross-attention ---------------------------------------------------------------------------
export interface CrossAttentionParams {
  readonly norm: GroupNormParams
  readonly q: LinearParams // [C, C]
  readonly k: LinearParams // [D, C]
  readonly v: LinearParams // [D, C]
  readonly proj: LinearParams // [C, C]
}
export const crossAttentionParams = (pb: ParamBuilder, name: string, channels: number, contextDim: number, groups: number): CrossAttentionParams => ({
  norm: groupNormParams(pb, `${name}.norm`, channels, groups),
  q: linearParams(pb, `${name}.q`, channels, channels),
  k: linearParams(pb, `${name}.k`, contextDim, channels),
  v: linearParams(pb, `${name}.v`, contextDim, channels),
  proj: linearParams(pb, `${name}.proj`, channels, channels),
})
/**
 * Single-head cross-attention with residual, as the attention layer of Stable Diffusion's transformer
 * blocks (Rombach et al. arXiv:2112.10752, sec. 3.3): queries from the image features x [B, H, W, C],
 * keys and values from context tokens [B, N, D]: x + proj(softmax(q k^T / sqrt(C)) v).
 */
export const crossAttention = (p: CrossAttentionParams, x: tf.Tensor4D, context: tf.Tensor3D): tf.Tensor4D =>
  tf.tidy(() => {
    const [b, h, w, c] = x.shape
    const [, n, d] = context.shape
    const q = linear(p.q, groupNormLayer(p.norm, x).reshape([b * h * w, c]) as tf.Tensor2D).reshape([b, h * w, c]) as tf.Tensor3D
    const flat = context.reshape([b * n, d]) as tf.Tensor2D
    const k = linear(p.k, flat).reshape([b, n, c]) as tf.Tensor3D
    const v = linear(p.v, flat).reshape([b, n, c]) as tf.Tensor3D
    const att = tf.softmax(tf.matMul(q, k, false, true).mul(1 / Math.sqrt(c)), -1)
    const o = tf.matMul(att, v).reshape([b * h * w, c]) as tf.Tensor2D
    return x.add(linear(p.proj, o).reshape([b, h, w, c]))
  })

export { silu }

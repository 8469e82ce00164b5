// src/ml/nn/unet-macs.ts: multiply-adds (MACs) of one U-Net pass for one item, counted from the layer
// shapes of src/ml/nn/unet.ts, so a sampler's cost is exact and machine-independent (DeepCache's
// theoretical speed-up, Ma et al. arXiv:2312.00858, is the ratio of these counts).
// What counts, per item (batch 1):
//   conv      H_out W_out k^2 C_in C_out  (conv_in, ResBlock conv1/conv2/1x1 skip, down, up, conv_out)
//   linear    in x out                    (time MLP, ResBlock time projections, attention q/k/v/proj)
//   attention the two matmuls: N M C for q k^T and N M C for att v (N queries, M keys, C channels)
// and nothing else: lookups (class embedding, class map, context tokens: a gather in meaning, even where
// a one-hot matmul implements it), the sinusoid, GroupNorm, SiLU, softmax, adds and concats count 0.
// Stage boundaries follow unet.ts: encoder stage j = [down conv] + block (produces skip j); decoder
// stage j = block on concat(h, skip j) + [up conv]; a shallow pass from branch b runs embed, conv_in,
// encoder stages 0..b, decoder stages b..0 and the output head.
import { resolveUNetConfig, type UNetConfig } from "./unet.ts"

export interface UNetMacs {
  /** Time MLP (two te x te linears). */
  readonly embed: number
  readonly convIn: number
  /** Encoder stage j: its down conv (if any) and its block. */
  readonly encoder: readonly number[]
  readonly middle: number
  /** Decoder stage j: its block and its up conv (if any). */
  readonly decoder: readonly number[]
  /** GroupNorm -> SiLU -> conv_out. */
  readonly out: number
  /** Spatial size and channels of skip j (what a ControlNet's zero convs see). */
  readonly skipSizes: readonly number[]
  readonly skipChannels: readonly number[]
  readonly imageSize: number
  readonly baseChannels: number
}

const conv = (hOut: number, wOut: number, k: number, cin: number, cout: number): number => hOut * wOut * k * k * cin * cout
/** Output size of a k x k conv with stride s and padding p (PyTorch's formula, as layers.ts pads). */
const convSize = (size: number, k: number, s: number, p: number): number => Math.floor((size + 2 * p - k) / s) + 1

/** ResBlock(cin -> cout) at S x S: conv1, time projection, conv2, 1x1 skip when the channels change. */
export const resBlockMacs = (s: number, cin: number, cout: number, te: number): number =>
  conv(s, s, 3, cin, cout) + te * cout + conv(s, s, 3, cout, cout) + (cin === cout ? 0 : conv(s, s, 1, cin, cout))

/** Single-head self-attention at S x S with C channels: qkv and proj linears over N = S^2 pixels, two N x N matmuls. */
export const attentionMacs = (s: number, c: number): number => {
  const n = s * s
  return n * c * 3 * c + 2 * n * n * c + n * c * c
}

/** Cross-attention at S x S (C channels) over K context tokens of width D. */
export const crossAttentionMacs = (s: number, c: number, k: number, d: number): number => {
  const n = s * s
  return n * c * c + 2 * k * d * c + 2 * n * k * c + n * c * c
}

/** The MACs of every stage of one pass for one item. */
export const unetMacs = (config: UNetConfig): UNetMacs => {
  const c = resolveUNetConfig(config)
  const te = c.timeEmbedDim
  const chans = c.channelMults.map((m) => c.baseChannels * m)
  const levels = chans.length
  const block = (s: number, cin: number, cout: number, level: number): number =>
    resBlockMacs(s, cin, cout, te)
    + (c.attentionResolutions.includes(c.imageSize >> level) ? attentionMacs(s, cout) : 0)
    + (c.conditioning === "cross-attention" && c.crossAttentionResolutions.includes(c.imageSize >> level)
      ? crossAttentionMacs(s, cout, c.contextTokens, c.contextDim)
      : 0)
  const extraIn = c.conditioning === "channel" ? c.classChannels : 0
  const convIn = conv(c.imageSize, c.imageSize, 3, c.inChannels + extraIn, c.baseChannels)
  // Encoder, in the order unetParams builds it: the down conv opens the first block of levels > 0.
  const encoder: number[] = []
  const sizes: number[] = [] // spatial size of skip j
  const skipCh: number[] = []
  const levelOf: number[] = []
  let ch = c.baseChannels
  let s = c.imageSize
  for (let i = 0; i < levels; i++) {
    for (let k = 0; k < c.resBlocksPerLevel; k++) {
      let macs = 0
      if (i > 0 && k === 0) {
        s = convSize(s, 3, 2, 1)
        macs += conv(s, s, 3, ch, ch)
      }
      macs += block(s, ch, chans[i]!, i)
      ch = chans[i]!
      encoder.push(macs)
      sizes.push(s)
      skipCh.push(ch)
      levelOf.push(i)
    }
  }
  const middle = c.middleBlock === "res-attn-res" ? 2 * resBlockMacs(s, ch, ch, te) + attentionMacs(s, ch) : 0
  // Decoder stage j: block on concat(h, skip j) at skip j's size, then (last block of a level > 0) the
  // up conv at twice that size. Channels in: h's (ch) + skip j's.
  const decoder = new Array<number>(encoder.length).fill(0)
  for (let j = encoder.length - 1; j >= 0; j--) {
    const level = levelOf[j]!
    const cout = chans[level]!
    let macs = block(sizes[j]!, ch + skipCh[j]!, cout, level)
    ch = cout
    const lastOfLevel = j % c.resBlocksPerLevel === 0 // stages of a level run deepest first; its stage with k = 0 comes last
    if (lastOfLevel && level > 0) macs += conv(2 * sizes[j]!, 2 * sizes[j]!, 3, ch, ch)
    decoder[j] = macs
  }
  const out = conv(c.imageSize, c.imageSize, 3, ch, c.outChannels)
  return { embed: 2 * te * te, convIn, encoder, middle, decoder, out, skipSizes: sizes, skipChannels: skipCh, imageSize: c.imageSize, baseChannels: c.baseChannels }
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0)

/** MACs of a full pass (one item). */
export const fullPassMacs = (m: UNetMacs): number => m.embed + m.convIn + sum(m.encoder) + m.middle + sum(m.decoder) + m.out

/** MACs of a shallow pass from `branch` (one item): embed, conv_in, encoder and decoder stages 0..branch, the head. */
export const shallowPassMacs = (m: UNetMacs, branch: number): number => {
  if (!(Number.isInteger(branch) && branch >= 0 && branch < m.encoder.length)) throw new RangeError(`unet macs: branch ${branch} outside 0..${m.encoder.length - 1}`)
  return m.embed + m.convIn + sum(m.encoder.slice(0, branch + 1)) + sum(m.decoder.slice(0, branch + 1)) + m.out
}

/** The parts of a ControlNet (src/ml/nn/controlnet.ts) that decide its cost. */
export interface ControlNetShape {
  readonly controlChannels: number
  readonly hintChannels: readonly number[]
  readonly skips: readonly number[]
  readonly middle: boolean
}

/**
 * MACs of a ControlNet's pass for one item, on top of its base's (`m`, the base's counts), as
 * controlResiduals runs it: the hint network E (3x3 convs at full size, its last conv into
 * baseChannels), the copy's embedding, conv_in and encoder stages, the middle block when it has a
 * middle residual, and a 1x1 zero conv per controlled skip. A full pass (upTo undefined) runs the
 * encoder down to the deepest controlled stage (all of it with a middle residual); a shallow pass
 * (DeepCache, upTo = branch + 1) runs stages 0..upTo-1 at most. Stages no residual needs are not run.
 */
export const controlNetMacs = (m: UNetMacs, c: ControlNetShape, upTo?: number): number => {
  const stages = m.encoder.length
  const n = upTo ?? stages
  const withMiddle = upTo === undefined && c.middle
  const run = withMiddle ? n : Math.min(n, Math.max(0, ...c.skips.map((j) => j + 1)))
  if (run === 0) return 0
  const s = m.imageSize
  const widths = [c.controlChannels, ...c.hintChannels, m.baseChannels]
  const hint = sum(widths.slice(1).map((w, i) => conv(s, s, 3, widths[i]!, w)))
  const zeros = sum(c.skips.filter((j) => j < run).map((j) => conv(m.skipSizes[j]!, m.skipSizes[j]!, 1, m.skipChannels[j]!, m.skipChannels[j]!)))
  const deep = m.skipChannels.at(-1)!
  const deepSize = m.skipSizes.at(-1)!
  const middle = withMiddle ? m.middle + conv(deepSize, deepSize, 1, deep, deep) : 0
  return hint + m.embed + m.convIn + sum(m.encoder.slice(0, run)) + zeros + middle
}

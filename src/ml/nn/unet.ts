// Noise-prediction U-Net (DDPM-style, Ho et al. arXiv:2006.11239) built from src/ml/nn/layers.ts.
// referenceUNetConfig reproduces ../shared/peers/REFERENCE_UNET.md exactly (624,481 parameters):
// conv_in -> per level [ResBlock x n (each output is a skip), down conv except at the last level]
// -> per level, deepest first [ResBlock on concat(h, skip) x n, then (nearest x2 + conv) except at
// level 0] -> GN -> SiLU -> conv_out. No middle block (the reference has none).
import * as tf from "@tensorflow/tfjs"
import { Rng } from "../random.ts"
import {
  type AttentionParams, type Conv2dParams, type GroupNormParams, type LinearParams, type ResBlockParams,
  attention, attentionParams, classEmbedding, conv2d, conv2dParams, down, downParams, groupNormLayer, groupNormParams,
  linear, linearParams, resBlock, resBlockParams, silu, sinusoidalEmbedding, up, upParams,
} from "./layers.ts"
import {
  type Model, configRecord, intArrayField, intField, numberField, optionalIntField, registerArchitecture,
} from "./model.ts"
import { ParamBuilder } from "./params.ts"

export interface UNetConfig {
  readonly inChannels: number
  readonly outChannels: number
  readonly baseChannels: number
  /** Channels at level i = baseChannels * channelMults[i]; resolution halves between levels. */
  readonly channelMults: readonly number[]
  readonly resBlocksPerLevel: number
  /** Spatial sizes (e.g. 7, 14) after whose ResBlocks a self-attention block is inserted. */
  readonly attentionResolutions: readonly number[]
  readonly dropout: number
  /** Sinusoid size and width of the time MLP. */
  readonly timeEmbedDim: number
  /** Class conditioning: embeddings for 0..numClasses-1 plus a learned null class numClasses (CFG). */
  readonly numClasses?: number
  /** GroupNorm groups (default 8). */
  readonly groups?: number
  /** Input height = width, used to place attention blocks (default 28). */
  readonly imageSize?: number
}

/** Exactly the peer U-Net of REFERENCE_UNET.md. */
export const referenceUNetConfig: UNetConfig = {
  inChannels: 1, outChannels: 1, baseChannels: 32, channelMults: [1, 2, 2], resBlocksPerLevel: 1,
  attentionResolutions: [], dropout: 0, timeEmbedDim: 128,
}

interface Block {
  readonly res: ResBlockParams
  readonly attn: AttentionParams | null
}
interface UNetParams {
  readonly time1: LinearParams
  readonly time2: LinearParams
  readonly classEmb: tf.Variable | null
  readonly convIn: Conv2dParams
  readonly enc: readonly (readonly Block[])[]
  readonly downs: readonly Conv2dParams[]
  readonly dec: readonly (readonly Block[])[] // dec[i] is level i
  readonly ups: readonly Conv2dParams[] // ups[i-1] takes level i up to level i-1
  readonly outNorm: GroupNormParams
  readonly convOut: Conv2dParams
}

const buildParams = (c: UNetConfig, pb: ParamBuilder): UNetParams => {
  const groups = c.groups ?? 8
  const te = c.timeEmbedDim
  const size0 = c.imageSize ?? 28
  const chans = c.channelMults.map((m) => c.baseChannels * m)
  const levels = chans.length
  // Variable creation order follows the peer's module order where it matters only for readability.
  const time1 = linearParams(pb, "time.0", te, te)
  const time2 = linearParams(pb, "time.2", te, te)
  const classEmb = c.numClasses === undefined ? null : pb.normal("class_emb", [c.numClasses + 1, te], 1)
  const convIn = conv2dParams(pb, "conv_in", c.inChannels, c.baseChannels)
  const withAttn = (name: string, ch: number, level: number): AttentionParams | null =>
    c.attentionResolutions.includes(size0 >> level) ? attentionParams(pb, `${name}.attn`, ch, groups) : null
  const enc: Block[][] = []
  const downs: Conv2dParams[] = []
  const skipChans: number[] = []
  let ch = c.baseChannels
  for (let i = 0; i < levels; i++) {
    const blocks: Block[] = []
    for (let j = 0; j < c.resBlocksPerLevel; j++) {
      const name = c.resBlocksPerLevel === 1 ? `enc${i}` : `enc${i}.${j}`
      blocks.push({ res: resBlockParams(pb, name, ch, chans[i]!, te, groups), attn: withAttn(name, chans[i]!, i) })
      ch = chans[i]!
      skipChans.push(ch)
    }
    enc.push(blocks)
    if (i < levels - 1) downs.push(downParams(pb, `down${i}`, ch))
  }
  const dec: Block[][] = new Array<Block[]>(levels)
  const ups: Conv2dParams[] = new Array<Conv2dParams>(Math.max(levels - 1, 0))
  for (let i = levels - 1; i >= 0; i--) {
    const blocks: Block[] = []
    for (let j = 0; j < c.resBlocksPerLevel; j++) {
      const name = c.resBlocksPerLevel === 1 ? `dec${i}` : `dec${i}.${j}`
      const skip = skipChans.pop()!
      blocks.push({ res: resBlockParams(pb, name, ch + skip, chans[i]!, te, groups), attn: withAttn(name, chans[i]!, i) })
      ch = chans[i]!
    }
    dec[i] = blocks
    if (i > 0) ups[i - 1] = upParams(pb, `up${i}`, ch)
  }
  const outNorm = groupNormParams(pb, "out_gn", ch, groups)
  const convOut = conv2dParams(pb, "conv_out", ch, c.outChannels)
  return { time1, time2, classEmb, convIn, enc, downs, dec, ups, outNorm, convOut }
}

/** emb = SiLU(Linear(SiLU(Linear(sinusoid(t)))) [+ class embedding]) as in the reference. */
const embedTime = (p: UNetParams, c: UNetConfig, t: tf.Tensor1D, labels: tf.Tensor1D | undefined): tf.Tensor2D =>
  tf.tidy(() => {
    let e = linear(p.time2, silu(linear(p.time1, sinusoidalEmbedding(t, c.timeEmbedDim))))
    if (p.classEmb !== null) {
      const ids = labels ?? tf.fill([t.shape[0]], c.numClasses!, "int32")
      e = e.add(classEmbedding(p.classEmb, ids, c.numClasses! + 1))
    }
    return silu(e)
  })

export const createUNet = (config: UNetConfig, seed: number): Model<UNetConfig> => {
  const pb = new ParamBuilder(new Rng(seed).fork("unet-init"))
  const p = buildParams(config, pb)
  const variables = pb.variables()
  return {
    architecture: "unet",
    config,
    variables,
    apply: (x, t, opts = {}) =>
      tf.tidy(() => {
        const o = { training: opts.training === true, dropout: config.dropout, rng: opts.rng }
        const emb = embedTime(p, config, t, opts.labels)
        const block = (b: Block, h: tf.Tensor4D): tf.Tensor4D => {
          const r = resBlock(b.res, h, emb, o)
          return b.attn === null ? r : attention(b.attn, r)
        }
        let h = conv2d(p.convIn, x as tf.Tensor4D)
        const skips: tf.Tensor4D[] = []
        p.enc.forEach((blocks, i) => {
          for (const b of blocks) {
            h = block(b, h)
            skips.push(h)
          }
          if (i < p.downs.length) h = down(p.downs[i]!, h)
        })
        for (let i = p.dec.length - 1; i >= 0; i--) {
          for (const b of p.dec[i]!) h = block(b, tf.concat([h, skips.pop()!], 3))
          if (i > 0) h = up(p.ups[i - 1]!, h)
        }
        return conv2d(p.convOut, groupNormLayer(p.outNorm, h, { silu: true }))
      }),
  }
}

export const decodeUNetConfig = (json: unknown): UNetConfig => {
  const a = "unet"
  const r = configRecord(a, json)
  const numClasses = optionalIntField(a, r, "numClasses")
  const groups = optionalIntField(a, r, "groups")
  const imageSize = optionalIntField(a, r, "imageSize")
  return {
    inChannels: intField(a, r, "inChannels"),
    outChannels: intField(a, r, "outChannels"),
    baseChannels: intField(a, r, "baseChannels"),
    channelMults: intArrayField(a, r, "channelMults"),
    resBlocksPerLevel: intField(a, r, "resBlocksPerLevel"),
    attentionResolutions: intArrayField(a, r, "attentionResolutions"),
    dropout: numberField(a, r, "dropout"),
    timeEmbedDim: intField(a, r, "timeEmbedDim"),
    ...(numClasses === undefined ? {} : { numClasses }),
    ...(groups === undefined ? {} : { groups }),
    ...(imageSize === undefined ? {} : { imageSize }),
  }
}

registerArchitecture<UNetConfig>("unet", { decodeConfig: decodeUNetConfig, build: createUNet })

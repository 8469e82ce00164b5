// Noise-prediction U-Net (DDPM-style, Ho et al. arXiv:2006.11239) built from src/ml/nn/layers.ts as
// stages over a params record, in the shape of diffusers' UNet2DConditionModel.forward:
//   ctx  = embed(t, cond)                  time MLP (+ class embedding), context tokens, class map
//   h, skips = encode(x, ctx)              conv_in (+ control hint), then one stage per skip:
//                                          [down conv] -> ResBlock [-> self-attn] [-> cross-attn]
//   h    = middle(h, ctx)                  optional ResBlock -> self-attn -> ResBlock
//   out  = decode(h, skips, ctx)           (+ middle residual) one stage per skip, deepest first:
//                                          ResBlock on concat(h, skip (+ residual)) [-> attn...] [-> up]
//                                          -> GN -> SiLU -> conv_out
// A *branch* is a skip connection, numbered 0 (shallowest) .. branches-1 (deepest); stage j of the
// encoder produces skip j and stage j of the decoder consumes it. `encode(..., {upTo: b + 1})` runs the
// encoder down to branch b and `decode(..., {from: b})` the decoder up from it: what DeepCache runs on
// its shallow steps (Ma et al. arXiv:2312.00858), while `keep: b` hands back the feature entering
// decoder stage b on a full step. ControlNet residuals enter through `cond.residuals`.
// referenceUNetConfig reproduces ../shared/peers/REFERENCE_UNET.md exactly (624,481 parameters, no
// middle block); variable names and values are those of the closure-built U-Net before these stages.
// Conditioning routes (for classifier-free guidance, Ho & Salimans arXiv:2207.12598; the null class
// numClasses is the unconditional model):
//   embedding        a learned label embedding added to the time embedding
//   channel          a learned per-class map [S, S, classChannels] concatenated to x as input channels
//   cross-attention  image features at `crossAttentionResolutions` attend to `contextTokens` learned
//                    tokens per class: several tokens, because attention over one key is a softmax over
//                    one element (weight 1 everywhere), which would reduce it to a fixed per-class bias
import * as tf from "@tensorflow/tfjs"
import { Rng } from "../random.ts"
import type { Conditioning, ControlResiduals } from "./conditioning.ts"
import {
  type ApplyOptions, type AttentionParams, type Conv2dParams, type CrossAttentionParams, type GroupNormParams, type LinearParams,
  type ResBlockParams, attention, attentionParams, classEmbedding, conv2d, conv2dParams, crossAttention, crossAttentionParams, down,
  downParams, groupNormLayer, groupNormParams, linear, linearParams, resBlock, resBlockParams, silu, sinusoidalEmbedding, up, upParams,
} from "./layers.ts"
import {
  type Architecture, type ApplyOpts, type Model, configRecord, intArrayField, intField, numberField, optionalEnumField, optionalIntArrayField,
  optionalIntField,
} from "./model.ts"
import { ParamBuilder } from "./params.ts"

export const unetConditionings = ["none", "embedding", "channel", "cross-attention"] as const
export type UNetConditioning = (typeof unetConditionings)[number]
export const middleBlocks = ["none", "res-attn-res"] as const
export type MiddleBlock = (typeof middleBlocks)[number]

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
  /** Class conditioning: classes 0..numClasses-1 plus a learned null class numClasses (CFG). */
  readonly numClasses?: number
  /** GroupNorm groups (default 8). */
  readonly groups?: number
  /** Input height = width, used to place attention blocks (default 28). */
  readonly imageSize?: number
  /** How labels enter (needs numClasses). Default: "embedding" when numClasses is set, else "none". */
  readonly conditioning?: UNetConditioning
  /** channel route: extra input channels of the class map (default 1). */
  readonly classChannels?: number
  /** cross-attention route: spatial sizes with a cross-attention block (default [14, 7]). */
  readonly crossAttentionResolutions?: readonly number[]
  /** cross-attention route: learned tokens per class (default 4). */
  readonly contextTokens?: number
  /** cross-attention route: token width D (default 64). */
  readonly contextDim?: number
  /** Middle block between encoder and decoder (default "none", as the reference). */
  readonly middleBlock?: MiddleBlock
}

/** Exactly the peer U-Net of REFERENCE_UNET.md. */
export const referenceUNetConfig: UNetConfig = {
  inChannels: 1, outChannels: 1, baseChannels: 32, channelMults: [1, 2, 2], resBlocksPerLevel: 1,
  attentionResolutions: [], dropout: 0, timeEmbedDim: 128,
}

/** The config with every optional field resolved. */
export interface ResolvedUNetConfig extends Required<Omit<UNetConfig, "numClasses">> {
  readonly numClasses: number | undefined
}

export const resolveUNetConfig = (c: UNetConfig): ResolvedUNetConfig => {
  const conditioning = c.conditioning ?? (c.numClasses === undefined ? "none" : "embedding")
  if (conditioning !== "none" && c.numClasses === undefined) throw new Error(`unet config: conditioning "${conditioning}" needs numClasses`)
  return {
    ...c,
    numClasses: c.numClasses,
    groups: c.groups ?? 8,
    imageSize: c.imageSize ?? 28,
    conditioning,
    classChannels: c.classChannels ?? 1,
    crossAttentionResolutions: c.crossAttentionResolutions ?? [14, 7],
    contextTokens: c.contextTokens ?? 4,
    contextDim: c.contextDim ?? 64,
    middleBlock: c.middleBlock ?? "none",
  }
}

/** ResBlock with its optional self- and cross-attention. */
export interface Block {
  readonly res: ResBlockParams
  readonly attn: AttentionParams | null
  readonly xattn: CrossAttentionParams | null
}
/** Encoder stage j: produces skip j. `down` halves the resolution first (first block of levels > 0). */
export interface EncoderStage {
  readonly down: Conv2dParams | null
  readonly block: Block
}
/** Decoder stage j: consumes skip j. `up` doubles the resolution after it (last block of levels > 0). */
export interface DecoderStage {
  readonly block: Block
  readonly up: Conv2dParams | null
}
export interface MiddleParams {
  readonly res1: ResBlockParams
  readonly attn: AttentionParams
  readonly res2: ResBlockParams
}
/** Everything up to and including the middle block: what a ControlNet copies. */
export interface UNetEncoderParams {
  readonly time1: LinearParams
  readonly time2: LinearParams
  readonly classEmb: tf.Variable | null // embedding route: [numClasses + 1, timeEmbedDim]
  readonly classMap: tf.Variable | null // channel route: [numClasses + 1, S * S * classChannels]
  readonly contextTokens: tf.Variable | null // cross-attention route: [numClasses + 1, K * D]
  readonly convIn: Conv2dParams
  readonly encoder: readonly EncoderStage[] // indexed by branch
  readonly middle: MiddleParams | null
}
export interface UNetDecoderParams {
  readonly decoder: readonly DecoderStage[] // indexed by branch (run from the deepest)
  readonly outNorm: GroupNormParams
  readonly convOut: Conv2dParams
}
export type UNetParams = UNetEncoderParams & UNetDecoderParams

/** Channels of skip j (= output channels of encoder stage j), shallowest first. */
export const skipChannels = (c: UNetConfig): number[] =>
  c.channelMults.flatMap((m) => new Array<number>(c.resBlocksPerLevel).fill(c.baseChannels * m))

/** Spatial size of skip j. */
export const skipSizes = (c: UNetConfig): number[] => {
  const s = c.imageSize ?? 28
  return c.channelMults.flatMap((_, i) => new Array<number>(c.resBlocksPerLevel).fill(s >> i))
}

export const branchCount = (c: UNetConfig): number => c.channelMults.length * c.resBlocksPerLevel

const blockName = (side: "enc" | "dec", c: UNetConfig, level: number, k: number): string =>
  c.resBlocksPerLevel === 1 ? `${side}${level}` : `${side}${level}.${k}`

/**
 * Builds the variables. parts "encoder" stops after the middle block (a ControlNet's trainable copy).
 * Creation order (the Weights row order) is the reference's: time MLP, class tables, conv_in, per level
 * its blocks then its down conv, the middle, per level from the deepest its blocks then its up conv, out.
 */
export function unetParams(config: UNetConfig, pb: ParamBuilder, parts: "all"): UNetParams
export function unetParams(config: UNetConfig, pb: ParamBuilder, parts: "encoder"): UNetEncoderParams
export function unetParams(config: UNetConfig, pb: ParamBuilder, parts: "all" | "encoder"): UNetEncoderParams | UNetParams {
  const c = resolveUNetConfig(config)
  const { groups, timeEmbedDim: te, imageSize: size0 } = c
  const chans = c.channelMults.map((m) => c.baseChannels * m)
  const levels = chans.length
  const rows = (c.numClasses ?? 0) + 1
  const time1 = linearParams(pb, "time.0", te, te)
  const time2 = linearParams(pb, "time.2", te, te)
  const classEmb = c.conditioning === "embedding" ? pb.normal("class_emb", [rows, te], 1) : null
  const classMap = c.conditioning === "channel" ? pb.normal("class_map", [rows, size0 * size0 * c.classChannels], 1) : null
  const contextTokens = c.conditioning === "cross-attention" ? pb.normal("context_tokens", [rows, c.contextTokens * c.contextDim], 1) : null
  const extraIn = c.conditioning === "channel" ? c.classChannels : 0
  const convIn = conv2dParams(pb, "conv_in", c.inChannels + extraIn, c.baseChannels)
  const block = (name: string, cin: number, cout: number, level: number): Block => ({
    res: resBlockParams(pb, name, cin, cout, te, groups),
    attn: c.attentionResolutions.includes(size0 >> level) ? attentionParams(pb, `${name}.attn`, cout, groups) : null,
    xattn: c.conditioning === "cross-attention" && c.crossAttentionResolutions.includes(size0 >> level)
      ? crossAttentionParams(pb, `${name}.xattn`, cout, c.contextDim, groups)
      : null,
  })
  const encoder: EncoderStage[] = []
  let ch = c.baseChannels
  let pendingDown: Conv2dParams | null = null
  for (let i = 0; i < levels; i++) {
    for (let k = 0; k < c.resBlocksPerLevel; k++) {
      encoder.push({ down: pendingDown, block: block(blockName("enc", c, i, k), ch, chans[i]!, i) })
      pendingDown = null
      ch = chans[i]!
    }
    if (i < levels - 1) pendingDown = downParams(pb, `down${i}`, ch)
  }
  const middle: MiddleParams | null = c.middleBlock === "res-attn-res"
    ? { res1: resBlockParams(pb, "mid.res1", ch, ch, te, groups), attn: attentionParams(pb, "mid.attn", ch, groups), res2: resBlockParams(pb, "mid.res2", ch, ch, te, groups) }
    : null
  const enc: UNetEncoderParams = { time1, time2, classEmb, classMap, contextTokens, convIn, encoder, middle }
  if (parts === "encoder") return enc
  const skips = skipChannels(c)
  const decoder = new Array<DecoderStage>(skips.length)
  for (let i = levels - 1; i >= 0; i--) {
    for (let k = 0; k < c.resBlocksPerLevel; k++) {
      const j = i * c.resBlocksPerLevel + (c.resBlocksPerLevel - 1 - k) // deepest skip of the level first
      const b = block(blockName("dec", c, i, k), ch + skips[j]!, chans[i]!, i)
      ch = chans[i]!
      const last = k === c.resBlocksPerLevel - 1
      decoder[j] = { block: b, up: last && i > 0 ? upParams(pb, `up${i}`, ch) : null }
    }
  }
  const outNorm = groupNormParams(pb, "out_gn", ch, groups)
  const convOut = conv2dParams(pb, "conv_out", ch, c.outChannels)
  return { ...enc, decoder, outNorm, convOut }
}

/** What every block reads besides its input: the embedding, context tokens, dropout settings. */
export interface StageContext {
  readonly emb: tf.Tensor2D // [B, timeEmbedDim]
  readonly context: tf.Tensor3D | null // [B, N, D]
  readonly classMap: tf.Tensor4D | null // [B, S, S, classChannels]
  readonly o: ApplyOptions
}

const labelIds = (c: ResolvedUNetConfig, batch: number, cond: Conditioning | undefined): tf.Tensor1D =>
  cond?.labels ?? (tf.fill([batch], c.numClasses ?? 0, "int32") as tf.Tensor1D)

/**
 * emb = SiLU(Linear(SiLU(Linear(sinusoid(t)))) [+ class embedding]) as in the reference, and the
 * label-dependent inputs of the other routes. Labels absent = the null class.
 */
export const unetEmbed = (p: UNetEncoderParams, config: UNetConfig, t: tf.Tensor1D, cond: Conditioning | undefined, opts: ApplyOpts = {}): StageContext => {
  const c = resolveUNetConfig(config)
  const tensors = tf.tidy(() => {
    const B = t.shape[0]
    const rows = (c.numClasses ?? 0) + 1
    let e = linear(p.time2, silu(linear(p.time1, sinusoidalEmbedding(t, c.timeEmbedDim))))
    if (p.classEmb !== null) e = e.add(classEmbedding(p.classEmb, labelIds(c, B, cond), rows))
    const s = c.imageSize
    const classMap = p.classMap === null ? undefined : (classEmbedding(p.classMap, labelIds(c, B, cond), rows).reshape([B, s, s, c.classChannels]) as tf.Tensor4D)
    const context = cond?.context
      ?? (p.contextTokens === null ? undefined : (classEmbedding(p.contextTokens, labelIds(c, B, cond), rows).reshape([B, c.contextTokens, c.contextDim]) as tf.Tensor3D))
    return { emb: silu(e) as tf.Tensor2D, context, classMap }
  })
  return { emb: tensors.emb, context: tensors.context ?? null, classMap: tensors.classMap ?? null, o: { training: opts.training === true, dropout: c.dropout, rng: opts.rng } }
}

const runBlock = (b: Block, h: tf.Tensor4D, s: StageContext): tf.Tensor4D => {
  let r = resBlock(b.res, h, s.emb, s.o)
  if (b.attn !== null) r = attention(b.attn, r)
  if (b.xattn !== null) {
    if (s.context === null) throw new Error("unet: a cross-attention block needs context tokens (cond.context or the model's label tokens)")
    r = crossAttention(b.xattn, r, s.context)
  }
  return r
}

export interface EncodeOptions {
  /** Run encoder stages 0..upTo-1 only (default: all): DeepCache's shallow pass. */
  readonly upTo?: number
  /** Added to conv_in's output: a ControlNet copy's conditioning-image features. */
  readonly hint?: tf.Tensor4D
}

/** x [B, S, S, C] -> the deepest feature h and the skips of the stages run, shallowest first. */
export const unetEncode = (p: UNetEncoderParams, x: tf.Tensor4D, s: StageContext, o: EncodeOptions = {}): { h: tf.Tensor4D; skips: tf.Tensor4D[] } =>
  tf.tidy(() => {
    const upTo = o.upTo ?? p.encoder.length
    if (!(upTo >= 1 && upTo <= p.encoder.length)) throw new RangeError(`unet encode: upTo ${upTo} outside 1..${p.encoder.length}`)
    const xIn = s.classMap === null ? x : (tf.concat([x, s.classMap], 3) as tf.Tensor4D)
    let h = conv2d(p.convIn, xIn)
    if (o.hint !== undefined) h = h.add(o.hint)
    const skips: tf.Tensor4D[] = []
    for (let j = 0; j < upTo; j++) {
      const stage = p.encoder[j]!
      if (stage.down !== null) h = down(stage.down, h)
      h = runBlock(stage.block, h, s)
      skips.push(h)
    }
    return { h, skips }
  })

/** The middle block (identity when the config has none). */
export const unetMiddle = (p: UNetEncoderParams, h: tf.Tensor4D, s: StageContext): tf.Tensor4D =>
  p.middle === null ? h : tf.tidy(() => resBlock(p.middle!.res2, attention(p.middle!.attn, resBlock(p.middle!.res1, h, s.emb, s.o)), s.emb, s.o))

export interface DecodeOptions {
  /** Start at decoder stage `from` with h as its input feature (default: the deepest stage). */
  readonly from?: number
  /** Added to the skips (and, on a full decode, the deepest feature): ControlNet's outputs. */
  readonly residuals?: ControlResiduals
  /** Also return the feature entering decoder stage `keep` (DeepCache's cached feature). */
  readonly keep?: number
}

/** h (and skips 0..from) -> the network output; `kept` is the feature entering stage `keep`. */
export const unetDecode = (
  p: UNetParams, h0: tf.Tensor4D, skips: readonly tf.Tensor4D[], s: StageContext, o: DecodeOptions = {},
): { out: tf.Tensor4D; kept?: tf.Tensor4D } =>
  tf.tidy(() => {
    const last = p.decoder.length - 1
    const from = o.from ?? last
    if (!(from >= 0 && from <= last)) throw new RangeError(`unet decode: from ${from} outside 0..${last}`)
    if (skips.length <= from) throw new RangeError(`unet decode: from ${from} needs ${from + 1} skips, got ${skips.length}`)
    const r = o.residuals
    if (r !== undefined && r.skips.length !== skips.length && r.skips.length !== p.decoder.length)
      throw new RangeError(`unet decode: ${r.skips.length} skip residuals for ${p.decoder.length} skips`)
    let h: tf.Tensor4D = from === last && r?.middle !== undefined ? h0.add(r.middle) : h0
    let kept: tf.Tensor4D | undefined
    for (let j = from; j >= 0; j--) {
      if (j === o.keep) kept = h
      const skip: tf.Tensor4D = r === undefined ? skips[j]! : skips[j]!.add(r.skips[j]!)
      h = runBlock(p.decoder[j]!.block, tf.concat([h, skip], 3) as tf.Tensor4D, s)
      const upConv = p.decoder[j]!.up
      if (upConv !== null) h = up(upConv, h)
    }
    const out = conv2d(p.convOut, groupNormLayer(p.outNorm, h, { silu: true }))
    return kept === undefined ? { out } : { out, kept }
  })

export interface UNet extends Model<UNetConfig> {
  /** The params record the stage functions take (a wrapper composes stages; it never reaches into apply). */
  readonly params: UNetParams
  /** Skip connections, the branch indices of encode / decode. */
  readonly branches: number
}

/** A U-Net; `scope` places its variables under a prefix and/or freezes them (a ControlNet's base). */
export const createUNet = (config: UNetConfig, seed: number, scope?: { readonly prefix?: string; readonly trainable?: boolean }): UNet => {
  resolveUNetConfig(config) // validate before allocating
  const root = new ParamBuilder(new Rng(seed).fork("unet-init"))
  const pb = scope === undefined ? root : root.scope(scope.prefix ?? "", scope.trainable === undefined ? {} : { trainable: scope.trainable })
  const p = unetParams(config, pb, "all")
  return {
    architecture: "unet",
    config,
    variables: pb.variables(),
    params: p,
    branches: p.encoder.length,
    apply: (x, t, opts = {}) =>
      tf.tidy(() => {
        const s = unetEmbed(p, config, t, opts.cond, opts)
        const { h, skips } = unetEncode(p, x as tf.Tensor4D, s)
        const r = opts.cond?.residuals
        return unetDecode(p, unetMiddle(p, h, s), skips, s, r === undefined ? {} : { residuals: r }).out
      }),
  }
}

export const decodeUNetConfig = (json: unknown): UNetConfig => {
  const a = "unet"
  const r = configRecord(a, json)
  const optional = {
    numClasses: optionalIntField(a, r, "numClasses"),
    groups: optionalIntField(a, r, "groups"),
    imageSize: optionalIntField(a, r, "imageSize"),
    conditioning: optionalEnumField(a, r, "conditioning", unetConditionings),
    classChannels: optionalIntField(a, r, "classChannels"),
    crossAttentionResolutions: optionalIntArrayField(a, r, "crossAttentionResolutions"),
    contextTokens: optionalIntField(a, r, "contextTokens"),
    contextDim: optionalIntField(a, r, "contextDim"),
    middleBlock: optionalEnumField(a, r, "middleBlock", middleBlocks),
  }
  const config: UNetConfig = {
    inChannels: intField(a, r, "inChannels"),
    outChannels: intField(a, r, "outChannels"),
    baseChannels: intField(a, r, "baseChannels"),
    channelMults: intArrayField(a, r, "channelMults"),
    resBlocksPerLevel: intField(a, r, "resBlocksPerLevel"),
    attentionResolutions: intArrayField(a, r, "attentionResolutions"),
    dropout: numberField(a, r, "dropout"),
    timeEmbedDim: intField(a, r, "timeEmbedDim"),
    ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
  }
  resolveUNetConfig(config)
  return config
}

export const unetArchitecture: Architecture<UNetConfig, UNet> = { name: "unet", decodeConfig: decodeUNetConfig, build: (c, seed) => createUNet(c, seed) }

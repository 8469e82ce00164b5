// src/ml/nn/controlnet.ts: ControlNet (Zhang, Rao & Agrawala, ICCV 2023, arXiv:2302.05543) for a
// pixel-space diffusion U-Net (src/ml/nn/unet.ts). Notation of the paper, sec. 3.1:
//   F(x; Θ)     the locked base: a trained U-Net, frozen (its variables have trainable = false)
//   F(x; Θ_c)   the trainable copy of the base's encoder and middle block, initialised FROM Θ
//   Z(·; Θ_z)   "zero convolutions": 1x1 convs whose weight and bias start at 0
//   c_f = E(c)  the condition (a Canny edge map [B, H, W, 1] in [0, 1]) through a small encoder E
//   y_c = F(x; Θ) + Z(F(x + Z(c; Θ_z1); Θ_c); Θ_z2)                                       eq. (2)
// In the U-Net (paper Fig. 3, diffusers' ControlNetModel): hint = Z(E(c)) is added to the copy's
// conv_in output; the copy's skip j goes through its own zero conv into the base's skip j, and its
// deepest feature (after the middle block) through one more into the base's deepest feature, all
// scaled by controlScale (diffusers' conditioning_scale). Because every path from the copy into the
// base ends in a zero conv, the composite computes exactly the base's output until training moves them.
// Differs from the paper: E is 3x3 stride-1 convs + SiLU ending in a 3x3 zero conv into baseChannels
// (diffusers' ControlNetConditioningEmbedding without its stride-2 convs: this U-Net runs at the image
// resolution, where SD's runs on 64x64 latents of 512x512 images and E downsamples 8x).
// Variables: the base's under their own names (frozen), the ControlNet's under "control." (the copy
// keeps the base's names: "control.enc0.conv1.weight"; E is "control.hint.i", the zero convs
// "control.zero.j" and "control.zero.mid"). A ControlNet's Weights hold only its own variables and
// name the base by weightsDigest (config.base.digest): loading them onto another base is an error.
import * as tf from "@tensorflow/tfjs"
import type { Weights } from "../../artifacts/types.ts"
import { invalidInput } from "../errors.ts"
import { Rng } from "../random.ts"
import { type UNetRunner, unetRunner } from "../sampling/unet-runner.ts"
import type { Conditioning, ControlResiduals } from "./conditioning.ts"
import { type Conv2dParams, conv2d, conv2dParams, silu } from "./layers.ts"
import {
  type ApplyOpts, configRecord, disposeModel, intArrayField, intField, loadWeights, type Model, weightsDigest,
} from "./model.ts"
import { ParamBuilder, type Variables } from "./params.ts"
import {
  branchCount, createUNet, decodeUNetConfig, skipChannels, skipSizes, type UNet, type UNetConfig, type UNetEncoderParams, unetEmbed, unetEncode,
  unetMiddle, unetParams,
} from "./unet.ts"

export const CONTROLNET_ARCHITECTURE = "controlnet"
/** Name prefix of the ControlNet's variables inside the composite model. */
export const CONTROL_PREFIX = "control."

/** What to build besides the base: the choices a ControlNet training makes. */
export interface ControlNetSpec {
  /** Channels of the control image (1 for edge maps). */
  readonly controlChannels: number
  /** Widths of E's 3x3 convs (each followed by SiLU); a 3x3 zero conv into baseChannels ends E. */
  readonly hintChannels: readonly number[]
  /** Branches (skip connections, 0 = shallowest) that receive a residual through a zero conv. */
  readonly skips: readonly number[]
  /** Whether the deepest feature (after the middle block) receives one too. */
  readonly middle: boolean
}

export interface ControlNetConfig extends ControlNetSpec {
  /** The base U-Net's config: the copy mirrors its encoder and middle block. */
  readonly unet: UNetConfig
  /** The base the ControlNet was trained on, by weightsDigest of its Weights. */
  readonly base: { readonly digest: string }
}

export interface ControlNetParams {
  /** F(·; Θ_c): the copy of the base's embedding, encoder and middle block. */
  readonly copy: UNetEncoderParams
  /** E then Z(·; Θ_z1): convs with SiLU between them, the last one zero-initialised. */
  readonly hint: readonly Conv2dParams[]
  /** Z(·; Θ_z2) per branch (null: that skip gets no residual). */
  readonly zeroSkips: readonly (Conv2dParams | null)[]
  /** Z on the deepest feature (null: none). */
  readonly zeroMiddle: Conv2dParams | null
}

/** A conv whose weight and bias are 0, so its output is exactly 0 until trained. */
const zeroConv = (pb: ParamBuilder, name: string, cin: number, cout: number, kernel: number): Conv2dParams => ({
  weight: pb.zeros(`${name}.weight`, [kernel, kernel, cin, cout]),
  bias: pb.zeros(`${name}.bias`, [cout]),
  stride: 1,
  padding: (kernel - 1) >> 1,
})

/** Why a spec does not fit a base config (undefined: it fits). */
export const controlNetSpecProblem = (unet: UNetConfig, s: ControlNetSpec): string | undefined => {
  const n = branchCount(unet)
  const bad = s.skips.find((j) => !Number.isInteger(j) || j < 0 || j >= n)
  if (bad !== undefined) return `control skip ${bad} does not exist: this U-Net has skips 0..${n - 1}`
  if (new Set(s.skips).size !== s.skips.length) return `control skips ${JSON.stringify(s.skips)} repeat a skip`
  if (s.skips.length === 0 && !s.middle) return "a ControlNet needs at least one controlled skip or the middle residual"
  if (!(Number.isInteger(s.controlChannels) && s.controlChannels >= 1)) return `controlChannels must be a positive integer, got ${s.controlChannels}`
  if (s.hintChannels.some((c) => !(Number.isInteger(c) && c >= 1))) return `hint widths must be positive integers, got ${JSON.stringify(s.hintChannels)}`
  return undefined
}

/** Creates the ControlNet's variables (under pb's scope) for a base config. */
export const controlNetParams = (c: ControlNetConfig, pb: ParamBuilder): ControlNetParams => {
  const copy = unetParams(c.unet, pb, "encoder")
  const widths = [c.controlChannels, ...c.hintChannels]
  const hint = [
    ...c.hintChannels.map((w, i) => conv2dParams(pb, `hint.${i}`, widths[i]!, w)),
    zeroConv(pb, `hint.${c.hintChannels.length}`, widths.at(-1)!, c.unet.baseChannels, 3),
  ]
  const chans = skipChannels(c.unet)
  const zeroSkips = chans.map((ch, j) => (c.skips.includes(j) ? zeroConv(pb, `zero.${j}`, ch, ch, 1) : null))
  const deep = chans.at(-1)!
  return { copy, hint, zeroSkips, zeroMiddle: c.middle ? zeroConv(pb, "zero.mid", deep, deep, 1) : null }
}

/** Throws MlError "invalid-input" unless `control` is [B, S, S, controlChannels] for x [B, S, S, C]. */
export const checkControlShape = (c: ControlNetConfig, x: tf.Tensor, control: tf.Tensor): void => {
  const [b, h, w] = x.shape
  const want = [b, h, w, c.controlChannels]
  if (control.rank !== 4 || control.shape.some((d, i) => d !== want[i]))
    throw invalidInput(`control image batch is [${control.shape}] but this ControlNet needs [${want}] (batch, height, width, channels of the base's images)`)
}

export interface ResidualOptions extends ApplyOpts {
  /** Run the copy's encoder stages 0..upTo-1 only (DeepCache's shallow pass): residuals for those skips, none for the middle. */
  readonly upTo?: number
}

/**
 * The residuals controlScale · Z(F(x + Z(E(c)); Θ_c)) for x_t at t and cond.control: one per skip of the
 * pass (zeros where a skip has no zero conv), and on a full pass the deepest feature's.
 */
export const controlResiduals = (
  p: ControlNetParams, c: ControlNetConfig, x: tf.Tensor4D, t: tf.Tensor1D, cond: Conditioning, scale: number, o: ResidualOptions = {},
): ControlResiduals =>
  tf.tidy(() => {
    const control = cond.control
    if (control === undefined) throw invalidInput("a ControlNet needs a control image (cond.control)")
    checkControlShape(c, x, control)
    const B = x.shape[0]
    const sizes = skipSizes(c.unet)
    const chans = skipChannels(c.unet)
    const n = o.upTo ?? p.zeroSkips.length // residuals to return: one per skip of the pass
    const zm = o.upTo === undefined ? p.zeroMiddle : null // the middle residual, on a full pass
    // Stages past the deepest controlled output would feed nothing: they are not run.
    const run = zm !== null ? n : Math.min(n, Math.max(0, ...c.skips.map((j) => j + 1)))
    const zeros = (j: number): tf.Tensor4D => tf.zeros([B, sizes[j]!, sizes[j]!, chans[j]!])
    if (run === 0) return { skips: Array.from({ length: n }, (_, j) => zeros(j)) }
    let hint: tf.Tensor4D = control
    p.hint.forEach((layer, i) => {
      hint = conv2d(layer, hint)
      if (i < p.hint.length - 1) hint = silu(hint)
    })
    const s = unetEmbed(p.copy, c.unet, t, cond, o)
    const { h, skips } = unetEncode(p.copy, x, s, { hint, upTo: run })
    const scaled = (z: Conv2dParams, f: tf.Tensor4D): tf.Tensor4D => (scale === 1 ? conv2d(z, f) : conv2d(z, f).mul(scale))
    const res = Array.from({ length: n }, (_, j) => {
      const z = p.zeroSkips[j]!
      return z === null || j >= run ? zeros(j) : scaled(z, skips[j]!)
    })
    return zm === null ? { skips: res } : { skips: res, middle: scaled(zm, unetMiddle(p.copy, h, s)) }
  })

/** The frozen base and its ControlNet as one Model: apply = the base run with the ControlNet's residuals. */
export interface ControlledUNet extends Model<ControlNetConfig> {
  readonly base: UNet
  readonly control: ControlNetParams
  /** The ControlNet's own variables ("control."-prefixed, trainable): what its Weights hold. */
  readonly controlVariables: Variables
}

export const isControlledUNet = (m: Model): m is ControlledUNet => m.architecture === CONTROLNET_ARCHITECTURE && "controlVariables" in m

const compose = (base: UNet, c: ControlNetConfig, seed: number): ControlledUNet => {
  const pb = new ParamBuilder(new Rng(seed).fork("controlnet-init")).scope(CONTROL_PREFIX, { trainable: true })
  const control = controlNetParams(c, pb)
  const controlVariables = pb.variables()
  return {
    architecture: CONTROLNET_ARCHITECTURE,
    config: c,
    variables: new Map([...base.variables, ...controlVariables]),
    base,
    control,
    controlVariables,
    // Training: controlScale 1 (the paper trains at full strength; the scale is a sampling knob).
    apply: (x, t, opts = {}) =>
      tf.tidy(() => {
        const cond = opts.cond ?? {}
        const residuals = controlResiduals(control, c, x as tf.Tensor4D, t, cond, 1, opts)
        return base.apply(x, t, { ...opts, cond: { ...cond, residuals } })
      }),
  }
}

/** The config of a base U-Net's weights; throws MlError "invalid-input" for another architecture. */
const baseConfig = (w: Weights): UNetConfig => {
  if (w.architecture !== "unet")
    throw invalidInput(`the base must be a pixel-space U-Net (architecture "unet", from train-diffusion), got weights of architecture "${w.architecture}"`)
  return decodeUNetConfig(w.config)
}

/** The base U-Net of `w` with every variable frozen (trainable = false). */
export const frozenUNetFromWeights = (w: Weights): UNet => {
  const base = createUNet(baseConfig(w), 0, { trainable: false })
  try {
    loadWeights(base, w)
  } catch (e) {
    disposeModel(base)
    throw e
  }
  return base
}

/** The config of a ControlNet for `base` (checked: architecture, spec); throws MlError "invalid-input". */
export const controlNetConfigFor = (base: Weights, spec: ControlNetSpec): ControlNetConfig => {
  const unet = baseConfig(base)
  const problem = controlNetSpecProblem(unet, spec)
  if (problem !== undefined) throw invalidInput(problem)
  return { unet, base: { digest: weightsDigest(base) }, controlChannels: spec.controlChannels, hintChannels: [...spec.hintChannels], skips: [...spec.skips], middle: spec.middle }
}

/**
 * A new ControlNet on the frozen base `base`: the copy starts as the base's own encoder and middle block
 * (Θ_c <- Θ, paper sec. 3.1), E's convs from PyTorch's default init (seeded), the zero convs at 0.
 */
export const createControlNet = (base: Weights, spec: ControlNetSpec, seed: number): ControlledUNet => {
  const c = controlNetConfigFor(base, spec)
  const m = compose(frozenUNetFromWeights(base), c, seed)
  tf.tidy(() => {
    for (const [name, v] of m.controlVariables) {
      const source = m.base.variables.get(name.slice(CONTROL_PREFIX.length))
      if (source !== undefined) v.assign(source)
    }
  })
  return m
}

export const decodeControlNetConfig = (json: unknown): ControlNetConfig => {
  const a = CONTROLNET_ARCHITECTURE
  const r = configRecord(a, json)
  const base = configRecord(`${a} base`, r.base)
  if (typeof base.digest !== "string") throw invalidInput(`${a} config: base.digest must be the base weights' digest (a string)`)
  if (typeof r.middle !== "boolean") throw invalidInput(`${a} config: "middle" must be a boolean`)
  const unet = decodeUNetConfig(r.unet)
  const spec: ControlNetSpec = {
    controlChannels: intField(a, r, "controlChannels"), hintChannels: intArrayField(a, r, "hintChannels"), skips: intArrayField(a, r, "skips"), middle: r.middle,
  }
  const problem = controlNetSpecProblem(unet, spec)
  if (problem !== undefined) throw invalidInput(`${a} config: ${problem}`)
  return { ...spec, unet, base: { digest: base.digest } }
}

/** Throws MlError "invalid-input" unless `base` is the base the ControlNet `w` was trained on (checks digests only). */
export const checkControlNetBase = (w: Weights, base: Weights): ControlNetConfig => {
  if (w.architecture !== CONTROLNET_ARCHITECTURE) throw invalidInput(`expected ControlNet weights (architecture "${CONTROLNET_ARCHITECTURE}"), got "${w.architecture}"`)
  const c = decodeControlNetConfig(w.config)
  baseConfig(base)
  const digest = weightsDigest(base)
  if (digest !== c.base.digest)
    throw invalidInput(`this ControlNet was trained on the base with weights digest ${c.base.digest.slice(0, 12)}, but the base given has ${digest.slice(0, 12)}: connect the U-Net it was trained on`)
  return c
}

/** Rebuilds the composite from a ControlNet's Weights and the base it names (checked before any building). */
export const controlNetFromWeights = (w: Weights, base: Weights): ControlledUNet => {
  const c = checkControlNetBase(w, base)
  const m = compose(frozenUNetFromWeights(base), c, 0)
  try {
    loadWeights({ ...m, variables: m.controlVariables }, w)
  } catch (e) {
    disposeModel(m)
    throw e
  }
  return m
}

/**
 * The composite seen as a U-Net runner at `scale` (sampling): a full pass runs the copy's encoder and
 * middle, then the base with every residual; a shallow pass runs the copy's encoder down to the branch
 * only and adds residuals to skips 0..branch (DeepCache reuses the deep feature, which already holds the
 * deeper residuals of its full step). Classifier-free guidance stacks cond.control with the batch.
 */
export const controlNetRunner = (m: ControlledUNet, scale: number): UNetRunner => {
  const base = unetRunner(m.base)
  return {
    branches: base.branches,
    full: (x, t, cond, keep) =>
      tf.tidy(() => base.full(x, t, { ...cond, residuals: controlResiduals(m.control, m.config, x, t, cond, scale) }, keep)),
    shallow: (x, t, cond, branch, deep) =>
      tf.tidy(() => base.shallow(x, t, { ...cond, residuals: controlResiduals(m.control, m.config, x, t, cond, scale, { upTo: branch + 1 }) }, branch, deep)),
  }
}

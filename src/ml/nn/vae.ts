// Convolutional VAE (Kingma & Welling, arXiv:1312.6114) for small images, the first stage of latent
// diffusion (Rombach et al., arXiv:2112.10752): a diffusion model then learns p(z) in its latent space.
// Notation: x [B, H, W, C] NHWC pixels in [0, 1]; q(z|x) = N(mu, diag(exp(logvar))), z [B, D];
// the decoder outputs Bernoulli logits l [B, H, W, C], images = sigmoid(l) in (0, 1).
//
// Topology, channels = [c0, c1, ..., c_{L-1}], level i at resolution S / 2^i (28 -> 14 -> 7):
//   encoder: conv3x3(C -> c0), GN+SiLU; per level i >= 1: conv3x3 stride 2 (c_{i-1} -> c_i), GN+SiLU,
//            conv3x3 (c_i -> c_i), GN+SiLU; flatten; Linear -> [mu, logvar] (2D)
//   decoder: Linear(D -> s² c_{L-1}), reshape [s, s, c_{L-1}], GN+SiLU; per level i = L-1..1:
//            conv3x3 (c_i -> c_i), GN+SiLU, nearest x2, conv3x3 (c_i -> c_{i-1}), GN+SiLU; conv3x3(c0 -> C)
// Upsampling is upsampleNearest2x (never tf.image.resizeNearestNeighbor: its wasm gradient is wrong).
//
// Loss (per image, summed over pixels and latent dimensions, then averaged over the batch, so its
// scale is that of the negative ELBO in nats per image, eq. (10) of arXiv:1312.6114):
//   recon "bce": sum_pixels BCEWithLogits(l, x)  (x in [0, 1] as soft targets; its minimum is the
//                entropy of x, not 0, for grey pixels)
//   recon "mse": sum_pixels (sigmoid(l) - x)²
//   KL = 0.5 sum_d (mu² + exp(logvar) - 1 - logvar)            (App. B of arXiv:1312.6114)
//   loss = recon + beta * KL                                   (beta-VAE, Higgins et al. 2017)
import * as tf from "@tensorflow/tfjs"
import { Rng } from "../random.ts"
import { type Conv2dParams, type GroupNormParams, type LinearParams, conv2d, conv2dParams, groupNormLayer, groupNormParams, linear, linearParams } from "./layers.ts"
import { type Model, configRecord, intArrayField, intField, type Architecture, fromWeights } from "./model.ts"
import { upsampleNearest2x } from "./ops.ts"
import { ParamBuilder } from "./params.ts"
import type { Weights } from "../../artifacts/types.ts"

export interface VaeConfig {
  /** Input height = width; must be divisible by 2^(channels.length - 1). */
  readonly imageSize: number
  readonly inChannels: number
  /** Width per resolution level (level i at imageSize / 2^i). */
  readonly channels: readonly number[]
  readonly latentDim: number // D
  /** GroupNorm groups; must divide every width. */
  readonly groups: number
}

export const defaultVaeConfig: VaeConfig = { imageSize: 28, inChannels: 1, channels: [16, 32, 32], latentDim: 16, groups: 8 }

export type ReconLoss = "bce" | "mse"

export interface VaeLossOptions {
  readonly recon: ReconLoss
  readonly beta: number
}

export interface VaeLoss {
  readonly loss: tf.Scalar // recon + beta KL, batch mean of per-image sums
  readonly recon: tf.Scalar
  readonly kl: tf.Scalar
}

export interface VaeModel extends Model<VaeConfig> {
  /** q(z|x): x [B, S, S, C] in [0, 1] -> mu, logvar [B, D]. */
  encode(x: tf.Tensor4D): { readonly mu: tf.Tensor2D; readonly logvar: tf.Tensor2D }
  /** Decoder logits [B, S, S, C] for latents z [B, D]. */
  decodeLogits(z: tf.Tensor2D): tf.Tensor4D
  /** Images sigmoid(logits) in [0, 1], [B, S, S, C]. */
  decode(z: tf.Tensor2D): tf.Tensor4D
}

interface ConvGn {
  readonly conv: Conv2dParams
  readonly gn: GroupNormParams
}
interface VaeParams {
  readonly encIn: ConvGn
  readonly encLevels: readonly { readonly down: ConvGn; readonly conv: ConvGn }[]
  readonly encOut: LinearParams
  readonly decIn: LinearParams
  readonly decInNorm: GroupNormParams
  readonly decLevels: readonly { readonly conv: ConvGn; readonly up: ConvGn }[] // deepest first
  readonly decOut: Conv2dParams
}

/** Side length of the deepest feature map. */
const bottomSize = (c: VaeConfig): number => c.imageSize >> (c.channels.length - 1)

export const validateVaeConfig = (c: VaeConfig): VaeConfig => {
  const L = c.channels.length
  if (L < 1) throw new Error("vae config: channels needs at least one level")
  if (c.imageSize % (1 << (L - 1)) !== 0) throw new Error(`vae config: imageSize ${c.imageSize} is not divisible by 2^${L - 1} (${L} levels)`)
  if (!(c.latentDim >= 1)) throw new Error(`vae config: latentDim ${c.latentDim} must be >= 1`)
  for (const w of c.channels)
    if (!(w >= 1) || w % c.groups !== 0) throw new Error(`vae config: width ${w} is not a positive multiple of groups ${c.groups}`)
  return c
}

const convGn = (pb: ParamBuilder, name: string, cin: number, cout: number, groups: number, stride = 1): ConvGn => ({
  conv: conv2dParams(pb, `${name}.conv`, cin, cout, { kernel: 3, stride, padding: 1 }),
  gn: groupNormParams(pb, `${name}.gn`, cout, groups),
})
const applyConvGn = (p: ConvGn, x: tf.Tensor4D): tf.Tensor4D => groupNormLayer(p.gn, conv2d(p.conv, x), { silu: true })

const buildParams = (c: VaeConfig, pb: ParamBuilder): VaeParams => {
  const ch = c.channels
  const L = ch.length
  const s = bottomSize(c)
  const g = c.groups
  const encIn = convGn(pb, "enc_in", c.inChannels, ch[0]!, g)
  const encLevels = []
  for (let i = 1; i < L; i++)
    encLevels.push({ down: convGn(pb, `enc${i}.down`, ch[i - 1]!, ch[i]!, g, 2), conv: convGn(pb, `enc${i}.res`, ch[i]!, ch[i]!, g) })
  const encOut = linearParams(pb, "enc_out", s * s * ch[L - 1]!, 2 * c.latentDim)
  const decIn = linearParams(pb, "dec_in", c.latentDim, s * s * ch[L - 1]!)
  const decInNorm = groupNormParams(pb, "dec_in.gn", ch[L - 1]!, g)
  const decLevels = []
  for (let i = L - 1; i >= 1; i--)
    decLevels.push({ conv: convGn(pb, `dec${i}.res`, ch[i]!, ch[i]!, g), up: convGn(pb, `dec${i}.up`, ch[i]!, ch[i - 1]!, g) })
  const decOut = conv2dParams(pb, "dec_out", ch[0]!, c.inChannels, { kernel: 3 })
  return { encIn, encLevels, encOut, decIn, decInNorm, decLevels, decOut }
}

export const createVae = (config: VaeConfig, seed: number): VaeModel => {
  const c = validateVaeConfig(config)
  const pb = new ParamBuilder(new Rng(seed).fork("vae-init"))
  const p = buildParams(c, pb)
  const s = bottomSize(c)
  const D = c.latentDim
  const encode = (x: tf.Tensor4D) => {
    const [mu, logvar] = tf.tidy(() => {
      let h = applyConvGn(p.encIn, x)
      for (const lv of p.encLevels) h = applyConvGn(lv.conv, applyConvGn(lv.down, h))
      const out = linear(p.encOut, h.reshape([x.shape[0], -1]) as tf.Tensor2D)
      return tf.split(out, [D, D], 1) as [tf.Tensor2D, tf.Tensor2D]
    })
    return { mu: mu!, logvar: logvar! }
  }
  const decodeLogits = (z: tf.Tensor2D): tf.Tensor4D =>
    tf.tidy(() => {
      const top = c.channels[c.channels.length - 1]!
      let h = groupNormLayer(p.decInNorm, linear(p.decIn, z).reshape([z.shape[0], s, s, top]) as tf.Tensor4D, { silu: true })
      for (const lv of p.decLevels) h = applyConvGn(lv.up, upsampleNearest2x(applyConvGn(lv.conv, h)))
      return conv2d(p.decOut, h)
    })
  return {
    architecture: "vae",
    config: c,
    variables: pb.variables(),
    encode,
    decodeLogits,
    decode: (z) => tf.tidy(() => tf.sigmoid(decodeLogits(z))),
    // The Model contract's apply: deterministic reconstruction logits through mu (t is ignored).
    apply: (x) =>
      tf.tidy(() => {
        const { mu, logvar } = encode(x as tf.Tensor4D)
        logvar.dispose()
        return decodeLogits(mu)
      }),
  }
}

/** z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) drawn from `rng` (the reparameterisation trick, eq. (4)). */
export const reparameterise = (mu: tf.Tensor2D, logvar: tf.Tensor2D, rng: Rng): tf.Tensor2D =>
  tf.tidy(() => {
    const eps = tf.tensor2d(rng.normals(mu.size), mu.shape as [number, number])
    return mu.add(tf.exp(logvar.mul(0.5)).mul(eps))
  })

/** Sum over pixels of BCEWithLogits(l, x) = max(l, 0) - l x + log(1 + exp(-|l|)) (stable form), per image [B]. */
export const bceWithLogitsPerImage = (logits: tf.Tensor4D, x: tf.Tensor4D): tf.Tensor1D =>
  tf.tidy(() => tf.relu(logits).sub(logits.mul(x)).add(tf.log1p(tf.exp(tf.abs(logits).neg()))).sum([1, 2, 3]) as tf.Tensor1D)

/** KL(N(mu, exp(logvar)) || N(0, I)) per image [B]. */
export const klPerImage = (mu: tf.Tensor2D, logvar: tf.Tensor2D): tf.Tensor1D =>
  tf.tidy(() => mu.square().add(tf.exp(logvar)).sub(1).sub(logvar).sum(1).mul(0.5) as tf.Tensor1D)

/** The VAE objective on a batch x [B, S, S, C] in [0, 1], one reparameterised sample per image. */
export const vaeLoss = (model: VaeModel, x: tf.Tensor4D, rng: Rng, o: VaeLossOptions): VaeLoss => {
  const [loss, recon, kl] = tf.tidy(() => {
    const { mu, logvar } = model.encode(x)
    const logits = model.decodeLogits(reparameterise(mu, logvar, rng))
    const r = o.recon === "bce" ? bceWithLogitsPerImage(logits, x) : tf.sigmoid(logits).sub(x).square().sum([1, 2, 3])
    const reconMean = r.mean() as tf.Scalar
    const klMean = klPerImage(mu, logvar).mean() as tf.Scalar
    return [reconMean.add(klMean.mul(o.beta)) as tf.Scalar, reconMean, klMean]
  })
  return { loss: loss!, recon: recon!, kl: kl! }
}

export const decodeVaeConfig = (json: unknown): VaeConfig => {
  const a = "vae"
  const r = configRecord(a, json)
  return validateVaeConfig({
    imageSize: intField(a, r, "imageSize"),
    inChannels: intField(a, r, "inChannels"),
    channels: intArrayField(a, r, "channels"),
    latentDim: intField(a, r, "latentDim"),
    groups: intField(a, r, "groups"),
  })
}

export const vaeArchitecture: Architecture<VaeConfig, VaeModel> = { name: "vae", decodeConfig: decodeVaeConfig, build: createVae }

/** Rebuilds a VaeModel from its Weights artifact. */
export const vaeFromWeights = (w: Weights): VaeModel => fromWeights(vaeArchitecture, w)

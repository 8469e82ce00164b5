// Latent noise predictor: concat[x, sinusoid(t) (+ label embedding), (label embedding)] -> (Linear -> SiLU)*
// -> Linear back to x's size. referenceMlpConfig is the peer's LatentMLP (82,448 parameters).
// Class conditioning (classifier-free guidance; the null class numClasses is the unconditional model):
//   embedding  a learned label embedding added to the time sinusoid
//   channel    a learned label embedding (labelEmbedDim wide) concatenated to the input, the MLP's
//              analogue of the U-Net's extra input channel
import * as tf from "@tensorflow/tfjs"
import { Rng } from "../random.ts"
import { dense } from "./dense.ts"
import { type LinearParams, classEmbedding, linearParams, sinusoidalEmbedding } from "./layers.ts"
import { type Architecture, type Model, configRecord, intArrayField, intField, optionalEnumField, optionalIntField } from "./model.ts"
import { ParamBuilder } from "./params.ts"

export const mlpConditionings = ["none", "embedding", "channel"] as const
export type MlpConditioning = (typeof mlpConditionings)[number]

export interface LatentMlpConfig {
  readonly inDim: number
  readonly timeEmbedDim: number
  readonly hidden: readonly number[]
  /** Class conditioning: classes 0..numClasses-1 plus the learned null class numClasses. */
  readonly numClasses?: number
  /** Default: "embedding" when numClasses is set (the route of weights written before this field), else "none". */
  readonly conditioning?: MlpConditioning
  /** channel route: width of the concatenated label embedding (default 16). */
  readonly labelEmbedDim?: number
}

export const referenceMlpConfig: LatentMlpConfig = { inDim: 16, timeEmbedDim: 32, hidden: [256, 256] }

const conditioningOf = (c: LatentMlpConfig): MlpConditioning => {
  const route = c.conditioning ?? (c.numClasses === undefined ? "none" : "embedding")
  if (route !== "none" && c.numClasses === undefined) throw new Error(`latent-mlp config: conditioning "${route}" needs numClasses`)
  return route
}

export const createLatentMlp = (config: LatentMlpConfig, seed: number): Model<LatentMlpConfig> => {
  const route = conditioningOf(config)
  const labelDim = route === "channel" ? (config.labelEmbedDim ?? 16) : 0
  const rows = (config.numClasses ?? 0) + 1
  const pb = new ParamBuilder(new Rng(seed).fork("latent-mlp-init"))
  const widths = [config.inDim + config.timeEmbedDim + labelDim, ...config.hidden, config.inDim]
  const layers: LinearParams[] = []
  for (let i = 0; i + 1 < widths.length; i++) layers.push(linearParams(pb, `l${i + 1}`, widths[i]!, widths[i + 1]!))
  const classEmb = route === "embedding" ? pb.normal("class_emb", [rows, config.timeEmbedDim], 1) : null
  const labelEmb = route === "channel" ? pb.normal("label_emb", [rows, labelDim], 1) : null
  return {
    architecture: "latent-mlp",
    config,
    variables: pb.variables(),
    apply: (x, t, opts = {}) =>
      tf.tidy(() => {
        const ids = (): tf.Tensor1D => opts.cond?.labels ?? (tf.fill([t.shape[0]], rows - 1, "int32") as tf.Tensor1D)
        let te = sinusoidalEmbedding(t, config.timeEmbedDim)
        if (classEmb !== null) te = te.add(classEmbedding(classEmb, ids(), rows))
        const parts = [x as tf.Tensor2D, te, ...(labelEmb === null ? [] : [classEmbedding(labelEmb, ids(), rows)])]
        let h = tf.concat(parts, 1)
        // Fused dense layers (GEMM + bias + SiLU in one kernel each way on pipe-native): a latent
        // MLP step is small enough that per-kernel overhead, not arithmetic, sets its speed.
        layers.forEach((l, i) => {
          h = dense(h as tf.Tensor2D, l.weight as tf.Tensor2D, l.bias as tf.Tensor1D, { silu: i + 1 < layers.length })
        })
        return h
      }),
  }
}

export const decodeLatentMlpConfig = (json: unknown): LatentMlpConfig => {
  const a = "latent-mlp"
  const r = configRecord(a, json)
  const optional = {
    numClasses: optionalIntField(a, r, "numClasses"),
    conditioning: optionalEnumField(a, r, "conditioning", mlpConditionings),
    labelEmbedDim: optionalIntField(a, r, "labelEmbedDim"),
  }
  const config: LatentMlpConfig = {
    inDim: intField(a, r, "inDim"),
    timeEmbedDim: intField(a, r, "timeEmbedDim"),
    hidden: intArrayField(a, r, "hidden"),
    ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined)),
  }
  conditioningOf(config)
  return config
}

export const latentMlpArchitecture: Architecture<LatentMlpConfig> = { name: "latent-mlp", decodeConfig: decodeLatentMlpConfig, build: createLatentMlp }

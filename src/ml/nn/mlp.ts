// Latent noise predictor: concat[x, sinusoid(t)] -> (Linear -> SiLU)* -> Linear back to x's size.
// referenceMlpConfig is the peer's LatentMLP (82,448 parameters).
import * as tf from "@tensorflow/tfjs"
import { Rng } from "../random.ts"
import { type LinearParams, classEmbedding, linear, linearParams, silu, sinusoidalEmbedding } from "./layers.ts"
import { type Model, configRecord, intArrayField, intField, optionalIntField, registerArchitecture } from "./model.ts"
import { ParamBuilder } from "./params.ts"

export interface LatentMlpConfig {
  readonly inDim: number
  readonly timeEmbedDim: number
  readonly hidden: readonly number[]
  /** Class conditioning: a learned embedding (0..numClasses-1 plus null class numClasses) added to the sinusoid. */
  readonly numClasses?: number
}

export const referenceMlpConfig: LatentMlpConfig = { inDim: 16, timeEmbedDim: 32, hidden: [256, 256] }

export const createLatentMlp = (config: LatentMlpConfig, seed: number): Model<LatentMlpConfig> => {
  const pb = new ParamBuilder(new Rng(seed).fork("latent-mlp-init"))
  const widths = [config.inDim + config.timeEmbedDim, ...config.hidden, config.inDim]
  const layers: LinearParams[] = []
  for (let i = 0; i + 1 < widths.length; i++) layers.push(linearParams(pb, `l${i + 1}`, widths[i]!, widths[i + 1]!))
  const classEmb = config.numClasses === undefined ? null : pb.normal("class_emb", [config.numClasses + 1, config.timeEmbedDim], 1)
  return {
    architecture: "latent-mlp",
    config,
    variables: pb.variables(),
    apply: (x, t, opts = {}) =>
      tf.tidy(() => {
        let te = sinusoidalEmbedding(t, config.timeEmbedDim)
        if (classEmb !== null) {
          const ids = opts.labels ?? tf.fill([t.shape[0]], config.numClasses!, "int32")
          te = te.add(classEmbedding(classEmb, ids, config.numClasses! + 1))
        }
        let h = tf.concat([x as tf.Tensor2D, te], 1)
        layers.forEach((l, i) => {
          h = linear(l, h)
          if (i + 1 < layers.length) h = silu(h)
        })
        return h
      }),
  }
}

export const decodeLatentMlpConfig = (json: unknown): LatentMlpConfig => {
  const a = "latent-mlp"
  const r = configRecord(a, json)
  const numClasses = optionalIntField(a, r, "numClasses")
  return {
    inDim: intField(a, r, "inDim"),
    timeEmbedDim: intField(a, r, "timeEmbedDim"),
    hidden: intArrayField(a, r, "hidden"),
    ...(numClasses === undefined ? {} : { numClasses }),
  }
}

registerArchitecture<LatentMlpConfig>("latent-mlp", { decodeConfig: decodeLatentMlpConfig, build: createLatentMlp })

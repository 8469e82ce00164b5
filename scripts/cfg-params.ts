// Parameter counts of the classifier-free guidance models of pipelines/cfg.yaml (README "Classifier-free
// guidance"): each train-diffusion node's resolved params (defaults applied) built into its network
// exactly as train-diffusion builds it, next to the unconditional model of the same params.
//   npx tsx scripts/cfg-params.ts [--profile P]
import { resolve } from "node:path"
import { parseArgs } from "node:util"
import * as tf from "@tensorflow/tfjs"
import { unetConfigOf } from "../nodes/train-diffusion.ts"
import { loadPipeline } from "../src/pipeline/load.ts"
import { loadRegistry } from "../src/registry/registry.ts"
import { createLatentMlp, referenceMlpConfig } from "../src/ml/nn/mlp.ts"
import { countParams, disposeModel, type Model } from "../src/ml/nn/model.ts"
import { createUNet } from "../src/ml/nn/unet.ts"

type P = Parameters<typeof unetConfigOf>[0] // train-diffusion's params

const { values } = parseArgs({ options: { profile: { type: "string" } } })
await tf.setBackend("cpu")
const root = resolve(import.meta.dirname, "..")
const registry = await loadRegistry({ root, nodesDir: resolve(root, "nodes") })
const pipeline = loadPipeline(resolve(root, "pipelines/cfg.yaml"), { root, registry, ...(values.profile === undefined ? {} : { profile: values.profile }) })

/** The network train-diffusion builds for these params (MNIST: 28x28x1 pixels, VAE latents of 16). */
const build = (p: P): Model => {
  if (p.space === "pixel") return createUNet(unetConfigOf(p, [28, 28, 1]), 0)
  const route = p.conditioning
  if (route === "cross-attention") throw new Error("the latent MLP has no cross-attention route")
  return createLatentMlp({
    inDim: 16, timeEmbedDim: p.timeEmbedDim ?? referenceMlpConfig.timeEmbedDim, hidden: new Array<number>(p.mlpDepth).fill(p.mlpWidth),
    ...(route === "none" ? {} : { numClasses: p.numClasses, conditioning: route, ...(route === "channel" ? { labelEmbedDim: 16 * p.classChannels } : {}) }),
  }, 0)
}
const count = (p: P): number => {
  const m = build(p)
  const n = countParams(m)
  disposeModel(m)
  return n
}

for (const node of pipeline.nodes.values()) {
  if (node.kind !== "train-diffusion") continue
  const p = node.params as unknown as P
  const n = count(p)
  const base = count({ ...p, conditioning: "none" })
  console.log(`${node.id} (${p.space}, ${p.conditioning}): ${n.toLocaleString("en")} parameters, unconditional ${base.toLocaleString("en")} (+${(n - base).toLocaleString("en")})`)
}

// Parameter counts of the classifier-free guidance models of pipelines/cfg.yaml (README "Classifier-free
// guidance"): each train-diffusion / train-latent-diffusion node's resolved params (defaults applied)
// built into its network exactly as the node builds it, next to the unconditional model of the same params.
//   npx tsx scripts/cfg-params.ts [--profile P]
import { resolve } from "node:path"
import { parseArgs } from "node:util"
import * as tf from "@tensorflow/tfjs"
import { unetConfigOf } from "../nodes/train-diffusion.ts"
import { mlpConfigOf } from "../nodes/train-latent-diffusion.ts"
import { loadPipeline } from "../src/pipeline/load.ts"
import { loadRegistry } from "../src/registry/registry.ts"
import { createLatentMlp } from "../src/ml/nn/mlp.ts"
import { countParams, disposeModel, type Model } from "../src/ml/nn/model.ts"
import { createUNet } from "../src/ml/nn/unet.ts"

type PixelP = Parameters<typeof unetConfigOf>[0] // train-diffusion's params
type LatentP = Parameters<typeof mlpConfigOf>[0] // train-latent-diffusion's
type Spec = { readonly kind: "train-diffusion"; readonly p: PixelP } | { readonly kind: "train-latent-diffusion"; readonly p: LatentP }

const { values } = parseArgs({ options: { profile: { type: "string" } } })
await tf.setBackend("cpu")
const root = resolve(import.meta.dirname, "..")
const registry = await loadRegistry({ root, nodesDir: resolve(root, "nodes") })
const pipeline = loadPipeline(resolve(root, "pipelines/cfg.yaml"), { root, registry, ...(values.profile === undefined ? {} : { profile: values.profile }) })

/** The network the node builds for these params (MNIST: 28x28x1 pixels, VAE latents of 16). */
const build = (s: Spec): Model =>
  s.kind === "train-diffusion" ? createUNet(unetConfigOf(s.p, [28, 28, 1]), 0) : createLatentMlp(mlpConfigOf(s.p, 16), 0)
const count = (s: Spec): number => {
  const m = build(s)
  const n = countParams(m)
  disposeModel(m)
  return n
}
const unconditional = (s: Spec): Spec =>
  s.kind === "train-diffusion" ? { kind: s.kind, p: { ...s.p, conditioning: "none" } } : { kind: s.kind, p: { ...s.p, conditioning: "none" } }

for (const node of pipeline.nodes.values()) {
  const spec: Spec | undefined =
    node.kind === "train-diffusion" ? { kind: node.kind, p: node.params as unknown as PixelP }
    : node.kind === "train-latent-diffusion" ? { kind: node.kind, p: node.params as unknown as LatentP }
    : undefined
  if (spec === undefined) continue
  const n = count(spec)
  const base = count(unconditional(spec))
  console.log(`${node.id} (${spec.kind === "train-diffusion" ? "pixel" : "latent"}, ${spec.p.conditioning}): ${n.toLocaleString("en")} parameters, unconditional ${base.toLocaleString("en")} (+${(n - base).toLocaleString("en")})`)
}

// The latent-MLP side of the sampling nodes (sample-latent, reflow-pairs on a latent model): its loader
// and plain per-batch network. Imports no U-Net code (runner, DeepCache, ControlNet), so a U-Net edit
// leaves sample-latent's code version, and so its cache keys, unchanged.
import type { Effect } from "effect"
import type { Weights } from "../src/artifacts/types.ts"
import type { NodeContext, NodeError } from "../src/node.ts"
import type { DiffusionMeta } from "../src/ml/diffusion-meta.ts"
import { invalidInput } from "../src/ml/errors.ts"
import { latentMlpFromWeights } from "../src/ml/nn/mlp-weights.ts"
import type { GuidanceOptions } from "../src/ml/sampling/guidance.ts"
import { networkFactory, type Sampled, sampleWith, type SamplingParams, withGuidance } from "./_sampling.ts"

/** Samples the latent-space model of `w`, under guidance when planned. DeepCache (a U-Net method) is refused before any step. */
export const sampleLatentMlp = (
  w: Weights, meta: DiffusionMeta, p: SamplingParams, ctx: NodeContext, phase: string, guidance?: GuidanceOptions,
): Effect.Effect<Sampled, NodeError> =>
  sampleWith(() => latentMlpFromWeights(w), meta, p, ctx, phase, (model) => {
    if (p.deepcache !== undefined) throw invalidInput(`deepcache needs a U-Net; this model is a ${model.architecture} (DeepCache caches a U-Net's skip-branch features)`)
    return { factory: withGuidance(guidance, networkFactory(model)) }
  })

// sample: draws images from a pixel-space model (a U-Net) trained by train-diffusion, with DDPM (ancestral),
// DDIM, or rectified-flow Euler / midpoint, and renders a PNG grid of them. Shared with sample-latent:
// nodes/_sampling.ts (params, the record); the U-Net side (loader, runner, DeepCache, ControlNet) is
// nodes/_pixel-sampling.ts; the sampling itself is
// src/ml/sampling/generate.ts over the one loop in src/ml/samplers/loop.ts.
// With `controlnet` (train-controlnet's weights) and `control` (edge maps), the U-Net is steered by the
// ControlNet (nodes/_control.ts): sample i follows control image i mod controlCount and carries its label
// (unless `labels` are requested: a class-conditional base, possibly guided, gets those).
// The images' meta records sampler, steps, objective and evaluations per image, so equal inputs and
// params give byte-equal images; the wall clock (seconds_per_image) leaves as the `timing` metrics,
// which score nodes take as their optional `timing` input. A class-conditional model samples the
// requested `labels` (carried on the images, so score measures accuracy against them), optionally with
// classifier-free guidance (nodes/_guidance.ts, src/ml/sampling/guidance.ts); the grid then shows one
// row per class.
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode } from "../src/node.ts"
import { FileType, ImageBatchType, MetricsType, WeightsType } from "../src/artifacts/index.ts"
import { controlBinding, controlInputs, controlParams } from "./_control.ts"
import { ml } from "./_ml.ts"
import { artifactLabels, guidancePlan, guidanceTitle } from "./_guidance.ts"
import { sampleUNet } from "./_pixel-sampling.ts"
import { modelMeta, sampleGrid, samplerLabel, samplingMetrics, samplingParams, samplingRecord, toImageBatch, withoutWallClock } from "./_sampling.ts"

export default defineNode({
  kind: "sample",
  description: "Samples images from a pixel-space diffusion / rectified-flow model (DDPM, DDIM, RF Euler/midpoint), optionally steered by a ControlNet, plus a PNG grid.",
  params: Type.Object({ ...samplingParams({ clipX0: true }).properties, ...controlParams }),
  inputs: { model: WeightsType, ...controlInputs },
  outputs: { images: ImageBatchType, grid: FileType, timing: MetricsType },
  heavy: true,
  run: (inputs, p, ctx) =>
    Effect.gen(function* () {
      const meta = yield* ml("reading the model", () => modelMeta(inputs.model, "pixel"))
      const guidance = yield* ml("checking guidance", () => guidancePlan(p, meta))
      const control = yield* ml("checking the ControlNet", () => controlBinding(inputs, p, meta))
      const out = yield* sampleUNet(inputs.model, meta, p, ctx, "sample", { guidance, control })
      const record = { ...samplingRecord(p, meta, out), ...control?.record }
      const batch = toImageBatch(out.values, meta.itemShape, withoutWallClock(record))
      // requested labels (a class-conditional model) win; else ControlNet samples carry their edge maps' (the source digits)
      const images = { ...batch, labels: guidance === undefined ? (control?.labels(batch.count) ?? null) : artifactLabels(guidance) }
      return { images, grid: sampleGrid(images, samplerLabel(p) + guidanceTitle(p)), timing: samplingMetrics(record) }
    }),
})

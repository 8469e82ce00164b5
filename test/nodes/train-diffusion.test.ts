import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import t from "tap"
import { Value } from "@sinclair/typebox/value"
import { Effect } from "effect"
import trainDiffusion from "../../nodes/train-diffusion.ts"
import trainLatentDiffusion from "../../nodes/train-latent-diffusion.ts"
import { inputProblem } from "../../nodes/_train-diffusion.ts"
import { InvalidPipeline } from "../../src/errors.ts"
import { referenceMlpConfig } from "../../src/ml/nn/mlp.ts"
import { referenceUNetConfig } from "../../src/ml/nn/unet.ts"
import { loadPipeline } from "../../src/pipeline/load.ts"
import { loadRegistry } from "../../src/registry/registry.ts"
import { WeightsType } from "../../src/artifacts/index.ts"
import type { Dataset, Latents, Tensor } from "../../src/artifacts/types.ts"
import { reflowPairsTensor } from "../../src/ml/reflow.ts"
import { selectBackend } from "../../src/ml/backend/index.ts"
import { Rng } from "../../src/ml/random.ts"
import { readDiffusionMeta } from "../../src/ml/diffusion-meta.ts"
import type { NodeContext, ProgressEvent } from "../../src/node.ts"
import { failNode, runNode, withDefaults } from "./data-node-helpers.ts"

await selectBackend() // pipe-native when built: tfjs-cpu trains even this tiny U-Net slowly
const REPO = resolve(import.meta.dirname, "../..")
const registry = await loadRegistry({ root: REPO, nodesDir: join(REPO, "nodes") })

/** 8x8 uint8 images: a bright 3x3 square at a per-item position. */
const tinyDataset = (n: number): Dataset => {
  const images = new Uint8Array(n * 64)
  for (let i = 0; i < n; i++) for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) images[i * 64 + (y + (i % 5)) * 8 + x + (i % 4)] = 255
  return { count: n, height: 8, width: 8, channels: 1, images, labels: Uint8Array.from({ length: n }, (_, i) => i % 10) }
}
const tinyLatents = (n: number, dim: number): Latents => ({
  count: n, dim, values: new Rng(3).normals(n * dim), mean: Float32Array.from({ length: dim }, (_, i) => i / 3), std: Float32Array.from({ length: dim }, (_, i) => 1 + i / 7), labels: null,
})
/** Zero (noise, sample) pairs of `d`'s item shape: only their presence matters to the input checks. */
const reflowTensor = (d: Dataset): Tensor =>
  reflowPairsTensor({ count: d.count, itemShape: [d.height, d.width, d.channels], space: "pixel", data: new Float32Array(2 * d.count * d.height * d.width * d.channels) }, {})
const tinyUNet = { baseChannels: 8, channelMults: [1, 2], timeEmbedDim: 16 }

t.test("pixel ddpm: EMA weights of a U-Net with the diffusion metadata, and a loss curve", async (t) => {
  const { model, history } = await runNode(trainDiffusion, { dataset: tinyDataset(8) }, { ...tinyUNet, steps: 3, batchSize: 4, T: 50, schedule: "cosine" })
  t.equal(model.architecture, "unet")
  t.match(model.config, { baseChannels: 8, channelMults: [1, 2], imageSize: 8, inChannels: 1, timeEmbedDim: 16 })
  t.same(readDiffusionMeta(model), { objective: "ddpm", space: "pixel", itemShape: [8, 8, 1], schedule: { kind: "cosine", T: 50, s: 0.008, maxBeta: 0.999 } })
  t.same(history.tables.loss?.columns, ["step", "epoch", "loss", "ema_loss"])
  t.same(history.tables.loss?.rows.map((r) => r[0]), [1, 2, 3])
  t.match(history.scalars, { steps: 3, epochs: 1.5, batch_size: 4 })
  t.ok(Number.isFinite(history.scalars.final_loss) && history.scalars.seconds! >= 0)
  t.end()
})

t.test("v-prediction: the weights record it (an ε-model records nothing), the training target differs; rectified-flow refuses it", async (t) => {
  const params = { ...tinyUNet, steps: 2, batchSize: 4, T: 50 }
  const eps = await runNode(trainDiffusion, { dataset: tinyDataset(8) }, params)
  const v = await runNode(trainDiffusion, { dataset: tinyDataset(8) }, { ...params, prediction: "v" })
  t.notOk("prediction" in (eps.model.config.diffusion as object), "ε: no key, so ε weights keep their former bytes")
  t.equal(readDiffusionMeta(v.model).prediction, "v")
  t.not(v.history.scalars.final_loss, eps.history.scalars.final_loss, "same draws, another target")
  const z = tinyLatents(16, 4)
  const latent = await runNode(trainLatentDiffusion, { latents: z }, { mlpWidth: 16, mlpDepth: 2, steps: 2, batchSize: 8, prediction: "v" })
  t.equal(readDiffusionMeta(latent.model).prediction, "v", "the latent kind too")
  t.match((await failNode(trainDiffusion, { dataset: tinyDataset(4) }, { ...params, objective: "rectified-flow", prediction: "v" })).message, /prediction v is a ddpm parameterisation/)
  t.end()
})

t.test("same seed, same weights bytes; epochs x batches per epoch sets the step count", async (t) => {
  const run = () => runNode(trainDiffusion, { dataset: tinyDataset(6) }, { ...tinyUNet, epochs: 2, batchSize: 4, dropout: 0.1, seed: 5 })
  const a = await run()
  const b = await run()
  t.equal(a.history.scalars.steps, 2, "6 items at batch 4: one whole batch per epoch")
  const bytes = (w: typeof a.model) => Buffer.from(JSON.stringify(w.variables.map((v) => Array.from(v.values))))
  t.ok(bytes(a.model).equals(bytes(b.model)))
  t.same(WeightsType.encode(a.model).schema.metadata, WeightsType.encode(b.model).schema.metadata)
  t.end()
})

t.test("latent rectified flow (train-latent-diffusion): an MLP whose metadata carries the latents' mean/std", async (t) => {
  const z = tinyLatents(16, 4)
  const { model } = await runNode(trainLatentDiffusion, { latents: z }, { objective: "rectified-flow", tSampling: "logit-normal", mlpWidth: 16, mlpDepth: 3, steps: 4, batchSize: 8, limit: 12 })
  t.equal(model.architecture, "latent-mlp")
  t.same(model.config.hidden, [16, 16, 16])
  t.equal(model.config.timeEmbedDim, 32, "the reference MLP's time embedding by default")
  const meta = readDiffusionMeta(model)
  if (typeof meta === "string") return t.fail(meta)
  t.same([meta.objective, meta.space, meta.itemShape, meta.schedule], ["rectified-flow", "latent", [4], undefined])
  t.same(Float32Array.from(meta.latent!.mean), z.mean, "mean bit-exact")
  t.same(Float32Array.from(meta.latent!.std), z.std, "std bit-exact")
  t.end()
})

t.test("each kind's time embedding defaults to its reference architecture's", (t) => {
  t.equal(withDefaults(trainDiffusion.params, {}).timeEmbedDim, referenceUNetConfig.timeEmbedDim)
  t.equal(withDefaults(trainLatentDiffusion.params, {}).timeEmbedDim, referenceMlpConfig.timeEmbedDim)
  t.notOk("mlpWidth" in trainDiffusion.params.properties, "no MLP params on the U-Net kind")
  t.notOk("baseChannels" in trainLatentDiffusion.params.properties, "no U-Net params on the MLP kind")
  t.end()
})

t.test("inputs must match the kind: clear errors that name the other kind", async (t) => {
  const ds = tinyDataset(4)
  const z = tinyLatents(4, 2)
  const p = withDefaults(trainDiffusion.params, { steps: 1 })
  // A kind does not declare the other space's port (a pipeline connecting it fails at load, below);
  // the shared check still names the right kind for a caller that passes it.
  t.match(inputProblem("pixel", p, { latents: z }), /train-diffusion trains the pixel-space model on `dataset`; to train on `latents` use kind train-latent-diffusion/)
  t.match(inputProblem("latent", p, { dataset: ds }), /train-latent-diffusion trains the latent-space model on `latents`; to train on `dataset` use kind train-diffusion/)
  t.match((await failNode(trainDiffusion, { dataset: ds, pairs: reflowTensor(ds) }, { steps: 1, objective: "rectified-flow" })).message, /exactly one of `dataset` and `pairs`/)
  t.match((await failNode(trainDiffusion, {}, { steps: 1 })).message, /connect `dataset` \(or reflow `pairs`\)/)
  t.match((await failNode(trainLatentDiffusion, {}, { steps: 1 })).message, /connect `latents` \(or reflow `pairs`\)/)
  // The MLP has no attention: its schema refuses the route at validation, before any work.
  t.notOk(Value.Check(trainLatentDiffusion.params, { ...Value.Default(trainLatentDiffusion.params, {}) as object, conditioning: "cross-attention" }), "latent: no cross-attention")
  t.ok(Value.Check(trainLatentDiffusion.params, { ...Value.Default(trainLatentDiffusion.params, {}) as object, conditioning: "channel" }))
  t.ok(Value.Check(trainDiffusion.params, { ...Value.Default(trainDiffusion.params, {}) as object, conditioning: "cross-attention" }))
  t.match((await failNode(trainDiffusion, { dataset: ds }, { ...tinyUNet, channelMults: [1, 1, 1, 1, 1], steps: 1 })).message, /divisible by 16/)
  t.match((await failNode(trainDiffusion, { dataset: ds }, { baseChannels: 12, channelMults: [1], steps: 1 })).message, /multiples of 8/)
  t.end()
})

t.test("a pipeline still written for the one kind (space: latent, latents into train-diffusion) fails at load, naming both", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "pipe-split-"))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, "old.yaml")
  writeFileSync(file, [
    "name: old",
    "nodes:",
    "  z:",
    "    kind: encode-latents",
    "    inputs: { dataset: d.dataset, vae: v.vae }",
    "  d:",
    "    kind: load-mnist",
    "  v:",
    "    kind: train-vae",
    "    inputs: { dataset: d.dataset }",
    "  train:",
    "    kind: train-diffusion",
    "    inputs: { latents: z.latents }",
    "    params: { space: latent, mlpWidth: 32 }",
  ].join("\n"))
  const err = (() => {
    try {
      loadPipeline(file, { root: REPO, registry })
      return undefined
    } catch (e) {
      return e instanceof InvalidPipeline ? e.diagnostics.map((d) => d.message).join("\n") : String(e)
    }
  })()
  t.match(err, /unknown param of kind "train-diffusion" "space"/)
  t.match(err, /unknown param of kind "train-diffusion" "mlpWidth"/)
  t.match(err, /unknown input port of kind "train-diffusion" "latents"/)
  t.end()
})

t.test("progress per step with epoch and loss (the display derives it/s); Ctrl-C fails with 'interrupted'", async (t) => {
  const events: ProgressEvent[] = []
  let checks = 0
  const ctx: NodeContext = { nodeId: "train", progress: (e) => events.push(e), log: () => {}, interrupted: () => ++checks > 2 }
  const p = withDefaults(trainLatentDiffusion.params, { mlpWidth: 8, mlpDepth: 1, steps: 5, batchSize: 2 })
  const err = await Effect.runPromise(Effect.flip(trainLatentDiffusion.run({ latents: tinyLatents(4, 2) }, p, ctx)))
  t.match(err.message, /interrupted before step 3/)
  t.same(events.map((e) => [e.phase, e.step, e.total, e.epoch]), [["train", 1, 5, 1], ["train", 2, 5, 1]])
  t.ok(events.every((e) => Number.isFinite(e.metrics?.loss) && Object.keys(e.metrics ?? {}).join() === "loss"))
  t.end()
})

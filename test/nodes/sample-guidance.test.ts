// Classifier-free guidance at the sampling nodes: labels on the artifacts, the record, the checks made
// before any work (nodes/_guidance.ts), for sample and sample-latent.
import t from "tap"
import fc from "fast-check"
import { Effect } from "effect"
import { requestedLabels } from "../../nodes/_guidance.ts"
import sample from "../../nodes/sample.ts"
import sampleLatent from "../../nodes/sample-latent.ts"
import trainDiffusion from "../../nodes/train-diffusion.ts"
import trainLatentDiffusion from "../../nodes/train-latent-diffusion.ts"
import type { Dataset, Latents, Weights } from "../../src/artifacts/types.ts"
import { selectBackend } from "../../src/ml/backend/index.ts"
import { decodePng } from "../../src/ml/image/png.ts"
import { Rng } from "../../src/ml/random.ts"
import type { NodeContext } from "../../src/node.ts"
import { runNode, withDefaults } from "./data-node-helpers.ts"

await selectBackend()

const dataset: Dataset = {
  count: 6, height: 8, width: 8, channels: 1,
  images: Uint8Array.from({ length: 384 }, (_, i) => ((i >> 3) + i) % 3 === 0 ? 255 : 0), labels: Uint8Array.from([0, 1, 2, 0, 1, 2]),
}
const tiny = { baseChannels: 8, channelMults: [1, 2], timeEmbedDim: 16, steps: 2, batchSize: 4, T: 40, numClasses: 3 }
const conditional: Weights = (await runNode(trainDiffusion, { dataset }, { ...tiny, conditioning: "channel" })).model
const crossAttention: Weights = (await runNode(trainDiffusion, { dataset }, { ...tiny, conditioning: "cross-attention", crossAttentionResolutions: [4], contextDim: 8, contextTokens: 2 })).model
const unconditional: Weights = (await runNode(trainDiffusion, { dataset }, { ...tiny, numClasses: 10 })).model
const latents: Latents = { count: 6, dim: 2, values: new Rng(1).normals(12), mean: new Float32Array(2), std: new Float32Array(2).fill(1), labels: Uint8Array.from([0, 1, 2, 0, 1, 2]) }
const latentModel: Weights = (await runNode(trainLatentDiffusion, { latents }, { mlpWidth: 8, mlpDepth: 1, steps: 1, conditioning: "channel", numClasses: 3 })).model

t.test("labels each-class: count / K of every class in order; a list is cycled", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 20 }), (K, n) => {
    const l = Array.from(requestedLabels("each-class", K * n, K))
    return l.length === K * n && l.every((v, i) => v === Math.floor(i / n)) && l.every((v, i) => i === 0 || v >= l[i - 1]!)
  })))
  t.same(Array.from(requestedLabels([3, 7], 5, 10)), [3, 7, 3, 7, 3])
  t.end()
})

t.test("sample: guided images carry the requested labels, a record of the guidance, a grid with one row per class", async (t) => {
  for (const model of [conditional, crossAttention]) {
    const { images, grid, timing } = await runNode(sample, { model }, { sampler: "ddim", steps: 3, count: 6, batchSize: 4, labels: "each-class", guidance: 3 })
    t.same(Array.from(images.labels!), [0, 0, 1, 1, 2, 2])
    t.match(images.meta, { guidance: 3, labels: "each-class", evals_per_image: 6 }, "one call of 2B per step: 2 evaluations per image and step")
    t.equal(timing.scalars.guidance, 3)
    const png = decodePng(grid.bytes, 1)
    // title line (5 + 2) x 2, then 3 rows of 8 px x 2 with 4 paddings of 2 (nodes/_sampling.ts sampleGrid)
    t.same([png.width, png.height], [8 * 16 + 9 * 2, 14 + 3 * 16 + 4 * 2], "8 columns, 3 rows: one per class")
  }
  const plain = await runNode(sample, { model: conditional }, { steps: 3, count: 4 })
  t.equal(plain.images.labels, null, "no labels asked: none recorded")
  t.notOk("guidance" in plain.images.meta || "labels" in plain.images.meta)
  t.end()
})

t.test("sample: s = 1 is the conditional sample and s = 0 the unconditional one (1 evaluation per step)", async (t) => {
  const run = (p: { guidance?: number; labels?: number[] }) => runNode(sample, { model: conditional }, { sampler: "ddim", steps: 3, count: 4, seed: 2, ...p })
  const cond = await run({ labels: [2, 0] })
  const s1 = await run({ labels: [2, 0], guidance: 1 })
  const s0 = await run({ labels: [2, 0], guidance: 0 })
  t.same(s1.images.pixels, cond.images.pixels, "s = 1: bit-exact conditional samples")
  t.same(s0.images.pixels, (await run({})).images.pixels, "s = 0: bit-exact null-label samples")
  t.notSame(cond.images.pixels, s0.images.pixels)
  t.same([s1.images.meta.evals_per_image, s0.images.meta.evals_per_image, s1.images.meta.labels], [3, 3, "list"])
  t.notSame((await run({ labels: [2, 0], guidance: 4 })).images.pixels, cond.images.pixels)
  t.end()
})

t.test("sample-latent: latents carry the labels, timing the scale", async (t) => {
  const { latents: z, timing } = await runNode(sampleLatent, { model: latentModel }, { sampler: "ddim", steps: 4, count: 5, batchSize: 2, labels: [1, 2], guidance: 2 })
  t.same(Array.from(z.labels!), [1, 2, 1, 2, 1])
  t.match(timing.scalars, { guidance: 2, evals_per_image: 8 })
  t.ok(z.values.every(Number.isFinite))
  t.end()
})

/** Runs a node expected to fail, with a context that records progress: no progress = failed before any work. */
const failBeforeWork = async <N extends typeof sample | typeof sampleLatent>(node: N, model: Weights, params: Record<string, unknown>) => {
  const events: unknown[] = []
  const ctx: NodeContext = { nodeId: "test", progress: (e) => events.push(e), log: () => {}, interrupted: () => false }
  const run = node.run as (i: { model: Weights }, p: unknown, c: NodeContext) => Effect.Effect<unknown, Error>
  const e = await Effect.runPromise(Effect.flip(run({ model }, withDefaults(node.params, params), ctx)))
  return { message: e.message, events: events.length }
}

t.test("bad guidance params are clear errors before any work", async (t) => {
  const cases: [typeof sample | typeof sampleLatent, Weights, Record<string, unknown>, RegExp][] = [
    [sample, unconditional, { guidance: 3, labels: [1] }, /guidance and labels need a class-conditional model; this one is unconditional/],
    [sample, unconditional, { labels: "each-class", count: 10 }, /labels need a class-conditional model/],
    [sample, conditional, { labels: [0, 3], guidance: 2 }, /label 3 is outside 0\.\.2 \(the model has 3 classes; 3 is its null class\)/],
    [sample, conditional, { labels: "each-class", count: 7 }, /labels each-class: count 7 is not a multiple of the model's 3 classes/],
    [sample, conditional, { guidance: 2 }, /guidance needs labels: a list of class ids or each-class/],
    [sampleLatent, latentModel, { labels: [9] }, /label 9 is outside 0\.\.2/],
  ]
  for (const [node, model, params, message] of cases) {
    const r = await failBeforeWork(node, model, { steps: 2, count: 6, ...params })
    t.match(r.message, message)
    t.equal(r.events, 0, `${r.message}: no sampling step ran`)
  }
  t.end()
})

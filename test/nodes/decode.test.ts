import t from "tap"
import * as tf from "@tensorflow/tfjs"
import decode from "../../nodes/decode.ts"
import encodeLatents from "../../nodes/encode-latents.ts"
import { decodeLatents, encodeImages } from "../../src/ml/training/vae.ts"
import { vaeFromWeights } from "../../src/ml/nn/vae.ts"
import { disposeModel } from "../../src/ml/nn/model.ts"
import { Rng } from "../../src/ml/random.ts"
import { toUnitFloat } from "../../src/ml/data/pixels.ts"
import { failNode, runNode } from "./data-node-helpers.ts"
import { tinyVae } from "./vae-node-helpers.ts"

await tf.setBackend("cpu")

t.test("decode(encode-latents(x)) = the VAE's own reconstruction through mu; labels carried; pixels in [0, 1]", async (t) => {
  const { dataset, vae } = await tinyVae()
  const { latents } = await runNode(encodeLatents, { dataset, vae }, {})
  const { images } = await runNode(decode, { latents, vae }, { batchSize: 5 })
  t.same([images.count, images.height, images.width, images.channels], [32, 8, 8, 1])
  t.same(Array.from(images.labels!), Array.from(dataset.labels))
  t.same(images.meta, {}, "Latents carry no meta, so nothing to pass on")
  t.ok(images.pixels.every((v) => v >= 0 && v <= 1))
  const model = vaeFromWeights(vae)
  const before = tf.memory().numTensors
  const direct = decodeLatents(model, encodeImages(model, toUnitFloat(dataset.images), 32, "mean", new Rng(0), 32), 32, 32)
  t.equal(tf.memory().numTensors, before, "encodeImages / decodeLatents leak nothing")
  disposeModel(model)
  const maxErr = direct.reduce((m, v, i) => Math.max(m, Math.abs(v - images.pixels[i]!)), 0)
  t.ok(maxErr < 1e-5, `standardise + unstandardise changes the decoded pixels by ${maxErr}`)
})

t.test("decode: a meta record on the latents is carried; dimension mismatch fails", async (t) => {
  const { dataset, vae } = await tinyVae()
  const { latents } = await runNode(encodeLatents, { dataset, vae }, {})
  const tagged = Object.assign({ ...latents }, { meta: { sampler: "ddim", steps: 10 } })
  t.same((await runNode(decode, { latents: tagged, vae }, {})).images.meta, { sampler: "ddim", steps: 10 })
  const wrong = { ...latents, dim: 2, values: latents.values.slice(0, 64), mean: latents.mean.slice(0, 2), std: latents.std.slice(0, 2) }
  t.match((await failNode(decode, { latents: wrong, vae }, {})).message, /dimension 2; the VAE decodes 3/)
})

t.test("decode: its timing adds the decoder's seconds per image to the sampler's; the images do not depend on timing", async (t) => {
  const { dataset, vae } = await tinyVae()
  const { latents } = await runNode(encodeLatents, { dataset, vae }, {})
  const sampling = { scalars: { steps: 50, seconds_per_image: 0.25 }, tables: {} }
  const withTiming = await runNode(decode, { latents, vae, timing: sampling }, {})
  const alone = await runNode(decode, { latents, vae }, {})
  t.same(Array.from(withTiming.images.pixels), Array.from(alone.images.pixels), "same images with or without timing")
  const s = withTiming.timing.scalars
  const own = s.decode_seconds_per_image as number
  t.ok(own > 0, `the decoder's own cost is measured (${own} s per image)`)
  t.equal(s.seconds_per_image, 0.25 + own, "seconds_per_image = sampling + decode")
  t.equal(s.sampling_seconds_per_image, 0.25)
  t.equal(s.steps, 50, "the sampler's scalars pass through")
  t.same(Object.keys(alone.timing.scalars).sort(), ["decode_seconds_per_image", "seconds_per_image"], "without a sampler's timing: the decoder's alone")
})

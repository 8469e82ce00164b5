import t from "tap"
import * as tf from "@tensorflow/tfjs"
import encodeLatents from "../../nodes/encode-latents.ts"
import { latentStats } from "../../src/ml/latents.ts"
import { failNode, runNode } from "./data-node-helpers.ts"
import { squares, tinyVae } from "./vae-node-helpers.ts"

await tf.setBackend("cpu")

t.test("encode-latents: standardised latents [N, D] with their stats and labels; mean mode ignores the seed", async (t) => {
  const { dataset, vae } = await tinyVae()
  const { latents: z } = await runNode(encodeLatents, { dataset, vae }, { batchSize: 7 })
  t.same([z.count, z.dim, z.values.length, z.mean.length, z.std.length], [32, 3, 96, 3, 3])
  t.same(Array.from(z.labels!), Array.from(dataset.labels))
  const again = latentStats(z.values, z.count, z.dim)
  t.ok(Array.from(again.mean).every((m) => Math.abs(m) < 1e-5), "standardised: mean 0")
  t.ok(Array.from(again.std).every((s) => Math.abs(s - 1) < 1e-4), "standardised: std 1")
  const other = (await runNode(encodeLatents, { dataset, vae }, { batchSize: 32, seed: 5 })).latents
  t.same(Array.from(other.values), Array.from(z.values), "mean mode: batch size and seed do not matter")
  const s1 = (await runNode(encodeLatents, { dataset, vae }, { mode: "sample", seed: 1 })).latents
  const s1b = (await runNode(encodeLatents, { dataset, vae }, { mode: "sample", seed: 1 })).latents
  const s2 = (await runNode(encodeLatents, { dataset, vae }, { mode: "sample", seed: 2 })).latents
  t.same(Array.from(s1.values), Array.from(s1b.values), "sample mode: same seed, same latents")
  t.not(Array.from(s1.values).join(), Array.from(s2.values).join(), "sample mode: another seed, other latents")
  t.not(Array.from(s1.values).join(), Array.from(z.values).join())
})

t.test("encode-latents rejects images of another size and weights of another architecture", async (t) => {
  const { vae } = await tinyVae()
  const big = { ...squares(2, 0), height: 4, width: 16 }
  t.match((await failNode(encodeLatents, { dataset: big, vae }, {})).message, /4x16x1; the VAE takes 8x8x1/)
  t.match((await failNode(encodeLatents, { dataset: squares(2, 0), vae: { ...vae, architecture: "lenet" } }, {})).message, /expected "vae"/)
})

import t from "tap"
import timing from "../../nodes/deepcache-timing.ts"
import trainDiffusion from "../../nodes/train-diffusion.ts"
import type { Dataset, Weights } from "../../src/artifacts/types.ts"
import { selectBackend } from "../../src/ml/backend/index.ts"
import { fullPassMacs, shallowPassMacs, unetMacs } from "../../src/ml/nn/unet-macs.ts"
import { decodeUNetConfig } from "../../src/ml/nn/unet.ts"
import { failNode, runNode } from "./data-node-helpers.ts"

await selectBackend()

const dataset: Dataset = {
  count: 4, height: 8, width: 8, channels: 1,
  images: Uint8Array.from({ length: 256 }, (_, i) => ((i >> 3) + i) % 3 === 0 ? 255 : 0), labels: new Uint8Array(4),
}
const model: Weights = (await runNode(trainDiffusion, { dataset }, { baseChannels: 8, channelMults: [1, 2], timeEmbedDim: 16, steps: 2, batchSize: 4, objective: "rectified-flow" })).model

t.test("one row per configuration: exact MAC speed-up, measured wall-clock speed-up and its spread", async (t) => {
  const { timing: m } = await runNode(timing, { model }, { sampler: "rf-euler", steps: 6, intervals: [1, 3, 8], schedules: ["uniform", "non-uniform"], batchSize: 2, repeats: 3, center: 2 })
  const table = m.tables.deepcache_timing!
  const col = (name: string) => table.columns.indexOf(name)
  t.same(table.rows.map((r) => [r[col("interval")], r[col("schedule")], r[col("full_steps")]]), [
    [1, "uniform", 6], [1, "non-uniform", 6], [3, "uniform", 2], [3, "non-uniform", 2], [8, "uniform", 1], [8, "non-uniform", 1],
  ])
  const macs = unetMacs(decodeUNetConfig(model.config))
  const [full, shallow] = [fullPassMacs(macs), shallowPassMacs(macs, 0)]
  t.same(table.rows.map((r) => r[col("mac_speedup")]), [1, 1, (6 * full) / (2 * full + 4 * shallow), (6 * full) / (2 * full + 4 * shallow), (6 * full) / (full + 5 * shallow), (6 * full) / (full + 5 * shallow)])
  for (const r of table.rows) {
    const [w, lo, hi] = [r[col("wall_speedup")], r[col("wall_speedup_min")], r[col("wall_speedup_max")]] as number[]
    t.ok(w! > 0 && lo! <= w! && w! <= hi!, `speed-up ${w} within [${lo}, ${hi}]`)
  }
  t.equal(m.tables.runs!.rows.length, 3 * 7, "3 rounds x (uncached + 6 configurations)")
  t.match(m.scalars, { steps: 6, batch_size: 2, repeats: 3, evals_per_step: 1 })
  t.ok(m.scalars.seconds_uncached! > 0)
  t.end()
})

t.test("every configuration is checked before any run", async (t) => {
  t.match((await failNode(timing, { model }, { sampler: "rf-euler", steps: 4, intervals: [2], branch: 5 })).message, /branch 5 does not exist/)
  t.match((await failNode(timing, { model }, { sampler: "ddim", steps: 4 })).message, /needs an ε-prediction model/)
  t.end()
})

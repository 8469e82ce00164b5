// CPU time per step (process.cpuUsage, best of 5 after 2 warm-ups; wall time beside it) of the
// reference U-Net train and forward steps and of the latent MLP train step, on the backend
// selectBackend picks (PIPE_NATIVE_ISA, PIPE_NATIVE_THREADS apply). At one thread, CPU time hardly
// depends on what else runs on the machine:
//   PIPE_NATIVE_THREADS=1 PIPE_NATIVE_ISA=avx2 npx tsx bench/cpu-time.ts [--only unet|mlp]
// A development aid for comparing kernel versions on a shared machine (it uses nothing newer than
// selectBackend, so it runs against older checkouts too); speed claims come from bench/run.ts
// (wall time, same run as the PyTorch peer).
import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../src/ml/backend/index.ts"
import { createLatentMlp, referenceMlpConfig } from "../src/ml/nn/mlp.ts"
import type { Model } from "../src/ml/nn/model.ts"
import { Adam, trainStep } from "../src/ml/nn/optim.ts"
import { createUNet, referenceUNetConfig } from "../src/ml/nn/unet.ts"
import { Rng } from "../src/ml/random.ts"

const arg = (f: string) => (process.argv.includes(f) ? process.argv[process.argv.indexOf(f) + 1] : undefined)
process.env.PIPE_NATIVE_THREADS ??= "1"
const choice = await selectBackend()
const label = choice.notes.map((n) => /^pipe-native: (.*)/.exec(n)?.[1]).find((x) => x !== undefined) ?? choice.backend
const only = arg("--only")

/** Best CPU ms and best wall ms of one call. */
const best = (f: () => void, reps = 5): { cpu: number; wall: number } => {
  f()
  f()
  let cpu = Infinity, wall = Infinity
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage(), t0 = performance.now()
    f()
    const c = process.cpuUsage(c0)
    wall = Math.min(wall, performance.now() - t0)
    cpu = Math.min(cpu, (c.user + c.system) / 1000)
  }
  return { cpu, wall }
}
const fmt = (r: { cpu: number; wall: number }, per = 1) => `${(r.cpu / per).toFixed(per > 1 ? 3 : 1)} ms cpu / ${(r.wall / per).toFixed(per > 1 ? 3 : 1)} ms wall`

{
  const parts: string[] = []
  if (only === undefined || only === "unet") {
    const B = 64, rng = new Rng(0)
    const model = createUNet(referenceUNetConfig, 0)
    const x = tf.tensor4d(rng.normals(B * 784), [B, 28, 28, 1]), eps = tf.tensor4d(rng.normals(B * 784), [B, 28, 28, 1])
    const t = tf.tensor1d(Array.from({ length: B }, () => rng.int(1000)))
    const opt = new Adam({ lr: 1e-4 })
    const train = best(() => void trainStep(model, (m: Model) => tf.losses.meanSquaredError(eps, m.apply(x, t)) as tf.Scalar, opt))
    const fwd = best(() => tf.tidy(() => void model.apply(x, t).dataSync()))
    parts.push(`unet train ${fmt(train)}, forward ${fmt(fwd)}`)
  }
  if (only === undefined || only === "mlp") {
    const B = 256, rng = new Rng(1)
    const model = createLatentMlp(referenceMlpConfig, 0)
    const x = tf.tensor2d(rng.normals(B * 16), [B, 16]), eps = tf.tensor2d(rng.normals(B * 16), [B, 16])
    const t = tf.tensor1d(Array.from({ length: B }, () => rng.int(1000)))
    const opt = new Adam({ lr: 1e-4 })
    const block = best(() => { for (let i = 0; i < 50; i++) trainStep(model, (m: Model) => tf.losses.meanSquaredError(eps, m.apply(x, t)) as tf.Scalar, opt) })
    parts.push(`mlp train ${fmt(block, 50)} per step`)
  }
  console.log(`${label} (${process.env.PIPE_NATIVE_THREADS} thread(s)): ${parts.join("; ")}`)
}

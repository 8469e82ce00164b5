// CPU time per step (process.cpuUsage, best of 5 after 2 warm-ups) of the reference U-Net train and
// forward steps and of the latent MLP train step, per pipe-native ISA, at PIPE_NATIVE_THREADS
// threads (default 1: at one thread, CPU time hardly depends on what else runs on the machine):
//   PIPE_NATIVE_THREADS=1 npx tsx bench/cpu-time.ts [--isa avx2,portable] [--only unet|mlp]
// A development aid for comparing kernel versions on a shared machine; speed claims come from
// bench/run.ts (wall time, same run as the PyTorch peer).
import * as tf from "@tensorflow/tfjs"
import { NATIVE_BACKEND, nativeAddon, registerNativeBackend } from "../src/ml/backend/native.ts"
import { Adam, type Model, createLatentMlp, createUNet, referenceMlpConfig, referenceUNetConfig, trainStep } from "../src/ml/nn/index.ts"
import { Rng } from "../src/ml/random.ts"

const arg = (f: string) => (process.argv.includes(f) ? process.argv[process.argv.indexOf(f) + 1] : undefined)
const threads = Number(process.env.PIPE_NATIVE_THREADS ?? 1)
const reg = registerNativeBackend({ threads })
if (!reg.ok) throw new Error(reg.reason)
await tf.setBackend(NATIVE_BACKEND)
const addon = nativeAddon()!
const isas = (arg("--isa") ?? addon.isas.join(",")).split(",")
const only = arg("--only")

const cpuBest = (f: () => void, reps = 5): number => {
  f()
  f()
  let best = Infinity
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage()
    f()
    const c = process.cpuUsage(c0)
    best = Math.min(best, (c.user + c.system) / 1000)
  }
  return best
}

for (const isa of isas) {
  if (!addon.setIsa(isa)) {
    console.log(`${isa}: not runnable here`)
    continue
  }
  const parts: string[] = []
  if (only === undefined || only === "unet") {
    const B = 64, rng = new Rng(0)
    const model = createUNet(referenceUNetConfig, 0)
    const x = tf.tensor4d(rng.normals(B * 784), [B, 28, 28, 1]), eps = tf.tensor4d(rng.normals(B * 784), [B, 28, 28, 1])
    const t = tf.tensor1d(Array.from({ length: B }, () => rng.int(1000)))
    const opt = new Adam({ lr: 1e-4 })
    const train = cpuBest(() => void trainStep(model, (m: Model) => tf.losses.meanSquaredError(eps, m.apply(x, t)) as tf.Scalar, opt))
    const fwd = cpuBest(() => tf.tidy(() => void model.apply(x, t).dataSync()))
    parts.push(`unet train ${train.toFixed(1)} ms (${(B / train * 1000).toFixed(1)} img/cpu-s), forward ${fwd.toFixed(1)} ms (${(B / fwd * 1000).toFixed(1)})`)
  }
  if (only === undefined || only === "mlp") {
    const B = 256, rng = new Rng(1)
    const model = createLatentMlp(referenceMlpConfig, 0)
    const x = tf.tensor2d(rng.normals(B * 16), [B, 16]), eps = tf.tensor2d(rng.normals(B * 16), [B, 16])
    const t = tf.tensor1d(Array.from({ length: B }, () => rng.int(1000)))
    const opt = new Adam({ lr: 1e-4 })
    const block = cpuBest(() => { for (let i = 0; i < 50; i++) trainStep(model, (m: Model) => tf.losses.meanSquaredError(eps, m.apply(x, t)) as tf.Scalar, opt) })
    parts.push(`mlp train ${(block / 50).toFixed(3)} ms/step`)
  }
  console.log(`${isa} (${threads} thread${threads > 1 ? "s" : ""}): ${parts.join("; ")}`)
}

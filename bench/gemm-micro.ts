// Single-thread CPU-time throughput of the addon's GEMM paths per ISA, on the latent MLP's dense
// shapes and on reference U-Net convolutions (forward, input and filter gradients):
//   npx tsx bench/gemm-micro.ts [--isa avx2]
// Best of 15 batches (process.cpuUsage), so a loaded machine distorts it less. A development aid.
import { loadAddon } from "../src/ml/backend/native.ts"
import { Rng } from "../src/ml/random.ts"

const r = loadAddon()
if (!r.ok) throw new Error(r.reason)
const a = r.addon
a.setThreads(1)
const arg = (f: string) => (process.argv.includes(f) ? process.argv[process.argv.indexOf(f) + 1] : undefined)
const rng = new Rng(0)
const f32 = (n: number) => Float32Array.from(rng.normals(n))
/** Best CPU ms per call over 15 batches of `reps` calls. */
const cpuMs = (f: () => void, reps: number): number => {
  for (let i = 0; i < 2; i++) f()
  let best = Infinity
  for (let b = 0; b < 15; b++) {
    const c0 = process.cpuUsage()
    for (let i = 0; i < reps; i++) f()
    const c = process.cpuUsage(c0)
    best = Math.min(best, (c.user + c.system) / 1000 / reps)
  }
  return best
}
const gf = (flops: number, ms: number) => `${ms.toFixed(3)} ms (${(flops / ms / 1e6).toFixed(0)} GF/s)`
const dense: Array<[number, number, number]> = [[256, 256, 48], [256, 256, 256], [256, 16, 256]] // m, n, k
// batch, h(=w), cin, cout, stride
const convs: Array<[number, number, number, number, number]> = [[64, 28, 32, 32, 1], [64, 14, 64, 64, 1], [64, 7, 128, 64, 1], [64, 28, 32, 32, 2]]
for (const isa of (arg("--isa") ?? a.isas.join(",")).split(",")) {
  if (!a.setIsa(isa)) continue
  console.log(isa)
  for (const [m, n, k] of dense) {
    const x = f32(m * k), w = f32(k * n), b = f32(n), y = new Float32Array(m * n), z = new Float32Array(m * n)
    const dy = f32(m * n), dz = new Float32Array(m * n), dw = new Float32Array(k * n), db = new Float32Array(n), dx = new Float32Array(m * k)
    const fl = 2 * m * n * k
    console.log(`  dense ${m}x${n}x${k}: linear ${gf(fl, cpuMs(() => a.linear(x, w, b, y, z, m, n, k, 1), 10))}, grad ${gf(fl, cpuMs(() => a.linearGrad(dy, x, z, dz, dw, db, m, n, k, 1), 10))}, dx ${gf(fl, cpuMs(() => a.matmul(dz, w, dx, null, Int32Array.from([1, m, k, n, 0, 1, 0, 0])), 10))}`)
  }
  for (const [bs, h, cin, cout, st] of convs) {
    const oh = Math.ceil(h / st)
    const shape = Int32Array.from([bs, h, h, cin, oh, oh, cout, 3, 3, st, st, 1, 1])
    const x = f32(bs * h * h * cin), w = f32(9 * cin * cout), y = new Float32Array(bs * oh * oh * cout), dy = f32(bs * oh * oh * cout)
    const dx = new Float32Array(x.length), dw = new Float32Array(w.length)
    const fl = 2 * bs * oh * oh * 9 * cin * cout
    console.log(`  conv b${bs} ${h}x${h} ${cin}->${cout} s${st}: fwd ${gf(fl, cpuMs(() => a.conv2d(x, w, null, y, shape, 0), 1))}, dx ${gf(fl, cpuMs(() => a.conv2dBackpropInput(dy, w, dx, shape), 1))}, dw ${gf(fl, cpuMs(() => a.conv2dBackpropFilter(x, dy, dw, shape), 1))}`)
  }
}

// Single-thread CPU-time throughput of the addon's GEMM paths on the latent MLP's shapes, per ISA:
//   npx tsx bench/gemm-micro.ts
// CPU time (process.cpuUsage), not wall time, so a loaded machine distorts it less.
import { loadAddon } from "../src/ml/backend/native.ts"
import { Rng } from "../src/ml/random.ts"

const r = loadAddon()
if (!r.ok) throw new Error(r.reason)
const a = r.addon
a.setThreads(1)
const rng = new Rng(0)
const f32 = (n: number) => Float32Array.from(rng.normals(n))
const cpuMs = (f: () => void, reps: number): number => {
  for (let i = 0; i < 3; i++) f()
  const c0 = process.cpuUsage()
  for (let i = 0; i < reps; i++) f()
  const c = process.cpuUsage(c0)
  return (c.user + c.system) / 1000 / reps
}
const shapes: Array<[number, number, number]> = [[256, 256, 48], [256, 256, 256], [256, 16, 256]] // m, n, k
for (const isa of a.isas) {
  if (!a.setIsa(isa)) continue
  const rows: string[] = []
  for (const [m, n, k] of shapes) {
    const x = f32(m * k), w = f32(k * n), b = f32(n), y = new Float32Array(m * n), z = new Float32Array(m * n)
    const dy = f32(m * n), dz = new Float32Array(m * n), dw = new Float32Array(k * n), db = new Float32Array(n), dx = new Float32Array(m * k)
    const flops = 2 * m * n * k
    const fwd = cpuMs(() => a.linear(x, w, b, y, z, m, n, k, 1), 200)
    const grad = cpuMs(() => a.linearGrad(dy, x, z, dz, dw, db, m, n, k, 1), 200)
    const dxT = cpuMs(() => a.matmul(dz, w, dx, null, Int32Array.from([1, m, k, n, 0, 1, 0, 0])), 200)
    rows.push(`${m}x${n}x${k}: linear ${fwd.toFixed(3)} ms (${(flops / fwd / 1e6).toFixed(0)} GF/s), grad ${grad.toFixed(3)} ms (${(flops / grad / 1e6).toFixed(0)}), dx ${dxT.toFixed(3)} ms (${(flops / dxT / 1e6).toFixed(0)})`)
  }
  console.log(`${isa}\n  ${rows.join("\n  ")}`)
}

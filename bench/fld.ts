// What FLD's numbers cost and how noisy they are (issue 15):
//   npx tsx bench/fld.ts                       # 1 and 2
//   npx tsx bench/fld.ts REAL.arrow POOL.arrow # also 3, on a judge's reference features, exported with
//     npx pipe export pipelines/shared/judge.yaml reference-features.real --out REAL.arrow (and .floor)
// 1. The bootstrap's cost: ms per replicate of frechetBootstrap at D = 128 (synthetic features).
// 2. Class-share noise: class_share_max_dev of a *perfect* sampler at N (multinomial draws with uniform
//    shares and with MNIST's test-set shares), the level below which a deviation means nothing.
// 3. The floor against N: FLD of the pool's first N rows with its bootstrap SE, next to the mean and SD
//    of FLD over disjoint N-row slices of the pool (what reruns with fresh real images would give).
import { readFileSync } from "node:fs"
import { loadavg } from "node:os"
import { tableFromIPC } from "apache-arrow"
import { TensorType } from "../src/artifacts/index.ts"
import { classShareMaxDeviation } from "../src/ml/metrics/balance.ts"
import { frechetBootstrap, frechetDistance, gaussianStats, standardDeviation } from "../src/ml/metrics/frechet.ts"
import { Rng } from "../src/ml/random.ts"

const D = 128
const B = 100
const load = () => loadavg()[0]!.toFixed(1)
const timed = <A>(f: () => A): { value: A; wall: number; cpu: number } => {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const value = f()
  const c = process.cpuUsage(c0)
  return { value, wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 }
}

console.log(`## 1. bootstrap cost (D = ${D}, B = ${B}, synthetic ReLU-like features; load ${load()})`)
const rng = new Rng(0)
const relu = (n: number, shift: number) => Float32Array.from(rng.normals(n * D), (x, i) => Math.max(0, x * (1 + (i % D) / 50) + shift))
const reference = gaussianStats(relu(10000, 0.1), 10000, D)
for (const n of [256, 1000]) {
  const f = relu(n, 0.2)
  frechetBootstrap(f, n, D, reference, 5, new Rng(1)) // warm-up (JIT)
  const r = timed(() => frechetBootstrap(f, n, D, reference, B, new Rng(1)))
  console.log(`N = ${n}: ${((1000 * r.wall) / B).toFixed(1)} ms/replicate wall, ${((1000 * r.cpu) / B).toFixed(1)} ms CPU (SE ${r.value.se.toFixed(3)}); load ${load()}`)
}

console.log("\n## 2. class_share_max_dev of a perfect sampler (4000 draws each): mean, 95th percentile")
const mnistTest = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009] // t10k label counts
const shareNoise = (n: number, weights: readonly number[]): string => {
  const r = new Rng(n)
  const total = weights.reduce((a, b) => a + b, 0)
  const cumulative = weights.map((_, k) => weights.slice(0, k + 1).reduce((a, b) => a + b, 0) / total)
  const devs = Array.from({ length: 4000 }, () => {
    const h = new Array<number>(weights.length).fill(0)
    for (let i = 0; i < n; i++) {
      const u = r.uniform()
      const k = cumulative.findIndex((c) => u < c)
      h[k] = h[k]! + 1
    }
    return classShareMaxDeviation(h)
  }).sort((a, b) => a - b)
  return `${(100 * devs.reduce((a, b) => a + b, 0) / devs.length).toFixed(2)} / ${(100 * devs[Math.floor(0.95 * devs.length)]!).toFixed(2)} points`
}
for (const n of [256, 1000]) console.log(`N = ${n}: uniform shares ${shareNoise(n, new Array(10).fill(1))}; MNIST test shares ${shareNoise(n, mnistTest)}`)
console.log(`(the MNIST test set itself: ${(100 * classShareMaxDeviation(mnistTest)).toFixed(2)} points)`)

const [realPath, poolPath] = process.argv.slice(2)
if (realPath !== undefined && poolPath !== undefined) {
  const decode = (p: string) => TensorType.decode(tableFromIPC(readFileSync(p)))
  const real = decode(realPath)
  const pool = decode(poolPath)
  const dim = real.shape[1]!
  const ref = gaussianStats(real.data, real.shape[0]!, dim)
  console.log(`\n## 3. floor vs N (reference ${real.shape[0]} x ${dim}, pool ${pool.shape[0]}; load ${load()})`)
  console.log("| N | floor FLD (first N) | bootstrap SE | bootstrap s (wall / CPU) | disjoint slices | their mean FLD | their SD |")
  console.log("|---|---|---|---|---|---|---|")
  for (const n of [256, 500, 1000, 2000, 5000]) {
    const first = pool.data.subarray(0, n * dim)
    const fld = frechetDistance(gaussianStats(first, n, dim), ref)
    const b = timed(() => frechetBootstrap(first, n, dim, ref, B, new Rng(0)))
    const k = Math.min(60, Math.floor(pool.shape[0]! / n))
    const slices = Array.from({ length: k }, (_, i) => frechetDistance(gaussianStats(pool.data.subarray(i * n * dim, (i + 1) * n * dim), n, dim), ref))
    const mean = slices.reduce((a, x) => a + x, 0) / k
    console.log(`| ${n} | ${fld.toFixed(2)} | ${b.value.se.toFixed(2)} | ${b.wall.toFixed(2)} / ${b.cpu.toFixed(2)} | ${k} | ${mean.toFixed(2)} | ${standardDeviation(slices).toFixed(2)} |`)
  }
}

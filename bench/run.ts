// pipe's speed benchmark against the PyTorch peer (../shared/peers/torch_unet_bench.py), same run,
// same machine, same methodology: median of 5 timed iterations after 2 warm-ups; U-Net batch 64
// (train = forward + MSE + backward + Adam lr 1e-4; forward = no-grad forward); latent MLP batch 256
// in blocks of 200 train steps.
//
//   npm run bench -- [--only unet-train,unet-forward,mlp-train] [--json] [--backend native|wasm|cpu|...]
//                    [--no-peer] [--iters 5] [--warmup 2]
//
// Prints one line per result (JSON with --json) and writes all of them to bench/results/<date>.json.
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import * as tf from "@tensorflow/tfjs"
import { type BackendPreference, isBackendPreference, selectBackend } from "../src/ml/backend/index.ts"
import { createLatentMlp, referenceMlpConfig } from "../src/ml/nn/mlp.ts"
import { type Model, countParams, disposeModel } from "../src/ml/nn/model.ts"
import { Adam, trainStep } from "../src/ml/nn/optim.ts"
import { createUNet, referenceUNetConfig } from "../src/ml/nn/unet.ts"
import { Rng } from "../src/ml/random.ts"

const ALL = ["unet-train", "unet-forward", "mlp-train"] as const
type ResultName = (typeof ALL)[number]

interface Options {
  readonly only: readonly ResultName[]
  readonly json: boolean
  readonly backend: BackendPreference | undefined
  readonly peer: boolean
  readonly iters: number
  readonly warmup: number
  readonly mlpSteps: number
}

const parseArgs = (argv: readonly string[]): Options => {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const only = (get("--only") ?? ALL.join(",")).split(",").filter((s) => s !== "")
  for (const o of only) if (!(ALL as readonly string[]).includes(o)) throw new Error(`--only: unknown result "${o}" (known: ${ALL.join(", ")})`)
  const backend = get("--backend")
  if (backend !== undefined && !isBackendPreference(backend)) throw new Error(`--backend: unknown backend "${backend}"`)
  return {
    only: only as ResultName[],
    json: argv.includes("--json"),
    backend,
    peer: !argv.includes("--no-peer"),
    iters: Number(get("--iters") ?? 5),
    warmup: Number(get("--warmup") ?? 2),
    mlpSteps: Number(get("--mlp-steps") ?? 200),
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** Median seconds of `iters` calls after `warmup` calls, as the peer's median_seconds. */
const medianSeconds = (fn: () => void, o: Options): { med: number; times: number[] } => {
  const times: number[] = []
  for (let i = 0; i < o.warmup + o.iters; i++) {
    const t0 = performance.now()
    fn()
    if (i >= o.warmup) times.push((performance.now() - t0) / 1000)
  }
  return { med: median(times), times }
}

const peakRssMb = (): number => Math.round(process.resourceUsage().maxRSS / 1024)

// ---- the PyTorch peer ----------------------------------------------------------------------------
type PeerLine = Record<string, unknown>
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..")
const peerScript = join(repoRoot, "..", "shared", "peers", "torch_unet_bench.py")

const runPeer = (what: "unet" | "mlp"): { results: Map<string, PeerLine>; note?: string } => {
  if (!existsSync(peerScript)) return { results: new Map(), note: `peer skipped: ${peerScript} not found` }
  if (!existsSync("/usr/bin/python3")) return { results: new Map(), note: "peer skipped: /usr/bin/python3 not found" }
  const r = spawnSync("/usr/bin/python3", [peerScript, "--what", what, "--threads", "2"], { encoding: "utf8", timeout: 900_000 })
  if (r.status !== 0) return { results: new Map(), note: `peer failed: ${(r.stderr ?? "").trim().split("\n").pop() ?? r.status}` }
  const results = new Map<string, PeerLine>()
  for (const line of r.stdout.split("\n")) {
    if (!line.startsWith("{")) continue
    const o = JSON.parse(line) as PeerLine
    if (typeof o.result === "string") results.set(o.result, o)
  }
  return { results }
}

// ---- our workloads --------------------------------------------------------------------------------
interface Measured {
  readonly result: ResultName
  readonly rate: number
  readonly unit: "images_per_sec" | "samples_per_sec"
  readonly median_s: number
  readonly times: number[]
  readonly batch: number
  readonly params: number
}

const unetData = (b: number) => {
  const rng = new Rng(0)
  return {
    x: tf.tensor4d(rng.normals(b * 784), [b, 28, 28, 1]),
    eps: tf.tensor4d(rng.normals(b * 784), [b, 28, 28, 1]),
    t: tf.tensor1d(Array.from({ length: b }, () => rng.int(1000))),
  }
}

const benchUNet = (which: readonly ResultName[], o: Options): Measured[] => {
  const B = 64
  const model = createUNet(referenceUNetConfig, 0)
  const { x, eps, t } = unetData(B)
  const out: Measured[] = []
  if (which.includes("unet-train")) {
    const opt = new Adam({ lr: 1e-4 })
    const loss = (m: Model) => tf.losses.meanSquaredError(eps, m.apply(x, t)) as tf.Scalar
    const { med, times } = medianSeconds(() => void trainStep(model, loss, opt), o)
    out.push({ result: "unet-train", rate: B / med, unit: "images_per_sec", median_s: med, times, batch: B, params: countParams(model) })
    opt.dispose()
  }
  if (which.includes("unet-forward")) {
    const { med, times } = medianSeconds(() => tf.tidy(() => void model.apply(x, t).dataSync()), o)
    out.push({ result: "unet-forward", rate: B / med, unit: "images_per_sec", median_s: med, times, batch: B, params: countParams(model) })
  }
  tf.dispose([x, eps, t])
  disposeModel(model)
  return out
}

const benchMlp = (o: Options): Measured => {
  const B = 256
  const model = createLatentMlp(referenceMlpConfig, 0)
  const rng = new Rng(1)
  const x = tf.tensor2d(rng.normals(B * 16), [B, 16]), eps = tf.tensor2d(rng.normals(B * 16), [B, 16])
  const t = tf.tensor1d(Array.from({ length: B }, () => rng.int(1000)))
  const opt = new Adam({ lr: 1e-4 })
  const loss = (m: Model) => tf.losses.meanSquaredError(eps, m.apply(x, t)) as tf.Scalar
  const { med, times } = medianSeconds(() => {
    for (let i = 0; i < o.mlpSteps; i++) trainStep(model, loss, opt)
  }, o)
  const params = countParams(model)
  opt.dispose()
  tf.dispose([x, eps, t])
  disposeModel(model)
  return { result: "mlp-train", rate: (o.mlpSteps * B) / med, unit: "samples_per_sec", median_s: med, times, batch: B, params }
}

const main = async (): Promise<void> => {
  const o = parseArgs(process.argv.slice(2))
  const choice = await selectBackend(o.backend)
  const notes = [...choice.notes]
  const peer = new Map<string, PeerLine>()
  const wantUNet = o.only.filter((r) => r.startsWith("unet"))
  if (o.peer) {
    for (const what of [...(wantUNet.length > 0 ? ["unet" as const] : []), ...(o.only.includes("mlp-train") ? ["mlp" as const] : [])]) {
      const p = runPeer(what)
      if (p.note !== undefined) notes.push(p.note)
      for (const [k, v] of p.results) peer.set(k, v)
    }
  }
  const measured: Measured[] = []
  if (wantUNet.length > 0) measured.push(...benchUNet(wantUNet, o))
  if (o.only.includes("mlp-train")) measured.push(benchMlp(o))
  const lines = measured.map((m) => {
    const p = peer.get(m.result)
    const peerRate = p === undefined ? undefined : (p[m.unit] as number | undefined)
    return {
      result: m.result,
      backend: choice.backend,
      [m.unit]: Math.round(m.rate * 10) / 10,
      peer_torch: p === undefined ? null : { [m.unit]: peerRate, median_s: p.median_s ?? p.median_block_s, version: "torch" },
      ratio: peerRate === undefined ? null : Math.round((m.rate / peerRate) * 1000) / 1000,
      peak_rss_mb: peakRssMb(),
      batch: m.batch,
      params: m.params,
      median_s: m.median_s,
      times: m.times,
    }
  })
  for (const l of lines) {
    if (o.json) console.log(JSON.stringify(l))
    else {
      const unit = "images_per_sec" in l ? "img/s" : "samples/s"
      const rate = (l as Record<string, unknown>)[unit === "img/s" ? "images_per_sec" : "samples_per_sec"]
      console.log(`${l.result.padEnd(13)} ${l.backend}: ${rate} ${unit}; torch ${JSON.stringify(l.peer_torch)}; ratio ${l.ratio}; peak RSS ${l.peak_rss_mb} MB`)
    }
  }
  if (notes.length > 0 && !o.json) for (const n of notes) console.log(`note: ${n}`)
  const dir = join(repoRoot, "bench", "results")
  mkdirSync(dir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, "-")
  writeFileSync(join(dir, `${stamp}.json`), `${JSON.stringify({ date: new Date().toISOString(), backend: choice.backend, notes, results: lines }, null, 2)}\n`)
}

await main()

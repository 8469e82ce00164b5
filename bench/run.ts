// pipe's speed benchmark against the PyTorch peer (../shared/peers/torch_unet_bench.py), same run,
// same machine, same methodology: median of 5 timed iterations after 2 warm-ups; U-Net batch 64
// (train = forward + MSE + backward + Adam lr 1e-4; forward = no-grad forward); latent MLP batch 256
// in blocks of 200 train steps.
//
//   npm run bench -- [--only unet-train,unet-forward,mlp-train] [--json] [--backend native|tensorflow|wasm|cpu|...]
//                    [--no-peer] [--iters 5] [--warmup 2] [--rounds 1] [--peer-isa auto|native|avx512|avx2|portable]
//                    [--clock wall|cpu]
//
// --clock cpu times both sides by their process CPU time at one thread each (the peer's own timer
// is pointed at time.process_time): a loaded machine then slows neither side's figure much, so the
// ratio approximates a quiet machine's single-thread ratio. The default, wall, is what users see.
//
// PIPE_NATIVE_ISA=avx2 (or portable, ...) runs pipe-native's kernels for that instruction set; the
// peer is then held to the same ISA (--peer-isa auto): ATEN_CPU_CAPABILITY for ATen's own kernels,
// DNNL_MAX_CPU_ISA for oneDNN (torch's convolutions) and OPENBLAS_CORETYPE for OpenBLAS (its
// matmuls). Before timing, a probe records which BLAS library torch loaded (and warns when it is the
// netlib reference BLAS, which makes the peer several times slower) and which ISA oneDNN reports.
// --rounds N alternates peer and pipe N times and keeps each side's best: the machine is shared, and
// a neighbour's burst should not decide a ratio. The load average is recorded with every round.
// Each round runs the peer with its default OpenMP waiting and with OMP_WAIT_POLICY=PASSIVE and
// keeps the faster (see below).
//
// Prints one line per result (JSON with --json) and writes everything to bench/results/<date>.json.
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
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
const PEER_ISAS = ["native", "avx512", "avx2", "portable"] as const
type PeerIsa = (typeof PEER_ISAS)[number]

interface Options {
  readonly only: readonly ResultName[]
  readonly json: boolean
  readonly backend: BackendPreference | undefined
  readonly peer: boolean
  readonly iters: number
  readonly warmup: number
  readonly mlpSteps: number
  readonly rounds: number
  readonly peerIsa: PeerIsa | "auto"
  readonly clock: "wall" | "cpu"
}

// tfjs's own backend names are accepted too (the README tells tfjs-node users `--backend tensorflow`).
const BACKEND_ALIASES: Record<string, string> = { tensorflow: "tfjs-node", "pipe-native": "native" }

const parseArgs = (argv: readonly string[]): Options => {
  const get = (flag: string): string | undefined => {
    const i = argv.indexOf(flag)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const only = (get("--only") ?? ALL.join(",")).split(",").filter((s) => s !== "")
  for (const o of only) if (!(ALL as readonly string[]).includes(o)) throw new Error(`--only: unknown result "${o}" (known: ${ALL.join(", ")})`)
  const rawBackend = get("--backend")
  const backend = rawBackend === undefined ? undefined : (BACKEND_ALIASES[rawBackend] ?? rawBackend)
  if (backend !== undefined && !isBackendPreference(backend)) throw new Error(`--backend: unknown backend "${rawBackend}"`)
  const clock = get("--clock") ?? "wall"
  if (clock !== "wall" && clock !== "cpu") throw new Error("--clock: wall or cpu")
  const peerIsa = get("--peer-isa") ?? "auto"
  if (peerIsa !== "auto" && !(PEER_ISAS as readonly string[]).includes(peerIsa)) throw new Error(`--peer-isa: one of auto, ${PEER_ISAS.join(", ")}`)
  return {
    only: only as ResultName[],
    json: argv.includes("--json"),
    backend,
    peer: !argv.includes("--no-peer"),
    iters: Number(get("--iters") ?? 5),
    warmup: Number(get("--warmup") ?? 2),
    mlpSteps: Number(get("--mlp-steps") ?? 200),
    rounds: Math.max(1, Number(get("--rounds") ?? 1)),
    peerIsa: peerIsa as PeerIsa | "auto",
    clock,
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** Seconds on the chosen clock: wall, or this process's CPU time (user + system). */
const now = (o: Options): number => {
  if (o.clock === "wall") return performance.now() / 1000
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

/** Median seconds of `iters` calls after `warmup` calls, as the peer's median_seconds. */
const medianSeconds = (fn: () => void, o: Options): { med: number; times: number[] } => {
  const times: number[] = []
  for (let i = 0; i < o.warmup + o.iters; i++) {
    const t0 = now(o)
    fn()
    if (i >= o.warmup) times.push(now(o) - t0)
  }
  return { med: median(times), times }
}

const peakRssMb = (): number => Math.round(process.resourceUsage().maxRSS / 1024)
const load = (): number[] => loadavg().map((l) => Math.round(l * 100) / 100)

// ---- the PyTorch peer ----------------------------------------------------------------------------
type PeerLine = Record<string, unknown>
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..")
const peerScript = join(repoRoot, "..", "shared", "peers", "torch_unet_bench.py")
const PYTHON = "/usr/bin/python3"

/** Environment that holds torch's three kernel families (ATen, oneDNN, OpenBLAS) to one x86 ISA. */
const peerEnv = (isa: PeerIsa): Record<string, string> => {
  switch (isa) {
    case "avx2": return { ATEN_CPU_CAPABILITY: "avx2", DNNL_MAX_CPU_ISA: "AVX2", OPENBLAS_CORETYPE: "Haswell" }
    case "avx512": return { ATEN_CPU_CAPABILITY: "avx512", DNNL_MAX_CPU_ISA: "AVX512_CORE", OPENBLAS_CORETYPE: "SkylakeX" }
    case "portable": return { ATEN_CPU_CAPABILITY: "default", DNNL_MAX_CPU_ISA: "SSE41", OPENBLAS_CORETYPE: "Nehalem" }
    case "native": return {}
  }
}

interface PeerSetup {
  readonly torch?: string
  readonly blas: readonly string[]
  readonly blasKind: "openblas" | "reference" | "other" | "unknown"
  readonly onednnIsa?: string
  readonly atenCapability?: string
  readonly warning?: string
}

// Loads torch as the peer will, runs one matmul and one convolution (oneDNN prints its ISA with
// DNNL_VERBOSE), and lists the BLAS libraries mapped into the process.
const PROBE = `
import json, os, torch
torch.mm(torch.randn(64, 64), torch.randn(64, 64))
torch.nn.Conv2d(8, 8, 3)(torch.randn(2, 8, 8, 8))
libs = set()
for line in open("/proc/self/maps"):
    path = line.split()[-1]
    if path.startswith("/") and ("blas" in path.lower() or "lapack" in path.lower()):
        libs.add(os.path.realpath(path))
cap = [l.split(":", 1)[1].strip() for l in torch.__config__.show().splitlines() if "CPU capability usage" in l]
print("PROBE " + json.dumps({"torch": torch.__version__, "blas": sorted(libs), "aten": cap[0] if cap else None}))
`

const probePeer = (env: Record<string, string>): PeerSetup => {
  const r = spawnSync(PYTHON, ["-c", PROBE], { encoding: "utf8", env: { ...process.env, ...env, DNNL_VERBOSE: "1", ONEDNN_VERBOSE: "1" }, timeout: 120_000 })
  const line = r.stdout?.split("\n").find((l) => l.startsWith("PROBE "))
  if (r.status !== 0 || line === undefined) return { blas: [], blasKind: "unknown", warning: `peer probe failed: ${(r.stderr ?? "").trim().split("\n").pop() ?? r.status}` }
  const p = JSON.parse(line.slice(6)) as { torch: string; blas: string[]; aten: string | null }
  const onednn = r.stdout.split("\n").find((l) => /^(onednn|dnnl)_verbose,info,cpu,isa:/.test(l))?.split("isa:")[1]?.trim()
  const blasLib = p.blas.filter((b) => /libblas|openblas|blis|mkl/i.test(b))
  const blasKind = blasLib.some((b) => /openblas/i.test(b)) ? "openblas"
    : blasLib.some((b) => /\/blas\/libblas/.test(b)) ? "reference" : blasLib.length > 0 ? "other" : "unknown"
  const warning = blasKind === "reference"
    ? "WARNING: torch runs its matmuls on the netlib reference BLAS (several times slower than OpenBLAS): install libopenblas0-pthread; peer figures are not its best"
    : undefined
  return {
    torch: p.torch, blas: p.blas, blasKind,
    ...(onednn === undefined ? {} : { onednnIsa: onednn }), ...(p.aten === null ? {} : { atenCapability: p.aten }),
    ...(warning === undefined ? {} : { warning }),
  }
}

// --clock cpu: the unchanged peer script, its timer swapped for CPU time, one thread.
const CPU_CLOCK_PEER = "import runpy, sys, time; time.perf_counter = time.process_time; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"

const runPeer = (what: "unet" | "mlp", env: Record<string, string>, o: Options): { results: Map<string, PeerLine>; note?: string } => {
  if (!existsSync(peerScript)) return { results: new Map(), note: `peer skipped: ${peerScript} not found` }
  if (!existsSync(PYTHON)) return { results: new Map(), note: `peer skipped: ${PYTHON} not found` }
  const args = [peerScript, "--what", what, "--threads", o.clock === "cpu" ? "1" : "2", "--iters", String(o.iters), "--warmup", String(o.warmup)]
  // One thread means one: OpenBLAS keeps its own thread pool unless told otherwise.
  const single = o.clock === "cpu" ? { OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1" } : {}
  const r = spawnSync(PYTHON, o.clock === "cpu" ? ["-c", CPU_CLOCK_PEER, ...args] : args, { encoding: "utf8", timeout: 900_000, env: { ...process.env, ...env, ...single } })
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

/** "pipe-native: avx2 kernels ..." -> "avx2" */
const nativeIsaOf = (notes: readonly string[]): string | undefined =>
  notes.map((n) => /^pipe-native: (\w+) kernels/.exec(n)?.[1]).find((x) => x !== undefined)

const main = async (): Promise<void> => {
  const o = parseArgs(process.argv.slice(2))
  if (o.clock === "cpu") process.env.PIPE_NATIVE_THREADS = "1" // read by selectBackend
  const choice = await selectBackend(o.backend)
  const notes = [...choice.notes]
  const ourIsa = choice.backend === "pipe-native" ? nativeIsaOf(notes) : undefined
  const peerIsa: PeerIsa = o.peerIsa !== "auto" ? o.peerIsa
    : ourIsa === "avx2" || ourIsa === "portable" ? ourIsa : "native" // avx512 / neon: torch's own choice
  const env = peerEnv(peerIsa)
  const wantUNet = o.only.filter((r) => r.startsWith("unet"))
  const peerWhat = [...(wantUNet.length > 0 ? ["unet" as const] : []), ...(o.only.includes("mlp-train") ? ["mlp" as const] : [])]
  const setup = o.peer ? probePeer(env) : undefined
  if (setup?.warning !== undefined) {
    notes.push(setup.warning)
    console.error(setup.warning)
  }

  // Each round: the peer, then pipe. Best rate per side and result across rounds.
  const rounds: Array<{ load_before: number[]; load_after: number[]; peer: Record<string, number>; pipe: Record<string, number> }> = []
  const bestPeer = new Map<string, PeerLine>()
  const bestOurs = new Map<ResultName, Measured>()
  const rateOf = (p: PeerLine, unit: string): number => (typeof p[unit] === "number" ? (p[unit] as number) : 0)
  for (let r = 0; r < o.rounds; r++) {
    const before = load()
    const peerRates: Record<string, number> = {}
    // Twice per round: torch's default OpenMP waits spin, which is fastest on an idle machine and
    // pathological on a loaded one (measured here: 2 ms MLP steps became 250 ms); PASSIVE (what
    // pipe-native uses) sleeps instead. The peer keeps whichever is faster.
    for (const what of o.peer ? peerWhat : []) {
      for (const omp of o.clock === "cpu" ? (["default"] as const) : (["default", "PASSIVE"] as const)) {
        const p = runPeer(what, omp === "default" ? env : { ...env, OMP_WAIT_POLICY: "PASSIVE" }, o)
        if (p.note !== undefined && !notes.includes(p.note)) notes.push(p.note)
        for (const [k, v] of p.results) {
          const unit = k === "mlp-train" ? "samples_per_sec" : "images_per_sec"
          peerRates[`${k} (omp ${omp})`] = Math.round(rateOf(v, unit) * 10) / 10
          const prev = bestPeer.get(k)
          if (prev === undefined || rateOf(v, unit) > rateOf(prev, unit)) bestPeer.set(k, { ...v, omp_wait_policy: omp })
        }
      }
    }
    const measured: Measured[] = []
    if (wantUNet.length > 0) measured.push(...benchUNet(wantUNet, o))
    if (o.only.includes("mlp-train")) measured.push(benchMlp(o))
    const ours: Record<string, number> = {}
    for (const m of measured) {
      ours[m.result] = Math.round(m.rate * 10) / 10
      const prev = bestOurs.get(m.result)
      if (prev === undefined || m.rate > prev.rate) bestOurs.set(m.result, m)
    }
    rounds.push({ load_before: before, load_after: load(), peer: peerRates, pipe: ours })
    if (!o.json && o.rounds > 1) console.log(`round ${r + 1}/${o.rounds} (load ${before.join(" ")}): pipe ${JSON.stringify(ours)}; torch ${JSON.stringify(peerRates)}`)
  }

  const lines = [...bestOurs.values()].map((m) => {
    const p = bestPeer.get(m.result)
    const peerRate = p === undefined ? undefined : (p[m.unit] as number | undefined)
    return {
      result: m.result,
      backend: choice.backend,
      isa: ourIsa ?? null,
      [m.unit]: Math.round(m.rate * 10) / 10,
      peer_torch: p === undefined ? null : { [m.unit]: peerRate, median_s: p.median_s ?? p.median_block_s, version: setup?.torch ?? "torch", isa: peerIsa, omp_wait_policy: p.omp_wait_policy },
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
      console.log(`${l.result.padEnd(13)} ${l.backend}${l.isa === null ? "" : `/${l.isa}`}: ${rate} ${unit}; torch ${JSON.stringify(l.peer_torch)}; ratio ${l.ratio}; peak RSS ${l.peak_rss_mb} MB`)
    }
  }
  if (!o.json) for (const n of notes) console.log(`note: ${n}`)
  const dir = join(repoRoot, "bench", "results")
  mkdirSync(dir, { recursive: true })
  const stamp = new Date().toISOString().replace(/[:.]/g, "-")
  writeFileSync(join(dir, `${stamp}.json`), `${JSON.stringify({
    date: new Date().toISOString(), backend: choice.backend, isa: ourIsa ?? null, cpus: cpus().length,
    clock: o.clock === "cpu" ? "cpu time, 1 thread each side" : "wall, 2 threads each side",
    notes, peer: o.peer ? { isa: peerIsa, env, ...setup } : null, rounds, results: lines,
  }, null, 2)}\n`)
}

await main()

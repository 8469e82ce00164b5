// End-to-end smoke runs of the study pipelines through the real CLI (`bin/pipe.mjs run FILE --profile
// smoke`), sharing one temporary cache so later pipelines reuse what earlier ones computed (MNIST, the
// judge, the VAE and its latents), exactly as a user's cache would.
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import t, { type Test } from "tap"
import type { RunRecord } from "../../src/exec/record.ts"
import { GLOBAL, scopeOf } from "../../src/pipeline/scope.ts"

const REPO = resolve(import.meta.dirname, "../..")
const BIN = join(REPO, "bin/pipe.mjs")
const needed = [BIN, ...["ddpm", "pixel-rf", "latent-ddpm", "latent-rf", "deepcache", "shared/judge", "shared/latent"].map((p) => join(REPO, "pipelines", `${p}.yaml`))]
const missing = needed.filter((f) => !existsSync(f))
if (missing.length > 0) {
  t.pass(`skipped: the engine CLI or shared pipelines are not there yet (${missing.map((f) => f.slice(REPO.length + 1)).join(", ")})`)
  process.exit(0)
}

// Five study pipelines end to end, one after another: on the shared 2-core machine under load this
// file outgrows tap's 300 s per-file timeout (package.json), so it asks for more.
t.setTimeout(900_000)

const dir = mkdtempSync(join(tmpdir(), "pipe-smoke-"))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const cache = join(dir, "cache")
const runs = join(dir, "runs")

interface Result { readonly code: number | null; readonly stdout: string; readonly stderr: string }
const pipe = (args: readonly string[]): Promise<Result> =>
  new Promise((res) => {
    const child = spawn(process.execPath, [BIN, ...args, "--cache", cache, "--runs", runs], {
      cwd: REPO,
      env: { ...process.env, PIPE_CACHE: "", PIPE_RUNS: "", PIPE_ROOT: "", PIPE_NODES: "", FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    child.on("close", (code) => res({ code, stdout, stderr }))
  })

const lastRun = (): RunRecord => {
  const ids = readdirSync(runs).sort()
  return JSON.parse(readFileSync(join(runs, ids.at(-1)!, "run.json"), "utf8")) as RunRecord
}
const status = (r: RunRecord, id: string): string | undefined => r.nodes.find((n) => n.id === id)?.status
const key = (r: RunRecord, id: string): string | null | undefined => r.nodes.find((n) => n.id === id)?.key

/** Runs a pipeline's smoke profile; checks it succeeded and every sampler left a grid (or a score). */
const smoke = async (t: Test, file: string, samplers: readonly string[]): Promise<RunRecord> => {
  const r = await pipe(["run", `pipelines/${file}.yaml`, "--profile", "smoke"])
  t.equal(r.code, 0, r.code === 0 ? `${file}: exit 0` : `${file} failed:\n${r.stderr.slice(-3000)}`)
  const rec = lastRun()
  t.equal(rec.status, "ok")
  t.equal(rec.profile, "smoke")
  t.same(rec.nodes.filter((n) => n.status !== "ran" && n.status !== "cached").map((n) => `${n.id}: ${n.status}`), [], "every node ran or was cached")
  for (const s of samplers) {
    t.ok(rec.nodes.some((n) => n.files.some((f) => f.endsWith(".png") && (f.startsWith(`${s}/`) || f.startsWith(`grid-${s}/`)))), `${file}: ${s} grid`)
    t.equal(status(rec, `score-${s}`), "ran", `${file}: ${s} scored`)
  }
  return rec
}

t.test("ddpm.yaml --profile smoke", async (t) => {
  await smoke(t, "ddpm", ["ddpm-1000", "ddim-50", "ddim-20", "ddim-10"])
})

interface Planned { readonly id: string; readonly key: string | null; readonly cached: boolean }
const plan = async (t: Test, file: string): Promise<Planned[]> => {
  const r = await pipe(["plan", `pipelines/${file}.yaml`, "--profile", "smoke", "--json"])
  t.equal(r.code, 0, r.code === 0 ? `plan ${file}` : r.stderr)
  return (JSON.parse(r.stdout) as { nodes: Planned[] }).nodes
}

t.test("study.yaml after ddpm.yaml: every node of ddpm.yaml is cached in study.yaml, with ddpm.yaml's key", async (t) => {
  const ddpm = lastRun()
  t.equal(ddpm.name, "ddpm")
  const study = await plan(t, "study")
  for (const n of ddpm.nodes) {
    // ddpm.yaml's own nodes are ddpm/<id>; those of its plain includes (MNIST, judge, U-Net) are shared
    const p = study.find((x) => x.id === `ddpm/${n.id}`) ?? study.find((x) => x.id === n.id)
    t.ok(p?.cached, `${p?.id ?? n.id} cached`)
    t.equal(p?.key, n.key, `${p?.id ?? n.id} has ddpm.yaml's key`)
  }
  t.ok(study.some((p) => p.id.startsWith("ddpm/score-")), "namespaced")
  t.ok(study.some((p) => p.id === "latent-rf/train" && !p.cached), "other studies still to run")
})

t.test("pixel-rf.yaml --profile smoke reuses MNIST and the judge", async (t) => {
  const rec = await smoke(t, "pixel-rf", ["euler-1", "euler-2", "euler-5", "euler-10", "euler-50"])
  t.equal(status(rec, "judge"), "cached")
})

t.test("ddpm-sampler-ablation.yaml --profile smoke: its DDPM-1000 and DDIM-50 arms are ddpm.yaml's samples (cached, same keys)", async (t) => {
  const ddpm = await plan(t, "ddpm")
  const arms = ["ddpm-1000", "ddpm-250", "ddpm-100", "ddim-50", "ddim-100", "ddim-250", "ddim-1000", "ddim-50-eta05", "ddim-50-eta1", "ddim-50-noclip", "ddim-100-noclip", "ddim-250-noclip"]
  const rec = await smoke(t, "ddpm-sampler-ablation", arms.slice(1).filter((a) => a !== "ddim-50"))
  for (const [arm, id] of [["ddpm-1000", "ddpm-1000"], ["ddim-50", "ddim-50-n500"]] as const) {
    t.equal(key(rec, arm), ddpm.find((p) => p.id === id)?.key, `${arm} has ddpm.yaml's ${id} key`)
    t.same([status(rec, arm), status(rec, `score-${arm}`)], ["cached", "cached"], `${arm} is not sampled or scored again`)
  }
  t.equal(new Set(arms.map((a) => key(rec, a))).size, arms.length, "every other arm is its own sample")
})

t.test("latent-ddpm then latent-rf: the VAE and latents are computed once, with identical keys", async (t) => {
  const ddpm = await smoke(t, "latent-ddpm", ["ddpm-1000", "ddim-50", "ddim-20", "ddim-10"])
  for (const id of ["vae", "latents"]) t.equal(status(ddpm, id), "ran", `${id} computed by latent-ddpm`)
  const planned = await plan(t, "latent-rf")
  for (const id of ["vae", "latents"]) {
    const n = planned.find((p) => p.id === id)
    t.ok(n?.cached, `plan: ${id} cached`)
    t.equal(n?.key, key(ddpm, id), `plan: ${id} has latent-ddpm's key`)
  }
  const rf = await smoke(t, "latent-rf", ["euler-1", "euler-2", "euler-5", "euler-10", "euler-50", "reflow-euler-1", "reflow-euler-2"])
  for (const id of ["pairs", "train-reflow"]) t.equal(status(rf, id), "ran", `reflow stage: ${id}`)
  for (const id of ["vae", "latents"]) {
    t.equal(status(rf, id), "cached", `latent-rf does not recompute ${id}`)
    t.equal(key(rf, id), key(ddpm, id))
  }
})

t.test("latent-rf's report series: the base flow and the reflowed flow are separate lines", async (t) => {
  const rec = lastRun()
  t.equal(rec.name, "latent-rf")
  const { loadReportData } = await import("../../src/report/load.ts")
  const { pointsOf } = await import("../../src/report/index.ts")
  const { seriesLabel } = await import("../../src/report/series.ts")
  const points = pointsOf(await loadReportData(join(runs, rec.id), rec, cache))
  const euler1 = points.filter((p) => p.steps === 1 && p.fld !== null)
  t.same(euler1.map((p) => [p.node, p.model, seriesLabel(p)]).sort(), [
    ["score-euler-1", "train", "train · rf-euler"],
    ["score-reflow-euler-1", "train-reflow", "train-reflow · rf-euler"],
  ])
  // (reflow-pairs samples the base flow with rf-midpoint: a third series, timing only)
  t.same([...new Set(points.filter((p) => p.sampler === "rf-euler").map((p) => seriesLabel(p)))], ["train · rf-euler", "train-reflow · rf-euler"], "one Euler series per model")
})

t.test("latent-ablation.yaml --profile smoke: the VAE, latents and the adopted arm (w512-d3-e300-cos-v) are latent-ddpm's", async (t) => {
  const planned = await plan(t, "latent-ddpm")
  const arms = ["w256-d2-e50", "w256-d2-e200", "w512-d2-e50", "w512-d3-e100", "w1024-d3-e100", "w512-d3-e100-cos", "w512-d3-e300-cos"]
  const rec = await smoke(t, "latent-ablation", arms)
  for (const [id, theirs] of [["vae", "vae"], ["latents", "latents"], ["train-w512-d3-e300-cos-v", "train"], ["score-w512-d3-e300-cos-v", "score-ddim-50"]] as const) {
    t.equal(status(rec, id), "cached", `${id} cached`)
    t.equal(key(rec, id), planned.find((p) => p.id === theirs)?.key, `${id} has latent-ddpm's ${theirs} key`)
  }
})

t.test("cfg.yaml --profile smoke: every route guided at every s, scored against the requested labels; judge, VAE and latents reused", async (t) => {
  const scales = [0, 1, 2, 3, 5, 7]
  const routes = ["channel", "cross-attention", "embedding", "latent"]
  const rec = await smoke(t, "cfg", routes.flatMap((r) => scales.map((s) => `${r}-s${s}`)))
  for (const id of ["judge", "vae", "latents"]) t.equal(status(rec, id), "cached", `cfg does not recompute ${id}`)
  for (const id of ["cfg-channel", "cfg-cross-attention", "cfg-embedding", "cfg-latent"]) t.equal(status(rec, id), "ran", `${id} trained`)
})

t.test("controlnet-canny.yaml --profile smoke: the base is ddpm.yaml's (cached), every image batch scored", async (t) => {
  if (!existsSync(join(REPO, "pipelines/controlnet-canny.yaml"))) return t.pass("skipped: no controlnet-canny.yaml")
  const rec = await smoke(t, "controlnet-canny", ["control-1", "control-05", "base-ddim-50", "regression-test", "control-1-n2", "control-1-n3", "control-1-n5"])
  // ddpm.yaml's U-Net, judge and DDIM-50 samples (base-ddim-50 has ddim-50's params): no recomputation
  for (const id of ["ddpm-unet", "judge", "base-ddim-50"]) t.equal(status(rec, id), "cached", `${id} cached`)
  for (const id of ["controlnet", "regression", "edges-control-1", "edges-control-div", "edges-regression-test"]) t.equal(status(rec, id), "ran", id)
  t.ok(rec.nodes.find((n) => n.id === "grid")?.files.some((f) => f.endsWith(".png")), "comparison grid")
  for (const n of [2, 3, 5]) t.equal(status(rec, `edges-control-1-n${n}`), "ran", `DeepCache N = ${n} on the ControlNet: edge F1 scored`)
})

t.test("deepcache.yaml --profile smoke reuses both U-Nets; at 1 step every cached run is the uncached one", async (t) => {
  const rec = await smoke(t, "deepcache", ["ddim-1", "ddim-10-n2-uniform", "ddim-100-n5-non-uniform", "euler-1-n128-uniform", "euler-10-n3-non-uniform"])
  for (const id of ["ddpm-unet", "rf-unet", "judge"]) t.equal(status(rec, id), "cached", `${id} comes from ddpm.yaml / pixel-rf.yaml`)
  for (const id of ["time-ddim-100", "time-euler-1"]) t.equal(status(rec, id), "ran")
  const cmp = await pipe(["compare", "last", "--json", "--all"])
  t.equal(cmp.code, 0, cmp.stderr)
  const rows = (JSON.parse(cmp.stdout) as { rows: { node: string; scalars: Record<string, number> }[] }).rows
  const scores = (re: RegExp) => rows.filter((r) => re.test(r.node)).map((r) => r.scalars)
  const oneStep = scores(/^score-(ddim|euler)-1-n\d+-/)
  t.equal(oneStep.length, 40, "2 models x 10 intervals x 2 schedules")
  t.ok(oneStep.every((s) => s.mse === 0 && s.mac_speedup === 1 && s.full_steps === 1), "MSE exactly 0 and MAC speed-up exactly 1")
  t.ok(scores(/^score-(ddim|euler)-10-n1-/).every((s) => s.mse === 0 && s.mac_speedup === 1), "interval 1 is the uncached sampler")
  const n2 = scores(/^score-ddim-10-n2-uniform$/)[0]
  t.ok(n2 !== undefined && n2.mac_speedup! > 1 && n2.mse! > 0 && n2.full_steps === 5, "interval 2 at 10 steps: 5 full steps, faster, not identical")
})

t.test("study.yaml --profile smoke: every node of a study run above is cached; its report passes the browser check", async (t) => {
  const before = readdirSync(runs).map((id) => JSON.parse(readFileSync(join(runs, id, "run.json"), "utf8")) as RunRecord)
  const r = await pipe(["run", "pipelines/study.yaml", "--profile", "smoke"])
  t.equal(r.code, 0, r.code === 0 ? "study: exit 0" : r.stderr.slice(-3000))
  t.notMatch(r.stderr, /warning: report failed/)
  const rec = lastRun()
  t.equal(rec.name, "study")
  t.same(rec.scopes?.map((s) => s.scope), ["ddpm", "pixel-rf", "latent-ddpm", "latent-rf", "cfg", "controlnet-canny", "deepcache"], "every study of study.yaml")
  // Studies whose standalone smoke run is above (a study added later may come after this test) and
  // the shared nodes are cache hits: a cold-cache study trains nothing the standalone runs trained.
  const ranAbove = new Set(before.map((b) => b.name))
  const coveredScopes = new Set([GLOBAL, ...(rec.scopes ?? []).filter((s) => ranAbove.has(s.name)).map((s) => s.scope)])
  t.same(rec.nodes.filter((n) => coveredScopes.has(scopeOf(n.id)) && n.status !== "cached").map((n) => n.id), [], `all cached in ${[...coveredScopes].join(", ")}`)
  t.equal(rec.nodes.find((n) => n.id === "latent-rf/euler-5")?.sweep, "latent-rf/euler", "sweep of origin recorded")
  const { checkPage, DEFAULT_CHROMIUM } = await import("../../src/report/chromium.ts")
  if (!existsSync(DEFAULT_CHROMIUM)) return void t.pass(`skipped: ${DEFAULT_CHROMIUM} not installed, no browser check`)
  const page = await checkPage(join(runs, rec.id, "report.html"), { width: 1280 })
  t.same(page.problems, [])
  t.equal(page.brokenImages, 0)
  t.equal(page.images, rec.nodes.filter((n) => n.files.some((f) => f.endsWith(".png"))).length, "every grid")
  t.ok(page.plots >= 1 + 4 * 2 + 2, `${page.plots} plots: the frontier, each study's quality and speed plots, cfg's accuracy and FLD vs s`)
  t.equal(page.dagSweeps, new Set(rec.nodes.flatMap((n) => n.sweep ?? [])).size, "one DAG box per sweep")
  t.equal(page.scrollWidth, page.clientWidth, "no horizontal overflow at 1280 px")
  t.ok(page.dagFits)
})

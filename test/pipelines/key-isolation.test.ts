// Keys follow real dependencies: in a scratch copy of the project, an edit of the U-Net changes the code
// version (and so the cache key) of the nodes that run a U-Net and of no other, and a pipeline that
// already ran finds its VAE, latents and judge cached after the edit.
import { spawn } from "node:child_process"
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import t from "tap"
import { makeCodeVersioner } from "../../src/registry/code-version.ts"

const REPO = resolve(import.meta.dirname, "../..")
const KINDS = ["load-mnist", "canny", "train-vae", "encode-latents", "decode", "train-classifier", "grid", "score", "train-diffusion", "sample", "sample-latent", "reflow-pairs"]
const UNAFFECTED = ["load-mnist", "canny", "train-vae", "encode-latents", "decode", "train-classifier", "grid", "score"]
const AFFECTED = ["train-diffusion", "sample", "sample-latent", "reflow-pairs"]

const dir = mkdtempSync(join(tmpdir(), "pipe-keys-"))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const root = join(dir, "project")
for (const d of ["src", "nodes", "pipelines", "bin", "schema"]) cpSync(join(REPO, d), join(root, d), { recursive: true })
for (const f of ["package.json", "tsconfig.json"]) cpSync(join(REPO, f), join(root, f))
for (const d of ["node_modules", "native"]) symlinkSync(join(REPO, d), join(root, d))

const versions = (): Record<string, string> => {
  const version = makeCodeVersioner(root) // a fresh versioner: it memoises file digests
  return Object.fromEntries(KINDS.map((k) => [k, version(join(root, "nodes", `${k}.ts`)).digest]))
}

const pipe = (args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((res) => {
    const child = spawn(process.execPath, [join(root, "bin/pipe.mjs"), ...args, "--cache", join(dir, "cache"), "--runs", join(dir, "runs")], {
      cwd: root,
      env: { ...process.env, PIPE_CACHE: "", PIPE_RUNS: "", PIPE_ROOT: "", PIPE_NODES: "", FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    child.on("close", (code) => res({ code, stdout, stderr }))
  })

t.test("a U-Net edit changes the keys of the U-Net nodes only; the VAE, latents and judge stay cached", async (t) => {
  const ran = await pipe(["run", "pipelines/latent-rf.yaml", "--profile", "smoke"])
  t.equal(ran.code, 0, ran.code === 0 ? "latent-rf smoke ran" : ran.stderr.slice(-2000))
  const before = versions()
  appendFileSync(join(root, "src/ml/nn/unet.ts"), "\nexport const editedForTheKeyTest = 1\n")
  const after = versions()
  for (const k of UNAFFECTED) t.equal(after[k], before[k], `${k}: code version unchanged`)
  for (const k of AFFECTED) t.not(after[k], before[k], `${k}: code version changed`)
  const plan = await pipe(["plan", "pipelines/latent-rf.yaml", "--profile", "smoke", "--json"])
  t.equal(plan.code, 0, plan.stderr)
  const nodes = (JSON.parse(plan.stdout) as { nodes: { id: string; cached: boolean }[] }).nodes
  const cached = (id: string): boolean | undefined => nodes.find((n) => n.id === id)?.cached
  for (const id of ["mnist-train", "mnist-test", "vae", "latents", "judge"]) t.equal(cached(id), true, `${id} cached after the U-Net edit`)
  t.equal(cached("train"), false, "the latent flow (train-diffusion) is recomputed")
})

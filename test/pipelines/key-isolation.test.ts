// Keys follow real dependencies: in a scratch copy of the project, an edit of the U-Net changes the code
// version (and so the cache key) of the nodes that run a U-Net and of no other, and a latent pipeline
// that already ran finds its VAE, latents, judge and latent flow cached after the edit; an edit of the
// latent MLP changes the MLP nodes' versions only, and recomputes the latent flow.
import { spawn } from "node:child_process"
import { appendFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import t from "tap"
import { makeCodeVersioner } from "../../src/registry/code-version.ts"

const REPO = resolve(import.meta.dirname, "../..")
const KINDS = [
  "load-mnist", "canny", "train-vae", "encode-latents", "decode", "train-classifier", "grid", "score",
  "train-diffusion", "sample", "train-latent-diffusion", "sample-latent", "reflow-pairs",
]
const NEITHER = ["load-mnist", "canny", "train-vae", "encode-latents", "decode", "train-classifier", "grid", "score"]
const UNET_KINDS = ["train-diffusion", "sample"]
const MLP_KINDS = ["train-latent-diffusion", "sample-latent"]
const BOTH = ["reflow-pairs"] // samples either space

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

t.test("a U-Net edit changes the keys of the U-Net nodes only, an MLP edit those of the MLP nodes only", async (t) => {
  const ran = await pipe(["run", "pipelines/latent-rf.yaml", "--profile", "smoke"])
  t.equal(ran.code, 0, ran.code === 0 ? "latent-rf smoke ran" : ran.stderr.slice(-2000))
  const plan = async (): Promise<(id: string) => boolean | undefined> => {
    const out = await pipe(["plan", "pipelines/latent-rf.yaml", "--profile", "smoke", "--json"])
    t.equal(out.code, 0, out.stderr)
    const nodes = (JSON.parse(out.stdout) as { nodes: { id: string; cached: boolean }[] }).nodes
    return (id) => nodes.find((n) => n.id === id)?.cached
  }
  const v0 = versions()
  appendFileSync(join(root, "src/ml/nn/unet.ts"), "\nexport const editedForTheKeyTest = 1\n")
  const v1 = versions()
  for (const k of [...NEITHER, ...MLP_KINDS]) t.equal(v1[k], v0[k], `U-Net edit: ${k} code version unchanged`)
  for (const k of [...UNET_KINDS, ...BOTH]) t.not(v1[k], v0[k], `U-Net edit: ${k} code version changed`)
  const afterUNet = await plan()
  for (const id of ["mnist-train", "mnist-test", "vae", "latents", "judge", "train", "euler-5"]) t.equal(afterUNet(id), true, `${id} cached after the U-Net edit`)
  t.equal(afterUNet("pairs"), false, "reflow-pairs (it imports both architectures) is recomputed")

  appendFileSync(join(root, "src/ml/nn/mlp.ts"), "\nexport const editedForTheKeyTest = 1\n")
  const v2 = versions()
  for (const k of [...NEITHER, ...UNET_KINDS]) t.equal(v2[k], v1[k], `MLP edit: ${k} code version unchanged`)
  for (const k of [...MLP_KINDS, ...BOTH]) t.not(v2[k], v1[k], `MLP edit: ${k} code version changed`)
  const afterMlp = await plan()
  for (const id of ["vae", "latents", "judge"]) t.equal(afterMlp(id), true, `${id} cached after the MLP edit`)
  t.equal(afterMlp("train"), false, "the latent flow (train-latent-diffusion) is recomputed")
})

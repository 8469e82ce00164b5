// A node's code version covers exactly the code it runs: the U-Net nodes hold no latent-MLP file, the
// latent-MLP nodes no U-Net file (neither the network nor its sampling runner), and the nodes of
// neither architecture hold either. So an MLP edit (e.g. moving it onto the fused dense kernel) retrains
// and resamples only MLPs, and a U-Net edit only U-Nets. reflow-pairs samples either space and
// legitimately holds both.
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import t from "tap"
import { makeCodeVersioner } from "../../src/registry/code-version.ts"

const REPO = resolve(import.meta.dirname, "../..")
const MLP = "src/ml/nn/mlp.ts"
const UNET = "src/ml/nn/unet.ts"
const UNET_RUNNER = "src/ml/sampling/unet-runner.ts"

const version = makeCodeVersioner(REPO)
const exists = (kind: string): boolean => existsSync(join(REPO, "nodes", `${kind}.ts`))
const closure = (kind: string): readonly string[] => Object.keys(version(join(REPO, "nodes", `${kind}.ts`)).files)

const excluded: ReadonlyArray<readonly [kinds: readonly string[], files: readonly string[]]> = [
  [["train-diffusion", "sample", "deepcache-timing", "regress-edges", "train-controlnet", "train-edge-regression"], [MLP]],
  [["train-latent-diffusion", "sample-latent"], [UNET, UNET_RUNNER]],
  [["train-vae", "train-classifier", "encode-latents", "decode", "score"], [MLP, UNET, UNET_RUNNER]],
]

for (const [kinds, files] of excluded)
  for (const kind of kinds)
    t.test(`${kind}: its code version holds none of ${files.join(", ")}`, (t) => {
      t.ok(exists(kind), `nodes/${kind}.ts exists`)
      if (!exists(kind)) return t.end()
      const c = closure(kind)
      for (const f of files) t.notOk(c.includes(f), `${kind} does not import ${f}`)
      t.end()
    })

t.test("each kind holds its own architecture (so the exclusions above are not vacuous)", (t) => {
  t.ok(closure("train-diffusion").includes(UNET), "train-diffusion: the U-Net")
  t.ok(closure("sample").includes(UNET_RUNNER), "sample: the U-Net runner")
  t.ok(exists("train-latent-diffusion") && closure("train-latent-diffusion").includes(MLP), "train-latent-diffusion: the MLP")
  t.ok(closure("sample-latent").includes(MLP), "sample-latent: the MLP")
  t.ok(closure("reflow-pairs").includes(MLP) && closure("reflow-pairs").includes(UNET), "reflow-pairs: both (it samples either space)")
  t.end()
})

// End to end: pipelines/data.yaml (smoke profile) through the real `pipe` CLI, twice: the first run
// computes MNIST -> Canny -> grid and writes grid.png, the second is fully cached.
import t from "tap"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { decodePng } from "../../src/ml/image/png.ts"
import { repoRoot } from "../ml/data/fixtures.ts"

interface Done {
  readonly status: string
  readonly run: string
  readonly nodes: readonly { readonly id: string; readonly status: string; readonly files: readonly string[] }[]
}

t.test("data.yaml: digits beside edges as a PNG, and a second run is fully cached", (t) => {
  const tmp = mkdtempSync(join(tmpdir(), "pipe-data-"))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  const run = (): Done => {
    const args = ["bin/pipe.mjs", "run", "pipelines/data.yaml", "--profile", "smoke", "--json", "--cache", join(tmp, "cache"), "--runs", join(tmp, "runs")]
    const r = spawnSync(process.execPath, args, { cwd: repoRoot, encoding: "utf8", env: { ...process.env, PIPE_CACHE: "", PIPE_RUNS: "", PIPE_ROOT: "", PIPE_NODES: "" } })
    t.equal(r.status, 0, r.stderr)
    return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as Done
  }
  const first = run()
  t.same(first.nodes.map((n) => [n.id, n.status]), [["mnist", "ran"], ["edges", "ran"], ["grid", "ran"]])
  const png = decodePng(new Uint8Array(readFileSync(join(dirname(first.run), first.nodes[2]!.files[0]!))), 1)
  // 4 x 8 items of two 28x28 digits at scale 2, 2-px padding, a label strip per row and a title line.
  t.same([png.width, png.height], [8 * 112 + 9 * 2, 14 + 4 * (56 + 14) + 5 * 2])
  const second = run()
  t.same(second.nodes.map((n) => n.status), ["cached", "cached", "cached"])
  t.end()
})

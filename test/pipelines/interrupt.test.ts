// Ctrl-C during a real training loop: train-diffusion runs synchronously for minutes, and Node runs a
// SIGINT listener only when JavaScript yields, so the CLI relies on the native addon's C-level signal
// counter (nodes/_runtime.ts -> nativeInterruptProbe) to stop the loop at its next step.
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import t from "tap"
import type { RunRecord } from "../../src/exec/record.ts"
import { addonPath } from "../../src/ml/backend/native.ts"

const REPO = resolve(import.meta.dirname, "../..")
const BIN = join(REPO, "bin/pipe.mjs")

t.test("Ctrl-C stops a running training loop at its next step; what finished stays cached", { skip: existsSync(addonPath) ? false : "the native addon is not built" }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "pipe-interrupt-"))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // 100k steps would take many minutes: only an interrupt ends this run quickly.
  const args = [BIN, "run", "pipelines/ddpm.yaml", "--profile", "smoke", "--until", "ddpm-unet", "--set", "ddpm-unet.steps=100000", "--cache", join(dir, "cache"), "--runs", join(dir, "runs")]
  // `env -u NODE_OPTIONS`: tap's process tracking injects itself (with signal-exit, which re-raises a
  // SIGINT once its own listener is the last) into every node process a test spawns.
  const child = spawn("/usr/bin/env", ["-u", "NODE_OPTIONS", process.execPath, ...args], {
    cwd: REPO,
    env: { ...process.env, PIPE_CACHE: "", PIPE_RUNS: "", PIPE_ROOT: "", PIPE_NODES: "", FORCE_COLOR: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  })
  let output = ""
  const training = new Promise<void>((res) => {
    const onData = (d: Buffer) => {
      output += d.toString()
      if (/ddpm-unet: train epoch \d+ \d+\/100000/.test(output)) res()
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
  })
  const exited = new Promise<number | string | null>((res) => child.on("close", (code, signal) => res(code ?? signal)))
  await training
  const sent = performance.now()
  child.kill("SIGINT")
  const timeout = setTimeout(() => child.kill("SIGKILL"), 30_000)
  const code = await exited
  clearTimeout(timeout)
  t.equal(code, 130, `exit 130 after Ctrl-C (${((performance.now() - sent) / 1000).toFixed(1)} s)`)
  const [runId] = readdirSync(join(dir, "runs"))
  const run = JSON.parse(readFileSync(join(dir, "runs", runId!, "run.json"), "utf8")) as RunRecord
  const status = Object.fromEntries(run.nodes.map((n) => [n.id, n.status]))
  t.equal(run.status, "interrupted")
  t.equal(status["ddpm-unet"], "interrupted", "the loop stopped itself at a step boundary")
  t.equal(status["mnist-train"], "ran", "what finished before Ctrl-C is kept")
  t.match(output, /interrupted: finished nodes are cached; run the same command again to resume/)
})

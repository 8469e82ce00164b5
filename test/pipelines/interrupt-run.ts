// Shared by the Ctrl-C tests (test/pipelines/interrupt.test.ts, test/ml/backend/interrupt-portable.test.ts):
// runs ddpm.yaml's smoke profile up to its U-Net training with 100k steps (many minutes: only an
// interrupt ends it quickly) in the real CLI, sends SIGINT once training has started, and returns how
// the process ended and its run.json.
import { spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import type { RunRecord } from "../../src/exec/record.ts"

export const REPO = resolve(import.meta.dirname, "../..")

export interface InterruptedRun {
  /** Exit code, or the signal name when the process had to be killed (30 s after SIGINT). */
  readonly code: number | string | null
  /** Seconds from SIGINT to exit. */
  readonly seconds: number
  readonly output: string
  readonly run: RunRecord
}

export const interruptTraining = async (env: Record<string, string> = {}): Promise<InterruptedRun> => {
  const dir = mkdtempSync(join(tmpdir(), "pipe-interrupt-"))
  try {
    const args = [join(REPO, "bin/pipe.mjs"), "run", "pipelines/ddpm.yaml", "--profile", "smoke", "--until", "ddpm-unet",
      "--set", "ddpm-unet.steps=100000", "--cache", join(dir, "cache"), "--runs", join(dir, "runs")]
    // `env -u NODE_OPTIONS`: tap's process tracking injects itself (with signal-exit, which re-raises a
    // SIGINT once its own listener is the last) into every node process a test spawns.
    const child = spawn("/usr/bin/env", ["-u", "NODE_OPTIONS", process.execPath, ...args], {
      cwd: REPO,
      env: { ...process.env, ...env, PIPE_CACHE: "", PIPE_RUNS: "", PIPE_ROOT: "", PIPE_NODES: "", FORCE_COLOR: "0" },
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
    // A child that dies before training starts must fail the test, not hang it.
    const early = await Promise.race([training.then(() => undefined), exited.then((c) => ({ c }))])
    if (early !== undefined) throw new Error(`the run ended (${String(early.c)}) before training started:\n${output}`)
    const sent = performance.now()
    child.kill("SIGINT")
    const timeout = setTimeout(() => child.kill("SIGKILL"), 30_000)
    const code = await exited
    clearTimeout(timeout)
    const seconds = (performance.now() - sent) / 1000
    const [runId] = readdirSync(join(dir, "runs"))
    const run = JSON.parse(readFileSync(join(dir, "runs", runId!, "run.json"), "utf8")) as RunRecord
    return { code, seconds, output, run }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

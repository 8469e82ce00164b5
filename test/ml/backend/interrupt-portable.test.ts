// Ctrl-C works on every native path, not only the widest: with PIPE_NATIVE_ISA=portable (the
// kernels compiled without any ISA flag) and with the kernel addon unusable (PIPE_NATIVE_ISA naming
// an ISA this build lacks, so the run falls back to wasm), train-diffusion still stops at its next
// step, because the SIGINT counter is its own addon (native/interrupts.cc). Same pattern as
// test/pipelines/interrupt.test.ts.
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import t, { type Test } from "tap"
import type { RunRecord } from "../../../src/exec/record.ts"
import { interruptsAddonPath } from "../../../src/ml/backend/interrupts.ts"
import { NATIVE_ISAS, loadAddon } from "../../../src/ml/backend/native.ts"

const REPO = resolve(import.meta.dirname, "../../..")
const loaded = loadAddon()
const unbuiltIsa = loaded.ok ? NATIVE_ISAS.find((i) => !loaded.addon.isas.includes(i)) : undefined

const interruptTraining = async (t: Test, isa: string, backend: RegExp): Promise<void> => {
  const dir = mkdtempSync(join(tmpdir(), "pipe-interrupt-isa-"))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const args = [join(REPO, "bin/pipe.mjs"), "run", "pipelines/ddpm.yaml", "--profile", "smoke", "--until", "ddpm-unet",
    "--set", "ddpm-unet.steps=100000", "--cache", join(dir, "cache"), "--runs", join(dir, "runs")]
  // `env -u NODE_OPTIONS`: keep tap's process tracking (signal-exit) out of the child, see test/pipelines/interrupt.test.ts.
  const child = spawn("/usr/bin/env", ["-u", "NODE_OPTIONS", process.execPath, ...args], {
    cwd: REPO,
    env: { ...process.env, PIPE_NATIVE_ISA: isa, PIPE_CACHE: "", PIPE_RUNS: "", PIPE_ROOT: "", PIPE_NODES: "", FORCE_COLOR: "0" },
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
  child.kill("SIGINT")
  const timeout = setTimeout(() => child.kill("SIGKILL"), 30_000)
  const code = await exited
  clearTimeout(timeout)
  t.equal(code, 130, "exit 130 after Ctrl-C")
  const [runId] = readdirSync(join(dir, "runs"))
  const run = JSON.parse(readFileSync(join(dir, "runs", runId!, "run.json"), "utf8")) as RunRecord
  t.match(`${run.backend}; ${run.notes.join("; ")}`, backend, "run.json records the backend and why")
  t.equal(run.nodes.find((n) => n.id === "ddpm-unet")?.status, "interrupted", "the loop stopped itself at a step boundary")
}

const noCounter = existsSync(interruptsAddonPath) ? false : "the interrupt addon is not built"

t.test("Ctrl-C ends train-diffusion on the portable kernels", { skip: noCounter || (loaded.ok ? false : "the kernel addon is not built") }, (t) =>
  interruptTraining(t, "portable", /^pipe-native; .*pipe-native: portable kernels \(PIPE_NATIVE_ISA\)/))

t.test("Ctrl-C ends train-diffusion when the kernel addon is unusable (wasm fallback)", { skip: noCounter || (unbuiltIsa === undefined ? "every ISA is built here" : false) }, (t) =>
  interruptTraining(t, unbuiltIsa!, new RegExp(`^wasm; .*PIPE_NATIVE_ISA=${unbuiltIsa} unusable here`)))

// Ctrl-C works on every native path, not only the widest: with PIPE_NATIVE_ISA=portable (the
// kernels compiled without any ISA flag) and with the kernel addon unusable (PIPE_NATIVE_ISA naming
// an ISA this build lacks, so the run falls back to wasm), train-diffusion still stops at its next
// step, because the SIGINT counter is its own addon (native/interrupts.cc). Same pattern as
// test/pipelines/interrupt.test.ts.
import { existsSync } from "node:fs"
import t, { type Test } from "tap"
import { interruptsAddonPath } from "../../../src/ml/backend/interrupts.ts"
import { NATIVE_ISAS, loadAddon } from "../../../src/ml/backend/native.ts"
import { interruptTraining } from "../../pipelines/interrupt-run.ts"

// Two CLI runs up to a training loop: fine within tap's 300 s on a quiet machine, but measured at
// load ~45 here: 185 s for the portable run alone, the wasm one past the limit.
t.setTimeout(900_000)
const loaded = loadAddon()
const unbuiltIsa = loaded.ok ? NATIVE_ISAS.find((i) => !loaded.addon.isas.includes(i)) : undefined

const interruptOn = async (t: Test, isa: string, backend: RegExp): Promise<void> => {
  const { code, seconds, run } = await interruptTraining({ PIPE_NATIVE_ISA: isa })
  t.equal(code, 130, `exit 130 after Ctrl-C (${seconds.toFixed(1)} s)`)
  t.match(`${run.backend}; ${run.notes.join("; ")}`, backend, "run.json records the backend and why")
  t.equal(run.nodes.find((n) => n.id === "ddpm-unet")?.status, "interrupted", "the loop stopped itself at a step boundary")
}

const noCounter = existsSync(interruptsAddonPath) ? false : "the interrupt addon is not built"

t.test("Ctrl-C ends train-diffusion on the portable kernels", { skip: noCounter || (loaded.ok ? false : "the kernel addon is not built") }, (t) =>
  interruptOn(t, "portable", /^pipe-native; .*pipe-native: portable kernels \(PIPE_NATIVE_ISA\)/))

t.test("Ctrl-C ends train-diffusion when the kernel addon is unusable (wasm fallback)", { skip: noCounter || (unbuiltIsa === undefined ? "every ISA is built here" : false) }, (t) =>
  interruptOn(t, unbuiltIsa!, new RegExp(`^wasm; .*PIPE_NATIVE_ISA=${unbuiltIsa} unusable here`)))

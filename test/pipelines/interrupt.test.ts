// Ctrl-C during a real training loop: train-diffusion runs synchronously for minutes, and Node runs a
// SIGINT listener only when JavaScript yields, so the CLI relies on the native addon's C-level signal
// counter (nodes/_runtime.ts -> nativeInterruptProbe) to stop the loop at its next step.
import { existsSync } from "node:fs"
import t from "tap"
import { addonPath } from "../../src/ml/backend/native.ts"
import { interruptTraining } from "./interrupt-run.ts"

t.test("Ctrl-C stops a running training loop at its next step; what finished stays cached", { skip: existsSync(addonPath) ? false : "the native addon is not built" }, async (t) => {
  const { code, seconds, output, run } = await interruptTraining()
  t.equal(code, 130, `exit 130 after Ctrl-C (${seconds.toFixed(1)} s)`)
  const status = Object.fromEntries(run.nodes.map((n) => [n.id, n.status]))
  t.equal(run.status, "interrupted")
  t.equal(status["ddpm-unet"], "interrupted", "the loop stopped itself at a step boundary")
  t.equal(status["mnist-train"], "ran", "what finished before Ctrl-C is kept")
  t.match(output, /interrupted: finished nodes are cached; run the same command again to resume/)
})

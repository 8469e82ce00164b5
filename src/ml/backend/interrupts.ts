// A synchronous "was Ctrl-C pressed?" for code that never yields to the event loop (a training loop
// runs for minutes inside one JS call, and Node runs SIGINT listeners only between calls). Reads the
// C-level counter of native/interrupts.cc, a tiny addon of its own, so it works on every machine
// with a compiler, whether or not the kernel addon (pipe-native) is usable there.
import { createRequire } from "node:module"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

interface InterruptsAddon {
  readonly abiVersion: number
  /** Puts the counting handler in front of the current SIGINT handler; false if sigaction failed. */
  watchInterrupts(): boolean
  interrupts(): number
}

export const interruptsAddonPath = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "native", "build", "Release", "pipe_interrupts.node")

/**
 * The probe, or undefined when the addon is missing or fails to load. Call it after the process has
 * a JS SIGINT listener (the CLI installs one before any node runs): libuv installs its handler then.
 */
export const nativeInterruptProbe = (path: string = interruptsAddonPath): (() => boolean) | undefined => {
  if (!existsSync(path)) return undefined
  let addon: InterruptsAddon
  try {
    addon = createRequire(import.meta.url)(path) as InterruptsAddon
  } catch {
    return undefined // no compiler at install time, or a foreign build: Ctrl-C then waits for the node
  }
  if (addon.abiVersion !== 1) return undefined
  return addon.watchInterrupts() ? () => addon.interrupts() > 0 : undefined
}

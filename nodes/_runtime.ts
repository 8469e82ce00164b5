// Runtime hook the engine calls once before running any node: picks the tfjs backend (best
// available, or the one forced with `pipe run --backend NAME`). Returns the choice and notes for
// the CLI to print once and to record in run.json; the backend is never part of a cache key.
// It also hands the engine a synchronous Ctrl-C check (from the native addon, when built): training
// and sampling loops run synchronously for minutes, and Node would only run the CLI's SIGINT
// listener after them.
import { BACKEND_PREFERENCES, type BackendChoice, isBackendPreference, nativeInterruptProbe, selectBackend } from "../src/ml/backend/index.ts"

// tfjs's own backend names are accepted as aliases (what run.json records is the tfjs name).
const ALIASES: Readonly<Record<string, string>> = { "pipe-native": "native", tensorflow: "tfjs-node" }

/** Every name `pipe run --backend` accepts: the engine refuses any other before doing any work. */
export const backends: readonly string[] = ["auto", ...BACKEND_PREFERENCES, ...Object.keys(ALIASES)]

const choose = async (backend: string | undefined): Promise<BackendChoice> => {
  const forced = backend === undefined ? undefined : (ALIASES[backend] ?? backend)
  if (forced === undefined || forced === "" || forced === "auto") return selectBackend()
  if (!isBackendPreference(forced)) {
    throw new Error(`unknown backend "${forced}": use one of native, tfjs-node-gpu, tfjs-node, wasm, cpu`)
  }
  return selectBackend(forced)
}

export const prepare = async (options: { backend?: string }): Promise<BackendChoice & { interruptRequested?: () => boolean }> => {
  const choice = await choose(options.backend)
  const interruptRequested = nativeInterruptProbe()
  return interruptRequested === undefined ? choice : { ...choice, interruptRequested }
}

// Runtime hook the engine calls once before running any node: picks the tfjs backend (best
// available, or the one forced with `pipe run --backend NAME`). Returns the choice and notes for
// the CLI to print once and to record in run.json; the backend is never part of a cache key.
// It also hands the engine a synchronous Ctrl-C check (from the native addon, when built): training
// and sampling loops run synchronously for minutes, and Node would only run the CLI's SIGINT
// listener after them.
import { type BackendChoice, isBackendPreference, nativeInterruptProbe, selectBackend } from "../src/ml/backend/index.ts"

const choose = async (backend: string | undefined): Promise<BackendChoice> => {
  // tfjs's own backend names are accepted as aliases (what run.json records is the tfjs name).
  const aliases: Record<string, string> = { "pipe-native": "native", tensorflow: "tfjs-node" }
  const forced = backend === undefined ? undefined : (aliases[backend] ?? backend)
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

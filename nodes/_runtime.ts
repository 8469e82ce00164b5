// Runtime hook the engine calls once before running any node: picks the tfjs backend (best
// available, or the one forced with `pipe run --backend NAME`). Returns the choice and notes for
// the CLI to print once and to record in run.json; the backend is never part of a cache key.
import { type BackendChoice, isBackendPreference, selectBackend } from "../src/ml/backend/index.ts"

export const prepare = async (options: { backend?: string }): Promise<BackendChoice> => {
  // tfjs's own backend names are accepted as aliases (what run.json records is the tfjs name).
  const aliases: Record<string, string> = { "pipe-native": "native", tensorflow: "tfjs-node" }
  const forced = options.backend === undefined ? undefined : (aliases[options.backend] ?? options.backend)
  if (forced === undefined || forced === "" || forced === "auto") return selectBackend()
  if (!isBackendPreference(forced)) {
    throw new Error(`unknown backend "${forced}": use one of native, tfjs-node-gpu, tfjs-node, wasm, cpu`)
  }
  return selectBackend(forced)
}

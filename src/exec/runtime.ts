// The project's tensor runtime hook: nodes/_runtime.ts may export `prepare({ backend })`, called
// once per process before the first node runs there (a fully cached run never loads it). Used by
// `pipe run` and by each BullMQ worker process.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { importModule } from "../import-module.ts"
import type { RuntimeInfo } from "./executor.ts"

export interface RuntimeModule {
  readonly prepare?: (o: { backend?: string }) => Promise<RuntimeInfo>
  /** The names `--backend` accepts; when exported, any other name is a usage error before any work. */
  readonly backends?: readonly string[]
}

export const runtimeModule = async (nodesDir: string): Promise<RuntimeModule | undefined> => {
  const file = join(nodesDir, "_runtime.ts")
  return existsSync(file) ? ((await importModule(file)) as RuntimeModule) : undefined
}

export const loadRuntime = async (nodesDir: string, backend: string | undefined): Promise<RuntimeInfo | null> => {
  const mod = await runtimeModule(nodesDir)
  if (typeof mod?.prepare !== "function") return null
  return mod.prepare(backend !== undefined ? { backend } : {})
}

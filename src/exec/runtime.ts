// The project's tensor runtime hook: nodes/_runtime.ts may export `prepare({ backend })`, called
// once per process before the first node runs there (a fully cached run never loads it). Used by
// `pipe run` and by each BullMQ worker process.
import { existsSync } from "node:fs"
import { join } from "node:path"
import { importModule } from "../import-module.ts"
import type { RuntimeInfo } from "./executor.ts"

export const loadRuntime = async (nodesDir: string, backend: string | undefined): Promise<RuntimeInfo | null> => {
  const file = join(nodesDir, "_runtime.ts")
  if (!existsSync(file)) return null
  const mod = (await importModule(file)) as { prepare?: (o: { backend?: string }) => Promise<RuntimeInfo> }
  if (typeof mod.prepare !== "function") return null
  return mod.prepare(backend !== undefined ? { backend } : {})
}

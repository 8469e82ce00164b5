// runs/<run-id>/run.json: what one `pipe run` did, node by node. `pipe explain` reads these as
// history, and the HTML report (src/report/, when present) renders them.
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { importModule } from "../import-module.ts"
import { writeFileAtomic } from "../store/atomic.ts"
import type { PipelineScope } from "../pipeline/load.ts"
import type { NodeStatus } from "./progress.ts"

export interface NodeRecord {
  readonly id: string
  readonly kind: string
  readonly key: string | null
  readonly status: NodeStatus
  readonly seconds: number
  readonly outputs: Readonly<Record<string, string>>
  /** Files copied into the run dir, relative to it (e.g. "grid/grid.png"). */
  readonly files: readonly string[]
  readonly error?: string
  /** The sweep that expanded this node ("ddpm/samplers"); absent for hand-written nodes and older records. */
  readonly sweep?: string
}

/** "2 cached, 3 ran, 0 failed, 1 skipped" (interrupted only when there are some): the CLI summary and the report header. */
export const statusCounts = (nodes: readonly NodeRecord[]): string => {
  const count = (s: NodeStatus) => nodes.filter((n) => n.status === s).length
  const interrupted = count("interrupted")
  return `${count("cached")} cached, ${count("ran")} ran, ${count("failed")} failed, ${interrupted > 0 ? `${interrupted} interrupted, ` : ""}${count("skipped")} skipped`
}

/** One DAG edge: output `output` of node `from` feeds input `input` of node `to`. */
export interface RunEdge {
  readonly from: string
  readonly output: string
  readonly to: string
  readonly input: string
}

export interface RunRecord {
  readonly format: 1
  readonly id: string
  readonly pipeline: string // relative to the project root
  readonly name: string
  readonly profile: string | null
  readonly sets: readonly string[]
  readonly backend: string | null
  readonly notes: readonly string[]
  readonly started: string
  readonly seconds: number
  readonly status: "ok" | "failed" | "interrupted"
  readonly nodes: readonly NodeRecord[]
  /** Absolute artifact store the run used (the report reads manifests and metrics from it). Optional: older records lack it. */
  readonly cache?: string
  /** Edges between the recorded nodes (the report draws the DAG from them). Optional: older records lack it. */
  readonly edges?: readonly RunEdge[]
  /** Namespaced includes (`{ file, as }`): one report section each. Optional: older records lack it. */
  readonly scopes?: readonly PipelineScope[]
}

/** Sortable, unique enough for one machine: 2025-11-25T18-51-02-123Z-<pid>. */
export const newRunId = (date: Date, pid: number): string => `${date.toISOString().replace(/[:.]/g, "-")}-${pid}`

export const writeRunRecord = (runsDir: string, r: RunRecord): string => {
  const dir = join(runsDir, r.id)
  mkdirSync(dir, { recursive: true })
  writeFileAtomic(join(dir, "run.json"), `${JSON.stringify(r, null, 2)}\n`)
  return dir
}

/** All run records, newest first (unreadable ones skipped). */
export const readRunRecords = (runsDir: string): RunRecord[] => {
  if (!existsSync(runsDir)) return []
  return readdirSync(runsDir)
    .sort()
    .reverse()
    .flatMap((d) => {
      try {
        return [JSON.parse(readFileSync(join(runsDir, d, "run.json"), "utf8")) as RunRecord]
      } catch {
        return []
      }
    })
}

/**
 * Hook for the HTML report: if src/report/index.ts exists and exports
 * `onRunFinished(runDir: string, record: RunRecord): Promise<void> | void`, it is called after every
 * run. Returns a message on failure (a broken report must not fail the run).
 */
export const onRunFinished = async (runDir: string, record: RunRecord): Promise<string | undefined> => {
  // import.meta.url is this source file's URL also in the install-time build (bin/build.mjs).
  const file = fileURLToPath(new URL("../report/index.ts", import.meta.url))
  if (!existsSync(file)) return undefined
  try {
    const mod = (await importModule(file)) as { onRunFinished?: (d: string, r: RunRecord) => unknown }
    if (typeof mod.onRunFinished === "function") await mod.onRunFinished(runDir, record)
    return undefined
  } catch (e) {
    return `report failed: ${e instanceof Error ? e.message : String(e)}`
  }
}

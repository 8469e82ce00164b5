// The per-run HTML report: runs/<run-id>/report.html. The engine calls `onRunFinished` after every
// `pipe run` (src/exec/record.ts) and turns any exception into a warning, so a broken report never
// fails a run; `pipe report RUN` calls `writeReport` to regenerate it.
import { join } from "node:path"
import type { RunRecord } from "../exec/record.ts"
import { writeFileAtomic } from "../store/atomic.ts"
import { dagSvg } from "./dag.ts"
import { deepcachePlots, deepcachePoints, isCachedEntry } from "./deepcache-series.ts"
import { renderReportHtml } from "./html.ts"
import { loadReportData, type ReportData } from "./load.ts"
import { lossCurvePlots, type PlotSpec, qualityPlots, qualityPoints, renderPlots } from "./plots.ts"
import { seriesLabeller } from "./series.ts"

export const REPORT_FILE = "report.html"

/** The store a run used: recorded in run.json; older records assume the default <project>/cache. */
export const cacheDirOf = (runDir: string, record: RunRecord): string => record.cache ?? join(runDir, "..", "..", "cache")

export const plotSpecsOf = (data: Pick<ReportData, "metrics" | "nodes" | "edges">): PlotSpec[] => [
  // DeepCache runs (pipelines/deepcache.yaml) get their own plots against the interval, not 126 points against steps
  ...qualityPlots(qualityPoints(data.metrics.filter((e) => !isCachedEntry(e)), seriesLabeller(data.nodes, data.edges))),
  ...lossCurvePlots(data.metrics),
  ...deepcachePlots(deepcachePoints(data)),
]

export const buildReport = async (runDir: string, record: RunRecord, cacheDir: string): Promise<string> => {
  const data = await loadReportData(runDir, record, cacheDir)
  const { plots, warnings } = await renderPlots(plotSpecsOf(data))
  const dag = dagSvg(
    record.nodes.map((n) => ({ id: n.id, kind: n.kind, status: n.status })),
    data.edges,
  )
  return renderReportHtml({ ...data, warnings: [...data.warnings, ...warnings] }, dag, plots)
}

/** Writes runs/<run-id>/report.html (atomically) and returns its path. */
export const writeReport = async (runDir: string, record: RunRecord, cacheDir = cacheDirOf(runDir, record)): Promise<string> => {
  const file = join(runDir, REPORT_FILE)
  writeFileAtomic(file, await buildReport(runDir, record, cacheDir))
  return file
}

/** Engine hook (see src/exec/record.ts). */
export const onRunFinished = async (runDir: string, record: RunRecord): Promise<void> => {
  await writeReport(runDir, record)
}

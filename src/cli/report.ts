// `pipe report RUN` (regenerates runs/RUN/report.html) and `pipe compare RUN RUN...` (metrics of
// several runs side by side, as text and optionally HTML). RUN is a run id, a unique prefix of one,
// "last", or a run directory.
import { existsSync } from "node:fs"
import { resolve } from "node:path"
import { writeFileAtomic } from "../store/atomic.ts"
import { flag, str, type Values } from "./args.ts"
import { resolveDirs } from "./context.ts"
import { dirFlags, type Io } from "./run.ts"
import type { RunRecord } from "../exec/record.ts"

/** --cache (or PIPE_CACHE) wins; else the store the run recorded; else <project>/cache. */
const cacheFor = (v: Values, io: Io, record: RunRecord, defaultCache: string): string => {
  if (str(v, "cache") !== undefined || (io.env.PIPE_CACHE ?? "") !== "") return defaultCache
  return record.cache !== undefined && existsSync(record.cache) ? record.cache : defaultCache
}

export const reportCommand = async (v: Values, [run]: string[], io: Io): Promise<number> => {
  const { resolveRun } = await import("../report/compare.ts")
  const { buildMarkdown, writeReport } = await import("../report/index.ts")
  const dirs = resolveDirs(dirFlags(v), undefined, io.env, io.cwd)
  const { dir, record } = resolveRun(dirs.runs, run as string, io.cwd)
  if (flag(v, "markdown")) {
    io.out(await buildMarkdown(dir, record, cacheFor(v, io, record, dirs.cache)))
    return 0
  }
  const file = await writeReport(dir, record, cacheFor(v, io, record, dirs.cache))
  io.out(`${file}\n`)
  return 0
}

export const compareCommand = async (v: Values, runs: string[], io: Io): Promise<number> => {
  const { compareColumns, compareHtml, comparePlotSpecs, compareRows, compareText, resolveRun, rowsWith, runLabels } = await import("../report/compare.ts")
  const { loadReportData } = await import("../report/load.ts")
  const dirs = resolveDirs(dirFlags(v), undefined, io.env, io.cwd)
  const found = runs.map((r) => resolveRun(dirs.runs, r, io.cwd))
  const labels = runLabels(found.map((f) => f.record))
  const loaded = await Promise.all(found.map(async (f, i) => ({ label: labels[i]!, data: await loadReportData(f.dir, f.record, cacheFor(v, io, f.record, dirs.cache)) })))
  const all = compareRows(loaded)
  const list = str(v, "columns")
  const columns = compareColumns(all, list !== undefined ? list.split(",").map((c) => c.trim()).filter((c) => c !== "") : flag(v, "all") ? "all" : "key")
  const rows = rowsWith(all, columns)
  // JSON has no Infinity (PSNR of identical images): non-finite numbers travel as strings.
  if (flag(v, "json")) io.out(`${JSON.stringify({ columns, rows }, (_, x: unknown) => (typeof x === "number" && !Number.isFinite(x) ? String(x) : x))}\n`)
  else io.out(compareText(rows, columns))
  for (const l of loaded) for (const w of l.data.warnings) io.err(`warning: ${l.label}: ${w}\n`)
  const html = str(v, "html")
  if (html !== undefined) {
    const { renderPlots } = await import("../report/plots.ts")
    const { plots, warnings } = await renderPlots(comparePlotSpecs(loaded))
    const out = resolve(io.cwd, html)
    writeFileAtomic(out, compareHtml(loaded, columns, plots, [...loaded.flatMap((l) => l.data.warnings.map((w) => `${l.label}: ${w}`)), ...warnings]))
    io.err(`wrote ${out}\n`)
  }
  return 0
}

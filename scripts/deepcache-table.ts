// Prints the DeepCache results table (README "DeepCache results") of a run of pipelines/deepcache.yaml
// as Markdown: one row per scored sample (uncached and cached), with its exact MAC speed-up, the
// measured wall-clock speed-up of its timing node, and MSE / PSNR / SSIM / FLD / floor.
//   npx tsx scripts/deepcache-table.ts RUN [--runs DIR] [--cache DIR]     (RUN: an id, a prefix, "last" or a run dir)
import { join } from "node:path"
import { parseArgs } from "node:util"
import { resolveRun } from "../src/report/compare.ts"
import { deepcachePoints, deepcacheTable, markdownTable } from "../src/report/deepcache-series.ts"
import { cacheDirOf } from "../src/report/index.ts"
import { loadReportData } from "../src/report/load.ts"

const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: "string" }, cache: { type: "string" } } })
const run = positionals[0]
if (run === undefined) {
  process.stderr.write("usage: deepcache-table.ts RUN [--runs DIR] [--cache DIR]\n")
  process.exit(2)
}
const { dir, record } = resolveRun(values.runs ?? process.env.PIPE_RUNS ?? join(process.cwd(), "runs"), run, process.cwd())
const data = await loadReportData(dir, record, values.cache ?? cacheDirOf(dir, record))
for (const w of data.warnings) process.stderr.write(`warning: ${w}\n`)
const points = deepcachePoints(data)
if (points.length === 0) {
  process.stderr.write(`run ${record.id} has no scored DeepCache samples\n`)
  process.exit(1)
}
process.stdout.write(`${markdownTable(deepcacheTable(points))}\n`)

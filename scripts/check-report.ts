// Opens a report.html in headless Chromium (1280 px wide) and fails (exit 1) on console errors, failed
// loads, undecodable images, a page without its DAG, plots and sample grids, a page wider than the
// window (horizontal scrolling) or a DAG wider than its column. Exit 0 with a "skip" line
// when Chromium is not installed (Debian: apt-get install chromium).
//   npx tsx scripts/check-report.ts runs/<id>/report.html [--screenshot out.png] [--min-plots N] [--min-images N]
import { existsSync, writeFileSync } from "node:fs"
import { parseArgs } from "node:util"
import { checkPage, DEFAULT_CHROMIUM } from "../src/report/chromium.ts"

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    screenshot: { type: "string" },
    chromium: { type: "string", default: process.env.CHROMIUM ?? DEFAULT_CHROMIUM },
    "min-plots": { type: "string", default: "1" },
    "min-images": { type: "string", default: "1" },
  },
})
const file = positionals[0]
if (file === undefined || !existsSync(file)) {
  process.stderr.write(`usage: check-report.ts REPORT.html [--screenshot PNG] [--min-plots N] [--min-images N]${file ? ` (${file} not found)` : ""}\n`)
  process.exit(2)
}
if (!existsSync(values.chromium)) {
  process.stdout.write(`skip: ${values.chromium} not found (apt-get install chromium)\n`)
  process.exit(0)
}
const r = await checkPage(file, { chromium: values.chromium, screenshot: values.screenshot !== undefined })
if (values.screenshot !== undefined && r.screenshot !== null) writeFileSync(values.screenshot, r.screenshot)
const failures = [
  ...r.problems,
  ...(r.brokenImages > 0 ? [`${r.brokenImages} image(s) did not decode`] : []),
  ...(r.plots < Number(values["min-plots"]) ? [`${r.plots} plot(s), expected at least ${values["min-plots"]}`] : []),
  ...(r.images < Number(values["min-images"]) ? [`${r.images} sample image(s), expected at least ${values["min-images"]}`] : []),
  ...(r.dagNodes === 0 ? ["no DAG nodes rendered"] : []),
  ...(r.scrollWidth > r.clientWidth ? [`page overflows horizontally: scrollWidth ${r.scrollWidth} > clientWidth ${r.clientWidth}`] : []),
  ...(r.dagFits ? [] : ["the DAG is wider than its column (or drawn shrunk)"]),
]
process.stdout.write(
  `${file}: "${r.title}": ${r.dagNodes} DAG boxes (${r.dagSweeps} sweeps), ${r.plots} plots, ${r.images} images, width ${r.scrollWidth}/${r.clientWidth}${values.screenshot ? `, screenshot ${values.screenshot}` : ""}\n`,
)
for (const f of failures) process.stdout.write(`FAIL ${f}\n`)
process.exit(failures.length === 0 ? 0 : 1)

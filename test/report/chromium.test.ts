// Headless Chromium opens the report with no console errors and shows the DAG, plots and grids.
// Skipped (with the reason) when Debian's chromium is not installed; .ci/run installs it.
import { execFile } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { promisify } from "node:util"
import t from "tap"
import { checkPage, DEFAULT_CHROMIUM } from "../../src/report/chromium.ts"
import { pngSize } from "../../src/report/html.ts"
import { writeReport } from "../../src/report/index.ts"
import { makeFakeRun, makeFakeStudyRun } from "./helpers.ts"

const REPO = resolve(import.meta.dirname, "../..")
const skip = existsSync(DEFAULT_CHROMIUM) ? false : `${DEFAULT_CHROMIUM} not installed (apt-get install chromium); skipping the browser check`

t.test("scripts/check-report.ts: report opens cleanly with DAG, 4 plots and the grid", { skip }, async (t) => {
  const run = makeFakeRun(t)
  const file = await writeReport(run.runDir, run.record)
  const shot = join(run.root, "shot.png")
  const { stdout } = await promisify(execFile)(process.execPath, ["--import=tsx", join(REPO, "scripts/check-report.ts"), file, "--screenshot", shot, "--min-plots", "3"], {
    cwd: REPO,
    env: { ...process.env, NODE_OPTIONS: "" },
    timeout: 120_000,
  })
  t.match(stdout, /12 DAG boxes \(0 sweeps\), 4 plots, 1 images, width (\d+)\/\1/)
  t.notMatch(stdout, /FAIL/)
  const size = pngSize(readFileSync(shot))
  t.ok(size !== undefined && size.width >= 1000 && size.height > 2000, `full-page screenshot ${JSON.stringify(size)}`)
})

t.test("checkPage catches console errors, exceptions and undecodable images (the check is not vacuous)", { skip }, async (t) => {
  const run = makeFakeRun(t)
  const bad = join(run.root, "bad.html")
  writeFileSync(
    bad,
    `<!doctype html><html><head><link rel="icon" href="data:,"><title>bad</title></head><body>
<figure class="sample"><img src="data:image/png;base64,AAAA"></figure>
<script>console.error("boom"); null.x</script></body></html>`,
  )
  const r = await checkPage(bad)
  t.equal(r.title, "bad")
  t.equal(r.images, 1)
  t.equal(r.brokenImages, 1)
  t.ok(r.problems.some((p) => p.includes("console.error: boom")), JSON.stringify(r.problems))
  t.ok(r.problems.some((p) => p.startsWith("exception:")), JSON.stringify(r.problems))
  t.equal(r.screenshot, null)
})

t.test("a study report of 112 nodes at 1280 px: every plot and grid, sweeps collapsed, no horizontal overflow", { skip }, async (t) => {
  const run = makeFakeStudyRun(t)
  const file = await writeReport(run.runDir, run.record)
  const r = await checkPage(file, { width: 1280 })
  t.same(r.problems, [])
  t.equal(r.brokenImages, 0)
  // frontier + per study (FLD, speed, loss) + the judge's loss curve
  t.equal(r.plots, 1 + 4 * 3 + 1 + 1, "every plot rendered")
  t.equal(r.images, run.record.nodes.filter((n) => n.kind === "grid").length, "every grid")
  t.equal(r.dagSweeps, 5)
  t.equal(r.dagNodes, 5 + 3 + 5, "sweeps, shared nodes and training nodes")
  t.equal(r.scrollWidth, r.clientWidth, `no horizontal overflow (${r.scrollWidth} px)`)
  t.ok(r.dagFits, "the DAG is drawn at full size inside its column")
})

t.test("the overflow probe is not vacuous: a page wider than the window is caught", { skip }, async (t) => {
  const run = makeFakeRun(t)
  const wide = join(run.root, "wide.html")
  writeFileSync(wide, `<!doctype html><html><head><link rel="icon" href="data:,"><title>wide</title></head><body><div style="width:2000px">x</div><svg class="dag" width="1500" height="10" viewBox="0 0 1500 10" style="max-width:100%"><g class="node"></g></svg></body></html>`)
  const r = await checkPage(wide, { width: 1280 })
  t.ok(r.scrollWidth > r.clientWidth, `${r.scrollWidth} > ${r.clientWidth}`)
  t.notOk(r.dagFits, "a shrunk DAG does not fit")
})

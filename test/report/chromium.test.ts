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
import { makeFakeRun } from "./helpers.ts"

const REPO = resolve(import.meta.dirname, "../..")
const skip = existsSync(DEFAULT_CHROMIUM) ? false : `${DEFAULT_CHROMIUM} not installed (apt-get install chromium); skipping the browser check`

t.test("scripts/check-report.ts: report opens cleanly with DAG, 3 plots and the grid", { skip }, async (t) => {
  const run = makeFakeRun(t)
  const file = await writeReport(run.runDir, run.record)
  const shot = join(run.root, "shot.png")
  const { stdout } = await promisify(execFile)(process.execPath, ["--import=tsx", join(REPO, "scripts/check-report.ts"), file, "--screenshot", shot, "--min-plots", "3"], {
    cwd: REPO,
    env: { ...process.env, NODE_OPTIONS: "" },
    timeout: 120_000,
  })
  t.match(stdout, /12 DAG nodes, 3 plots, 1 images/)
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
<section id="samples"><img src="data:image/png;base64,AAAA"></section>
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

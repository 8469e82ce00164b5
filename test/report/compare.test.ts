import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import t from "tap"
import { main } from "../../src/cli/main.ts"
import type { Io } from "../../src/cli/run.ts"
import { compareColumns, compareRows, compareText, resolveRun, rowsWith, runLabels } from "../../src/report/compare.ts"
import { loadReportData } from "../../src/report/load.ts"
import { makeFakeRun, type Teardown } from "./helpers.ts"

const captureIo = (cwd: string) => {
  const out: string[] = []
  const err: string[] = []
  const io: Io = {
    out: (s) => void out.push(s),
    err: (s) => void err.push(s),
    isTTY: false,
    columns: () => 100,
    env: {},
    cwd,
    onInterrupt: () => () => undefined,
  }
  return { io, out: () => out.join(""), err: () => err.join("") }
}

/** Two runs of the same pipeline in one project; the second one's FLDs are half the first's. */
const twoRuns = (t: Teardown) => {
  const root = mkdtempSync(join(tmpdir(), "pipe-compare-"))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const a = makeFakeRun(t, { root, name: "111" })
  const b = makeFakeRun(t, { root, name: "222", fldScale: 0.5 })
  return { root, a, b }
}

t.test("compareText: aligned columns, one row per metrics artifact per run, blanks where absent", async (t) => {
  const { a, b } = twoRuns(t)
  const runs = await Promise.all([a, b].map(async (r, i) => ({ label: ["A", "B"][i]!, data: await loadReportData(r.runDir, r.record, r.cache) })))
  const rows = compareRows(runs)
  t.equal(rows.length, 10)
  const cols = compareColumns(rows, "key")
  t.same(cols.slice(0, 6), ["fld", "fld_floor", "accuracy", "samples", "steps", "seconds_per_image"])
  t.notOk(cols.some((c) => c.startsWith("class_")))
  t.ok(compareColumns(rows, "all").includes("class_9"))
  t.same(compareColumns(rows, ["final_loss"]), ["final_loss"])
  t.same(rowsWith(rows, ["final_loss"]).map((r) => `${r.run}:${r.node}`), ["A:train.history", "B:train.history"])
  const text = compareText(rows, cols)
  const lines = text.trimEnd().split("\n")
  t.equal(lines.length, 11)
  t.match(lines[0]!, /^run\s+profile\s+node\s+fld\s+fld_floor\s+accuracy/)
  t.match(text, /^A\s+smoke\s+score-ddim-10\s+6\s+1\.25\s+0\.9\s+64\s+10\s+0\.1\s/m)
  t.match(text, /^B\s+smoke\s+score-ddim-10\s+3\s+1\.25/m, "second run: half the FLD")
  t.match(text, /^A\s+smoke\s+train\.history\s+0\.05$/m, "a row with only final_loss, right-aligned under its column")
  const fldCol = lines[0]!.indexOf("fld") + 3
  t.ok(lines.slice(1).every((l) => l.length < fldCol || /[\d ∞]/.test(l[fldCol - 1]!)), "numbers right-aligned under the header")
  t.equal(compareText([], []), "no metrics artifacts in these runs\n")
  const withSe = [{ run: "C", profile: null, node: "score", scalars: { fld: 30, fld_floor: 20, fld_floor_se: 0.4, fld_se: 0.9, class_share_max_dev: 0.02, class_3: 0.1 } }]
  t.same(compareColumns(withSe, "key"), ["fld", "fld_se", "fld_floor", "fld_floor_se", "class_share_max_dev"], "standard errors next to their FLD, class balance")
})

t.test("resolveRun: id, unique prefix, last, dir; ambiguous or unknown -> RunNotFound", (t) => {
  const { root, a, b } = twoRuns(t)
  const runs = join(root, "runs")
  t.equal(resolveRun(runs, a.record.id, root).record.id, a.record.id)
  t.equal(resolveRun(runs, "last", root).record.id, b.record.id)
  t.equal(resolveRun(runs, b.runDir, "/").record.id, b.record.id)
  t.equal(resolveRun(runs, "runs/" + a.record.id, root).record.id, a.record.id)
  t.throws(() => resolveRun(runs, "2025-01-01", root), { name: "RunNotFound", message: /matches 2 runs/ })
  t.throws(() => resolveRun(runs, "1999", root), /no run "1999"/)
  t.same(runLabels([a.record, b.record]), [`test <pipeline> ${a.record.id}`, `test <pipeline> ${b.record.id}`])
  t.same(runLabels([a.record, { ...b.record, name: "other" }]), ["test <pipeline>", "other"])
  t.end()
})

t.test("pipe compare A B --html: text table on stdout, HTML with plots across runs", async (t) => {
  const { root, a, b } = twoRuns(t)
  const cap = captureIo(root)
  const html = join(root, "cmp.html")
  const code = await main(["compare", a.record.id, "2025-01-01T00-00-00-000Z-22", "--html", html], cap.io)
  t.equal(code, 0, cap.err())
  t.match(cap.out(), /score-ddpm-50\s+7\s/)
  t.match(cap.out(), /score-ddpm-50\s+3\.5\s/)
  const page = readFileSync(html, "utf8")
  t.match(page, /Comparison of 2 runs/)
  t.equal(page.split('class="marks"').length - 1, 3, "FLD, speed and the overlaid loss curve")
  t.ok(page.includes("test &lt;pipeline&gt; 2025-01-01T00-00-00-000Z-111 · train · ddim"), "series label: run · model · sampler")
  t.notMatch(page, /<script/i)
  const json = captureIo(root)
  t.equal(await main(["compare", "last", "--json", "--all"], json.io), 0)
  const parsed = JSON.parse(json.out()) as { columns: string[]; rows: { node: string; scalars: Record<string, number | string> }[] }
  t.ok(parsed.columns.includes("class_0"))
  t.equal(parsed.rows.find((r) => r.node === "score-ddim-10")?.scalars.psnr, "Infinity", "non-finite numbers survive JSON as strings")
  const picked = captureIo(root)
  t.equal(await main(["compare", "last", "--columns", "fld,steps"], picked.io), 0)
  t.match(picked.out(), /^run\s+profile\s+node\s+fld\s+steps\n/)
  t.notMatch(picked.out(), /train\.history/, "rows without any chosen column are left out")
})

t.test("pipe report RUN regenerates report.html; unknown run and missing args fail cleanly", async (t) => {
  const { root, a } = twoRuns(t)
  const cap = captureIo(root)
  t.equal(await main(["report", a.record.id.slice(0, 27)], cap.io), 0, cap.err())
  t.equal(cap.out().trim(), join(a.runDir, "report.html"))
  t.match(readFileSync(join(a.runDir, "report.html"), "utf8"), /FLD vs sampling steps/)
  const bad = captureIo(root)
  t.equal(await main(["report", "nope"], bad.io), 1)
  t.match(bad.err(), /error: no run "nope"/)
  const usage = captureIo(root)
  t.equal(await main(["compare"], usage.io), 2)
  t.match(usage.err(), /expected 1 argument/)
})

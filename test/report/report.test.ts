import { readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import fc from "fast-check"
import t from "tap"
import { layoutDag } from "../../src/report/dag.ts"
import { escapeHtml } from "../../src/report/escape.ts"
import { fmtNum } from "../../src/report/format.ts"
import { orderScalars, pngSize, smallTableHtml } from "../../src/report/html.ts"
import { buildReport, cacheDirOf, onRunFinished, plotSpecsOf, pointsOf } from "../../src/report/index.ts"
import { edgesOf, loadReportData } from "../../src/report/load.ts"
import { isLossTable, lossColumns, lossCurvePlots, lossPoints, MAX_POINTS, qualityPlots, strideIndices } from "../../src/report/plots.ts"
import { sectionsOf } from "../../src/report/results.ts"
import { samplerFromTables, samplingNodeOf, type SamplerPoint, seriesLabel } from "../../src/report/series.ts"
import { gridPng, makeFakeRun } from "./helpers.ts"

const count = (s: string, needle: string): number => s.split(needle).length - 1

t.test("onRunFinished writes report.html: header, DAG, params, metrics tables, vega plots, embedded grid", async (t) => {
  const run = makeFakeRun(t)
  await onRunFinished(run.runDir, run.record) // finds the store through record.cache
  const html = readFileSync(join(run.runDir, "report.html"), "utf8")
  // Header, escaped.
  t.match(html, /<h1>test &lt;pipeline&gt;<\/h1>/)
  t.match(html, /<th>profile<\/th><td>smoke<\/td>/)
  t.match(html, /<code>train\.steps=200<\/code>/)
  t.match(html, /fake backend note/)
  t.match(html, /class="status-failed">failed</)
  // DAG: one box per recorded node, status classes, an edge per recorded edge.
  t.equal(count(html, '<g class="node '), 12)
  t.equal(count(html, '<g class="node failed">'), 1)
  t.equal(count(html, '<g class="node skipped">'), 1)
  t.equal(count(html, 'marker-end="url(#arrow)"'), run.record.edges!.length)
  // Params come from the manifests; failed nodes have none, and their error is escaped.
  t.match(html, /sampler=<b>ddpm<\/b>/)
  t.match(html, /lr=<b>0\.001<\/b>/)
  t.match(html, /NaN &lt;b&gt;loss&lt;\/b&gt; at step 3/)
  t.notMatch(html, /<b>loss<\/b>/)
  t.match(html, /0 \(computed in 1\.50 s\)/, "cached node shows its original compute time")
  // Scalars table across the four score nodes: fld of ddim@10 = 40/10 + 2 = 6, PSNR infinite.
  t.match(html, /<tr><th>score-ddim-10<\/th><td>6<\/td><td>1\.25<\/td><td>0\.9<\/td><td>64<\/td><td>10<\/td><td>0\.1<\/td><td>∞<\/td>/)
  t.match(html, /<h3>Class histogram of samples<\/h3>/)
  t.match(html, /<td>cosine<\/td>/, "small tables shown")
  t.match(html, /… 190 more rows …/, "long tables elided")
  // Plots: the speed-quality frontier, FLD vs steps, seconds per image vs steps, the loss curve; all vega SVG.
  t.equal(count(html, '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" class="marks"'), 4)
  t.match(html, /speed-quality frontier/)
  t.match(html, /FLD vs sampling steps/)
  t.match(html, /real-vs-real floor 1\.25/)
  t.match(html, /seconds per image vs sampling steps/)
  t.match(html, /train · history/)
  // The grid PNG byte for byte, as a data URI, captioned with its node.
  t.ok(html.includes(`data:image/png;base64,${Buffer.from(gridPng()).toString("base64")}`))
  t.match(html, /<figcaption><b>grid<\/b> · grid\/grid\.png/)
  // Self-contained: no scripts, nothing fetched.
  t.notMatch(html, /<script/i)
  t.notMatch(html, /(src|href)="https?:/i)
  t.notMatch(html, /<link[^>]+stylesheet/i)
  t.notMatch(html, /Warnings<\/h2>/, "no warnings on a healthy cache")
})

t.test("legacy record (no cache, no edges): default cache dir, edges recovered from manifest digests", async (t) => {
  const run = makeFakeRun(t, { legacy: true })
  t.equal(cacheDirOf(run.runDir, run.record), join(run.runDir, "..", "..", "cache"))
  const data = await loadReportData(run.runDir, run.record, cacheDirOf(run.runDir, run.record))
  const pairs = (es: readonly { from: string; to: string }[]) => es.map((e) => `${e.from}->${e.to}`).sort()
  // Failed/skipped nodes have no manifest, so their edges are the ones that cannot be recovered.
  const withManifest = makeFakeRun(t).record.edges!.filter((e) => e.to !== "broken" && e.to !== "after")
  t.same(pairs(data.edges), pairs(withManifest))
  t.equal(data.metrics.length, 5, "four score nodes + the training history")
})

t.test("a missing cache or a deleted entry becomes a warning, never an exception", async (t) => {
  const run = makeFakeRun(t)
  rmSync(run.store.manifestPath(run.record.nodes.find((n) => n.id === "score-ddim-10")!.key!))
  const partial = await buildReport(run.runDir, run.record, run.cache)
  t.match(partial, /score-ddim-10: cache entry [0-9a-f]{12} is gone/)
  t.match(partial, /class="marks"/, "the other plots still render")
  const none = await buildReport(run.runDir, run.record, join(run.root, "nope"))
  t.match(none, /cache .*nope not found/)
  t.equal(count(none, '<g class="node '), 12, "DAG still drawn from the record")
  t.match(none, /data:image\/png;base64,/, "grids still embedded")
  t.notMatch(none, /class="marks"/, "no metrics, no plots")
})

t.test("report data: sampler points carry the sampling node, the model and the sampler", async (t) => {
  const run = makeFakeRun(t)
  const data = await loadReportData(run.runDir, run.record, run.cache)
  const params = new Map(data.nodes.map((n) => [n.record.id, n.params]))
  t.equal(samplingNodeOf("score-ddpm-50", params, data.edges), "sample-ddpm-50")
  t.equal(samplingNodeOf("train", params, data.edges), undefined)
  t.equal(samplerFromTables({ meta: { columns: ["key", "value"], rows: [["eta", 0], ["sampler", "ddim"]] } }), "ddim")
  t.equal(samplerFromTables({ info: { columns: ["sampler", "steps"], rows: [["rf-euler", 10]] } }), "rf-euler")
  t.equal(samplerFromTables({ history: { columns: ["step", "loss"], rows: [[1, 0.5]] } }), undefined)
  const points = pointsOf(data)
  t.same(points.map((p) => [p.node, p.sampling, p.model, p.sampler, p.steps, p.fld]), [
    ["score-ddim-10", "sample-ddim-10", "train", "ddim", 10, 6],
    ["score-ddim-50", "sample-ddim-50", "train", "ddim", 50, 2.8],
    ["score-ddpm-10", "sample-ddpm-10", "train", "ddpm", 10, 23],
    ["score-ddpm-50", "sample-ddpm-50", "train", "ddpm", 50, 7],
  ])
  t.same([...new Set(points.map((p) => seriesLabel(p)))], ["train · ddim", "train · ddpm"])
  const sections = sectionsOf(run.record, points)
  t.same(sections.map((s) => [s.scope, s.title, s.points.length]), [["", "test <pipeline>", 4]], "a plain pipeline is one section")
  const specs = plotSpecsOf(data, sections)
  t.equal(specs.frontier?.id, "frontier")
  t.same(specs.sections[0]!.map((s) => s.id), ["quality-fld", "quality-speed", "loss-train-history-history"])
})

const point = (over: Partial<SamplerPoint>): SamplerPoint => ({
  node: "n",
  scope: "",
  sampling: "s",
  model: "train",
  sampler: "ddim",
  setting: "",
  steps: 10,
  fld: null,
  fldSe: null,
  floor: null,
  classDev: null,
  accuracy: null,
  secondsPerImage: null,
  ...over,
})

t.test("quality plots: floors become rules, one per distinct floor; error bars when fld_se exists; no points, no plot", (t) => {
  const [fld] = qualityPlots([point({ steps: 10, fld: 5, floor: 1 }), point({ steps: 20, fld: 3, floor: 1 }), point({ steps: 40, fld: 2, floor: 1.5 })])
  const rules = JSON.stringify(fld!.spec).match(/"rule"/g) ?? []
  t.equal(rules.length, 1)
  t.match(JSON.stringify(fld!.spec), /"floor":1,.*"floor":1\.5/)
  t.same(qualityPlots([]), [])
  const [withSe] = qualityPlots([point({ steps: 10, fld: 5, fldSe: 0.5 }), point({ steps: 20, fld: 3, fldSe: 0.25 })])
  t.match(JSON.stringify(withSe!.spec), /"lo":4\.5,"hi":5\.5/)
  t.equal((JSON.stringify(withSe!.spec).match(/"rule"/g) ?? []).length, 1, "the error bar rule")
  const speed = qualityPlots([point({ secondsPerImage: 0.5 })]).find((p) => p.id === "quality-speed")!
  t.equal((speed.spec as { data: { values: unknown[] } }).data.values.length, 1)
  t.end()
})

t.test("loss tables: detected by step + *loss* columns, strided to MAX_POINTS, non-finite dropped", (t) => {
  t.ok(isLossTable({ columns: ["step", "loss", "lr"], rows: [[1, 0.3, 0.1]] }))
  t.ok(isLossTable({ columns: ["epoch", "step", "val_loss"], rows: [[0, 1, 0.3]] }))
  t.notOk(isLossTable({ columns: ["epoch", "loss"], rows: [[1, 0.3]] }))
  t.same(lossColumns({ columns: ["step", "epoch", "loss", "recon", "kl"], rows: [] }), ["loss", "recon", "kl"], "train-vae curve")
  t.same(lossColumns({ columns: ["step", "epoch", "loss", "accuracy"], rows: [] }), ["loss"], "train-classifier curve")
  t.same(lossColumns({ columns: ["step", "loss", "ema_loss"], rows: [] }), ["loss", "ema_loss"], "train-diffusion curve")
  t.notOk(isLossTable({ columns: ["step", "loss"], rows: [] }))
  const one = { node: "judge", kind: "train-classifier", port: "metrics", metrics: { scalars: {}, tables: { curve: { columns: ["step", "loss"], rows: [[8, 2.3]] } } } }
  t.same(lossCurvePlots([one]), [], "a single logged step is not a curve")
  const rows = Array.from({ length: 5000 }, (_, i) => [i, i === 7 ? Number.NaN : 1 / (i + 1), 2] as const)
  const pts = lossPoints({ columns: ["step", "loss", "kl_loss"], rows })
  t.ok(pts.length <= 2 * (MAX_POINTS + 1))
  t.ok(pts.every((p) => Number.isFinite(p.value)))
  t.equal(pts.at(-1)!.step, 4999, "last step kept")
  t.end()
})

t.test("strideIndices: starts at 0, ends at n-1, increasing, at most max+1 entries", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20000 }), fc.integer({ min: 1, max: 1000 }), (n, max) => {
        const idx = strideIndices(n, max)
        return idx[0] === 0 && idx.at(-1) === n - 1 && idx.length <= max + 1 && idx.every((v, i) => i === 0 || v > idx[i - 1]!)
      }),
    ),
  )
  t.end()
})

t.test("layoutDag: every edge goes to a higher rank; rows in a rank are distinct", (t) => {
  const dag = fc.integer({ min: 1, max: 25 }).chain((n) =>
    fc.tuple(fc.constant(n), fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 60 })),
  )
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(dag, ([n, pairs]) => {
        const nodes = Array.from({ length: n }, (_, i) => ({ id: `n${i}`, kind: "k", status: "ran" as const }))
        const edges = pairs.filter(([a, b]) => a < b).map(([a, b]) => ({ from: `n${a}`, output: "o", to: `n${b}`, input: "i" }))
        const { place, ranks, rows } = layoutDag(nodes, edges)
        const seen = new Set([...place.values()].map((p) => `${p.rank}:${p.row}`))
        return (
          place.size === n &&
          seen.size === n &&
          edges.every((e) => place.get(e.from)!.rank < place.get(e.to)!.rank) &&
          [...place.values()].every((p) => p.rank < ranks && p.row < rows)
        )
      }),
    ),
  )
  t.end()
})

t.test("formatting helpers", (t) => {
  t.equal(fmtNum(6), "6")
  t.equal(fmtNum(2.83456), "2.835")
  t.equal(fmtNum(0.000123456), "1.235e-4")
  t.equal(fmtNum(123456.7), "1.235e+5")
  t.equal(fmtNum(Number.POSITIVE_INFINITY), "∞")
  t.equal(fmtNum(Number.NaN), "NaN")
  t.same(orderScalars(["zeta", "class_10", "class_2", "fld_floor", "fld", "alpha"]), ["fld", "fld_floor", "alpha", "zeta", "class_2", "class_10"])
  t.same(pngSize(gridPng(8)), { width: 2 * 28 * 4 + 5 * 2, height: 2 * 28 * 2 + 3 * 2 })
  t.equal(pngSize(new Uint8Array(30)), undefined)
  t.match(smallTableHtml({ columns: ["a"], rows: Array.from({ length: 30 }, (_, i) => [i]) }, 25, 5), /… 20 more rows …/)
  t.doesNotThrow(() => fc.assert(fc.property(fc.string(), (s) => !/[<>"']/.test(escapeHtml(s)) && escapeHtml(s).replace(/&(amp|lt|gt|quot|#39);/g, "") === s.replace(/[&<>"']/g, ""))))
  t.end()
})

t.test("edgesOf prefers recorded edges and drops those naming unrecorded nodes", (t) => {
  const record = makeFakeRun(t).record
  const extra = { ...record, edges: [...record.edges!, { from: "ghost", output: "o", to: "train", input: "i" }] }
  t.equal(edgesOf(extra, new Map()).length, record.edges!.length)
  t.end()
})

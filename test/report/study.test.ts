// The study report: sections per include namespace, series = model + sampler + setting, the
// speed-quality frontier, metrics without pass-through duplicates or empty tables, FLD ± its
// standard error, a DAG that collapses sweeps and stays inside the page, Markdown results, and
// memoised plot SVGs.
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import fc from "fast-check"
import t from "tap"
import { main } from "../../src/cli/main.ts"
import type { Io } from "../../src/cli/run.ts"
import type { NodeStatus } from "../../src/exec/progress.ts"
import { collapseSweeps, dagSvg, drawLayout, MAX_DAG_WIDTH } from "../../src/report/dag.ts"
import { withoutPassThrough } from "../../src/report/html.ts"
import { buildMarkdown, buildReport, plotSpecsOf, pointsOf } from "../../src/report/index.ts"
import { loadReportData, type MetricsEntry, type NodeView } from "../../src/report/load.ts"
import { frontierPlot, LABEL_ALL_UP_TO, paretoFront, renderPlots } from "../../src/report/plots.ts"
import { resultTable, type Section, sectionsOf } from "../../src/report/results.ts"
import { samplerPoints, type SamplerPoint, seriesLabel } from "../../src/report/series.ts"
import { makeFakeStudyRun } from "./helpers.ts"

const count = (s: string, needle: string): number => s.split(needle).length - 1

t.test("study run: a section per namespace, the base and the reflowed model as separate series", async (t) => {
  const run = makeFakeStudyRun(t)
  t.ok(run.record.nodes.length >= 100, `${run.record.nodes.length} nodes`)
  const data = await loadReportData(run.runDir, run.record, run.cache)
  const sections = sectionsOf(run.record, pointsOf(data))
  t.same(sections.map((s) => s.title), ["study-0", "study-1", "study-2", "study-3", "shared"])
  t.same(sections.map((s) => s.points.length), [6, 6, 6, 8, 0], "one point per scored sampler (timing rows merged into their score)")
  const last = sections[3]!
  t.same([...new Set(last.points.map((p) => seriesLabel(p, last.scope)))], ["train · rf-euler", "train-reflow · rf-euler"])
  t.same([...new Set(last.points.map((p) => p.model))], ["study-3/train", "study-3/train-reflow"], "models are training node ids")
  const fldPlot = plotSpecsOf(data, sections).sections[3]!.find((p) => p.id.startsWith("quality-fld"))!
  const values = (fldPlot.spec as { layer: { data?: { values: { series: string; steps: number }[] } }[] }).layer[0]!.data!.values
  const at1 = values.filter((v) => v.steps === 1).map((v) => v.series).sort()
  t.same(at1, ["train · rf-euler", "train-reflow · rf-euler"], "Euler-1 of each model is its own point on its own line")
})

/** A cached node as the report loads it: just its id, kind and params. */
const view = (id: string, kind: string, params: NodeView["params"]): NodeView => ({
  record: { id, kind, key: id, status: "cached", seconds: 0, outputs: {}, files: [] },
  params,
  computeSeconds: 1,
  computedAt: null,
  outputs: [],
})

t.test("settings: sampler params that differ within a model's sampler make separate series", (t) => {
  const nodes = [
    view("train", "train-diffusion", { seed: 0 }),
    ...[0, 0.5].flatMap((eta) => [10, 50].map((steps) => view(`ddim-${eta}-${steps}`, "sample", { sampler: "ddim", steps, eta, spacing: "trailing", count: 64, batchSize: 32 }))),
    view("ddpm-1000", "sample", { sampler: "ddpm", steps: 1000, count: 64, batchSize: 64 }),
  ]
  const edges = nodes.slice(1).map((n) => ({ from: "train", output: "model", to: n.record.id, input: "model" }))
  const metrics: MetricsEntry[] = nodes.slice(1).map((n) => ({ node: n.record.id, kind: "sample", port: "timing", metrics: { scalars: { steps: n.params!.steps as number, seconds_per_image: 0.01 }, tables: {} } }))
  const points = samplerPoints(metrics, nodes, edges)
  t.same(points.map((p) => seriesLabel(p)), ["train · ddim eta=0", "train · ddim eta=0", "train · ddim eta=0.5", "train · ddim eta=0.5", "train · ddpm"])
  t.end()
})

t.test("settings per section; a ControlNet is part of its samples' model; object params by the sub-field that differs; a score without timing gets its sampler's", (t) => {
  // a shared U-Net sampled by two studies: ddpm/ by sample count, controlnet/ with a ControlNet and DeepCache
  const ddim = { sampler: "ddim", steps: 50, count: 1000, seed: 1, controlScale: 1, deepcache: null, batchSize: 128 }
  const nodes = [
    view("ddpm-unet", "train-diffusion", {}),
    view("cn/controlnet", "train-controlnet", {}),
    view("cn/edges", "canny", {}),
    view("ddpm/ddim-50", "sample", ddim),
    view("ddpm/ddim-50-n500", "sample", { ...ddim, count: 500 }),
    view("cn/control-1", "sample", { ...ddim, count: 256 }),
    view("cn/control-05", "sample", { ...ddim, count: 256, controlScale: 0.5 }),
    ...[2, 3].map((n) => view(`cn/control-1-n${n}`, "sample", { ...ddim, count: 256, deepcache: { interval: n, branch: 0, schedule: "uniform" } })),
    view("cn/control-div", "sample", { ...ddim, count: 256, seed: 2 }),
  ]
  const samplers = nodes.slice(3)
  const edges = [
    ...samplers.map((n) => ({ from: "ddpm-unet", output: "model", to: n.record.id, input: "model" })),
    ...samplers.filter((n) => n.record.id.startsWith("cn/")).flatMap((n) => [
      { from: "cn/controlnet", output: "model", to: n.record.id, input: "controlnet" },
      { from: "cn/edges", output: "dataset", to: n.record.id, input: "control" },
    ]),
    ...samplers.filter((n) => n.record.id !== "cn/control-div").map((n) => ({ from: n.record.id, output: "images", to: `${n.record.id}-score`, input: "images" })),
  ]
  const timing = (id: string): MetricsEntry => ({ node: id, kind: "sample", port: "timing", metrics: { scalars: { steps: 50, seconds_per_image: 0.1 }, tables: {} } })
  // scores without the `timing` input (controlnet-canny.yaml's): no seconds_per_image of their own
  const score = (id: string): MetricsEntry => ({ node: `${id}-score`, kind: "score", port: "metrics", metrics: { scalars: { steps: 50, fld: 40 }, tables: {} } })
  const metrics = [...samplers.map((n) => timing(n.record.id)), ...samplers.filter((n) => n.record.id !== "cn/control-div").map((n) => score(n.record.id))]
  const views = [...nodes, ...samplers.filter((n) => n.record.id !== "cn/control-div").map((n) => view(`${n.record.id}-score`, "score", {}))]
  const points = samplerPoints(metrics, views, edges)
  const label = (p: (typeof points)[number]) => `${p.sampling}: ${seriesLabel(p, p.scope)}`
  t.same(points.filter((p) => p.fld !== null).map(label), [
    "ddpm/ddim-50: ddpm-unet · ddim count=1000",
    "ddpm/ddim-50-n500: ddpm-unet · ddim count=500",
    "cn/control-1: ddpm-unet + controlnet · ddim controlScale=1",
    "cn/control-05: ddpm-unet + controlnet · ddim controlScale=0.5",
    "cn/control-1-n2: ddpm-unet + controlnet · ddim controlScale=1 deepcache.interval=2",
    "cn/control-1-n3: ddpm-unet + controlnet · ddim controlScale=1 deepcache.interval=3",
  ], "no controlScale/deepcache/seed noise in ddpm/; the diversity sampler's seed not in the scored rows' labels")
  t.ok(points.filter((p) => p.fld !== null).every((p) => p.secondsPerImage === 0.1), "every score has its sampler's seconds per image")
  t.end()
})

t.test("a guided study (cfg.yaml): accuracy and FLD vs the guidance scale per route replace its one-step-count plots; its table gets accuracy", async (t) => {
  const scales = [0, 1, 3]
  const routes = ["channel", "embedding"]
  const nodes = [
    view("ddpm/train", "train-diffusion", { conditioning: "none" }),
    ...[10, 50].flatMap((steps) => [view(`ddpm/ddim-${steps}`, "sample", { sampler: "ddim", steps }), view(`ddpm/score-ddim-${steps}`, "score", {})]),
    ...routes.flatMap((r) => [
      view(`cfg/cfg-${r}`, "train-diffusion", { conditioning: r }),
      ...scales.flatMap((s) => [view(`cfg/${r}-s${s}`, "sample", { sampler: "ddim", steps: 50, guidance: s, labels: "each-class" }), view(`cfg/score-${r}-s${s}`, "score", {})]),
    ]),
  ]
  const edges = nodes.flatMap((n) => {
    const id = n.record.id
    if (n.record.kind === "sample") return [{ from: id.startsWith("ddpm/") ? "ddpm/train" : `cfg/cfg-${id.slice(4).replace(/-s\d+$/, "")}`, output: "model", to: id, input: "model" }]
    if (n.record.kind === "score") return [{ from: id.replace("/score-", "/"), output: "images", to: id, input: "images" }]
    return []
  })
  const score = (node: string, scalars: Record<string, number>): MetricsEntry => ({ node, kind: "score", port: "metrics", metrics: { scalars: { seconds_per_image: 0.01, fld_floor: 2, ...scalars }, tables: {} } })
  const metrics = [
    ...[10, 50].map((steps) => score(`ddpm/score-ddim-${steps}`, { steps, fld: 500 / steps })),
    ...routes.flatMap((r, ri) => scales.map((s) => score(`cfg/score-${r}-s${s}`, { steps: 50, guidance: s, fld: 10 + s + ri, accuracy: 0.5 + s / 10 }))),
  ]
  const points = samplerPoints(metrics, nodes, edges)
  const section = (scope: string): Section => ({ scope, title: scope, file: null, description: "", nodes: nodes.map((n) => n.record.id).filter((id) => id.startsWith(`${scope}/`)), points: points.filter((p) => p.scope === scope) })
  const specs = plotSpecsOf({ metrics, nodes, edges }, [section("ddpm"), section("cfg")])
  t.same(specs.sections.map((ps) => ps.map((p) => p.id)), [["quality-fld-0", "quality-speed-0"], ["guidance-accuracy-1", "guidance-fld-1"]])
  const acc = specs.sections[1]![0]!.spec as { layer: { data: { values: { route: string; s: number; accuracy: number }[] } }[] }
  t.same(acc.layer[0]!.data.values.map((v) => [v.route, v.s, v.accuracy]), routes.flatMap((r) => scales.map((s) => [r, s, 0.5 + s / 10])), "one line per route, x = s")
  t.same(seriesLabel(points.find((p) => p.node === "cfg/score-channel-s3")!, "cfg"), "cfg-channel · ddim guidance=3")
  const table = resultTable(section("cfg").points, "cfg")
  t.same(table.columns, ["model", "sampler", "steps", "FLD", "floor", "accuracy", "s / image"])
  t.same(table.rows[1], ["cfg-channel", "ddim guidance=1", "50", "11", "2", "0.6", "0.01"])
  t.notOk(resultTable(section("ddpm").points, "ddpm").columns.includes("accuracy"), "no accuracy column without accuracies")
  const rendered = await renderPlots(specs.sections[1]!)
  t.same(rendered.warnings, [])
  t.equal(rendered.plots.length, 2, "vega renders both")
})

t.test("the report page: frontier, sections, merged metrics rows, FLD ± se, no empty tables, collapsed DAG", async (t) => {
  const run = makeFakeStudyRun(t)
  const html = await buildReport(run.runDir, run.record, run.cache)
  t.match(html, /<section id="frontier">/)
  t.equal(count(html, '<section class="study"'), 5)
  t.match(html, /<figcaption><b>study-1\/grid-euler-5<\/b> · study-1\/grid-euler-5\/grid\.png/, "namespaced grids captioned with their node")
  t.notOk(/euler-\d+\.timing/.test(html), "timing rows merged into their score rows")
  t.notOk(/\(0 rows\)/.test(html), "no empty tables")
  t.match(html, /<td>780 ± 39<\/td>/, "FLD with its standard error in the sampler table")
  t.notMatch(html, /<th>fld_se<\/th>/, "fld_se is not a column of its own")
  t.equal(count(html, '<g class="sweep '), 5, "one box per sweep")
  t.equal(count(html, '<g class="node '), 3 + 4 + 1, "shared nodes and training nodes keep their boxes")
  const width = Number(/<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" class="dag" width="(\d+)"/.exec(html)?.[1])
  t.ok(width > 0 && width <= MAX_DAG_WIDTH, `DAG ${width} px wide`)
  t.match(html, /<td class="nowrap">study-2\/samplers<\/td>/, "the node table names each node's sweep")
})

t.test("pass-through metrics: a timing equal to what its score reports is dropped, a different one is kept", (t) => {
  const e = (node: string, port: string, scalars: Record<string, number>): MetricsEntry => ({ node, kind: "k", port, metrics: { scalars, tables: {} } })
  const timing = e("s", "timing", { steps: 5, seconds_per_image: 0.1 })
  const score = e("score", "metrics", { steps: 5, seconds_per_image: 0.1, fld: 3 })
  const edge = { from: "s", output: "timing", to: "score", input: "timing" }
  t.same(withoutPassThrough([timing, score], [edge]), [score])
  t.same(withoutPassThrough([timing, e("score", "metrics", { steps: 5, seconds_per_image: 0.2 })], [edge]).length, 2)
  t.same(withoutPassThrough([timing, score], []).length, 2, "no edge, no merge")
  t.end()
})

t.test("DAG layout: every edge goes down, boxes never overlap, never wider than MAX_DAG_WIDTH", (t) => {
  const status: NodeStatus[] = ["ran", "cached", "failed", "skipped"]
  const dag = fc.integer({ min: 1, max: 140 }).chain((n) =>
    fc.tuple(fc.constant(n), fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 3 * n }), fc.array(fc.nat(6), { minLength: n, maxLength: n })),
  )
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(dag, ([n, pairs, sweeps]) => {
        // sweep 0 = none; a sweep's nodes are within 20 consecutive ids
        const nodes = Array.from({ length: n }, (_, i) => ({ id: `n${i}`, kind: "k", status: status[i % 4]!, sweep: sweeps[i] === 0 ? undefined : `s${sweeps[i]}-${Math.floor(i / 20)}` }))
        const edges = pairs.filter(([a, b]) => a < b).map(([a, b]) => ({ from: `n${a}`, output: "o", to: `n${b}`, input: "i" }))
        const { boxes, edges: merged } = collapseSweeps(nodes, edges)
        // Collapsing can create a cycle between two sweeps (a -> B -> c with a, c in A); the layout must still terminate.
        const d = drawLayout(boxes, merged)
        const slots = new Set(boxes.map((b) => `${d.layer.get(b.id)}:${d.x.get(b.id)}`))
        return d.width <= MAX_DAG_WIDTH && slots.size === boxes.length && boxes.every((b) => (d.x.get(b.id) as number) + d.boxW <= d.width)
      }),
    ),
  )
  const chain = Array.from({ length: 30 }, (_, i) => ({ id: `c${i}`, kind: "k", status: "ran" as const }))
  const wide = Array.from({ length: 40 }, (_, i) => ({ id: `w${i}`, kind: "k", status: "cached" as const }))
  const edges = [...chain.slice(1).map((c, i) => ({ from: chain[i]!.id, output: "o", to: c.id, input: "i" })), ...wide.map((w) => ({ from: "c0", output: "o", to: w.id, input: "i" }))]
  const { boxes } = collapseSweeps([...chain, ...wide], edges)
  const d = drawLayout(boxes, edges)
  t.ok(d.width <= MAX_DAG_WIDTH, "a rank of 40 boxes wraps")
  t.ok(edges.every((e) => (d.layer.get(e.from) as number) < (d.layer.get(e.to) as number)), "edges point down")
  t.match(dagSvg([...chain, ...wide], edges), /^<svg[^>]+class="dag"/)
  t.end()
})

t.test("frontier labels: every point up to LABEL_ALL_UP_TO, beyond only the Pareto front's", (t) => {
  const point = (i: number): SamplerPoint => ({
    node: `s${i}`, scope: "", sampling: `s${i}`, model: "m", sampler: "ddim", setting: `n=${i}`, steps: 10,
    fld: 100 - (i % 7) * 10 + i / 100, fldSe: null, floor: null, classDev: null, accuracy: null, secondsPerImage: 0.01 * (1 + (i % 5)),
  })
  const labels = (n: number) => {
    const spec = frontierPlot(Array.from({ length: n }, (_, i) => point(i)))!.spec as { layer: { data?: { values: { label: string; spi: number; fld: number }[] } }[] }
    return spec.layer[1]!.data!.values
  }
  t.ok(labels(LABEL_ALL_UP_TO).every((v) => v.label !== ""), "few points: all labelled")
  const many = labels(200)
  const front = paretoFront(many.map((v) => ({ fld: v.fld, secondsPerImage: v.spi })))
  t.equal(many.filter((v) => v.label !== "").length, front.length, `many points: ${front.length} labels, the front's`)
  t.ok(front.length > 0 && front.length < 200)
  t.end()
})

t.test("pareto front: nothing on it is beaten on both axes, everything off it is", (t) => {
  const pt = fc.record({ fld: fc.double({ min: 1, max: 1000, noNaN: true }), secondsPerImage: fc.double({ min: 1e-5, max: 10, noNaN: true }) })
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.array(pt, { minLength: 1, maxLength: 40 }), (ps) => {
        const front = paretoFront(ps)
        const beats = (a: (typeof ps)[number], b: (typeof ps)[number]) => a.fld <= b.fld && a.secondsPerImage <= b.secondsPerImage && (a.fld < b.fld || a.secondsPerImage < b.secondsPerImage)
        return front.every((f) => !ps.some((p) => beats(p, f))) && ps.filter((p) => !front.includes(p)).every((p) => ps.some((q) => beats(q, p) || (q.fld === p.fld && q.secondsPerImage === p.secondsPerImage && front.includes(q))))
      }),
    ),
  )
  t.end()
})

t.test("pipe report RUN --markdown prints each study's table and the front", async (t) => {
  const run = makeFakeStudyRun(t)
  const md = await buildMarkdown(run.runDir, run.record, run.cache)
  t.match(md, /### study-0 \(`pipelines\/study-0\.yaml`\)\n\n\| model \| sampler \| steps \| FLD \| floor \| class dev \| accuracy \| s \/ image \|\n\|---\|/)
  t.match(md, /\| train \| rf-euler \| 1 \| 780 ± 39 \| 1\.25 \| 0\.03 \| 0\.9 \| 1\.000e-4 \|/)
  t.match(md, /\| train-reflow \| rf-euler \| 1 \|/)
  t.match(md, /### Speed-quality front/)
  t.match(md, /\| study-3\/train \| rf-euler \|/, "the front names models by full id")
  const out: string[] = []
  const io: Io = { out: (s) => void out.push(s), err: () => undefined, isTTY: false, columns: () => 100, env: {}, cwd: run.root, onInterrupt: () => () => undefined }
  t.equal(await main(["report", run.runDir, "--markdown", "--cache", run.cache, "--runs", run.runs], io), 0)
  t.equal(out.join(""), md)
  t.notOk(existsSync(join(run.runDir, "report.html")), "--markdown writes no page")
})

t.test("plot SVGs are memoised by spec: a second render needs no vega worker", async (t) => {
  const run = makeFakeStudyRun(t, { studies: 1, samplers: 3 })
  const data = await loadReportData(run.runDir, run.record, run.cache)
  const specs = plotSpecsOf(data, sectionsOf(run.record, pointsOf(data))).sections.flat()
  const first = await renderPlots(specs, { cacheDir: run.cache })
  t.equal(first.plots.length, specs.length)
  t.equal(readdirSync(join(run.cache, "memo", "plots")).length, specs.length)
  // A 1 ms budget fails any worker; every plot still comes back, from the memo.
  const again = await renderPlots(specs, { cacheDir: run.cache, timeoutMs: 1 })
  t.same(again.warnings, [])
  t.same(again.plots.map((p) => p.svg), first.plots.map((p) => p.svg))
  const miss = await renderPlots(specs, { timeoutMs: 1 })
  t.match(miss.warnings.join(), /did not finish/, "without the memo the same budget fails (the check is not vacuous)")
  t.ok(readFileSync(join(run.cache, "memo", "plots", readdirSync(join(run.cache, "memo", "plots"))[0]!), "utf8").startsWith("<svg"))
})

t.test("decoded metrics are memoised by object digest: a second report reads no Arrow object", async (t) => {
  const run = makeFakeStudyRun(t, { studies: 1, samplers: 2 })
  const first = await loadReportData(run.runDir, run.record, run.cache)
  t.ok(readdirSync(join(run.cache, "memo", "metrics")).length > 0)
  rmSync(join(run.cache, "objects"), { recursive: true })
  const again = await loadReportData(run.runDir, run.record, run.cache)
  t.same(again.warnings, [], "objects gone, metrics still there")
  t.same(again.metrics, first.metrics, "identical, Infinity included")
  t.ok(again.metrics.some((e) => e.metrics.scalars.psnr === Number.POSITIVE_INFINITY))
})

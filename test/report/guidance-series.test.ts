import t from "tap"
import type { RunEdge } from "../../src/exec/record.ts"
import type { Json } from "../../src/key/canonical.ts"
import { guidancePoints, routeOf } from "../../src/report/guidance-series.ts"
import type { MetricsEntry, NodeView } from "../../src/report/load.ts"

// cfg.yaml's shape: train -> sample -> score (pixel) and train -> sample-latent -> decode -> score (latent).
const view = (id: string, kind: string, params: { readonly [k: string]: Json } | null): NodeView => ({
  record: { id, kind, key: null, status: "ran", seconds: 0, outputs: {}, files: [] },
  params, computeSeconds: null, computedAt: null, outputs: [],
})
const nodes = [
  view("cfg-channel", "train-diffusion", { conditioning: "channel" }),
  view("cfg-latent", "train-latent-diffusion", { conditioning: "channel" }),
  view("old-latent", "train-diffusion", { conditioning: "embedding", space: "latent" }), // a run recorded before the kinds split
  view("vae", "train-vae", {}),
  view("channel-s3", "sample", { sampler: "ddim", guidance: 3 }),
  view("latent-s3", "sample-latent", { sampler: "ddim", guidance: 3 }),
  view("decode-latent-s3", "decode", { batchSize: 256 }),
  view("score-channel-s3", "score", {}),
  view("score-latent-s3", "score", {}),
]
const edge = (from: string, to: string): RunEdge => ({ from, output: "x", to, input: "y" })
const edges = [
  edge("cfg-channel", "channel-s3"), edge("channel-s3", "score-channel-s3"),
  edge("cfg-latent", "latent-s3"), edge("latent-s3", "decode-latent-s3"), edge("vae", "decode-latent-s3"), edge("decode-latent-s3", "score-latent-s3"),
]

t.test("route: the nearest upstream conditioning param, latent models prefixed", (t) => {
  t.equal(routeOf("score-channel-s3", nodes, edges), "channel")
  t.equal(routeOf("score-latent-s3", nodes, edges), "latent channel")
  t.equal(routeOf("old-latent", nodes, edges), "latent embedding", "space: latent of an older run still reads as latent")
  t.equal(routeOf("vae", nodes, edges), undefined)
  t.end()
})

t.test("points: scored entries with a guidance scale, sorted by route then s; timing-only entries skipped", (t) => {
  const entry = (node: string, scalars: Record<string, number>): MetricsEntry => ({ node, kind: "score", port: "metrics", metrics: { scalars, tables: {} } })
  const entries = [
    entry("score-channel-s3", { guidance: 3, accuracy: 0.99, fld: 4, fld_floor: 1 }),
    entry("score-channel-s0", { guidance: 0, accuracy: 0.1, fld: 9 }),
    entry("channel-s3", { guidance: 3, steps: 50 }), // a sampler's timing metrics
    entry("score-ddim-50", { steps: 50, fld: 3 }), // an unguided score
    entry("score-latent-s3", { guidance: 3, accuracy: 0.9, fld: 5, fld_floor: 1 }),
  ]
  const points = guidancePoints(entries, (e) => (e.node.includes("latent") ? "latent channel" : "channel"))
  t.same(points.map((p) => [p.route, p.guidance, p.accuracy, p.fld, p.floor]), [
    ["channel", 0, 0.1, 9, null],
    ["channel", 3, 0.99, 4, 1],
    ["latent channel", 3, 0.9, 5, 1],
  ])
  t.end()
})

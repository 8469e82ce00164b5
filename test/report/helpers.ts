// A fake but realistic finished run for report tests: a temp project with a real store (src/store)
// holding manifests and Arrow objects encoded by the real codecs (MetricsType, FileType,
// ImageBatchType), a grid PNG copied into the run dir as the executor does, and its run.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { tableToIPC } from "apache-arrow"
import type { ArtifactType } from "../../src/artifact.ts"
import { FileType, ImageBatchType, MetricsType } from "../../src/artifacts/index.ts"
import type { Metrics } from "../../src/artifacts/types.ts"
import type { NodeRecord, RunEdge, RunRecord } from "../../src/exec/record.ts"
import { writeRunRecord } from "../../src/exec/record.ts"
import type { Json } from "../../src/key/canonical.ts"
import { cacheKey, FORMAT_SALT } from "../../src/key/key.ts"
import { composeGrid, defaultGridOptions } from "../../src/ml/image/grid.ts"
import { encodePng } from "../../src/ml/image/png.ts"
import { openStore, type OutputRecord, type Store } from "../../src/store/store.ts"

export interface Teardown {
  teardown: (fn: () => void) => void
}

export interface FakeRun {
  readonly root: string
  readonly cache: string
  readonly runs: string
  readonly runDir: string
  readonly record: RunRecord
  readonly store: Store
}

/** A digit-ish 28x28 image: a filled square whose size depends on i. */
const digit = (i: number): Uint8Array => {
  const px = new Uint8Array(28 * 28)
  const r = 4 + (i % 8)
  for (let y = 14 - r; y < 14 + r; y++) for (let x = 14 - r; x < 14 + r; x++) px[y * 28 + x] = 255
  return px
}

export const gridPng = (n = 8): Uint8Array =>
  encodePng(
    composeGrid(
      Array.from({ length: n }, (_, i) => ({ images: [{ height: 28, width: 28, channels: 1 as const, pixels: digit(i) }], label: String(i % 10) })),
      { ...defaultGridOptions, cols: 4, rows: Math.ceil(n / 4), scale: 2 },
    ),
  )

interface NodeSpec {
  readonly id: string
  readonly kind: string
  readonly status: NodeRecord["status"]
  readonly params: { readonly [k: string]: Json }
  readonly outputs: Readonly<Record<string, { type: ArtifactType<unknown>; value: unknown }>>
  readonly seconds?: number
  readonly error?: string
}

/** Stores one node's outputs + manifest like the executor does; returns its record. */
export const storeNode = (store: Store, runDir: string, s: NodeSpec, inputs: Readonly<Record<string, string>>): NodeRecord => {
  const components = { salt: FORMAT_SALT, kind: s.kind, codeVersion: "test", params: s.params, inputs, paths: {} }
  const key = cacheKey(components)
  if (s.status === "failed" || s.status === "skipped")
    return { id: s.id, kind: s.kind, key: s.status === "failed" ? key : null, status: s.status, seconds: 0, outputs: {}, files: [], ...(s.error ? { error: s.error } : {}) }
  const outputs: Record<string, OutputRecord> = {}
  const files: string[] = []
  for (const [port, { type, value }] of Object.entries(s.outputs)) {
    const bytes = tableToIPC(type.encode(value), "file")
    const digest = store.writeObject(bytes)
    let file: OutputRecord["file"]
    if (type.name === "file") {
      const f = value as { name: string; mediaType: string; bytes: Uint8Array }
      file = { name: f.name, mediaType: f.mediaType, sha256: store.writeBlob(f.bytes), bytes: f.bytes.byteLength }
      mkdirSync(join(runDir, s.id), { recursive: true })
      writeFileSync(join(runDir, s.id, f.name), f.bytes)
      files.push(`${s.id}/${f.name}`)
    }
    outputs[port] = { digest, type: type.name, bytes: bytes.byteLength, ...(file ? { file } : {}) }
  }
  store.writeManifest({
    format: 1,
    key,
    kind: s.kind,
    components,
    code: { files: {}, packages: {} },
    outputs,
    seconds: s.seconds ?? 1.5,
    backend: "cpu",
    created: "2025-01-01T00:00:00.000Z",
    computedBy: { pipeline: "pipelines/test.yaml", node: s.id },
  })
  const digests = Object.fromEntries(Object.entries(outputs).map(([k, o]) => [k, o.digest]))
  return { id: s.id, kind: s.kind, key, status: s.status, seconds: s.status === "ran" ? (s.seconds ?? 1.5) : 0, outputs: digests, files }
}

export const scoreMetrics = (fld: number, steps: number, spi: number): Metrics => ({
  scalars: {
    fld,
    fld_floor: 1.25,
    samples: 64,
    steps,
    seconds_per_image: spi,
    accuracy: 0.9,
    psnr: Number.POSITIVE_INFINITY,
    ...Object.fromEntries(Array.from({ length: 10 }, (_, k) => [`class_${k}`, 0.1])),
  },
  tables: {},
})

export const historyMetrics = (n: number): Metrics => ({
  scalars: { final_loss: 0.05 },
  tables: {
    history: { columns: ["step", "loss"], rows: Array.from({ length: n }, (_, i) => [i + 1, 1 / (1 + i) + 0.01 * ((i * 7919) % 13) / 13]) },
    schedule: { columns: ["name", "value"], rows: [["kind", "cosine"], ["T", 1000]] },
  },
})

/**
 * Diamond-ish run: train (history) -> two samplers x two step counts -> score nodes; a grid PNG;
 * one failed and one skipped node. `legacy` omits cache and edges from the record (old run.json);
 * `root` puts the run into an existing project dir (several runs sharing one cache).
 */
export const makeFakeRun = (t: Teardown, opts: { legacy?: boolean; name?: string; fldScale?: number; root?: string } = {}): FakeRun => {
  const root = opts.root ?? mkdtempSync(join(tmpdir(), "pipe-report-"))
  if (opts.root === undefined) t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const cache = join(root, "cache")
  const runs = join(root, "runs")
  const id = `2025-01-01T00-00-00-000Z-${opts.name ?? "1"}`
  const runDir = join(runs, id)
  mkdirSync(runDir, { recursive: true })
  const store = openStore(cache)
  const k = opts.fldScale ?? 1
  const nodes: NodeRecord[] = []
  const edges: RunEdge[] = []
  const train = storeNode(store, runDir, { id: "train", kind: "train-diffusion", status: "cached", params: { steps: 200, lr: 0.001, seed: 0 }, outputs: { history: { type: MetricsType as ArtifactType<unknown>, value: historyMetrics(200) } } }, {})
  nodes.push(train)
  for (const sampler of ["ddim", "ddpm"]) {
    for (const steps of [10, 50]) {
      const sid = `sample-${sampler}-${steps}`
      const batch = { count: 2, height: 28, width: 28, channels: 1, pixels: new Float32Array(2 * 784).fill(0.5), labels: null, meta: { sampler, steps } }
      nodes.push(storeNode(store, runDir, { id: sid, kind: "sample", status: "ran", params: { sampler, steps, seed: 1 }, outputs: { images: { type: ImageBatchType as ArtifactType<unknown>, value: batch } } }, { history: train.outputs.history! }))
      edges.push({ from: "train", output: "history", to: sid, input: "model" })
      const fld = k * (sampler === "ddim" ? 40 / steps + 2 : 200 / steps + 3)
      const cid = `score-${sampler}-${steps}`
      nodes.push(
        storeNode(store, runDir, { id: cid, kind: "score", status: "ran", params: { seed: 0, fake: k }, outputs: { metrics: { type: MetricsType as ArtifactType<unknown>, value: scoreMetrics(fld, steps, steps * 0.01) } } }, { images: nodes.at(-1)!.outputs.images! }),
      )
      edges.push({ from: sid, output: "images", to: cid, input: "images" })
    }
  }
  const png = gridPng()
  nodes.push(storeNode(store, runDir, { id: "grid", kind: "grid", status: "ran", params: { rows: 2, cols: 4 }, outputs: { file: { type: FileType as ArtifactType<unknown>, value: { name: "grid.png", mediaType: "image/png", bytes: png } } } }, { images: nodes[1]!.outputs.images! }))
  edges.push({ from: "sample-ddim-10", output: "images", to: "grid", input: "images" })
  nodes.push(storeNode(store, runDir, { id: "broken", kind: "score", status: "failed", params: {}, outputs: {}, error: "broken (score) at pipelines/test.yaml:3:5: NaN <b>loss</b> at step 3" }, {}))
  edges.push({ from: "sample-ddpm-50", output: "images", to: "broken", input: "images" })
  nodes.push(storeNode(store, runDir, { id: "after", kind: "grid", status: "skipped", params: {}, outputs: {}, error: "an input is unavailable" }, {}))
  edges.push({ from: "broken", output: "metrics", to: "after", input: "images" })
  const record: RunRecord = {
    format: 1,
    id,
    pipeline: "pipelines/test.yaml",
    name: "test <pipeline>",
    profile: "smoke",
    sets: ["train.steps=200"],
    backend: "cpu",
    notes: ["fake backend note"],
    started: "2025-01-01T00:00:00.000Z",
    seconds: 12.5,
    status: "failed",
    nodes,
    ...(opts.legacy ? {} : { cache, edges }),
  }
  writeRunRecord(runs, record)
  return { root, cache, runs, runDir, record, store }
}

/**
 * A fake run of a study pipeline (src/pipeline/scope.ts): shared nodes (mnist, judge) at the top
 * level and `studies` namespaced studies, each a training node and a sweep of `samplers` blocks
 * (sample -> decode -> grid -> score, the sample's timing passed to the score). Node count:
 * 3 + studies * (1 + 4 * samplers). The last study also samples a second, reflowed model with the
 * same sampler (its own series). Scores carry fld_se and class_share_max_dev.
 */
export const makeFakeStudyRun = (t: Teardown, opts: { studies?: number; samplers?: number } = {}): FakeRun => {
  const root = mkdtempSync(join(tmpdir(), "pipe-study-"))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const cache = join(root, "cache")
  const runs = join(root, "runs")
  const id = "2025-01-02T00-00-00-000Z-1"
  const runDir = join(runs, id)
  mkdirSync(runDir, { recursive: true })
  const store = openStore(cache)
  const nodes: NodeRecord[] = []
  const edges: RunEdge[] = []
  const M = MetricsType as ArtifactType<unknown>
  const img = { type: ImageBatchType as ArtifactType<unknown>, value: { count: 1, height: 2, width: 2, channels: 1, pixels: new Float32Array(4), labels: null, meta: {} } }
  const add = (spec: NodeSpec, inputs: Readonly<Record<string, { node: NodeRecord; port: string }>>, sweep?: string): NodeRecord => {
    const digests = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.node.outputs[v.port] as string]))
    const rec = storeNode(store, runDir, spec, digests)
    const full = sweep === undefined ? rec : { ...rec, sweep }
    nodes.push(full)
    for (const [input, v] of Object.entries(inputs)) edges.push({ from: v.node.id, output: v.port, to: spec.id, input })
    return full
  }
  const mnist = add({ id: "mnist-train", kind: "load-mnist", status: "cached", params: { split: "train" }, outputs: { dataset: img } }, {})
  const test = add({ id: "mnist-test", kind: "load-mnist", status: "cached", params: { split: "test" }, outputs: { dataset: img } }, {})
  const judge = add({ id: "judge", kind: "train-classifier", status: "cached", params: { seed: 0 }, outputs: { metrics: { type: M, value: historyMetrics(50) } } }, { dataset: { node: mnist, port: "dataset" } })
  const samplers = opts.samplers ?? 6
  const studies = opts.studies ?? 4
  const scopes = []
  for (let s = 0; s < studies; s++) {
    const ns = `study-${s}`
    scopes.push({ scope: ns, file: `pipelines/${ns}.yaml`, name: ns, description: `Fake study ${s}.` })
    const models = [add({ id: `${ns}/train`, kind: "train-diffusion", status: "cached", params: { seed: s }, outputs: { history: { type: M, value: historyMetrics(100 + s) } } }, { dataset: { node: mnist, port: "dataset" } })]
    if (s === studies - 1)
      models.push(add({ id: `${ns}/train-reflow`, kind: "train-diffusion", status: "ran", params: { seed: 100 + s }, outputs: { history: { type: M, value: historyMetrics(40 + s) } } }, { pairs: { node: models[0]!, port: "history" } }))
    models.forEach((model, mi) => {
      const prefix = mi === 0 ? "" : "reflow-"
      for (let k = 0; k < (mi === 0 ? samplers : 2); k++) {
        const steps = [1, 2, 5, 10, 20, 50, 100, 200][k % 8]! * (1 + Math.floor(k / 8))
        const sweep = `${ns}/${prefix}samplers`
        const sid = `${ns}/${prefix}euler-${steps}`
        const spi = 1e-4 * steps * (s + 1)
        const timing = { scalars: { steps, seconds_per_image: spi, count: 64 }, tables: {} }
        const sample = add({ id: sid, kind: "sample", status: "cached", params: { sampler: "rf-euler", steps, count: 64, seed: 1 }, outputs: { images: img, timing: { type: M, value: timing } } }, { model: { node: model, port: "history" } }, sweep)
        const decode = add({ id: `${ns}/decode-${prefix}euler-${steps}`, kind: "decode", status: "cached", params: { k: s * 100 + k + mi * 50 }, outputs: { images: img } }, { latents: { node: sample, port: "images" } }, sweep)
        add({ id: `${ns}/grid-${prefix}euler-${steps}`, kind: "grid", status: "cached", params: { k: s * 100 + k + mi * 50 }, outputs: { file: { type: FileType as ArtifactType<unknown>, value: { name: "grid.png", mediaType: "image/png", bytes: gridPng(4 + ((s + k) % 5)) } } } }, { images: { node: decode, port: "images" } }, sweep)
        const fld = (mi === 0 ? 700 / steps + 80 : 110 - steps) / (s + 1)
        const metrics = { scalars: { ...scoreMetrics(fld, steps, spi).scalars, fld_se: fld / 20, class_share_max_dev: 0.03, count: 64 }, tables: { meta: { columns: ["key", "value"], rows: [] } } }
        add({ id: `${ns}/score-${prefix}euler-${steps}`, kind: "score", status: "cached", params: { k: s * 100 + k + mi * 50 }, outputs: { metrics: { type: M, value: metrics } } }, { images: { node: decode, port: "images" }, timing: { node: sample, port: "timing" }, classifier: { node: judge, port: "metrics" }, real: { node: test, port: "dataset" } }, sweep)
      }
    })
  }
  const record: RunRecord = {
    format: 1,
    id,
    pipeline: "pipelines/study.yaml",
    name: "study",
    profile: "smoke",
    sets: [],
    backend: null,
    notes: [],
    started: "2025-01-02T00:00:00.000Z",
    seconds: 0.3,
    status: "ok",
    nodes,
    cache,
    edges,
    scopes,
  }
  writeRunRecord(runs, record)
  return { root, cache, runs, runDir, record, store }
}

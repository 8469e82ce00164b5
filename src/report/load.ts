// Everything a report shows about one run, gathered from the run record, the cache manifests its node
// keys name (params, timings, outputs), the metrics artifacts among those outputs, and the PNG files
// copied into the run dir. Pure reads: a missing or corrupt manifest or object becomes a warning,
// never an exception, because a report must never fail a run.
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative } from "node:path"
import type { Metrics } from "../artifacts/types.ts"
import type { NodeRecord, RunEdge, RunRecord } from "../exec/record.ts"
import type { Json } from "../key/canonical.ts"
import { writeFileAtomic } from "../store/atomic.ts"
import { openStore, type Manifest, type Store } from "../store/store.ts"

export interface OutputView {
  readonly port: string
  readonly type: string
  readonly bytes: number
}

export interface NodeView {
  readonly record: NodeRecord
  /** Params after defaults, from the manifest; null when the node has no complete cache entry. */
  readonly params: { readonly [k: string]: Json } | null
  /** Seconds the cached computation took when it ran (cached nodes report 0 in the record). */
  readonly computeSeconds: number | null
  readonly computedAt: string | null
  readonly outputs: readonly OutputView[]
}

/** One decoded metrics artifact: output `port` of node `node`. */
export interface MetricsEntry {
  readonly node: string
  readonly kind: string
  readonly port: string
  readonly metrics: Metrics
}

export interface ImageFile {
  /** Relative to the run dir, "/"-separated, e.g. "grid/grid.png". */
  readonly path: string
  /** First path segment: the node that produced it (the executor copies files to <node>/<name>). */
  readonly node: string
  readonly bytes: Uint8Array
}

export interface ReportData {
  readonly record: RunRecord
  readonly runDir: string
  readonly nodes: readonly NodeView[]
  readonly edges: readonly RunEdge[]
  readonly metrics: readonly MetricsEntry[]
  readonly images: readonly ImageFile[]
  /** Other files in the run dir (besides run.json and report.html), relative paths. */
  readonly otherFiles: readonly string[]
  readonly warnings: readonly string[]
}

/** Images larger than this are listed, not embedded (keeps report.html openable). */
export const MAX_EMBED_BYTES = 8 * 1024 * 1024

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** Files under `dir`, relative and "/"-separated, sorted. */
export const listFiles = (dir: string): string[] => {
  if (!existsSync(dir)) return []
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) => {
      const p = join(d, e.name)
      return e.isDirectory() ? walk(p) : e.isFile() ? [relative(dir, p).split("\\").join("/")] : []
    })
  return walk(dir).sort()
}

const REPORT_FILES = new Set(["run.json", "report.html"])

/**
 * Edges from the record when it has them; otherwise recovered by matching each manifest's input
 * content digests with the output digests of the other recorded nodes (older records).
 */
export const edgesOf = (record: RunRecord, manifests: ReadonlyMap<string, Manifest>): RunEdge[] => {
  const ids = new Set(record.nodes.map((n) => n.id))
  if (record.edges !== undefined) return record.edges.filter((e) => ids.has(e.from) && ids.has(e.to))
  const producer = new Map<string, { node: string; port: string }>()
  for (const n of record.nodes) for (const [port, d] of Object.entries(n.outputs)) producer.set(d, { node: n.id, port })
  const edges: RunEdge[] = []
  for (const n of record.nodes) {
    const m = manifests.get(n.id)
    if (m === undefined) continue
    for (const [input, digest] of Object.entries(m.components.inputs)) {
      const from = producer.get(digest)
      if (from !== undefined && from.node !== n.id) edges.push({ from: from.node, output: from.port, to: n.id, input })
    }
  }
  return edges
}

/** MetricsType.name, spelled out so that this module does not load the codec (and Arrow) eagerly. */
const METRICS = "metrics"

const decodeMetrics = async (store: Store, digest: string): Promise<Metrics> => {
  // Imported on first use: a run without metrics (a fully cached data pipeline) never pays for
  // Arrow (the codec imports it too).
  const [{ tableFromIPC }, { MetricsType }] = await Promise.all([import("apache-arrow"), import("../artifacts/metrics.ts")])
  return MetricsType.decode(tableFromIPC(store.readObject(digest)))
}

/** JSON has no Infinity or NaN (an identical image's PSNR is ∞): they travel as tagged strings. */
const NON_FINITE = "\u0000num:"
const toJson = (m: Metrics): string => JSON.stringify(m, (_, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? `${NON_FINITE}${v}` : v))
const fromJson = (text: string): Metrics => JSON.parse(text, (_, v: unknown) => (typeof v === "string" && v.startsWith(NON_FINITE) ? Number(v.slice(NON_FINITE.length)) : v)) as Metrics

/**
 * A metrics object decoded once, then read as JSON from cache/memo/metrics/<digest>.json: objects
 * are content-addressed, so the memo can never go stale, and a fully cached run's report loads no
 * Arrow at all.
 */
const readMetrics = async (store: Store, digest: string): Promise<Metrics> => {
  const memo = join(store.dir, "memo", "metrics", `${digest}.json`)
  if (existsSync(memo)) {
    try {
      return fromJson(readFileSync(memo, "utf8"))
    } catch {
      // a torn memo: decode again and overwrite it
    }
  }
  const m = await decodeMetrics(store, digest)
  try {
    mkdirSync(dirname(memo), { recursive: true })
    writeFileAtomic(memo, toJson(m))
  } catch {
    // a read-only cache only costs speed
  }
  return m
}

/** Gathers a run's report data; `cacheDir` is the artifact store the run used. */
export const loadReportData = async (runDir: string, record: RunRecord, cacheDir: string): Promise<ReportData> => {
  const warnings: string[] = []
  const store = existsSync(cacheDir) ? openStore(cacheDir) : undefined
  if (store === undefined) warnings.push(`cache ${cacheDir} not found: params and metrics are unavailable`)
  const manifests = new Map<string, Manifest>()
  for (const n of record.nodes) {
    if (n.key === null || store === undefined) continue
    const m = store.readManifest(n.key)
    if (m !== undefined) manifests.set(n.id, m)
    else if (n.status === "cached" || n.status === "ran") warnings.push(`${n.id}: cache entry ${n.key.slice(0, 12)} is gone (gc?)`)
  }
  const nodes: NodeView[] = record.nodes.map((n) => {
    const m = manifests.get(n.id)
    return {
      record: n,
      params: m?.components.params ?? null,
      computeSeconds: m?.seconds ?? null,
      computedAt: m?.created ?? null,
      outputs: m === undefined ? [] : Object.entries(m.outputs).map(([port, o]) => ({ port, type: o.type, bytes: o.bytes })),
    }
  })
  const metrics: MetricsEntry[] = []
  for (const n of record.nodes) {
    const m = manifests.get(n.id)
    if (m === undefined || store === undefined) continue
    for (const [port, o] of Object.entries(m.outputs)) {
      if (o.type !== METRICS) continue
      try {
        metrics.push({ node: n.id, kind: n.kind, port, metrics: await readMetrics(store, o.digest) })
      } catch (e) {
        warnings.push(`${n.id}.${port}: cannot read metrics: ${messageOf(e)}`)
      }
    }
  }
  const files = listFiles(runDir).filter((f) => !REPORT_FILES.has(f))
  // The executor copies a node's files to <node id>/<name>; a namespaced id has a "/" of its own.
  const producer = new Map(record.nodes.flatMap((n) => n.files.map((f) => [f, n.id] as const)))
  const nodeOfFile = (f: string): string => producer.get(f) ?? record.nodes.map((n) => n.id).find((id) => f.startsWith(`${id}/`)) ?? (f.includes("/") ? f.slice(0, f.indexOf("/")) : "")
  const images: ImageFile[] = []
  const otherFiles: string[] = []
  for (const f of files) {
    const size = statSync(join(runDir, f)).size
    if (!f.toLowerCase().endsWith(".png") || size > MAX_EMBED_BYTES) {
      otherFiles.push(f)
      if (size > MAX_EMBED_BYTES) warnings.push(`${f}: ${(size / 2 ** 20).toFixed(1)} MiB, too large to embed`)
      continue
    }
    images.push({ path: f, node: nodeOfFile(f), bytes: readFileSync(join(runDir, f)) })
  }
  return { record, runDir, nodes, edges: edgesOf(record, manifests), metrics, images, otherFiles, warnings }
}

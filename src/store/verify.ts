// `pipe verify`: re-hashes every stored object and file blob and checks every manifest against them.
// A run already re-hashes each object it reads, but a fully cached run reads only manifests (and
// checks sizes), so a byte flipped in an object that no node reads is only found here. `--repair`
// deletes what is corrupt and every manifest that names it: the next run recomputes those entries.
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { basename, join } from "node:path"
import { sha256 } from "../key/canonical.ts"
import { isTmpName } from "./atomic.ts"
import type { Store } from "./store.ts"

export type ProblemKind = "corrupt object" | "missing object" | "corrupt file" | "missing file" | "unreadable manifest"

export interface StoreProblem {
  readonly kind: ProblemKind
  /** The object, blob or manifest file. */
  readonly path: string
  /** Manifests affected, as "<key> (<kind>)". */
  readonly entries: readonly string[]
}

export interface VerifyReport {
  readonly objects: number
  readonly files: number
  readonly manifests: number
  readonly bytes: number
  readonly problems: readonly StoreProblem[]
}

const HEX64 = /^[0-9a-f]{64}$/

const listDir = (d: string): string[] => (existsSync(d) ? readdirSync(d) : [])

/** digest -> whether its bytes hash to it, for every content-addressed file below `dir`. */
const hashAll = (dir: string, suffix: string): { ok: Map<string, boolean>; bytes: number } => {
  const ok = new Map<string, boolean>()
  let bytes = 0
  for (const shard of listDir(dir))
    for (const f of listDir(join(dir, shard))) {
      if (isTmpName(f) || !f.endsWith(suffix)) continue
      const d = basename(f, suffix)
      if (!HEX64.test(d)) continue
      let data: Buffer
      try {
        data = readFileSync(join(dir, shard, f))
      } catch {
        continue // removed meanwhile (gc)
      }
      bytes += data.byteLength
      ok.set(d, shard === d.slice(0, 2) && sha256(data) === d)
    }
  return { ok, bytes }
}

export const verifyStore = (store: Store): VerifyReport => {
  const objects = hashAll(join(store.dir, "objects"), ".arrow")
  const blobs = hashAll(join(store.dir, "files"), "")
  const problems = new Map<string, { kind: ProblemKind; path: string; entries: string[] }>()
  const problem = (kind: ProblemKind, path: string, entry?: string): void => {
    const p = problems.get(path) ?? { kind, path, entries: [] }
    if (entry !== undefined) p.entries.push(entry)
    problems.set(path, p)
  }
  for (const [d, good] of objects.ok) if (!good) problem("corrupt object", store.objectPath(d))
  for (const [d, good] of blobs.ok) if (!good) problem("corrupt file", store.blobPath(d))
  let manifests = 0
  for (const f of listDir(join(store.dir, "keys"))) {
    const key = basename(f, ".json")
    if (!f.endsWith(".json") || !HEX64.test(key)) continue
    manifests++
    const m = store.readManifest(key)
    if (m === undefined) {
      if (existsSync(store.manifestPath(key))) problem("unreadable manifest", store.manifestPath(key), key)
      continue
    }
    const entry = `${key} (${m.kind})`
    for (const o of Object.values(m.outputs)) {
      const obj = objects.ok.get(o.digest)
      if (obj === undefined) problem("missing object", store.objectPath(o.digest), entry)
      else if (!obj) problem("corrupt object", store.objectPath(o.digest), entry)
      if (o.file === undefined) continue
      const blob = blobs.ok.get(o.file.sha256)
      if (blob === undefined) problem("missing file", store.blobPath(o.file.sha256), entry)
      else if (!blob) problem("corrupt file", store.blobPath(o.file.sha256), entry)
    }
  }
  return { objects: objects.ok.size, files: blobs.ok.size, manifests, bytes: objects.bytes + blobs.bytes, problems: [...problems.values()] }
}

/** Deletes every corrupt file and every manifest naming a problem; returns what it deleted. */
export const repairStore = (store: Store, report: VerifyReport): string[] => {
  const deleted = new Set<string>()
  const remove = (path: string): void => {
    if (deleted.has(path) || !existsSync(path)) return
    rmSync(path, { force: true })
    deleted.add(path)
  }
  for (const p of report.problems) {
    if (p.kind === "corrupt object" || p.kind === "corrupt file" || p.kind === "unreadable manifest") remove(p.path)
    for (const e of p.entries) remove(store.manifestPath(e.split(" ")[0] as string))
  }
  return [...deleted]
}

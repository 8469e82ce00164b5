// `pipe ls` and `pipe gc`.
import { existsSync, readdirSync, rmSync, statSync } from "node:fs"
import { basename, join } from "node:path"
import { planPipeline, select } from "../exec/plan.ts"
import { readRunRecords } from "../exec/record.ts"
import { isTmpName } from "../store/atomic.ts"
import { isStale } from "../store/lock.ts"
import type { Manifest, Store } from "../store/store.ts"
import { InvalidPipeline } from "../errors.ts"
import { flag, intFlag, parseSize, str, type Values } from "./args.ts"
import { loadFor, openProject, resolveDirs } from "./context.ts"
import { dirFlags, type Io } from "./run.ts"

const fmtSize = (n: number): string =>
  n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(2)} GB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} kB` : `${n} B`

const listDir = (d: string): string[] => (existsSync(d) ? readdirSync(d) : [])

/** Every stored file under objects/ or files/: digest -> {path, size, mtime}. */
const storedFiles = (dir: string): Map<string, { path: string; size: number; mtimeMs: number }> => {
  const out = new Map<string, { path: string; size: number; mtimeMs: number }>()
  for (const shard of listDir(dir))
    for (const f of listDir(join(dir, shard))) {
      const path = join(dir, shard, f)
      const st = statSync(path)
      out.set(isTmpName(f) ? path : basename(f, ".arrow"), { path, size: st.size, mtimeMs: st.mtimeMs })
    }
  return out
}

const manifests = (store: Store): { key: string; m: Manifest; mtimeMs: number }[] =>
  listDir(join(store.dir, "keys"))
    .filter((f) => f.endsWith(".json"))
    .flatMap((f) => {
      const key = basename(f, ".json")
      const m = store.readManifest(key)
      return m === undefined ? [] : [{ key, m, mtimeMs: statSync(store.manifestPath(key)).mtimeMs }]
    })

export const lsCommand = async (v: Values, _: string[], io: Io): Promise<number> => {
  const dirs = resolveDirs(dirFlags(v), undefined, io.env, io.cwd)
  const project = await openProject(dirs)
  const entries = manifests(project.store).sort((a, b) => (a.m.created < b.m.created ? -1 : 1))
  let total = 0
  for (const { key, m } of entries) {
    const size = Object.values(m.outputs).reduce((s, o) => s + o.bytes, 0)
    total += size
    if (flag(v, "json")) io.out(`${JSON.stringify({ key, kind: m.kind, created: m.created, bytes: size, outputs: m.outputs, computedBy: m.computedBy })}\n`)
    else io.out(`${key.slice(0, 12)}  ${m.kind.padEnd(18)} ${fmtSize(size).padStart(10)}  ${m.created}  ${m.computedBy.pipeline}#${m.computedBy.node}\n`)
  }
  if (!flag(v, "json")) io.out(`${entries.length} entries, ${fmtSize(total)} in ${dirs.cache}\n`)
  return 0
}

export const gcCommand = async (v: Values, _: string[], io: Io): Promise<number> => {
  const dirs = resolveDirs(dirFlags(v), undefined, io.env, io.cwd)
  const project = await openProject(dirs)
  const { store } = project
  const dry = flag(v, "dry-run")
  const keepRuns = intFlag(v, "keep-runs", 5, 0)
  const maxSize = str(v, "max-size") === undefined ? undefined : parseSize(str(v, "max-size") as string)
  const now = Date.now()

  // Roots: computable keys of every pipeline (each profile), and entries of the newest kept runs.
  const roots = new Set<string>()
  const pipelinesDir = join(dirs.root, "pipelines")
  const files = listDir(pipelinesDir).filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
  for (const f of files) {
    const file = join(pipelinesDir, f)
    try {
      const base = loadFor(project, file, {}, io.cwd)
      for (const profile of [undefined, ...base.profiles]) {
        const p = profile === undefined ? base : loadFor(project, file, { profile }, io.cwd)
        for (const n of planPipeline(p, store, project.paths, select(p, {}))) if (n.key !== null) roots.add(n.key)
      }
    } catch (e) {
      // Refuse rather than guess: an unreadable pipeline could be protecting entries.
      const msg = e instanceof InvalidPipeline ? `${e.diagnostics.length} error(s)` : e instanceof Error ? e.message : String(e)
      io.err(`error: gc cannot evaluate ${f} (${msg}); fix it (pipe validate) before collecting\n`)
      return 1
    }
  }
  for (const r of readRunRecords(dirs.runs).slice(0, keepRuns)) for (const n of r.nodes) if (n.key !== null) roots.add(n.key)
  project.paths.flush()

  const remove: { path: string; size: number; why: string }[] = []
  const all = manifests(store)
  const locked = (key: string): boolean => existsSync(store.lockPath(key)) && !isStale(store.lockPath(key), 6 * 3600_000, now)
  let kept = all.filter(({ key }) => roots.has(key) || locked(key))
  for (const { key, m } of all) if (!kept.some((k) => k.key === key)) remove.push({ path: store.manifestPath(key), size: 0, why: `unreferenced ${m.kind}` })

  const objects = storedFiles(join(store.dir, "objects"))
  const blobs = storedFiles(join(store.dir, "files"))
  const referenced = (entries: typeof kept) => {
    const obj = new Set<string>()
    const blob = new Set<string>()
    for (const { m } of entries)
      for (const o of Object.values(m.outputs)) {
        obj.add(o.digest)
        if (o.file) blob.add(o.file.sha256)
      }
    return { obj, blob }
  }
  const storedSize = (refs: ReturnType<typeof referenced>): number =>
    [...objects].reduce((s, [d, f]) => s + (refs.obj.has(d) ? f.size : 0), 0) + [...blobs].reduce((s, [d, f]) => s + (refs.blob.has(d) ? f.size : 0), 0)
  if (maxSize !== undefined) {
    // Least recently used first (a cache hit touches its manifest).
    kept = kept.sort((a, b) => b.mtimeMs - a.mtimeMs)
    while (kept.length > 0 && storedSize(referenced(kept)) > maxSize) {
      const victim = kept.pop() as (typeof kept)[number]
      remove.push({ path: store.manifestPath(victim.key), size: 0, why: `over --max-size: ${victim.m.kind}` })
    }
  }
  const refs = referenced(kept)
  const everRefs = referenced(all)
  // An object no manifest names and younger than 10 minutes may belong to a run that has not
  // written its manifest yet: leave it. Temp files are left for an hour (a write may be in flight).
  const removable = (d: string, f: { path: string; mtimeMs: number }, named: Set<string>): boolean =>
    isTmpName(f.path) ? now - f.mtimeMs > 3600_000 : named.has(d) || now - f.mtimeMs > 10 * 60_000
  for (const [d, f] of objects) if (!refs.obj.has(d) && removable(d, f, everRefs.obj)) remove.push({ path: f.path, size: f.size, why: "object" })
  for (const [d, f] of blobs) if (!refs.blob.has(d) && removable(d, f, everRefs.blob)) remove.push({ path: f.path, size: f.size, why: "file" })
  for (const l of listDir(join(store.dir, "locks"))) if (isStale(join(store.dir, "locks", l), 6 * 3600_000, now)) remove.push({ path: join(store.dir, "locks", l), size: 0, why: "stale lock" })

  const freed = remove.reduce((s, r) => s + r.size, 0)
  for (const r of remove) {
    if (dry) io.out(`would delete ${r.path} (${r.why}${r.size > 0 ? `, ${fmtSize(r.size)}` : ""})\n`)
    else rmSync(r.path, { force: true })
  }
  io.out(`${dry ? "would free" : "freed"} ${fmtSize(freed)}: ${remove.filter((r) => r.path.endsWith(".json")).length} entries, ${remove.filter((r) => r.why === "object" || r.why === "file").length} objects; kept ${kept.length} entries (${fmtSize(storedSize(refs))})\n`)
  return 0
}

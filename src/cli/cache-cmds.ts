// `pipe ls`, `pipe gc` and `pipe verify`.
import { existsSync, readdirSync, rmSync, statSync } from "node:fs"
import { basename, join, relative } from "node:path"
import { planPipeline, select } from "../exec/plan.ts"
import { readRunRecords } from "../exec/record.ts"
import { isTmpName } from "../store/atomic.ts"
import { describeHolder } from "../store/identity.ts"
import { gcLockPath, readLeases } from "../store/lease.ts"
import { readLock } from "../store/lock.ts"
import type { Manifest, Store } from "../store/store.ts"
import { repairStore, verifyStore } from "../store/verify.ts"
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
      let st: ReturnType<typeof statSync>
      try {
        st = statSync(path)
      } catch {
        continue // removed meanwhile
      }
      out.set(isTmpName(f) ? path : basename(f, ".arrow"), { path, size: st.size, mtimeMs: st.mtimeMs })
    }
  return out
}

/** Every file below `dir` (recursively), with size and mtime. */
const allFiles = (dir: string): { path: string; size: number; mtimeMs: number }[] =>
  (existsSync(dir) ? readdirSync(dir, { recursive: true, withFileTypes: true }) : []).flatMap((e) => {
    if (!e.isFile()) return []
    const path = join(e.parentPath, e.name)
    try {
      const st = statSync(path)
      return [{ path, size: st.size, mtimeMs: st.mtimeMs }]
    } catch {
      return [] // removed meanwhile
    }
  })

const manifests = (store: Store): { key: string; m: Manifest; mtimeMs: number }[] =>
  listDir(join(store.dir, "keys"))
    .filter((f) => f.endsWith(".json"))
    .flatMap((f) => {
      const key = basename(f, ".json")
      const m = store.readManifest(key)
      try {
        return m === undefined ? [] : [{ key, m, mtimeMs: statSync(store.manifestPath(key)).mtimeMs }]
      } catch {
        return [] // removed meanwhile
      }
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

/** Leftovers of interrupted lock operations (`*.tmp-*`, `*.broken-*`) older than this are removed. */
const LEFTOVER_MS = 3600_000

export const gcCommand = async (v: Values, _: string[], io: Io): Promise<number> => {
  const dirs = resolveDirs(dirFlags(v), undefined, io.env, io.cwd)
  const dry = flag(v, "dry-run")
  // A dry run writes nothing at all: no registry metadata, no memos, no lock.
  const project = await openProject(dirs, {}, { readOnly: dry })
  const { store } = project
  const keepRuns = intFlag(v, "keep-runs", 5, 0)
  const maxSize = str(v, "max-size") === undefined ? undefined : parseSize(str(v, "max-size") as string)
  const now = Date.now()

  // gc.lock: runs that start using a key while we collect wait for us (see src/store/lease.ts).
  const gcLock = gcLockPath(store.dir)
  if (!dry) {
    const r = store.locks.tryLock(gcLock, "pipe gc")
    if (!r.ok) {
      io.err(`error: another pipe gc is running (${r.holder === undefined ? "unknown holder" : describeHolder(r.holder)}); try again when it is done\n`)
      return 1
    }
  }
  try {
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
    const objects = storedFiles(join(store.dir, "objects"))
    const blobs = storedFiles(join(store.dir, "files"))

    // Pinned (never deleted, not even by --max-size): what a live run's lease names, and keys being computed.
    const pinned = { keys: new Set<string>(), objects: new Set<string>(), blobs: new Set<string>() }
    for (const lease of readLeases(store.dir, store.locks)) {
      if (lease.stale !== undefined) {
        remove.push({ path: lease.file, size: 0, why: `stale lease: ${lease.stale}` })
        continue
      }
      for (const k of lease.keys) pinned.keys.add(k)
      for (const d of lease.objects) pinned.objects.add(d)
      for (const d of lease.blobs) pinned.blobs.add(d)
      if (lease.holder !== undefined) io.out(`in use by ${describeHolder(lease.holder)}: ${lease.keys.size} entries kept\n`)
    }
    const locksDir = join(store.dir, "locks")
    for (const l of listDir(locksDir)) {
      const file = join(locksDir, l)
      if (file === gcLock) continue
      if (isTmpName(l) || /\.broken-[0-9a-f]{8}$/.test(l)) {
        // Both name a holder (the lock being taken, or the one judged stale): when that process is
        // gone nobody can still rename or link the file, so it goes now; otherwise after LEFTOVER_MS.
        let old = false
        try {
          old = now - statSync(file).mtimeMs > LEFTOVER_MS
        } catch {
          continue // gone meanwhile
        }
        const gone = old ? undefined : store.locks.leftoverGone(file)
        if (old || gone !== undefined) remove.push({ path: file, size: 0, why: `leftover of an interrupted lock operation${gone !== undefined ? ` (${gone})` : ""}` })
        continue
      }
      const key = basename(l, ".lock")
      const stale = store.locks.staleReason(file)
      if (stale === undefined) {
        const r = readLock(file)
        if (r.kind === "missing") continue
        pinned.keys.add(key)
        io.out(`lock ${key.slice(0, 12)} held by ${r.kind === "held" ? describeHolder(r.info) : "an unknown process"}\n`)
      } else if (dry) io.out(`would break stale lock ${shownPath(io.cwd, file)}: ${stale}\n`)
      else {
        const broke = store.locks.breakIfStale(file)
        if (broke !== undefined) io.out(`broke stale lock ${shownPath(io.cwd, file)}: ${broke}\n`)
      }
    }

    let kept = all.filter(({ key }) => roots.has(key) || pinned.keys.has(key))
    for (const { key, m } of all) if (!kept.some((k) => k.key === key)) remove.push({ path: store.manifestPath(key), size: 0, why: `unreferenced ${m.kind}` })
    const referenced = (entries: typeof kept) => {
      const obj = new Set<string>(pinned.objects)
      const blob = new Set<string>(pinned.blobs)
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
      // Least recently used first (a cache hit touches its manifest); pinned entries are never evicted.
      kept = kept.sort((a, b) => b.mtimeMs - a.mtimeMs)
      const evictable = kept.filter((k) => !pinned.keys.has(k.key))
      while (evictable.length > 0 && storedSize(referenced(kept)) > maxSize) {
        const victim = evictable.pop() as (typeof kept)[number]
        kept = kept.filter((k) => k !== victim)
        remove.push({ path: store.manifestPath(victim.key), size: 0, why: `over --max-size: ${victim.m.kind}` })
      }
    }
    const refs = referenced(kept)
    const everRefs = referenced(all)
    // An object no manifest names and younger than 10 minutes may belong to a run that has not
    // written its manifest yet: leave it. Temp files are left for an hour (a write may be in flight).
    const removable = (d: string, f: { path: string; mtimeMs: number }, named: Set<string>): boolean =>
      isTmpName(f.path) ? now - f.mtimeMs > 3600_000 : named.has(d) || now - f.mtimeMs > 10 * 60_000
    // Temp files of interrupted writes elsewhere in the store (manifests, metadata, memos), also after an hour.
    for (const sub of ["keys", "registry", "memo", "leases"])
      for (const f of allFiles(join(store.dir, sub)))
        if (isTmpName(f.path) && now - f.mtimeMs > 3600_000) remove.push({ path: f.path, size: f.size, why: "temp file of an interrupted write" })
    for (const [d, f] of objects) if (!refs.obj.has(d) && removable(d, f, everRefs.obj)) remove.push({ path: f.path, size: f.size, why: "object" })
    for (const [d, f] of blobs) if (!refs.blob.has(d) && removable(d, f, everRefs.blob)) remove.push({ path: f.path, size: f.size, why: "file" })

    const freed = remove.reduce((s, r) => s + r.size, 0)
    for (const r of remove) {
      if (dry) io.out(`would delete ${r.path} (${r.why}${r.size > 0 ? `, ${fmtSize(r.size)}` : ""})\n`)
      else rmSync(r.path, { force: true })
    }
    io.out(`${dry ? "would free" : "freed"} ${fmtSize(freed)}: ${remove.filter((r) => r.path.endsWith(".json")).length} entries, ${remove.filter((r) => r.why === "object" || r.why === "file").length} objects; kept ${kept.length} entries (${fmtSize(storedSize(refs))})\n`)
    return 0
  } finally {
    if (!dry) store.locks.unlock(gcLock)
  }
}

export const verifyCommand = async (v: Values, _: string[], io: Io): Promise<number> => {
  const dirs = resolveDirs(dirFlags(v), undefined, io.env, io.cwd)
  const project = await openProject(dirs, {}, { readOnly: true })
  const report = verifyStore(project.store)
  const deleted = flag(v, "repair") ? repairStore(project.store, report) : []
  if (flag(v, "json")) {
    io.out(`${JSON.stringify({ ...report, deleted })}\n`)
  } else {
    for (const p of report.problems)
      io.out(`${p.kind} ${shownPath(io.cwd, p.path)}${p.entries.length > 0 ? `: named by ${p.entries.join(", ")}` : ""}\n`)
    for (const d of deleted) io.out(`deleted ${shownPath(io.cwd, d)}\n`)
    io.out(
      `${report.objects} objects, ${report.files} files, ${report.manifests} entries (${fmtSize(report.bytes)}) in ${dirs.cache}: ${report.problems.length === 0 ? "all verified" : `${report.problems.length} problem${report.problems.length === 1 ? "" : "s"}${deleted.length > 0 ? `, repaired (the next run recomputes what was deleted)` : "; pipe verify --repair deletes them so the next run recomputes them"}`}\n`,
    )
  }
  return report.problems.length === 0 || deleted.length > 0 ? 0 : 1
}

const shownPath = (cwd: string, p: string): string => relative(cwd, p) || p

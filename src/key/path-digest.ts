// Content digest of a path param: for a file, sha256 of its bytes; for a directory, sha256 over the
// sorted list of `relative/posix/name <sha256>` lines of every file below it. The path string itself
// never enters a key, so moving the project or renaming a parent directory keeps keys stable.
// Per-file hashes are memoised by (absolute path, size, mtime, inode) in cache/memo/, so a cached run
// over the 55 MB MNIST directory costs a few stats rather than a full re-hash.
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs"
import { join, relative, sep } from "node:path"
import { withinProject } from "../pipeline/path-param.ts"
import { sha256 } from "./canonical.ts"
import { writeFileAtomic } from "../store/atomic.ts"

interface MemoEntry {
  readonly size: number
  readonly mtimeMs: number
  readonly ino: number
  readonly sha: string
}

export interface PathDigester {
  readonly digest: (absPath: string) => string
  /** Persists new memo entries (call once at the end of a command). */
  readonly flush: () => void
}

const hashFile = (p: string): string => createHash("sha256").update(readFileSync(p)).digest("hex")

/** A path param's directory holds a symlink that leaves the project. */
export class PathEscape extends Error {
  readonly _tag = "PathEscape"
}

/**
 * Every file below `dir` (by the path a node reading the directory sees). Symlinks are followed, as a
 * node reading the directory would, but never out of the project (when `project` is given: the
 * rule of path params themselves, `withinProject`) and never in a loop; a dangling link is skipped
 * (it has no content).
 */
const listFiles = (dir: string, project: { readonly root: string; readonly realRoot: string } | undefined): string[] => {
  const out: string[] = []
  const visiting = new Set<string>()
  const walk = (d: string): void => {
    const real = realpathSync(d)
    if (visiting.has(real)) return
    visiting.add(real)
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name)
      if (e.isSymbolicLink()) {
        let target: string
        try {
          target = realpathSync(p)
        } catch {
          continue
        }
        if (project !== undefined && !withinProject(project.root, project.realRoot, target)) throw new PathEscape(`${relative(dir, p)} is a symlink that leaves the project (to ${target})`)
        const st = statSync(target)
        if (st.isDirectory()) walk(p)
        else if (st.isFile()) out.push(p)
      } else if (e.isDirectory()) walk(p)
      else if (e.isFile()) out.push(p)
    }
    visiting.delete(real)
  }
  walk(dir)
  return out
}

export interface PathDigesterOptions {
  /** Project root: symlinks inside a path param's directory must not leave it. */
  readonly root?: string
  /** Never write the memo (gc --dry-run). */
  readonly readOnly?: boolean
}

export const makePathDigester = (cacheDir: string | undefined, opts: PathDigesterOptions = {}): PathDigester => {
  const project = opts.root === undefined ? undefined : { root: opts.root, realRoot: realpathSync(opts.root) }
  const memoFile = cacheDir === undefined ? undefined : join(cacheDir, "memo", "path-digests.json")
  let memo: Record<string, MemoEntry> = {}
  if (memoFile !== undefined && existsSync(memoFile)) {
    try {
      memo = JSON.parse(readFileSync(memoFile, "utf8")) as Record<string, MemoEntry>
    } catch {
      memo = {}
    }
  }
  let dirty = false
  const fileSha = (p: string): string => {
    const st = statSync(p)
    const m = memo[p]
    if (m !== undefined && m.size === st.size && m.mtimeMs === st.mtimeMs && m.ino === st.ino) return m.sha
    const sha = hashFile(p)
    memo[p] = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, sha }
    dirty = true
    return sha
  }
  return {
    digest: (absPath) => {
      const st = statSync(absPath)
      if (st.isFile()) return sha256(`file ${fileSha(absPath)}`)
      const lines = listFiles(absPath, project)
        .map((f) => `${relative(absPath, f).split(sep).join("/")} ${fileSha(f)}`)
        .sort()
      return sha256(`dir\n${lines.join("\n")}`)
    },
    flush: () => {
      if (!dirty || memoFile === undefined || opts.readOnly === true) return
      mkdirSync(join(memoFile, ".."), { recursive: true })
      writeFileAtomic(memoFile, JSON.stringify(memo))
      dirty = false
    },
  }
}

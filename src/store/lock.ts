// Per-key lock files, so two `pipe run` processes never compute the same node at once: the second
// waits for the first and then finds the result in the cache. Locks only save duplicate work: the
// store stays correct without them (every write is atomic and content-addressed).
//
// A lock file is JSON naming its holder: pid, host, boot id and the pid's kernel start time (see
// identity.ts), a random token, when and for what it was taken. It is created complete in one step
// (written to a temp file, then hard-linked to the lock name, which fails if the lock exists), so a
// reader never sees a half-written lock. It is stale, and broken by the next process that wants it,
// when its holder is gone: a dead pid, a pid that now belongs to another process, a lock taken before
// a reboot, a lock of this very process that none of its nodes holds (leaked), or, for a holder on
// another host that we cannot check, one older than `staleMs`.
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from "node:fs"
import { dirname } from "node:path"
import { randomBytes } from "node:crypto"
import { tmpName } from "./atomic.ts"
import { isSelf, liveness, type ProcessIdentity, processStartMs, selfIdentity } from "./identity.ts"

export interface LockInfo extends ProcessIdentity {
  readonly token: string
  /** ISO time the lock was taken. */
  readonly created: string
  /** What the holder is doing, for messages: "pipe run pipelines/a.yaml: node sq". */
  readonly what: string
  /** Written by an older version as `pid host time` (no start tick, no token). */
  readonly legacy?: true
}

export type LockRead =
  | { readonly kind: "missing" }
  | { readonly kind: "held"; readonly info: LockInfo; readonly mtimeMs: number }
  | { readonly kind: "unreadable"; readonly mtimeMs: number }

/** A lock file that does not parse may be a foreign or torn file: broken after this grace period. */
const UNREADABLE_GRACE_MS = 10_000

/** A lock's (or lease header's) holder, from JSON or the older `pid host time` form. */
export const parseLock = (text: string): LockInfo | undefined => {
  try {
    const j = JSON.parse(text) as Partial<LockInfo>
    if (typeof j.pid === "number" && typeof j.host === "string" && typeof j.token === "string")
      return { pid: j.pid, host: j.host, boot: String(j.boot ?? ""), start: String(j.start ?? ""), token: j.token, created: String(j.created ?? ""), what: String(j.what ?? "") }
  } catch {
    // not JSON: maybe the older `pid host time` form
  }
  const m = /^(\d+) (\S+) (\d+)$/.exec(text.trim())
  if (m === null) return undefined
  return { pid: Number(m[1]), host: m[2] as string, boot: "", start: "", token: `legacy ${text.trim()}`, created: new Date(Number(m[3])).toISOString(), what: "", legacy: true }
}

/** A file's text and modification time, or undefined when it is gone. */
export const readStamped = (file: string): { readonly text: string; readonly mtimeMs: number } | undefined => {
  try {
    const mtimeMs = statSync(file).mtimeMs
    return { text: readFileSync(file, "utf8"), mtimeMs }
  } catch {
    return undefined
  }
}

export const readLock = (file: string): LockRead => {
  const f = readStamped(file)
  if (f === undefined) return { kind: "missing" }
  const info = parseLock(f.text)
  return info === undefined ? { kind: "unreadable", mtimeMs: f.mtimeMs } : { kind: "held", info, mtimeMs: f.mtimeMs }
}

/**
 * Why the holder of a lock or lease (written `mtimeMs`) is gone, or undefined when it may still run.
 * A holder on another host cannot be checked: it counts as gone after `staleMs`.
 */
export const holderGone = (info: LockInfo, mtimeMs: number, self: ProcessIdentity, staleMs: number, now: number): string | undefined => {
  const lv = liveness(info, self)
  if (lv.state === "dead") return lv.why
  if (lv.state === "unknown") {
    const age = now - mtimeMs
    return age > staleMs ? `taken on host ${info.host} ${ago(age)} ago (locks from other hosts expire after ${ago(staleMs)})` : undefined
  }
  if (info.legacy === true) {
    // Older lock files carry no start tick: a process that started after the lock was taken is not its holder.
    const started = processStartMs(info.pid)
    if (started !== undefined && started > Date.parse(info.created) + 1000) return `pid ${info.pid} now belongs to another process`
  }
  return undefined
}

const ago = (ms: number): string => (ms >= 3600_000 ? `${(ms / 3600_000).toFixed(1)} h` : ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`)

export interface Locker {
  readonly self: ProcessIdentity
  /** Takes the lock, breaking a stale one; otherwise says who holds it (undefined: unknown). */
  readonly tryLock: (file: string, what: string) => { readonly ok: true } | { readonly ok: false; readonly holder: LockInfo | undefined }
  /** Releases a lock we hold (never one another process took after breaking ours). */
  readonly unlock: (file: string) => void
  /** Why the lock at `file` is stale, or undefined when it is live (or absent). */
  readonly staleReason: (file: string) => string | undefined
  /**
   * For a lock's temp file or a lock moved aside to be broken (what a process killed mid-operation
   * leaves): why the holder it names is gone, so the file can go now; undefined when it may still be
   * in use or does not parse (then only its age tells).
   */
  readonly leftoverGone: (file: string) => string | undefined
  /** Removes `file` if it is (still) stale; returns the reason, or undefined when it was left. */
  readonly breakIfStale: (file: string) => string | undefined
  /** Releases every lock this locker holds (on a forced exit). */
  readonly releaseAll: () => void
}

export interface LockerOptions {
  readonly self?: ProcessIdentity
  /** Age after which a lock from another host (which we cannot check) counts as stale. */
  readonly staleMs?: number
  readonly now?: () => number
}

export const makeLocker = (opts: LockerOptions = {}): Locker => {
  const self = opts.self ?? selfIdentity()
  const staleMs = opts.staleMs ?? 6 * 3600_000
  const now = opts.now ?? Date.now
  const held = new Map<string, string>() // lock file -> our token

  const reasonOf = (file: string, r: LockRead): string | undefined => {
    if (r.kind === "missing") return undefined
    if (r.kind === "unreadable") return now() - r.mtimeMs > UNREADABLE_GRACE_MS ? "the lock file is unreadable" : undefined
    const { info } = r
    if (isSelf(info, self)) return held.get(file) === info.token ? undefined : "taken by this process, but none of its nodes holds it (leaked)"
    return holderGone(info, r.mtimeMs, self, staleMs, now())
  }

  /** Moves the lock aside and deletes it if it is the one judged stale; puts back a fresh one taken meanwhile. */
  const breakLock = (file: string, judged: LockRead): void => {
    const aside = `${file}.broken-${randomBytes(4).toString("hex")}`
    try {
      renameSync(file, aside)
    } catch {
      return // someone else broke it first
    }
    const moved = readLock(aside)
    const token = (r: LockRead): string | undefined => (r.kind === "held" ? r.info.token : undefined)
    if (token(moved) !== token(judged)) {
      try {
        linkSync(aside, file) // a lock taken after our check: restore it
      } catch {
        // a third process locked meanwhile; at worst a key is computed twice (the store stays correct)
      }
    }
    try {
      unlinkSync(aside)
    } catch {
      // already gone
    }
  }

  const create = (file: string, info: LockInfo): boolean => {
    const text = JSON.stringify(info)
    const tmp = tmpName(file)
    writeFileSync(tmp, text)
    try {
      linkSync(tmp, file)
      return true
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === "EEXIST") return false
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw e
      // no hard links on this filesystem: exclusive create, then write (a reader may briefly see it empty)
      let fd: number
      try {
        fd = openSync(file, "wx")
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code === "EEXIST") return false
        throw e2
      }
      writeSync(fd, text)
      closeSync(fd)
      return true
    } finally {
      try {
        unlinkSync(tmp)
      } catch {
        // already gone
      }
    }
  }

  const unlock = (file: string): void => {
    const token = held.get(file)
    held.delete(file)
    const r = readLock(file)
    if (token === undefined || r.kind !== "held" || r.info.token !== token) return // not ours (broken and retaken)
    try {
      unlinkSync(file)
    } catch {
      // already gone
    }
  }

  const breakIfStale = (file: string): string | undefined => {
    const r = readLock(file)
    const why = reasonOf(file, r)
    if (why !== undefined) breakLock(file, r)
    return why
  }

  return {
    self,
    tryLock: (file, what) => {
      mkdirSync(dirname(file), { recursive: true })
      for (let attempt = 0; attempt < 3; attempt++) {
        const info: LockInfo = { ...self, token: randomBytes(8).toString("hex"), created: new Date(now()).toISOString(), what }
        if (create(file, info)) {
          held.set(file, info.token)
          return { ok: true }
        }
        const r = readLock(file)
        if (reasonOf(file, r) === undefined) return { ok: false, holder: r.kind === "held" ? r.info : undefined }
        breakLock(file, r)
      }
      const r = readLock(file)
      return { ok: false, holder: r.kind === "held" ? r.info : undefined }
    },
    unlock,
    staleReason: (file) => reasonOf(file, readLock(file)),
    leftoverGone: (file) => {
      const r = readLock(file)
      return r.kind === "held" ? holderGone(r.info, r.mtimeMs, self, staleMs, now()) : undefined
    },
    breakIfStale,
    releaseAll: () => {
      for (const file of [...held.keys()]) unlock(file)
    },
  }
}

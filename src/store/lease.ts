// Run leases: what a running `pipe run` uses, so `pipe gc` never deletes it. A lease is a file
// cache/leases/<pid>-<token>.lease whose first line is the holder (JSON, as in a lock file) and whose
// other lines each protect one thing: `k <key>` (a manifest and everything it names), `o <digest>` (an
// object), `f <sha256>` (a file blob). gc keeps everything named by the lease of a live holder, and
// deletes the leases of dead ones.
//
// The race between "a run starts using key K" and "gc decides K is garbage" is closed by gc's own lock,
// cache/locks/gc.lock, held for the whole collection:
//   run: append K to its lease, then, if gc.lock is held (by a live gc), wait for it to go, then use K
//   gc:  take gc.lock, then read every lease, then delete, then release gc.lock
// If gc read the leases after the append, it saw K. If before, gc.lock was already held when the run
// looked, so the run waited until gc finished and only then looked K up (finding it, or not: then it
// is simply not cached). Appends are not fsynced: a lease only matters while its process lives.
import { appendFileSync, existsSync, mkdirSync, readdirSync, unlinkSync } from "node:fs"
import { join } from "node:path"
import { randomBytes } from "node:crypto"
import { StoreError } from "../errors.ts"
import { describeHolder, isSelf } from "./identity.ts"
import { holderGone, type Locker, type LockInfo, parseLock, readLock, readStamped } from "./lock.ts"

export type LeaseItem = "k" | "o" | "f"

export interface Lease {
  readonly file: string
  /** Records `id` as in use (once), then waits while a gc that may not have seen it runs. */
  readonly protect: (item: LeaseItem, id: string) => void
  readonly release: () => void
}

export const leasesDir = (cacheDir: string): string => join(cacheDir, "leases")
export const gcLockPath = (cacheDir: string): string => join(cacheDir, "locks", "gc.lock")

/** Blocks the thread for `ms` (the gc wait is short and the executor's fibers are idle meanwhile). */
const sleepSync = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

/** Waits while a live gc holds gc.lock; a stale gc.lock is ignored (the next gc breaks it). */
export const waitForGc = (cacheDir: string, locker: Locker, maxWaitMs: number): void => {
  const file = gcLockPath(cacheDir)
  const t0 = Date.now()
  while (existsSync(file) && locker.staleReason(file) === undefined) {
    if (Date.now() - t0 > maxWaitMs) {
      const r = readLock(file)
      throw new StoreError({ reason: `pipe gc (${r.kind === "held" ? describeHolder(r.info) : "unknown holder"}) has held ${file} for over ${Math.round(maxWaitMs / 1000)} s` })
    }
    sleepSync(50)
  }
}

export const openLease = (cacheDir: string, locker: Locker, what: string, maxGcWaitMs = 600_000): Lease => {
  const dir = leasesDir(cacheDir)
  const token = randomBytes(8).toString("hex")
  const file = join(dir, `${locker.self.pid}-${token}.lease`)
  const header: LockInfo = { ...locker.self, token, created: new Date().toISOString(), what }
  mkdirSync(dir, { recursive: true })
  appendFileSync(file, `${JSON.stringify(header)}\n`)
  const seen = new Set<string>()
  return {
    file,
    protect: (item, id) => {
      const line = `${item} ${id}`
      if (seen.has(line)) return
      seen.add(line)
      appendFileSync(file, `${line}\n`)
      waitForGc(cacheDir, locker, maxGcWaitMs)
    },
    release: () => {
      try {
        unlinkSync(file)
      } catch {
        // already gone
      }
    },
  }
}

export interface LeaseRead {
  readonly file: string
  readonly holder: LockInfo | undefined
  /** Why the lease no longer protects anything (its holder is gone), or undefined when it does. */
  readonly stale: string | undefined
  readonly keys: ReadonlySet<string>
  readonly objects: ReadonlySet<string>
  readonly blobs: ReadonlySet<string>
}

/** A lease whose header does not parse still protects its lines for this long (then it is stale). */
const UNREADABLE_LEASE_MS = 3600_000

/** Every lease in the store, each judged live or stale against `locker.self` (gc's identity). */
export const readLeases = (cacheDir: string, locker: Locker, staleMs = 6 * 3600_000): LeaseRead[] => {
  const dir = leasesDir(cacheDir)
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((f) => f.endsWith(".lease"))
    .flatMap((f) => {
      const file = join(dir, f)
      const stamped = readStamped(file)
      if (stamped === undefined) return [] // released meanwhile
      const [first = "", ...lines] = stamped.text.split("\n")
      const holder = parseLock(first)
      const stale =
        holder === undefined
          ? Date.now() - stamped.mtimeMs > UNREADABLE_LEASE_MS
            ? "its header is unreadable"
            : undefined
          : isSelf(holder, locker.self)
            ? undefined
            : holderGone(holder, stamped.mtimeMs, locker.self, staleMs, Date.now())
      const sets = { k: new Set<string>(), o: new Set<string>(), f: new Set<string>() }
      for (const l of lines) {
        const [item, id] = l.split(" ")
        if ((item === "k" || item === "o" || item === "f") && id !== undefined && id !== "") sets[item].add(id)
      }
      return [{ file, holder, stale, keys: sets.k, objects: sets.o, blobs: sets.f }]
    })
}

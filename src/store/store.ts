// The content-addressed artifact store under cache/ (relocatable: --cache DIR or PIPE_CACHE):
//   objects/<d[0:2]>/<d>.arrow  Arrow IPC file bytes, d = sha256(bytes)
//   files/<d[0:2]>/<d>          raw bytes of "file" artifacts (PNG grids...), copied into runs/
//   keys/<key>.json             manifest: which objects a node key produced, and why (key components)
//   locks/<key>.lock            per-key lock while a process computes that key (lock.ts)
//   leases/<pid>-<token>.lease  what a running process uses, so gc leaves it alone (lease.ts)
//   registry/, memo/            node metadata and path-digest memos (pure caches, safe to delete)
// Objects are written before their manifest, each atomically, so a visible manifest always points to
// complete objects; a reader still re-hashes an object before trusting it (bit rot, manual edits),
// and a writer re-hashes an existing object before trusting it as a duplicate.
import { existsSync, mkdirSync, readFileSync, statSync, unlinkSync, utimesSync } from "node:fs"
import { join } from "node:path"
import { CorruptObject, StoreError } from "../errors.ts"
import { canonicalJson, sha256 } from "../key/canonical.ts"
import type { KeyComponents } from "../key/key.ts"
import { writeFileAtomic } from "./atomic.ts"
import { type Lease, type LeaseItem, openLease } from "./lease.ts"
import { type Locker, makeLocker } from "./lock.ts"

export interface FileOutput {
  readonly name: string
  readonly mediaType: string
  readonly sha256: string
  readonly bytes: number
}

export interface OutputRecord {
  readonly digest: string
  readonly type: string
  readonly bytes: number
  readonly file?: FileOutput
}

export interface Manifest {
  readonly format: 1
  readonly key: string
  readonly kind: string
  readonly components: KeyComponents
  readonly code: { readonly files: Readonly<Record<string, string>>; readonly packages: Readonly<Record<string, string>> }
  readonly outputs: Readonly<Record<string, OutputRecord>>
  readonly seconds: number
  readonly backend: string | null
  readonly created: string
  /** Informational only (never part of the key): where this entry was first computed. */
  readonly computedBy: { readonly pipeline: string; readonly node: string }
}

const shard = (d: string): string => d.slice(0, 2)

export interface Store {
  readonly dir: string
  readonly locks: Locker
  readonly objectPath: (digest: string) => string
  readonly blobPath: (sha: string) => string
  readonly manifestPath: (key: string) => string
  readonly lockPath: (key: string) => string
  readonly writeObject: (bytes: Uint8Array) => string
  /** Bytes of an object after checking they hash to `digest`; a corrupt object is deleted. */
  readonly readObject: (digest: string) => Uint8Array
  readonly writeBlob: (bytes: Uint8Array) => string
  readonly readBlob: (sha: string) => Uint8Array
  readonly readManifest: (key: string) => Manifest | undefined
  readonly writeManifest: (m: Manifest) => void
  readonly deleteManifest: (key: string) => void
  /** Manifest exists and every object it names exists with the recorded size (no re-hash). */
  readonly complete: (key: string) => Manifest | undefined
  /** Marks a manifest as recently used (gc --max-size evicts least recently used first). */
  readonly touch: (key: string) => void
  /** Starts this process's run lease (see lease.ts); `protect` is a no-op without one. */
  readonly startLease: (what: string) => void
  /** Records `id` in the lease before it is used, waiting out a concurrent gc. */
  readonly protect: (item: LeaseItem, id: string) => void
  /** Ends the lease and releases every lock this process holds (also on a forced exit). */
  readonly release: () => void
}

const storeError = (what: string, e: unknown): StoreError =>
  new StoreError({ reason: `${what}: ${e instanceof Error ? e.message : String(e)}` })

const verified = (bytes: Uint8Array, digest: string, path: string): Uint8Array => {
  if (sha256(bytes) === digest) return bytes
  try {
    unlinkSync(path)
  } catch {
    // already removed by a concurrent reader
  }
  throw new CorruptObject({ digest, reason: `${path} does not hash to its name (deleted; it will be recomputed)` })
}

export interface StoreOptions {
  /** Fault injection for crash tests: called after a temp file is written, before its rename. */
  readonly beforeRename?: (target: string) => void
  readonly locker?: Locker
}

const HEX64 = /^[0-9a-f]{64}$/

/** A parsed manifest with the shape readers rely on (a hand-edited or foreign file is not cached). */
const isManifest = (m: unknown, key: string): m is Manifest => {
  if (typeof m !== "object" || m === null) return false
  const r = m as Partial<Manifest>
  if (r.key !== key || r.format !== 1 || typeof r.kind !== "string" || typeof r.outputs !== "object" || r.outputs === null) return false
  return Object.values(r.outputs).every(
    (o: Partial<OutputRecord>) =>
      typeof o === "object" && o !== null && typeof o.digest === "string" && HEX64.test(o.digest) && typeof o.bytes === "number" &&
      (o.file === undefined || (typeof o.file.sha256 === "string" && HEX64.test(o.file.sha256) && typeof o.file.bytes === "number" && typeof o.file.name === "string")),
  )
}

const fileHashes = (p: string, d: string): boolean => {
  try {
    return sha256(readFileSync(p)) === d
  } catch {
    return false
  }
}

export const openStore = (dir: string, opts: StoreOptions = {}): Store => {
  const locks = opts.locker ?? makeLocker()
  let lease: Lease | undefined
  const objectPath = (d: string): string => join(dir, "objects", shard(d), `${d}.arrow`)
  const blobPath = (d: string): string => join(dir, "files", shard(d), d)
  const manifestPath = (k: string): string => join(dir, "keys", `${k}.json`)
  const lockPath = (k: string): string => join(dir, "locks", `${k}.lock`)

  const protect = (item: LeaseItem, id: string): void => lease?.protect(item, id)
  const writeAddressed = (item: LeaseItem, path: (d: string) => string, bytes: Uint8Array): string => {
    const d = sha256(bytes)
    const target = path(d)
    protect(item, d) // before looking: a gc running now must not delete the copy we are about to reuse
    try {
      // An existing copy is reused only if its bytes verify: a flipped byte of the same size would
      // otherwise survive every recomputation, and the new manifest would point at it.
      if (existsSync(target) && statSync(target).size === bytes.byteLength && fileHashes(target, d)) return d
      mkdirSync(join(target, ".."), { recursive: true })
      writeFileAtomic(target, bytes, opts.beforeRename)
      return d
    } catch (e) {
      throw storeError(`writing ${target}`, e)
    }
  }
  const readAddressed = (path: (d: string) => string, d: string): Uint8Array => {
    const p = path(d)
    let bytes: Uint8Array
    try {
      bytes = readFileSync(p)
    } catch {
      throw new CorruptObject({ digest: d, reason: `${p} is missing (it will be recomputed)` })
    }
    return verified(bytes, d, p)
  }
  const readManifest = (key: string): Manifest | undefined => {
    const p = manifestPath(key)
    if (!existsSync(p)) return undefined
    try {
      const m = JSON.parse(readFileSync(p, "utf8")) as unknown
      return isManifest(m, key) ? m : undefined
    } catch {
      return undefined // unreadable manifest = not cached; it is rewritten when recomputed
    }
  }
  const sizeIs = (p: string, n: number): boolean => {
    try {
      return statSync(p).size === n
    } catch {
      return false
    }
  }
  return {
    dir,
    locks,
    objectPath,
    blobPath,
    manifestPath,
    lockPath,
    writeObject: (bytes) => writeAddressed("o", objectPath, bytes),
    readObject: (d) => readAddressed(objectPath, d),
    writeBlob: (bytes) => writeAddressed("f", blobPath, bytes),
    readBlob: (d) => readAddressed(blobPath, d),
    readManifest,
    writeManifest: (m) => {
      try {
        mkdirSync(join(dir, "keys"), { recursive: true })
        writeFileAtomic(manifestPath(m.key), canonicalJson(m), opts.beforeRename)
      } catch (e) {
        throw storeError(`writing manifest ${m.key}`, e)
      }
    },
    deleteManifest: (key) => {
      try {
        unlinkSync(manifestPath(key))
      } catch {
        // already gone
      }
    },
    complete: (key) => {
      const m = readManifest(key)
      if (m === undefined) return undefined
      for (const o of Object.values(m.outputs)) {
        if (!sizeIs(objectPath(o.digest), o.bytes)) return undefined
        if (o.file !== undefined && !sizeIs(blobPath(o.file.sha256), o.file.bytes)) return undefined
      }
      return m
    },
    touch: (key) => {
      try {
        const now = new Date()
        utimesSync(manifestPath(key), now, now)
      } catch {
        // best effort: only affects gc eviction order
      }
    },
    startLease: (what) => {
      lease ??= openLease(dir, locks, what)
    },
    protect,
    release: () => {
      locks.releaseAll()
      lease?.release()
      lease = undefined
    },
  }
}

// Crash-safe file writes: write a uniquely named temp file in the target directory, fsync it, then
// rename over the target (atomic on POSIX within one filesystem), then fsync the directory so the
// rename itself survives a power cut. A process killed at any point leaves either the old file, the
// new file, or an orphan `*.tmp-*` that no reader ever looks at (gc removes old ones).
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs"
import { dirname } from "node:path"
import { randomBytes } from "node:crypto"

export const tmpName = (target: string): string => `${target}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`

export const isTmpName = (name: string): boolean => /\.tmp-\d+-[0-9a-f]{8}$/.test(name)

const fsyncDir = (dir: string): void => {
  try {
    const fd = openSync(dir, "r")
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  } catch {
    // Some filesystems refuse directory fsync; the rename is still atomic there.
  }
}

/** `beforeRename` is a fault-injection point for crash tests (the temp file is complete and synced). */
export const writeFileAtomic = (target: string, data: string | Uint8Array, beforeRename?: (target: string) => void): void => {
  const tmp = tmpName(target)
  const fd = openSync(tmp, "wx")
  try {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data
    let off = 0
    while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off)
    fsyncSync(fd)
  } catch (e) {
    closeSync(fd)
    unlinkSync(tmp)
    throw e
  }
  closeSync(fd)
  beforeRename?.(target)
  renameSync(tmp, target)
  fsyncDir(dirname(target))
}

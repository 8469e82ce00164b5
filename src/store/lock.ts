// Per-key lock files so two `pipe run` processes never compute the same node at once: the second
// waits for the first and then finds the result in the cache. A lock is a file created with O_EXCL
// holding `pid host time`; it is stale (and broken) when its pid is dead on this host, or when it is
// older than `staleMs` and carries no live pid we can check (e.g. another host).
import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from "node:fs"
import { hostname } from "node:os"
import { dirname } from "node:path"

export interface LockInfo {
  readonly pid: number
  readonly host: string
}

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

export const readLock = (file: string): LockInfo | undefined => {
  try {
    const [pid, host] = readFileSync(file, "utf8").split(" ")
    return { pid: Number(pid), host: host ?? "" }
  } catch {
    return undefined
  }
}

/** True when the lock's owner is gone (dead pid on this host, or the file is older than staleMs). */
export const isStale = (file: string, staleMs: number, now: number): boolean => {
  const info = readLock(file)
  if (info === undefined) return true
  if (info.host === hostname() && Number.isInteger(info.pid) && info.pid > 0) return !pidAlive(info.pid)
  try {
    return now - statSync(file).mtimeMs > staleMs
  } catch {
    return true
  }
}

/** One attempt: true when we now hold the lock. Breaks a stale lock and retries once. */
export const tryLock = (file: string, staleMs: number, now: number): boolean => {
  mkdirSync(dirname(file), { recursive: true })
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, "wx")
      writeSync(fd, `${process.pid} ${hostname()} ${now}`)
      closeSync(fd)
      return true
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
      if (!isStale(file, staleMs, now)) return false
      try {
        unlinkSync(file)
      } catch {
        // someone else broke it first; retry the create
      }
    }
  }
  return false
}

export const unlock = (file: string): void => {
  const info = readLock(file)
  if (info !== undefined && info.pid !== process.pid) return // not ours (was broken and retaken)
  try {
    unlinkSync(file)
  } catch {
    // already gone
  }
}

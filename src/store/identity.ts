// Who holds a lock or a run lease, in a form that survives pid reuse: pid + host + boot id + the
// kernel's start time of that pid (/proc/<pid>/stat field 22, clock ticks since boot). After a restart,
// or once the pid belongs to another program, the pid may be alive but the (boot, start) pair no
// longer matches, so the holder is known to be gone. Without /proc (macOS) only the pid is checked.
import { readFileSync } from "node:fs"
import { hostname } from "node:os"

export interface ProcessIdentity {
  readonly pid: number
  readonly host: string
  /** /proc/sys/kernel/random/boot_id; "" when unknown. */
  readonly boot: string
  /** /proc/<pid>/stat starttime (ticks since boot) as a decimal string; "" when unknown. */
  readonly start: string
}

const readText = (file: string): string | undefined => {
  try {
    return readFileSync(file, "utf8")
  } catch {
    return undefined
  }
}

/** Start time of `pid` in clock ticks since boot, or undefined (no such process, or no /proc). */
export const processStart = (pid: number): string | undefined => {
  const stat = readText(`/proc/${pid}/stat`)
  if (stat === undefined) return undefined
  // The command name (field 2) is in parentheses and may contain spaces: count fields after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return fields[19] // field 22 overall: fields[0] is field 3 (state)
}

/**
 * Wall-clock start of `pid` in ms (boot time + start ticks at the usual 100 ticks/s), or undefined.
 * Only used for locks written by older versions, which recorded a time but no start tick.
 */
export const processStartMs = (pid: number): number | undefined => {
  const ticks = processStart(pid)
  const btime = /^btime (\d+)$/m.exec(readText("/proc/stat") ?? "")?.[1]
  return ticks === undefined || btime === undefined ? undefined : Number(btime) * 1000 + Number(ticks) * 10
}

const bootId = (): string => readText("/proc/sys/kernel/random/boot_id")?.trim() ?? ""

export const selfIdentity = (): ProcessIdentity => ({
  pid: process.pid,
  host: hostname(),
  boot: bootId(),
  start: processStart(process.pid) ?? "",
})

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * "dead": the process that wrote `id` is gone (or its pid now belongs to another process); "alive":
 * it still runs; "unknown": it ran on another host (callers fall back to age).
 */
export type Liveness = { readonly state: "alive" } | { readonly state: "dead"; readonly why: string } | { readonly state: "unknown" }

export const liveness = (id: ProcessIdentity, self: ProcessIdentity): Liveness => {
  if (id.host !== self.host) return { state: "unknown" }
  if (!Number.isInteger(id.pid) || id.pid <= 0) return { state: "dead", why: "it names no process" }
  if (id.boot !== "" && self.boot !== "" && id.boot !== self.boot) return { state: "dead", why: "it was taken before the machine restarted" }
  if (!pidAlive(id.pid)) return { state: "dead", why: `pid ${id.pid} is not running` }
  const now = processStart(id.pid)
  if (id.start !== "" && now !== undefined && now !== id.start)
    return { state: "dead", why: `pid ${id.pid} now belongs to another process (started at tick ${now}, not ${id.start})` }
  return { state: "alive" }
}

/** Same process as us (not just the same pid): our own lock or lease. */
export const isSelf = (id: ProcessIdentity, self: ProcessIdentity): boolean =>
  id.pid === self.pid && id.host === self.host && id.boot === self.boot && id.start === self.start

export const describeHolder = (id: ProcessIdentity & { readonly what?: string; readonly created?: string }): string =>
  `pid ${id.pid} on ${id.host}${id.what !== undefined && id.what !== "" ? ` (${id.what})` : ""}${id.created !== undefined ? ` since ${id.created}` : ""}`

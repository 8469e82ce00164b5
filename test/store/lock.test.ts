// Lock files name their holder by (pid, host, boot id, start tick): a pid that is alive but belongs
// to another process, a lock from before a reboot, or a lock this process leaked are all stale.
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import t from "tap"
import { liveness, processStart, type ProcessIdentity, selfIdentity } from "../../src/store/identity.ts"
import { makeLocker, readLock } from "../../src/store/lock.ts"

const me = selfIdentity()

const scratch = (t: { teardown: (fn: () => void) => void }): string => {
  const dir = mkdtempSync(join(tmpdir(), "pipe-lock-"))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A live process that is not a pipe process, and its identity. */
const sleeper = (t: { teardown: (fn: () => void) => void }): ProcessIdentity => {
  const child = spawn("sleep", ["60"], { stdio: "ignore" })
  t.teardown(() => void child.kill("SIGKILL"))
  const pid = child.pid as number
  return { ...me, pid, start: processStart(pid) ?? "" }
}

t.test("a lock names its holder; a second locker cannot take a live one", (t) => {
  const file = join(scratch(t), "k.lock")
  const other = sleeper(t)
  const mine = makeLocker()
  t.same(mine.tryLock(file, "test: node a"), { ok: true })
  const info = readLock(file)
  t.equal(info.kind, "held")
  if (info.kind === "held") t.match(info.info, { pid: process.pid, host: me.host, start: me.start, what: "test: node a" })
  const theirs = makeLocker({ self: other })
  const r = theirs.tryLock(file, "other")
  t.equal(r.ok, false)
  if (!r.ok) t.equal(r.holder?.pid, process.pid)
  theirs.unlock(file) // not theirs: a no-op
  t.equal(readLock(file).kind, "held")
  mine.unlock(file)
  t.equal(readLock(file).kind, "missing")
  t.end()
})

t.test("stale: pid reused, pid dead, another boot, leaked by this process, unreadable, old foreign host", (t) => {
  const dir = scratch(t)
  const live = sleeper(t)
  const locker = makeLocker()
  const write = (name: string, holder: object): string => {
    const file = join(dir, name)
    writeFileSync(file, JSON.stringify({ token: "x", created: new Date().toISOString(), what: "w", ...holder }))
    return file
  }
  t.equal(locker.staleReason(write("live.lock", live)), undefined, "a live holder")
  t.match(locker.staleReason(write("reused.lock", { ...live, start: "1" })), /now belongs to another process/)
  t.equal(liveness({ ...live, start: "1" }, me).state, "dead")
  t.match(locker.staleReason(write("boot.lock", { ...live, boot: "another-boot" })), /before the machine restarted/)
  t.match(locker.staleReason(write("leaked.lock", me)), /leaked/, "our own identity, but no node of ours holds it")
  t.equal(locker.staleReason(write("foreign.lock", { ...live, host: "elsewhere" })), undefined, "another host: cannot check, recent")
  const old = write("foreign-old.lock", { ...live, host: "elsewhere" })
  utimesSync(old, new Date(Date.now() - 7 * 3600_000), new Date(Date.now() - 7 * 3600_000))
  t.match(locker.staleReason(old), /taken on host elsewhere/)
  const garbage = join(dir, "garbage.lock")
  writeFileSync(garbage, "")
  t.equal(locker.staleReason(garbage), undefined, "a just-created unreadable file gets a grace period")
  utimesSync(garbage, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000))
  t.match(locker.staleReason(garbage), /unreadable/)
  // the older `pid host time` form
  const legacyLive = join(dir, "legacy-live.lock")
  writeFileSync(legacyLive, `${live.pid} ${me.host} ${Date.now()}`)
  t.equal(locker.staleReason(legacyLive), undefined, "taken after its pid started: maybe its holder")
  const legacyReused = join(dir, "legacy-reused.lock")
  writeFileSync(legacyReused, `${live.pid} ${me.host} ${Date.now() - 3600_000}`)
  t.match(locker.staleReason(legacyReused), /now belongs to another process/, "taken before its pid started")
  // tryLock breaks each stale kind and takes the lock
  for (const f of ["reused.lock", "boot.lock", "leaked.lock", "foreign-old.lock", "garbage.lock", "legacy-reused.lock"]) {
    t.same(locker.tryLock(join(dir, f), "w"), { ok: true }, f)
    t.equal(locker.staleReason(join(dir, f)), undefined, `${f} is now ours`)
  }
  t.equal(locker.tryLock(join(dir, "live.lock"), "w").ok, false)
  locker.releaseAll()
  t.equal(readLock(join(dir, "reused.lock")).kind, "missing", "releaseAll frees what we hold")
  t.equal(readLock(join(dir, "live.lock")).kind, "held", "and nothing else")
  t.end()
})

t.test("a dead pid is stale and broken; a live holder's lock is left alone", (t) => {
  const dir = scratch(t)
  const file = join(dir, "k.lock")
  const dead = { ...me, pid: 2 ** 22 + 12345, start: "5" } // above pid_max on Linux: never alive
  writeFileSync(file, JSON.stringify({ ...dead, token: "old", created: "", what: "" }))
  const a = makeLocker()
  t.match(a.breakIfStale(file), /is not running/)
  t.equal(readLock(file).kind, "missing")
  const b = makeLocker({ self: sleeper(t) })
  t.same(b.tryLock(file, "b"), { ok: true })
  const before = readFileSync(file, "utf8")
  t.equal(a.breakIfStale(file), undefined, "live: left alone")
  t.equal(readFileSync(file, "utf8"), before)
  t.end()
})

// Test helpers for the BullMQ executor: a throwaway redis-server on a free loopback port, `pipe
// worker` processes in a scratch project (test/engine/helpers.ts), and a store integrity check.
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { createConnection, createServer } from "node:net"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import { isTmpName } from "../../src/store/atomic.ts"
import { openStore } from "../../src/store/store.ts"
import type { Project } from "../engine/helpers.ts"

interface Teardown {
  teardown: (fn: () => void | Promise<void>) => void
}

/** Path of redis-server, or undefined when it is not installed. */
export const redisServerPath = (): string | undefined => {
  for (const p of ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]) if (existsSync(p)) return p
  try {
    return execFileSync("sh", ["-c", "command -v redis-server"], { encoding: "utf8" }).trim() || undefined
  } catch {
    return undefined
  }
}

const freePort = (): Promise<number> =>
  new Promise((res, rej) => {
    const s = createServer()
    s.once("error", rej)
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address()
      const port = typeof addr === "object" && addr !== null ? addr.port : 0
      s.close(() => res(port))
    })
  })

/** One Redis command over a raw socket (RESP): its one-line reply ("+PONG", ":3"), or undefined. */
export const redisCommand = (port: number, ...args: readonly string[]): Promise<string | undefined> =>
  new Promise((res) => {
    const c = createConnection({ port, host: "127.0.0.1" })
    let got = ""
    const end = (reply: string | undefined): void => {
      c.destroy()
      res(reply)
    }
    c.setTimeout(2000, () => end(undefined))
    c.once("error", () => end(undefined))
    c.on("data", (d) => {
      got += d.toString()
      const nl = got.indexOf("\r\n")
      if (nl >= 0) end(got.slice(0, nl))
    })
    c.once("connect", () => c.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`))
  })

const ping = async (port: number): Promise<boolean> => (await redisCommand(port, "PING")) === "+PONG"

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

export const until = async (what: string, ok: () => boolean | Promise<boolean>, ms: number): Promise<void> => {
  const end = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(50)
  }
}

export interface Redis {
  readonly url: string
  readonly port: number
  /** SIGKILL (no persistence: every job is lost), then the same port again after `downMs`. */
  readonly restart: (downMs: number) => Promise<void>
  readonly stop: () => Promise<void>
}

export const startRedis = async (t: Teardown, bin: string): Promise<Redis> => {
  const dir = mkdtempSync(join(tmpdir(), "pipe-redis-"))
  const port = await freePort()
  let child: ChildProcess | undefined
  const up = async (): Promise<void> => {
    child = spawn(bin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" })
    await until("redis-server", () => ping(port), 10_000)
  }
  const stop = async (): Promise<void> => {
    const c = child
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise((r) => c.once("exit", r))
    c.kill("SIGKILL")
    await exited
  }
  await up()
  t.teardown(async () => {
    await stop()
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    restart: async (downMs) => {
      await stop()
      await sleep(downMs)
      await up()
    },
    stop,
  }
}

export interface Worker {
  readonly name: string
  readonly child: ChildProcess
  /** Everything the worker printed so far. */
  readonly log: () => string
}

/** Starts `pipe worker` in the project and waits until it is connected. */
export const startWorker = async (t: Teardown, project: Project, args: readonly string[], name: string): Promise<Worker> => {
  const { child } = project.spawnPipe(["worker", "--name", name, ...args])
  let out = ""
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()))
  child.stderr?.on("data", (d: Buffer) => (out += d.toString()))
  t.teardown(() => void child.kill("SIGKILL"))
  await until(`worker ${name} (${out})`, () => out.includes(`worker ${name} ready`) || child.exitCode !== null, 120_000)
  if (!out.includes("ready")) throw new Error(`worker ${name} did not start: ${out}`)
  return { name, child, log: () => out }
}

/** Problems in a store: objects whose bytes do not hash to their name, manifests naming missing objects. */
export const storeProblems = (cacheDir: string): string[] => {
  const problems: string[] = []
  const objects = join(cacheDir, "objects")
  for (const shard of existsSync(objects) ? readdirSync(objects) : [])
    for (const f of readdirSync(join(objects, shard))) {
      if (isTmpName(f)) continue // an interrupted write: never read
      const sha = createHash("sha256").update(readFileSync(join(objects, shard, f))).digest("hex")
      if (`${sha}.arrow` !== f) problems.push(`objects/${shard}/${f} hashes to ${sha}`)
    }
  const store = openStore(cacheDir)
  const keys = join(cacheDir, "keys")
  for (const f of existsSync(keys) ? readdirSync(keys) : []) {
    if (!f.endsWith(".json")) continue
    if (store.complete(basename(f, ".json")) === undefined) problems.push(`keys/${f} is unreadable or names a missing object`)
  }
  return problems
}

/** Lock files left in the store. */
export const leftoverLocks = (cacheDir: string): string[] => {
  const locks = join(cacheDir, "locks")
  return existsSync(locks) ? readdirSync(locks) : []
}

// Test helpers for the BullMQ executor: a throwaway redis-server on a free loopback port, `pipe
// worker` processes in a scratch project (test/engine/helpers.ts), and a store integrity check.
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { createConnection, createServer } from "node:net"
import { tmpdir } from "node:os"
import { basename, join } from "node:path"
import type { RunRecord } from "../../src/exec/record.ts"
import { isTmpName } from "../../src/store/atomic.ts"
import { openStore } from "../../src/store/store.ts"
import { makeProject, type Project } from "../engine/helpers.ts"

interface Teardown {
  teardown: (fn: () => void | Promise<void>) => void
}

// Fixture pipelines of the distributed tests (kinds from test/engine/fixtures/project/nodes).
const SWEEP = `name: sweep
description: 13 nodes, 12 of them independent (6 light, 6 heavy)
nodes:
  src: { kind: source, params: { n: 4 } }
sweeps:
  light:
    over: { by: [1, 2, 3, 4, 5, 6] }
    nodes:
      "scale-\${by}": { kind: scale, params: { by: "\${by}" }, inputs: { x: src.values } }
  heavy:
    over: { ms: [20, 21, 22, 23, 24, 25] }
    nodes:
      "slow-\${ms}": { kind: slow, params: { ms: "\${ms}", steps: 2 }, inputs: { x: src.values } }
`
const shared = (extra: string) => `name: share
nodes:
  src: { kind: source, params: { n: 5 } }
  shared: { kind: slow, params: { ms: 100, steps: 15 }, inputs: { x: src.values } }
${extra}`
export const PIPELINES: Record<string, string> = {
  "sweep.yaml": SWEEP,
  "share-a.yaml": shared("  a: { kind: round, inputs: { x: shared.y } }\n"),
  "share-b.yaml": shared("  b: { kind: scale, params: { by: 3 }, inputs: { x: shared.y } }\n"),
  "failing.yaml": "name: failing\nnodes:\n  src: { kind: source, params: { n: 6 } }\n  bad: { kind: fail, inputs: { x: src.values } }\n",
  "refuse.yaml": "name: refuse\nnodes:\n  src: { kind: source, params: { n: 7 } }\n  sc: { kind: scale, params: { by: 9 }, inputs: { x: src.values } }\n",
  "kill.yaml": `name: kill
nodes:
  src: { kind: source, params: { n: 8 } }
  long: { kind: slow, params: { ms: 100, steps: 40 }, inputs: { x: src.values } }
  side: { kind: scale, params: { by: 5 }, inputs: { x: src.values } }
`,
  "ctrlc.yaml": `name: ctrlc
nodes:
  src: { kind: source, params: { n: 11 } }
sweeps:
  s:
    over: { ms: [50, 51, 52, 53, 54, 55, 56, 57] }
    nodes:
      "slow-\${ms}": { kind: slow, params: { ms: "\${ms}", steps: 20 }, inputs: { x: src.values } }
`,
  "restart.yaml": `name: restart
nodes:
  src: { kind: source, params: { n: 9 } }
sweeps:
  s:
    over: { ms: [100, 101, 102, 103, 104, 105] }
    nodes:
      "slow-\${ms}": { kind: slow, params: { ms: "\${ms}", steps: 10 }, inputs: { x: src.values } }
`,
  "gone.yaml": `name: gone
nodes:
  src: { kind: source, params: { n: 10 } }
  s1: { kind: slow, params: { ms: 100, steps: 20 }, inputs: { x: src.values } }
  s2: { kind: slow, params: { ms: 10, steps: 2 }, inputs: { x: s1.y } }
`,
}

export const withPipelines = (p: Project): Project => {
  for (const [f, text] of Object.entries(PIPELINES)) writeFileSync(join(p.dir, "pipelines", f), text)
  return p
}

export const outputsOf = (r: RunRecord) => Object.fromEntries(r.nodes.map((n) => [n.id, n.outputs]))
export const keyOf = (r: RunRecord, id: string): string => r.nodes.find((n) => n.id === id)?.key ?? "?"

/** Parsed --json event lines of a submitter. */
export const events = (stdout: string): Record<string, unknown>[] =>
  stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>)

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

// Processes this test file started. A test that times out is ended by tap (IPC, then SIGALRM, then
// SIGKILL) without its teardowns, so they are also killed on exit and on SIGALRM: a stray
// redis-server or worker would otherwise outlive the run.
const started = new Set<ChildProcess>()
const killStarted = (): void => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL")
}
process.on("exit", killStarted)
process.once("SIGALRM", () => {
  killStarted()
  process.exit(1)
})
const track = (c: ChildProcess): ChildProcess => {
  started.add(c)
  c.once("exit", () => started.delete(c))
  return c
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * `promise`'s value, or null when it takes longer than `ms`. The timer is cleared either way: a
 * pending timer keeps the test process alive (tap then waits for it before the next file starts).
 */
export const within = async <A>(promise: Promise<A>, ms: number): Promise<A | null> => {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([promise, new Promise<null>((res) => (timer = setTimeout(() => res(null), ms)))])
  } finally {
    clearTimeout(timer)
  }
}

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
    child = track(spawn(bin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], { stdio: "ignore" }))
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
  const child = track(project.spawnPipe(["worker", "--name", name, ...args]).child)
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

export interface Cluster {
  readonly redis: Redis
  /** The scratch project every worker and submitter runs in. */
  readonly p: Project
  readonly cache: string
  readonly workers: readonly Worker[]
  /** `pipe run` flags selecting the BullMQ executor on this Redis. */
  readonly bull: readonly string[]
  /** Lines in which some worker says it computed `kind` `key`. */
  readonly computedLines: (kind: string, key: string) => number
}

/**
 * redis-server, a scratch project with the fixture pipelines and three workers (w1..w3) with short
 * job locks (a killed worker's job is requeued within seconds); then `suite`. Without
 * redis-server the file is skipped, except in CI where that is a failure.
 */
export const withCluster = async (t: Teardown & { fail: (m: string) => void; plan: (n: number, why: string) => void }, suite: (c: Cluster) => Promise<void>): Promise<void> => {
  const bin = redisServerPath()
  if (bin === undefined) {
    if (process.env.CI || process.env.PIPE_REQUIRE_REDIS) t.fail("redis-server is missing; .ci/run installs it (apt-get install redis-server)")
    else t.plan(0, "redis-server not installed (apt-get install redis-server): skipping the BullMQ tests")
    return
  }
  const redis = await startRedis(t, bin)
  const p = withPipelines(makeProject(t))
  const args = ["--redis", redis.url, "--lock-duration", "3", "--concurrency", "1"]
  const workers = await Promise.all(["w1", "w2", "w3"].map((name) => startWorker(t, p, args, name)))
  const computedLines = (kind: string, key: string): number =>
    workers.map((w) => w.log().split("\n").filter((l) => l.startsWith(`✓ ${kind} ${key.slice(0, 12)}`)).length).reduce((a, b) => a + b, 0)
  await suite({ redis, p, cache: join(p.dir, "cache"), workers, bull: ["--executor", "bullmq", "--redis", redis.url], computedLines })
}

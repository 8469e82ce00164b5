// Shared pieces of the reliability suite: snapshots of a directory tree (to prove a command wrote
// nothing), store paths of a run's outputs, byte flips, a seeded RNG, and the env flag for the heavy
// variants (PIPE_RELIABILITY=heavy).
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import type { Project, Result } from "../engine/helpers.ts"
import type { RunRecord } from "../../src/exec/record.ts"

/** PIPE_RELIABILITY=heavy runs the long variants (more kills, more generated pipelines). */
export const HEAVY = process.env.PIPE_RELIABILITY === "heavy"

/** Every file below `dir`: relative path -> size, mtime and sha256 (missing dir: empty). */
export const snapshot = (dir: string): Record<string, string> => {
  const out: Record<string, string> = {}
  if (!existsSync(dir)) return out
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue
    const p = join(e.parentPath, e.name)
    const st = statSync(p)
    out[relative(dir, p)] = `${st.size} ${st.mtimeMs} ${createHash("sha256").update(readFileSync(p)).digest("hex")}`
  }
  return out
}

/** Files (absolute) below `dir`, recursively. */
export const files = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)) : []

export const objectPath = (p: Project, digest: string): string => join(p.dir, "cache/objects", digest.slice(0, 2), `${digest}.arrow`)
export const blobPath = (p: Project, sha: string): string => join(p.dir, "cache/files", sha.slice(0, 2), sha)

/** Object file of a node's first output in the last run. */
export const outputObject = (p: Project, node: string): string => {
  const digest = Object.values(p.lastRun().nodes.find((n) => n.id === node)?.outputs ?? {})[0]
  if (digest === undefined) throw new Error(`no output of ${node} in the last run`)
  return objectPath(p, digest)
}

/** Manifest (parsed) of `key`. */
export const manifest = (p: Project, key: string): { outputs: Record<string, { digest: string; bytes: number; file?: { sha256: string; name: string } }> } =>
  JSON.parse(readFileSync(join(p.dir, "cache/keys", `${key}.json`), "utf8")) as never

/** Flips one byte in place (same size: only a hash can tell). */
export const flipByte = (file: string, at = -20): void => {
  const bytes = readFileSync(file)
  const i = at < 0 ? Math.max(0, bytes.length + at) : Math.min(at, bytes.length - 1)
  bytes[i] = (bytes[i] ?? 0) ^ 0xff
  writeFileSync(file, bytes)
}

/** Keys of a pipeline's nodes from `pipe plan --json` (null while an upstream is not cached). */
export const planKeys = async (p: Project, args: readonly string[]): Promise<Record<string, string | null>> => {
  const r = await p.pipe(["plan", ...args, "--json"])
  if (r.code !== 0) throw new Error(`plan failed: ${r.stderr}`)
  return Object.fromEntries((JSON.parse(r.stdout) as { nodes: { id: string; key: string | null }[] }).nodes.map((n) => [n.id, n.key]))
}

/** A stack trace line ("    at f (file:1:2)") anywhere in the output. */
export const hasStack = (r: Result): boolean => /\n\s+at .+:\d+:\d+\)?/.test(r.stdout + r.stderr)

/** mulberry32: a small seeded PRNG for kill points (fast-check drives the generated pipelines). */
export const rng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

/** Resolves when `re` appears in the child's output. */
export const waitFor = (child: { stdout: NodeJS.ReadableStream | null; stderr: NodeJS.ReadableStream | null }, re: RegExp): Promise<void> =>
  new Promise((res) => {
    let seen = ""
    const on = (d: Buffer) => {
      seen += d.toString()
      if (re.test(seen)) res()
    }
    child.stdout?.on("data", on)
    child.stderr?.on("data", on)
  })

/**
 * Runs the CLI in this process (main() with captured output): the suite's many short commands skip
 * a node start-up each. Same code path as bin/pipe.mjs minus tsx registration and signal handlers.
 */
export const inProcess = (dir: string) => async (args: readonly string[]): Promise<Result> => {
  const { main } = await import("../../src/cli/main.ts")
  let stdout = ""
  let stderr = ""
  const code = await main([...args], {
    out: (s) => void (stdout += s),
    err: (s) => void (stderr += s),
    isTTY: false,
    columns: () => 100,
    env: {},
    cwd: dir,
    onInterrupt: () => () => undefined,
  })
  return { code, signal: null, stdout, stderr }
}

/** The newest run record (unlike Project.lastRun, it does not parse the others, which may be damaged). */
export const newestRun = (p: Project): RunRecord => {
  const id = readdirSync(join(p.dir, "runs")).sort().at(-1) as string
  return JSON.parse(readFileSync(join(p.dir, "runs", id, "run.json"), "utf8")) as RunRecord
}

// Waits (polling) until the file "go" exists in the working directory: lets a test act while a run is
// in the middle of a node, whatever the machine's load.
export const GATE = `import { existsSync } from "node:fs"
import { Type } from "@sinclair/typebox"
import * as Effect from "effect/Effect"
import { Numbers } from "../lib/artifacts.ts"

const params = Type.Object({})
export default {
  kind: "gate",
  description: "Input plus one, once the file go exists.",
  params,
  inputs: { x: Numbers },
  outputs: { y: Numbers },
  heavy: false,
  run: (i: { x: Float64Array }) =>
    Effect.gen(function* () {
      for (let k = 0; k < 6000 && !existsSync("go"); k++) yield* Effect.sleep(50) // at most 5 min
      return { y: i.x.map((v) => v + 1) }
    }),
}
`

// Test helpers: a throwaway copy of the fixture project (its own cache/ and runs/) and a way to run
// the real `pipe` CLI in it as a child process.
import { spawn, type ChildProcess } from "node:child_process"
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import type { RunRecord } from "../../src/exec/record.ts"

export const REPO = resolve(import.meta.dirname, "../..")
export const FIXTURE = join(REPO, "test/engine/fixtures/project")
const BIN = join(REPO, "bin/pipe.mjs")

export interface Result {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface Project {
  readonly dir: string
  readonly pipe: (args: readonly string[], env?: Readonly<Record<string, string>>) => Promise<Result>
  readonly spawnPipe: (args: readonly string[], env?: Readonly<Record<string, string>>) => { child: ChildProcess; done: Promise<Result> }
  readonly runs: () => RunRecord[]
  readonly lastRun: () => RunRecord
  readonly statuses: (r?: RunRecord) => Record<string, string>
}

interface Teardown {
  teardown: (fn: () => void) => void
}

export const makeProject = (t: Teardown): Project => {
  const dir = mkdtempSync(join(tmpdir(), "pipe-engine-"))
  cpSync(FIXTURE, dir, { recursive: true })
  symlinkSync(join(REPO, "node_modules"), join(dir, "node_modules"))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return projectAt(dir, { PIPE_CACHE: "", PIPE_RUNS: "", PIPE_ROOT: "", PIPE_NODES: "" }, join(dir, "runs"))
}

/** `pipe` run in `dir` with `baseEnv` (PIPE_* variables), its run records read from `runsDir`. */
export const projectAt = (dir: string, baseEnv: Readonly<Record<string, string>>, runsDir: string): Project => {
  const spawnPipe = (args: readonly string[], env: Readonly<Record<string, string>> = {}) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { ...process.env, ...baseEnv, FORCE_COLOR: "0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()))
    const done = new Promise<Result>((res) => child.on("close", (code, signal) => res({ code, signal, stdout, stderr })))
    return { child, done }
  }
  const runs = (): RunRecord[] =>
    readdirSync(runsDir)
      .sort()
      .map((d) => JSON.parse(readFileSync(join(runsDir, d, "run.json"), "utf8")) as RunRecord)
  const lastRun = (): RunRecord => runs().at(-1) as RunRecord
  return {
    dir,
    pipe: (args, env) => spawnPipe(args, env).done,
    spawnPipe,
    runs,
    lastRun,
    statuses: (r) => Object.fromEntries((r ?? lastRun()).nodes.map((n) => [n.id, n.status])),
  }
}

// `pipe run` and `pipe plan`.
import { join, relative } from "node:path"
import * as Effect from "effect/Effect"
import { execute } from "../exec/executor.ts"
import { loadRuntime, runtimeModule } from "../exec/runtime.ts"
import { planPipeline, select, type Selectors } from "../exec/plan.ts"
import { jsonReporter, plainReporter, type Reporter, ttyReporter } from "../exec/progress.ts"
import { newRunId, onRunFinished, type RunRecord, statusCounts, writeRunRecord } from "../exec/record.ts"
import { durationFlag, flag, intFlag, str, strs, UsageError, type Values } from "./args.ts"
import { loadFor, openProject, type Project, resolveDirs } from "./context.ts"

export interface Io {
  readonly out: (s: string) => void
  readonly err: (s: string) => void
  readonly isTTY: boolean
  readonly columns: () => number
  readonly env: NodeJS.ProcessEnv
  readonly cwd: string
  /** Registers a handler for Ctrl-C (SIGINT) and SIGTERM; returns a function that removes it. */
  readonly onInterrupt: (handler: (signal: StopSignal) => void) => () => void
}

export type StopSignal = "SIGINT" | "SIGTERM"

/** Exit code of a run stopped by `signal`: 128 + its number, as a shell reports a process killed by it. */
const stoppedCode = (signal: StopSignal): number => (signal === "SIGTERM" ? 143 : 130)

export const dirFlags = (v: Values) => ({ root: str(v, "root"), nodes: str(v, "nodes"), cache: str(v, "cache"), runs: str(v, "runs") })

/** `--only a,b` is `--only a --only b` (node ids contain no commas). */
const idList = (v: Values, k: string): string[] => strs(v, k).flatMap((s) => s.split(",")).filter((id) => id !== "")

const selectorsOf = (v: Values): Selectors => ({
  force: idList(v, "force"),
  from: str(v, "from"),
  until: str(v, "until"),
  only: idList(v, "only"),
})

export const setup = async (v: Values, file: string | undefined, io: Io): Promise<Project> =>
  openProject(resolveDirs(dirFlags(v), file, io.env, io.cwd), io.env)

export const planCommand = async (v: Values, [file]: string[], io: Io): Promise<number> => {
  const project = await setup(v, file, io)
  const p = loadFor(project, file as string, { profile: str(v, "profile"), sets: strs(v, "set") }, io.cwd)
  const planned = planPipeline(p, project.store, project.paths, select(p, selectorsOf(v))).filter((n) => n.selected)
  project.paths.flush()
  if (flag(v, "json")) {
    io.out(`${JSON.stringify({ nodes: planned.map((n) => ({ id: n.id, kind: n.kind, key: n.key, cached: n.cached })) })}\n`)
    return 0
  }
  const w = Math.max(4, ...planned.map((n) => n.id.length))
  const k = Math.max(4, ...planned.map((n) => n.kind.length))
  io.out(`${"node".padEnd(w)}  ${"kind".padEnd(k)}  ${"status".padEnd(14)}  key\n`)
  for (const n of planned) {
    const status = n.cached ? "cached" : n.forced ? "run (forced)" : n.key === null ? "run (upstream)" : "run"
    io.out(`${n.id.padEnd(w)}  ${n.kind.padEnd(k)}  ${status.padEnd(14)}  ${n.key === null ? "(after upstream)" : n.key.slice(0, 16)}\n`)
  }
  const todo = planned.filter((n) => !n.cached).length
  io.out(`${planned.length - todo} cached, ${todo} to run\n`)
  return 0
}

/**
 * `--backend NAME` is checked before any work, also when every node is cached (the runtime is then
 * never prepared, and a typo would pass silently). This imports nodes/_runtime.ts, which a cached run
 * otherwise skips: only when the flag is given.
 */
const checkBackend = async (nodesDir: string, backend: string): Promise<void> => {
  const mod = await runtimeModule(nodesDir)
  if (typeof mod?.prepare !== "function") throw new UsageError(`--backend ${backend}: this project has no nodes/_runtime.ts exporting prepare(), so nothing chooses a backend`)
  if (Array.isArray(mod.backends) && !mod.backends.includes(backend))
    throw new UsageError(`--backend ${backend}: unknown backend (backends: ${mod.backends.join(", ")})`)
}

const summary = (r: RunRecord, runDir: string, cwd: string): string => {
  const w = Math.max(4, ...r.nodes.map((n) => n.id.length))
  const k = Math.max(4, ...r.nodes.map((n) => n.kind.length))
  const lines = [`${"node".padEnd(w)}  ${"kind".padEnd(k)}  ${"status".padEnd(11)}  seconds  key`]
  for (const n of r.nodes)
    lines.push(`${n.id.padEnd(w)}  ${n.kind.padEnd(k)}  ${n.status.padEnd(11)}  ${n.seconds.toFixed(2).padStart(7)}  ${n.key?.slice(0, 12) ?? "-"}`)
  lines.push(`${statusCounts(r.nodes)} in ${r.seconds.toFixed(2)} s -> ${relative(cwd, join(runDir, "run.json")) || runDir}`)
  for (const n of r.nodes) if (n.status === "failed" && n.error !== undefined) lines.push(`error: ${n.error}`)
  if (r.status === "interrupted") lines.push("interrupted: finished nodes are cached; run the same command again to resume")
  return `${lines.join("\n")}\n`
}

export const runCommand = async (v: Values, [file]: string[], io: Io): Promise<number> => {
  const started = new Date()
  const t0 = performance.now()
  const jobs = intFlag(v, "jobs", 2)
  const json = flag(v, "json")
  const lockTimeoutMs = durationFlag(v, "lock-timeout")
  const backend = str(v, "backend")
  const project = await setup(v, file, io)
  if (backend !== undefined) await checkBackend(project.dirs.nodes, backend)
  const p = loadFor(project, file as string, { profile: str(v, "profile"), sets: strs(v, "set") }, io.cwd)
  const selection = select(p, selectorsOf(v))
  planPipeline(p, project.store, project.paths, selection) // fails early on impossible --only/--until
  const reporter: Reporter = json ? jsonReporter(io.out) : io.isTTY ? ttyReporter(io.err, io.columns) : plainReporter(io.err)
  const remote = await (await import("./distributed.ts")).openRemote(v, io, project.store)
  const idle = await remote?.idleWarning()
  if (idle !== undefined) reporter.info(`warning: ${idle}`)
  const runId = newRunId(started, process.pid)
  const runDir = join(project.dirs.runs, runId)
  const pipelineRel = relative(project.dirs.root, p.file).split("\\").join("/")
  const flags: { stop: StopSignal | undefined } = { stop: undefined }
  // The lease (what this run uses, which gc must keep) and the key locks are released on every way
  // out: normal end, a thrown error, and a second signal's immediate exit.
  project.store.startLease(`pipe run ${pipelineRel}`)
  const removeHandler = io.onInterrupt((signal) => {
    if (flags.stop !== undefined) {
      project.store.release()
      process.exit(stoppedCode(flags.stop)) // second signal: give up now
    }
    flags.stop = signal
    const again = signal === "SIGINT" ? "Ctrl-C" : signal
    reporter.info(`${signal === "SIGINT" ? "interrupted" : "terminated (SIGTERM)"}: stopping after the running nodes (${again} again to abort)`)
  })
  try {
    const result = await Effect.runPromise(
      execute({
        pipeline: p,
        registry: project.registry,
        store: project.store,
        paths: project.paths,
        selection,
        jobs,
        reporter,
        runDir,
        interrupted: () => flags.stop !== undefined,
        prepareRuntime: () => loadRuntime(project.dirs.nodes, backend),
        what: `pipe run ${pipelineRel}`,
        ...(lockTimeoutMs !== undefined ? { lockTimeoutMs } : {}),
        ...(remote !== undefined ? { remote } : {}),
      }),
    ).finally(() => remote?.close())
    reporter.close()
    project.paths.flush()
    const record: RunRecord = {
      format: 1,
      id: runId,
      pipeline: pipelineRel,
      name: p.name,
      profile: p.profile,
      sets: p.sets,
      backend: result.runtime?.backend ?? remote?.backend() ?? null,
      notes: result.runtime?.notes ?? [],
      started: started.toISOString(),
      seconds: (performance.now() - t0) / 1000,
      status: result.status,
      nodes: result.nodes.map((n) => {
        const sweep = p.nodes.get(n.id)?.sweep
        return sweep === null || sweep === undefined ? n : { ...n, sweep }
      }),
      cache: project.dirs.cache,
      scopes: p.scopes,
      edges: result.nodes.flatMap((n) =>
        Object.entries(p.nodes.get(n.id)?.inputs ?? {}).map(([input, ref]) => ({ from: ref.node, output: ref.port, to: n.id, input })),
      ),
    }
    // run.json is written before the lease ends, so its keys (gc roots as a kept run) are never unprotected.
    writeRunRecord(project.dirs.runs, record)
    const reportProblem = await onRunFinished(runDir, record)
    if (json) io.out(`${JSON.stringify({ event: "done", status: record.status, run: join(runDir, "run.json"), nodes: record.nodes })}\n`)
    else io.err(summary(record, runDir, io.cwd))
    if (reportProblem !== undefined) io.err(`warning: ${reportProblem}\n`)
    return record.status === "ok" ? 0 : record.status === "interrupted" ? stoppedCode(flags.stop ?? "SIGINT") : 1
  } finally {
    removeHandler()
    project.store.release()
  }
}

export const requireFile = (file: string | undefined): string => {
  if (file === undefined) throw new UsageError("missing FILE")
  return file
}

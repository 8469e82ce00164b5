// Flag definitions and help texts, one table per subcommand (parsed with node:util parseArgs).
import { parseArgs, type ParseArgsConfig } from "node:util"

export class UsageError extends Error {
  readonly _tag = "UsageError"
}

type Options = NonNullable<ParseArgsConfig["options"]>

const dirs: Options = {
  cache: { type: "string" },
  runs: { type: "string" },
  root: { type: "string" },
  nodes: { type: "string" },
  help: { type: "boolean", short: "h" },
}
const overrides: Options = {
  profile: { type: "string" },
  set: { type: "string", multiple: true },
}
const selectors: Options = {
  force: { type: "string", multiple: true },
  from: { type: "string" },
  until: { type: "string" },
  only: { type: "string", multiple: true },
}

const DIR_HELP = `  --cache DIR        artifact store (default <project>/cache, or $PIPE_CACHE)
  --runs DIR         run records (default <project>/runs, or $PIPE_RUNS)
  --root DIR         project root (default: nearest dir with package.json; $PIPE_ROOT)
  --nodes DIR        node kinds (default <project>/nodes; $PIPE_NODES)`
const OVERRIDE_HELP = `  --profile P        apply the named profile (e.g. smoke)
  --set N.PARAM=V    override a param (V is YAML; repeatable; applied last)`
const SELECTOR_HELP = `  --force ID         recompute ID even if cached (repeatable)
  --from ID          recompute ID and everything downstream of it
  --until ID         stop after ID (run only ID and its ancestors)
  --only ID          run only ID (repeatable); its inputs must be cached`

const redisOptions: Options = { redis: { type: "string" }, queue: { type: "string" } }
const executorOptions: Options = { executor: { type: "string" }, ...redisOptions, "redis-timeout": { type: "string" } }
const REDIS_HELP = `  --redis URL        Redis of the BullMQ queues (or $PIPE_REDIS), e.g. redis://127.0.0.1:6379
  --queue NAME       queue name prefix (default pipe: queues pipe-light and pipe-heavy)`
const EXECUTOR_HELP = `  --executor E       local (default: this process) or bullmq (nodes run on \`pipe worker\`s;
                     --jobs is then theirs to decide: see pipe worker --help)
${REDIS_HELP}
  --redis-timeout S  with bullmq: fail waiting nodes after S seconds without Redis (default 30)`

export interface Command {
  readonly usage: string
  readonly summary: string
  readonly options: Options
  readonly positionals: number
  /** When true, `positionals` is a minimum (e.g. `pipe compare RUN RUN...`). */
  readonly variadic?: boolean
  readonly help: string
}

export const COMMANDS: Readonly<Record<string, Command>> = {
  run: {
    usage: "pipe run FILE [options]",
    summary: "run a pipeline, computing only what is not cached",
    options: {
      ...dirs,
      ...overrides,
      ...selectors,
      jobs: { type: "string", short: "j" },
      json: { type: "boolean" },
      backend: { type: "string" },
      "lock-timeout": { type: "string" },
      ...executorOptions,
    },
    positionals: 1,
    help: `${OVERRIDE_HELP}\n${SELECTOR_HELP}\n  --jobs N           nodes in parallel (default 2; heavy nodes always one at a time)\n  --backend NAME     tensor backend passed to nodes/_runtime.ts (never part of a key)\n  --lock-timeout D   how long to wait for a node another live process is computing (default 6h; e.g. 30s, 10m)\n  --json             machine-readable event lines instead of progress bars\n${EXECUTOR_HELP}\n${DIR_HELP}`,
  },
  plan: {
    usage: "pipe plan FILE [options]",
    summary: "dry run: list the nodes, their keys and whether each is cached",
    options: { ...dirs, ...overrides, ...selectors, json: { type: "boolean" } },
    positionals: 1,
    help: `${OVERRIDE_HELP}\n${SELECTOR_HELP}\n  --json             print {"nodes":[{"id","kind","key","cached"}]}\n${DIR_HELP}`,
  },
  explain: {
    usage: "pipe explain FILE ID [options]",
    summary: "why ID is (not) cached: which key component changed since it was last computed",
    options: { ...dirs, ...overrides, json: { type: "boolean" } },
    positionals: 2,
    help: `${OVERRIDE_HELP}\n${DIR_HELP}`,
  },
  validate: {
    usage: "pipe validate FILE [options]",
    summary: "check a pipeline without running it (exit 1 with FILE:LINE:COL errors)",
    options: { ...dirs, ...overrides },
    positionals: 1,
    help: `${OVERRIDE_HELP}\n${DIR_HELP}`,
  },
  dag: {
    usage: "pipe dag FILE [--format text|mermaid|dot]",
    summary: "print the DAG",
    options: { ...dirs, ...overrides, format: { type: "string" } },
    positionals: 1,
    help: `  --format F         text (default), mermaid or dot\n${OVERRIDE_HELP}\n${DIR_HELP}`,
  },
  ls: {
    usage: "pipe ls [options]",
    summary: "list cache entries with their sizes",
    options: { ...dirs, json: { type: "boolean" } },
    positionals: 0,
    help: `  --json             one JSON object per entry\n${DIR_HELP}`,
  },
  gc: {
    usage: "pipe gc [--dry-run] [--max-size SIZE] [--keep-runs N]",
    summary: "delete cache entries no pipeline or kept run references",
    options: { ...dirs, "dry-run": { type: "boolean" }, "max-size": { type: "string" }, "keep-runs": { type: "string" } },
    positionals: 0,
    help: `  --dry-run          only print what would be deleted
  --max-size SIZE    then evict least recently used entries until the cache fits (e.g. 500M, 2G)
  --keep-runs N      run records whose entries are kept (newest N, default 5)
Roots: every node of every pipelines/*.yaml (default and every profile) whose key is computable,
plus the entries of the kept runs.
${DIR_HELP}`,
  },
  verify: {
    usage: "pipe verify [--repair]",
    summary: "re-hash every stored object and file and check every manifest (exit 1 on a problem)",
    options: { ...dirs, repair: { type: "boolean" }, json: { type: "boolean" } },
    positionals: 0,
    help: `  --repair           delete what is corrupt, and every entry that names it, so the next run recomputes it
  --json             print the report as JSON
A run re-hashes every object it reads, but a fully cached run reads only manifests: a byte flipped in
an object that no node reads is found here.
${DIR_HELP}`,
  },
  export: {
    usage: "pipe export FILE NODE.OUTPUT --out PATH [--format arrow|npy|png|file]",
    summary: "write a computed artifact out of the cache",
    options: { ...dirs, ...overrides, out: { type: "string", short: "o" }, format: { type: "string" } },
    positionals: 2,
    help: `  --out PATH         destination file (required); its extension picks the format unless --format is given
  --format F         arrow (as stored; .arrow), npy (tensors, latents, images: float32, shape kept; .npy),
                     png (image batches and datasets as a grid, or a PNG file artifact; .png)
                     or file (a file artifact's own bytes; the default for file artifacts)
${OVERRIDE_HELP}\n${DIR_HELP}`,
  },
  report: {
    usage: "pipe report RUN [--markdown]",
    summary: "regenerate runs/RUN/report.html (RUN: run id, unique prefix, \"last\" or run dir)",
    options: { ...dirs, markdown: { type: "boolean" } },
    positionals: 1,
    help: `  --markdown         print the results tables (per study: model, sampler, steps, FLD, floor,
                     s / image; then the speed-quality front) as Markdown instead
${DIR_HELP}`,
  },
  compare: {
    usage: "pipe compare RUN [RUN...] [--html FILE] [--json] [--all | --columns A,B]",
    summary: "metrics of several runs side by side",
    options: { ...dirs, html: { type: "string" }, json: { type: "boolean" }, all: { type: "boolean" }, columns: { type: "string" } },
    positionals: 1,
    variadic: true,
    help: `  --html FILE        also write an HTML page with the table and plots across runs
  --json             print {"columns", "rows"} instead of the text table
  --all              every scalar (default: FLD, floor, accuracy, steps, speed, losses...),
                     class histogram columns (class_0..class_9) included
  --columns A,B      exactly these scalars
RUN is a run id, a unique prefix of one, "last", or a run directory.
${DIR_HELP}`,
  },
  worker: {
    usage: "pipe worker --redis URL [--concurrency N] [--cache DIR]",
    summary: "compute nodes of `pipe run --executor bullmq` submissions (until Ctrl-C)",
    options: { ...dirs, ...redisOptions, concurrency: { type: "string" }, name: { type: "string" }, "lock-duration": { type: "string" }, backend: { type: "string" } },
    positionals: 0,
    help: `${REDIS_HELP}
  --concurrency N    light nodes at once (default 2; heavy nodes always one at a time)
  --name NAME        shown by pipe workers and in run logs (default host:pid)
  --lock-duration S  BullMQ job lock; a killed worker's jobs are retried elsewhere
                     within about twice this (default 30)
  --backend NAME     tensor backend passed to nodes/_runtime.ts
Run it from the same project checkout as the submitters, with --cache on the shared store.
${DIR_HELP}`,
  },
  workers: {
    usage: "pipe workers --redis URL [--json]",
    summary: "connected workers, what each runs, and queue depth",
    options: { ...dirs, ...redisOptions, json: { type: "boolean" } },
    positionals: 0,
    help: `${REDIS_HELP}\n  --json             print the status as one JSON object`,
  },
  schema: {
    usage: "pipe schema [--out FILE] [--check]",
    summary: "generate schema/pipeline.schema.json from the node registry",
    options: { ...dirs, out: { type: "string" }, check: { type: "boolean" } },
    positionals: 0,
    help: `  --out FILE         where to write (default <project>/schema/pipeline.schema.json)\n  --check            exit 1 if the file is out of date instead of writing it\n${DIR_HELP}`,
  },
}

export const mainHelp = (): string =>
  [
    "pipe: declarative YAML DAGs of pure, typed nodes with a content-addressed Arrow cache",
    "",
    "usage: pipe <command> [options]   (pipe <command> --help for details)",
    "",
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`),
    "",
    "exit codes: 0 ok, 1 invalid pipeline or failed node, 2 usage error",
  ].join("\n")

export const commandHelp = (name: string, c: Command): string => `usage: ${c.usage}\n\n${c.summary}\n\noptions:\n${c.help}\n  -h, --help         this help`

export type Values = Record<string, string | boolean | string[] | undefined>

export const parseCommand = (c: Command, argv: readonly string[]): { values: Values; positionals: string[] } => {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options: c.options, allowPositionals: true, strict: true })
    if (values.help !== true && (c.variadic === true ? positionals.length < c.positionals : positionals.length !== c.positionals))
      throw new UsageError(`expected ${c.positionals} argument${c.positionals === 1 ? "" : "s"}, got ${positionals.length}: ${c.usage}`)
    return { values: values as Values, positionals }
  } catch (e) {
    if (e instanceof UsageError) throw e
    throw new UsageError(e instanceof Error ? e.message : String(e))
  }
}

export const str = (v: Values, k: string): string | undefined => (typeof v[k] === "string" ? (v[k] as string) : undefined)
export const strs = (v: Values, k: string): string[] => (Array.isArray(v[k]) ? (v[k] as string[]) : [])
export const flag = (v: Values, k: string): boolean => v[k] === true

export const intFlag = (v: Values, k: string, dflt: number, min = 1): number => {
  const s = str(v, k)
  if (s === undefined) return dflt
  const n = Number(s)
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${k} must be an integer >= ${min}, got "${s}"`)
  return n
}

/** "30s", "10m", "2h", "1d" or plain seconds -> milliseconds; undefined when the flag is absent. */
export const durationFlag = (v: Values, k: string): number | undefined => {
  const s = str(v, k)
  if (s === undefined) return undefined
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(s.trim())
  if (m === null) throw new UsageError(`--${k} must be a duration like 30s, 10m or 2h, got "${s}"`)
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }[m[2] ?? "s"] ?? 1000
  return Number(m[1]) * unit
}

/** "500M" -> bytes. */
export const parseSize = (s: string): number => {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)i?[bB]?$/.exec(s.trim())
  if (m === null) throw new UsageError(`bad size "${s}" (e.g. 500M, 2G)`)
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[(m[2] ?? "").toLowerCase()] ?? 1
  return Math.floor(Number(m[1]) * mult)
}

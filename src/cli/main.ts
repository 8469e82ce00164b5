// `pipe` entry point: dispatches subcommands and turns every typed failure into one located line.
// Exit codes: 0 ok, 1 invalid pipeline or failed node, 2 usage error.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { COMMANDS, commandHelp, flag, mainHelp, parseCommand, str, UsageError, type Values } from "./args.ts"
import type { Io } from "./run.ts"

const schemaCommand = async (v: Values, _: string[], io: Io): Promise<number> => {
  const { resolveDirs } = await import("./context.ts")
  const { dirFlags } = await import("./run.ts")
  const { generateSchemaText } = await import("../pipeline/schema-file.ts")
  const dirs = resolveDirs(dirFlags(v), undefined, io.env, io.cwd)
  const out = resolve(io.cwd, str(v, "out") ?? join(dirs.root, "schema", "pipeline.schema.json"))
  const { spliceReference } = await import("../pipeline/node-docs.ts")
  const { text, kinds, reference } = await generateSchemaText(dirs.root, dirs.nodes)
  // The README's node reference is generated with the schema (when the project has a README).
  const readmeFile = join(dirs.root, "README.md")
  const readme = existsSync(readmeFile) ? readFileSync(readmeFile, "utf8") : undefined
  const newReadme = readme === undefined ? undefined : spliceReference(readme, reference)
  if (flag(v, "check")) {
    const same = existsSync(out) && readFileSync(out, "utf8") === text
    const readmeSame = readme === newReadme
    io.out(same ? `${out}: up to date (${kinds} kinds)\n` : `${out}: out of date; run \`npm run schema\`\n`)
    if (!readmeSame) io.out(`${readmeFile}: node reference out of date; run \`npm run schema\`\n`)
    return same && readmeSame ? 0 : 1
  }
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, text)
  if (newReadme !== undefined && newReadme !== readme) writeFileSync(readmeFile, newReadme)
  io.out(`wrote ${out} (${kinds} kinds)${newReadme !== undefined ? " and the README node reference" : ""}\n`)
  return 0
}

type Handler = (v: Values, positionals: string[], io: Io) => Promise<number>
// Command modules are imported on demand: `pipe run` must not pay for pngjs, gc or export code.
const HANDLERS: Readonly<Record<string, () => Promise<Handler>>> = {
  run: async () => (await import("./run.ts")).runCommand,
  plan: async () => (await import("./run.ts")).planCommand,
  explain: async () => (await import("./inspect.ts")).explainCommand,
  validate: async () => (await import("./inspect.ts")).validateCommand,
  dag: async () => (await import("./inspect.ts")).dagCommand,
  ls: async () => (await import("./cache-cmds.ts")).lsCommand,
  gc: async () => (await import("./cache-cmds.ts")).gcCommand,
  verify: async () => (await import("./cache-cmds.ts")).verifyCommand,
  export: async () => (await import("./export.ts")).exportCommand,
  report: async () => (await import("./report.ts")).reportCommand,
  compare: async () => (await import("./report.ts")).compareCommand,
  schema: async () => schemaCommand,
  worker: async () => (await import("./distributed.ts")).workerCommand,
  workers: async () => (await import("./distributed.ts")).workersCommand,
}

export const main = async (argv: readonly string[], io: Io): Promise<number> => {
  const [name, ...rest] = argv
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(`${mainHelp()}\n`)
    return name === undefined ? 2 : 0
  }
  const command = COMMANDS[name]
  const handler = HANDLERS[name]
  try {
    if (command === undefined || handler === undefined) throw new UsageError(`unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(", ")})`)
    const { values, positionals } = parseCommand(command, rest)
    if (values.help === true) {
      io.out(`${commandHelp(name, command)}\n`)
      return 0
    }
    return await (await handler())(values, positionals, io)
  } catch (e) {
    return await reportError(e, io, command !== undefined ? name : undefined)
  }
}

/**
 * Prints a failure as located lines (never a stack trace) and returns the exit code: 2 for usage
 * errors, 1 for everything else. `command` names the subcommand for the --help hint.
 */
export const reportError = async (e: unknown, io: Pick<Io, "err">, command?: string): Promise<number> => {
  if (e instanceof UsageError) {
    io.err(`error: ${e.message}\n(see pipe ${command !== undefined ? `${command} ` : ""}--help)\n`)
    return 2
  }
  // Loaded here, not at the top: the error classes pull in effect, which `pipe --help` (and every
  // command that succeeds without touching it) need not load.
  const { formatDiagnostic, InvalidPipeline, NodeFailed, RegistryError, SelectionError, StoreError, CorruptObject } = await import("../errors.ts")
  if (e instanceof InvalidPipeline) {
    for (const d of e.diagnostics) io.err(`${formatDiagnostic(d)}\n`)
    io.err(`${e.diagnostics.length} error${e.diagnostics.length === 1 ? "" : "s"}\n`)
    return 1
  }
  if (e instanceof RegistryError) io.err(`${e.file}: error: ${e.reason}\n`)
  else if (e instanceof SelectionError) io.err(`error: ${e.message}\n`)
  else if (e instanceof StoreError) io.err(`error: cache: ${e.reason}\n`)
  else if (e instanceof CorruptObject) io.err(`error: cache object ${e.digest.slice(0, 12)}: ${e.reason}\n`)
  else if (e instanceof NodeFailed) io.err(`${e.pos.file}:${e.pos.line}:${e.pos.column}: ${e.node} (${e.kind}) failed: ${e.message}\n`)
  else if (e instanceof Error) io.err(`error: ${e.message}\n`)
  else io.err(`error: ${String(e)}\n`)
  return 1
}

export const processIo = (): Io => ({
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  isTTY: process.stderr.isTTY === true,
  columns: () => process.stderr.columns ?? 100,
  env: process.env,
  cwd: process.cwd(),
  onInterrupt: (handler) => {
    // SIGTERM (a supervisor, `kill`, a CI timeout) stops a run as Ctrl-C does: run.json written, locks released.
    const onInt = () => handler("SIGINT")
    const onTerm = () => handler("SIGTERM")
    process.on("SIGINT", onInt)
    process.on("SIGTERM", onTerm)
    return () => {
      process.off("SIGINT", onInt)
      process.off("SIGTERM", onTerm)
    }
  },
})

// The CLI's configuration layer: the one place that reads flags and environment variables
// (PIPE_ROOT, PIPE_NODES, PIPE_CACHE, PIPE_RUNS) and turns them into directories, a registry and a store.
import { existsSync, statSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { UsageError } from "./args.ts"
import { type PathDigester, makePathDigester } from "../key/path-digest.ts"
import { loadRegistry, type Registry } from "../registry/registry.ts"
import type { Pipeline } from "../pipeline/load.ts"
import { loadPipelineMemo } from "../pipeline/memo.ts"
import { openStore, type Store } from "../store/store.ts"

export interface DirFlags {
  readonly root?: string | undefined
  readonly nodes?: string | undefined
  readonly cache?: string | undefined
  readonly runs?: string | undefined
}

export interface Dirs {
  readonly root: string
  readonly nodes: string
  readonly cache: string
  readonly runs: string
}

/** Nearest ancestor of `start` holding a package.json (the project root), else `start`. */
export const findRoot = (start: string): string => {
  let dir = resolve(start)
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir
    const parent = dirname(dir)
    if (parent === dir) return resolve(start)
    dir = parent
  }
}

/** A directory flag that names an existing non-directory (`--cache package.json`) is a usage error. */
const notAFile = (what: string, dir: string): string => {
  let isDir = true
  try {
    isDir = statSync(dir).isDirectory()
  } catch {
    // missing: created when needed (cache, runs) or reported by what reads it (root, nodes)
  }
  if (!isDir) throw new UsageError(`${what} ${dir} is not a directory`)
  return dir
}

export const resolveDirs = (flags: DirFlags, file: string | undefined, env: NodeJS.ProcessEnv, cwd: string): Dirs => {
  const rootFlag = flags.root ?? env.PIPE_ROOT
  const root = rootFlag !== undefined && rootFlag !== "" ? resolve(cwd, rootFlag) : findRoot(file !== undefined ? dirname(resolve(cwd, file)) : cwd)
  const pick = (flag: string | undefined, envName: string, dflt: string): string => {
    const v = flag ?? env[envName]
    const dir = v !== undefined && v !== "" ? resolve(cwd, v) : join(root, dflt)
    return notAFile(flag !== undefined ? `--${dflt}` : v !== undefined && v !== "" ? envName : dflt, dir)
  }
  notAFile(rootFlag !== undefined && rootFlag !== "" ? (flags.root !== undefined ? "--root" : "PIPE_ROOT") : "project root", root)
  return { root, nodes: pick(flags.nodes, "PIPE_NODES", "nodes"), cache: pick(flags.cache, "PIPE_CACHE", "cache"), runs: pick(flags.runs, "PIPE_RUNS", "runs") }
}

export interface Project {
  readonly dirs: Dirs
  readonly registry: Registry
  readonly store: Store
  readonly paths: PathDigester
  readonly readOnly: boolean
}

/**
 * PIPE_TEST_CRASH=object|manifest kills this process with SIGKILL right before the first rename of
 * an object (`.arrow`) or a manifest (`.json`); PIPE_TEST_CRASH=rename:N right before the N-th rename
 * of any store file (objects, file blobs, manifests). The crash tests use it to stop a write half way.
 */
const crashHook = (env: NodeJS.ProcessEnv): ((target: string) => void) | undefined => {
  const at = env.PIPE_TEST_CRASH ?? ""
  const nth = /^rename:(\d+)$/.exec(at)
  if (nth !== null) {
    let left = Number(nth[1])
    return () => {
      if (--left === 0) process.kill(process.pid, "SIGKILL")
    }
  }
  if (at !== "object" && at !== "manifest") return undefined
  const suffix = at === "object" ? ".arrow" : ".json"
  return (target) => {
    if (target.endsWith(suffix) && !target.includes("/registry/")) process.kill(process.pid, "SIGKILL")
  }
}

export interface ProjectOptions {
  /** Write nothing under the cache (registry metadata, memos): `pipe gc --dry-run`. */
  readonly readOnly?: boolean
}

export const openProject = async (dirs: Dirs, env: NodeJS.ProcessEnv = {}, opts: ProjectOptions = {}): Promise<Project> => ({
  dirs,
  registry: await loadRegistry({ root: dirs.root, nodesDir: dirs.nodes, cacheDir: dirs.cache, readOnly: opts.readOnly === true }),
  store: openStore(dirs.cache, { beforeRename: crashHook(env) }),
  paths: makePathDigester(dirs.cache, { root: dirs.root, readOnly: opts.readOnly === true }),
  readOnly: opts.readOnly === true,
})

export const loadFor = (
  project: Project,
  file: string,
  opts: { profile?: string | undefined; sets?: readonly string[] | undefined },
  cwd: string,
): Pipeline =>
  loadPipelineMemo(file, {
    memoDir: join(project.dirs.cache, "memo", "pipelines"),
    root: project.dirs.root,
    registry: project.registry,
    readOnly: project.readOnly,
    cwd,
    ...(opts.profile !== undefined ? { profile: opts.profile } : {}),
    sets: opts.sets ?? [],
  })

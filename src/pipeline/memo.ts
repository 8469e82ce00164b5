// Memoised validation. Compiling the pipeline JSON Schema with ajv costs most of a cached run's
// startup (~0.5 s with a dozen kinds), and its result is a pure function of: the text of the pipeline
// file and its includes, the registry metadata of every kind, the profile, the --set overrides and
// the project root. So the resolved pipeline is stored under cache/memo/pipelines/ keyed by a digest
// of those, and reused when every included file still hashes the same and every path param exists.
import { existsSync, mkdirSync, readFileSync, realpathSync } from "node:fs"
import { join, resolve } from "node:path"
import { canonicalJson, sha256 } from "../key/canonical.ts"
import type { SourcePos } from "../errors.ts"
import type { Registry } from "../registry/registry.ts"
import { writeFileAtomic } from "../store/atomic.ts"
import { checkPath, type LoadOptions, loadPipeline, type Pipeline, type PipelineNode } from "./load.ts"

// Bump when Pipeline's shape or validation rules change.
const MEMO_FORMAT = "pipe-validated-4" // 3: include namespaces (scopes); 4: path params hold real paths (symlinks resolved)

interface Stored {
  readonly files: Readonly<Record<string, string>> // abs path -> sha256 of text
  readonly pipeline: Omit<Pipeline, "nodes" | "deps"> & {
    readonly nodes: readonly (Omit<PipelineNode, "entry"> & { readonly pos: SourcePos })[]
    readonly deps: readonly (readonly [string, readonly string[]])[]
  }
}

const registryDigest = (r: Registry): string =>
  sha256(canonicalJson([...r.entries.values()].map((e) => [e.kind, e.code.digest])))

/** Undefined for a missing or unreadable file (a directory...): the loader then reports it, located. */
const textSha = (file: string): string | undefined => {
  try {
    return sha256(readFileSync(file))
  } catch {
    return undefined
  }
}

/** JSON that refuses non-finite numbers (JSON.stringify would turn them into null: a different pipeline). */
const strictJson = (v: unknown): string =>
  JSON.stringify(v, (_, x: unknown) => {
    if (typeof x === "number" && !Number.isFinite(x)) throw new Error(`non-finite number ${x} in a validated pipeline`)
    return x
  })

/** Every path param still resolves (symlinks included) to the real path validation found. */
const pathsFresh = (root: string, nodes: Stored["pipeline"]["nodes"]): boolean => {
  const realRoot = realpathSync(root)
  return nodes.every((n) => Object.entries(n.paths).every(([name, real]) => typeof n.params[name] === "string" && checkPath(root, realRoot, n.params[name]) === real))
}

export const loadPipelineMemo = (file: string, opts: LoadOptions & { readonly memoDir: string; readonly readOnly?: boolean }): Pipeline => {
  const cwd = opts.cwd ?? process.cwd()
  const abs = resolve(cwd, file)
  const id = sha256(
    canonicalJson({
      f: MEMO_FORMAT,
      abs,
      cwd,
      root: resolve(opts.root),
      main: textSha(abs) ?? "",
      registry: registryDigest(opts.registry),
      profile: opts.profile ?? null,
      sets: opts.sets ?? [],
    }),
  )
  const memoFile = join(opts.memoDir, `${id}.json`)
  if (existsSync(memoFile)) {
    try {
      const s = JSON.parse(readFileSync(memoFile, "utf8")) as Stored
      const fresh = Object.entries(s.files).every(([f, sha]) => textSha(f) === sha) && pathsFresh(resolve(opts.root), s.pipeline.nodes)
      const entries = s.pipeline.nodes.map((n) => opts.registry.entries.get(n.kind))
      if (fresh && entries.every((e) => e !== undefined))
        return {
          ...s.pipeline,
          nodes: new Map(s.pipeline.nodes.map((n, i) => [n.id, { ...n, entry: entries[i] as NonNullable<(typeof entries)[number]> }])),
          deps: new Map(s.pipeline.deps.map(([k, v]) => [k, [...v]])),
        }
    } catch {
      // unreadable memo: validate from scratch and overwrite it
    }
  }
  const p = loadPipeline(file, opts)
  if (opts.readOnly === true) return p
  const stored: Stored = {
    files: Object.fromEntries(p.files.map((f) => [f, textSha(f) ?? ""])),
    pipeline: {
      ...p,
      nodes: [...p.nodes.values()].map(({ entry: _entry, ...rest }) => rest),
      deps: [...p.deps],
    },
  }
  try {
    const text = strictJson(stored)
    mkdirSync(opts.memoDir, { recursive: true })
    writeFileAtomic(memoFile, text)
  } catch {
    // a read-only cache only costs speed (and a pipeline that cannot round-trip is never memoised)
  }
  return p
}

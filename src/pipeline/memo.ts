// Memoised validation. Compiling the pipeline JSON Schema with ajv costs most of a cached run's
// startup (~0.5 s with a dozen kinds), and its result is a pure function of: the text of the pipeline
// file and its includes, the registry metadata of every kind, the profile, the --set overrides and
// the project root. So the resolved pipeline is stored under cache/memo/pipelines/ keyed by a digest
// of those, and reused when every included file still hashes the same and every path param exists.
import { existsSync, mkdirSync, readFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { canonicalJson, sha256 } from "../key/canonical.ts"
import type { SourcePos } from "../errors.ts"
import type { Registry } from "../registry/registry.ts"
import { writeFileAtomic } from "../store/atomic.ts"
import { type LoadOptions, loadPipeline, type Pipeline, type PipelineNode } from "./load.ts"

// Bump when Pipeline's shape or validation rules change.
const MEMO_FORMAT = "pipe-validated-3"

interface Stored {
  readonly files: Readonly<Record<string, string>> // abs path -> sha256 of text
  readonly pipeline: Omit<Pipeline, "nodes" | "deps"> & {
    readonly nodes: readonly (Omit<PipelineNode, "entry"> & { readonly pos: SourcePos })[]
    readonly deps: readonly (readonly [string, readonly string[]])[]
  }
}

const registryDigest = (r: Registry): string =>
  sha256(canonicalJson([...r.entries.values()].map((e) => [e.kind, e.code.digest])))

const textSha = (file: string): string | undefined => (existsSync(file) ? sha256(readFileSync(file)) : undefined)

export const loadPipelineMemo = (file: string, opts: LoadOptions & { readonly memoDir: string }): Pipeline => {
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
      const fresh =
        Object.entries(s.files).every(([f, sha]) => textSha(f) === sha) &&
        s.pipeline.nodes.every((n) => Object.values(n.paths).every((p) => existsSync(p)))
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
  const stored: Stored = {
    files: Object.fromEntries(p.files.map((f) => [f, textSha(f) ?? ""])),
    pipeline: {
      ...p,
      nodes: [...p.nodes.values()].map(({ entry: _entry, ...rest }) => rest),
      deps: [...p.deps],
    },
  }
  try {
    mkdirSync(opts.memoDir, { recursive: true })
    writeFileAtomic(memoFile, JSON.stringify(stored))
  } catch {
    // a read-only cache only costs speed
  }
  return p
}

// The node registry: one kind per `nodes/<kind>.ts` (files starting with `_` are helpers, not kinds).
// What validation, planning and keys need (param schemas, port types, heavy flag) is kept as JSON
// metadata in the cache, addressed by the kind's code version. Node modules import tfjs, so a fully
// cached run must never import them: it only hashes their sources (cheap) and reads the metadata.
// A module is imported only when its metadata is missing or when the node actually has to run.
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs"
import { basename, join } from "node:path"
import type { AnyNode } from "../node.ts"
import { portOf } from "../node.ts"
import { RegistryError } from "../errors.ts"
import { canonicalJson, sha256 } from "../key/canonical.ts"
import { importModule } from "../import-module.ts"
import { writeFileAtomic } from "../store/atomic.ts"
import { type CodeVersion, makeCodeVersioner } from "./code-version.ts"

/** JSON Schema as plain data (TypeBox's symbol keys stripped). */
export type JsonSchema = { readonly [k: string]: unknown }

export interface PortInfo {
  readonly type: string
  readonly typeDescription: string
  readonly optional: boolean
}

export interface NodeMeta {
  readonly kind: string
  readonly description: string
  readonly params: JsonSchema
  readonly inputs: Readonly<Record<string, PortInfo>>
  readonly outputs: Readonly<Record<string, PortInfo>>
  readonly heavy: boolean
}

export interface NodeEntry {
  readonly kind: string
  readonly file: string
  readonly code: CodeVersion
  readonly meta: NodeMeta
}

export interface Registry {
  readonly root: string
  readonly nodesDir: string
  readonly entries: ReadonlyMap<string, NodeEntry>
  /** Imports the node module (memoised); throws RegistryError when it is broken. */
  readonly load: (kind: string) => Promise<AnyNode>
}

// Bump when NodeMeta's shape changes so old metadata files are ignored.
const META_FORMAT = "pipe-meta-1"

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null

export const kindFiles = (nodesDir: string): string[] =>
  existsSync(nodesDir)
    ? readdirSync(nodesDir)
        .filter((f) => f.endsWith(".ts") && !f.startsWith("_") && !f.endsWith(".d.ts") && !f.endsWith(".test.ts"))
        .sort()
    : []

const importNode = async (file: string, kind: string): Promise<AnyNode> => {
  let mod: unknown
  try {
    mod = await importModule(file)
  } catch (e) {
    throw new RegistryError({ file, reason: `failed to load: ${e instanceof Error ? e.message : String(e)}` })
  }
  const def = isRecord(mod) ? mod.default : undefined
  if (!isRecord(def) || typeof def.run !== "function" || !isRecord(def.params) || !isRecord(def.inputs) || !isRecord(def.outputs))
    throw new RegistryError({ file, reason: "must `export default defineNode({...})`" })
  if (def.kind !== kind)
    throw new RegistryError({ file, reason: `kind is "${String(def.kind)}" but the file name says "${kind}"` })
  return def as unknown as AnyNode
}

/** Engine-facing metadata of a loaded node definition. */
export const metaOf = (def: AnyNode): NodeMeta => {
  const plain = JSON.parse(JSON.stringify(def.params)) as JsonSchema
  const inputs: Record<string, PortInfo> = {}
  for (const [port, spec] of Object.entries(def.inputs)) {
    const p = portOf(spec)
    inputs[port] = { type: p.type.name, typeDescription: p.type.description, optional: p.optional }
  }
  const outputs: Record<string, PortInfo> = {}
  for (const [port, type] of Object.entries(def.outputs))
    outputs[port] = { type: type.name, typeDescription: type.description, optional: false }
  return { kind: def.kind, description: def.description, params: plain, inputs, outputs, heavy: def.heavy === true }
}

export interface RegistryOptions {
  readonly root: string
  readonly nodesDir: string
  /** Where metadata is memoised; omit to always import (schema generation does). */
  readonly cacheDir?: string
  /** Read memoised metadata but never write it (`pipe gc --dry-run`). */
  readonly readOnly?: boolean
}

export const loadRegistry = async (opts: RegistryOptions): Promise<Registry> => {
  const version = makeCodeVersioner(opts.root)
  const loaded = new Map<string, Promise<AnyNode>>()
  const load = (kind: string): Promise<AnyNode> => {
    const hit = loaded.get(kind)
    if (hit !== undefined) return hit
    const p = importNode(join(opts.nodesDir, `${kind}.ts`), kind)
    loaded.set(kind, p)
    return p
  }
  const metaDir = opts.cacheDir === undefined ? undefined : join(opts.cacheDir, "registry")
  const entries = new Map<string, NodeEntry>()
  for (const f of kindFiles(opts.nodesDir)) {
    const kind = basename(f, ".ts")
    const file = join(opts.nodesDir, f)
    const code = version(file)
    const metaFile = metaDir === undefined ? undefined : join(metaDir, `${kind}.${sha256(META_FORMAT + code.digest).slice(0, 32)}.json`)
    let meta: NodeMeta | undefined
    if (metaFile !== undefined && existsSync(metaFile)) {
      try {
        meta = JSON.parse(readFileSync(metaFile, "utf8")) as NodeMeta
      } catch {
        meta = undefined // a torn or foreign file: rebuild it below
      }
    }
    if (meta === undefined) {
      meta = metaOf(await load(kind))
      if (metaDir !== undefined && metaFile !== undefined && opts.readOnly !== true) {
        mkdirSync(metaDir, { recursive: true })
        writeFileAtomic(metaFile, canonicalJson(meta))
      }
    }
    entries.set(kind, { kind, file, code, meta })
  }
  return { root: opts.root, nodesDir: opts.nodesDir, entries, load }
}

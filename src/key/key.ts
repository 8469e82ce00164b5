// Cache key of a node = sha256 over canonical JSON of its key components. Deliberately absent: the
// node id, the pipeline file name, absolute paths, YAML key order and number spelling, and the tensor
// backend. Inputs enter by the *content* digest of the upstream artifact (not the upstream key), so an
// upstream rerun that yields identical bytes leaves this key unchanged (early cutoff).
import { canonicalJson, type Json, sha256 } from "./canonical.ts"

/** Bump when the meaning of stored artifacts or of key components changes: every key changes. */
export const FORMAT_SALT = "pipe-key-1/arrow-ipc-file"

/** Stands in for a path param's string in `params`; the content digest goes in `paths`. */
export const PATH_PLACEHOLDER = "<content-addressed>"

export interface KeyComponents {
  readonly salt: string
  readonly kind: string
  readonly codeVersion: string
  /** Params after defaults; path params replaced by PATH_PLACEHOLDER. */
  readonly params: { readonly [k: string]: Json }
  /** Input port -> content digest of the artifact feeding it (optional ports omitted when unset). */
  readonly inputs: Readonly<Record<string, string>>
  /** Path param -> content digest of the file or directory it names. */
  readonly paths: Readonly<Record<string, string>>
}

export const cacheKey = (c: KeyComponents): string => sha256(canonicalJson(c))

/** Names of top-level params declared `format: "path"` in a params JSON schema. */
export const pathParams = (schema: { readonly [k: string]: unknown }): string[] => {
  const props = schema.properties
  if (typeof props !== "object" || props === null) return []
  return Object.entries(props as Record<string, unknown>)
    .filter(([, s]) => typeof s === "object" && s !== null && (s as { format?: unknown }).format === "path")
    .map(([k]) => k)
    .sort()
}

export const keyComponents = (args: {
  readonly kind: string
  readonly codeVersion: string
  readonly params: { readonly [k: string]: Json }
  readonly pathNames: readonly string[]
  readonly inputs: Readonly<Record<string, string>>
  readonly paths: Readonly<Record<string, string>>
}): KeyComponents => {
  const params: Record<string, Json> = { ...args.params }
  for (const p of args.pathNames) if (p in params) params[p] = PATH_PLACEHOLDER
  return { salt: FORMAT_SALT, kind: args.kind, codeVersion: args.codeVersion, params, inputs: args.inputs, paths: args.paths }
}

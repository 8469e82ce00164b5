// Turns ajv errors into located, human diagnostics ("unknown param", "did you mean", ...).
import { createRequire } from "node:module"
import type { Ajv, ErrorObject, ValidateFunction } from "ajv"
import type { Diagnostic, SourcePos } from "../errors.ts"
import type { JsonSchema } from "../registry/registry.ts"

// ajv (CommonJS) is required lazily: a memoised validation (src/pipeline/memo.ts) never needs it.
const require = createRequire(import.meta.url)

export const makeAjv = (): Ajv => {
  const { Ajv: AjvClass } = require("ajv") as typeof import("ajv")
  const ajv = new AjvClass({ allErrors: true, useDefaults: true, strict: false, logger: false })
  // Path params are plain strings to ajv; containment and existence are checked by the loader.
  ajv.addFormat("path", true)
  return ajv
}

export const compile = (ajv: Ajv, schema: JsonSchema): ValidateFunction => ajv.compile(schema)

/** Levenshtein distance, for "did you mean". */
export const editDistance = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return row[b.length] as number
}

export const didYouMean = (word: string, candidates: readonly string[]): string => {
  const best = candidates
    .map((c) => ({ c, d: editDistance(word.toLowerCase(), c.toLowerCase()) }))
    .sort((x, y) => x.d - y.d)[0]
  return best !== undefined && best.d <= Math.max(2, Math.floor(word.length / 3)) ? ` (did you mean "${best.c}"?)` : ""
}

export const pointerSegments = (pointer: string): string[] =>
  pointer === "" ? [] : pointer.slice(1).split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))

const show = (v: unknown): string => {
  const s = JSON.stringify(v)
  return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 37)}...` : s
}

export interface ErrorContext {
  /** Where the validated value sits in the file (prefix of every instancePath). */
  readonly base: readonly (string | number)[]
  readonly pos: (path: readonly (string | number)[], which?: "key" | "value") => SourcePos
  readonly data: unknown
  /** Describes the object at a path, for "unknown param" messages: e.g. the kind's known params. */
  readonly known?: (path: readonly string[]) => { what: string; names: readonly string[] } | undefined
}

const getAt = (data: unknown, path: readonly string[]): unknown =>
  path.reduce<unknown>((v, k) => (typeof v === "object" && v !== null ? (v as Record<string, unknown>)[k] : undefined), data)

export const diagnosticsOf = (errors: readonly ErrorObject[], ctx: ErrorContext): Diagnostic[] => {
  const out: Diagnostic[] = []
  const seen = new Set<string>()
  for (const e of errors) {
    if (e.keyword === "if" || e.keyword === "propertyNames") continue // the underlying error is reported too
    const rel = pointerSegments(e.instancePath)
    const path = [...ctx.base, ...rel]
    const where = path.join(".")
    let pos = ctx.pos(path)
    let message: string
    if (e.keyword === "additionalProperties") {
      const name = String((e.params as { additionalProperty: string }).additionalProperty)
      pos = ctx.pos([...path, name], "key")
      const known = ctx.known?.(rel)
      message = known
        ? `unknown ${known.what} "${name}"${didYouMean(name, known.names)} (known: ${known.names.join(", ") || "none"})`
        : `${where ? `${where}: ` : ""}unknown field "${name}"`
    } else if (e.keyword === "required") {
      message = `${where || "file"}: missing required "${String((e.params as { missingProperty: string }).missingProperty)}"`
    } else if (e.keyword === "type") {
      message = `${where || "the file"}: must be ${String((e.params as { type: string }).type)}, got ${show(getAt(ctx.data, rel))}`
    } else if (e.keyword === "enum" && rel[0] === "nodes" && rel[2] === "kind" && rel.length === 3) {
      const kind = String(getAt(ctx.data, rel))
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String)
      message = `unknown node kind "${kind}"${didYouMean(kind, allowed)} (kinds are the files in nodes/)`
    } else if (e.keyword === "enum") {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String)
      message = `${where}: ${show(getAt(ctx.data, rel))} is not one of ${allowed.join(", ")}`
    } else if (e.keyword === "pattern" && where.includes(".inputs.")) {
      message = `${where}: must be "node.output", got ${show(getAt(ctx.data, rel))}`
    } else if (e.keyword === "pattern" && e.propertyName !== undefined) {
      pos = ctx.pos([...path, e.propertyName], "key")
      message = `invalid id "${e.propertyName}": ids are letters, digits, "_" and "-"`
    } else {
      message = `${where}: ${e.message ?? e.keyword}${e.keyword === "const" ? "" : ` (got ${show(getAt(ctx.data, rel))})`}`
    }
    const line = `${pos.line}:${pos.column}:${message}`
    if (seen.has(line)) continue
    seen.add(line)
    out.push({ pos, message })
  }
  return out
}

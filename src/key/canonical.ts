// Canonical JSON: the one serialisation that goes into cache keys. Object keys are sorted, numbers are
// printed by the shortest round-trip form (so YAML `1e-3`, `0.001` and `1.0e-3` agree), -0 becomes 0,
// and anything that is not plain JSON data is rejected rather than silently dropped (a key that
// ignores part of the params would serve stale results).
import { createHash } from "node:crypto"

export type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json }

export class NotCanonical extends Error {
  readonly _tag = "NotCanonical"
}

export const canonicalJson = (value: unknown, path = "$"): string => {
  if (value === null) return "null"
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false"
    case "number":
      if (!Number.isFinite(value)) throw new NotCanonical(`${path}: non-finite number ${value}`)
      return JSON.stringify(Object.is(value, -0) ? 0 : value)
    case "string":
      return JSON.stringify(value)
    case "object": {
      if (Array.isArray(value)) return `[${value.map((v, i) => canonicalJson(v, `${path}[${i}]`)).join(",")}]`
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) throw new NotCanonical(`${path}: not a plain object`)
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v, `${path}.${k}`)}`).join(",")}}`
    }
    default:
      throw new NotCanonical(`${path}: ${typeof value} is not JSON data`)
  }
}

export const sha256 = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex")

/**
 * Paths of every non-finite number (±Infinity, NaN) in plain data. YAML writes them as `.inf`,
 * `-.inf`, `.nan` or an overflowing literal like `1e400`; none has a JSON form, so none may reach a key.
 */
export const nonFinitePaths = (value: unknown, path: readonly (string | number)[] = []): (string | number)[][] => {
  if (typeof value === "number") return Number.isFinite(value) ? [] : [[...path]]
  if (Array.isArray(value)) return value.flatMap((v, i) => nonFinitePaths(v, [...path, i]))
  if (typeof value === "object" && value !== null) return Object.entries(value).flatMap(([k, v]) => nonFinitePaths(v, [...path, k]))
  return []
}

export const NON_FINITE_HINT = "is not a finite number (.inf, .nan and literals beyond ±1.8e308 have no JSON form, so no cache key can hold them)"

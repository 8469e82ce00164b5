// Codec for Metrics. Scalars are the rows (name: Utf8, value: Float64), sorted by name so equal
// records give equal bytes. The small tables (loss curves, timings) travel as one canonical-JSON
// metadata entry "tables" (sorted keys; NaN, +-Infinity and -0 tagged so they round-trip).
import type { ArtifactType } from "../artifact.ts"
import {
  ArtifactDecodeError,
  canonicalJson,
  checkKind,
  float64Column,
  makeTable,
  parseCanonicalJson,
  readFloat64,
  readMeta,
  readUtf8,
  utf8Column,
} from "./arrow.ts"
import type { Metrics, MetricsTable } from "./types.ts"

const isTable = (v: unknown): v is MetricsTable => {
  if (v === null || typeof v !== "object") return false
  const { columns, rows } = v as { columns?: unknown; rows?: unknown }
  return (
    Array.isArray(columns) &&
    columns.every((c) => typeof c === "string") &&
    Array.isArray(rows) &&
    rows.every((r) => Array.isArray(r) && r.every((x) => typeof x === "number" || typeof x === "string"))
  )
}

// Code-point order, not localeCompare: locale-independent, so bytes are identical on every machine.
const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

export const MetricsType: ArtifactType<Metrics> = {
  name: "metrics",
  description: "Named scalars (rows: name, value) plus small tables (JSON in schema metadata)",
  encode: (m) => {
    const names = Object.keys(m.scalars).sort(byCodePoint)
    return makeTable(
      "metrics",
      names.length,
      [utf8Column("name", names), float64Column("value", Float64Array.from(names, (n) => m.scalars[n]!))],
      [["tables", canonicalJson(m.tables)]],
    )
  },
  decode: (t) => {
    checkKind(t, "metrics")
    const names = readUtf8(t, "name")
    const values = readFloat64(t, "value")
    const tables = parseCanonicalJson(readMeta(t, "tables"))
    if (tables === null || typeof tables !== "object" || !Object.values(tables).every(isTable))
      throw new ArtifactDecodeError("metrics: tables metadata is not a map of {columns, rows}")
    // fromEntries defines own properties, so even a scalar named "__proto__" round-trips.
    const scalars = Object.fromEntries(names.map((n, i) => [n, values[i]!]))
    return { scalars, tables: tables as Record<string, MetricsTable> }
  },
}

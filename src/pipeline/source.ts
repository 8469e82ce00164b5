// A parsed YAML file that remembers where every value came from, so any problem found later
// (schema, graph, params from a profile) is reported as FILE:LINE:COL.
import { readFileSync } from "node:fs"
import { isAbsolute, relative } from "node:path"
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from "yaml"
import type { Diagnostic, SourcePos } from "../errors.ts"

export interface SourceFile {
  readonly path: string // absolute
  readonly display: string // as printed in diagnostics (relative to cwd when inside it)
  readonly data: unknown
  /** Position of the value (or with `which: "key"`, of the map key) at `path`; falls back to the nearest ancestor. */
  readonly pos: (path: readonly (string | number)[], which?: "key" | "value") => SourcePos
}

export const displayPath = (abs: string, cwd: string): string => {
  const rel = relative(cwd, abs)
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : abs
}

/** yaml's default: how many alias expansions a document may need before it counts as an attack. */
const MAX_ALIAS_COUNT = 100

interface Offsets {
  key?: number
  value?: number
}

const pathKey = (path: readonly (string | number)[]): string => path.map(String).join("\u0000")

/**
 * Start offsets of every map key and value and every list item, by path: built once per file, so
 * locating a diagnostic costs a map lookup (doc.getIn scans every sibling: quadratic over big files).
 * Also the offsets of repeated map keys: yaml's own `uniqueKeys` check compares each key with every
 * earlier one (quadratic), and keys that differ only in YAML type ("1" and 1) collide in JS anyway.
 */
const offsetIndex = (doc: Document): { index: Map<string, Offsets>; duplicates: { key: string; at: number }[] } => {
  const index = new Map<string, Offsets>()
  const duplicates: { key: string; at: number }[] = []
  const entry = (path: readonly (string | number)[]): Offsets => {
    const k = pathKey(path)
    const hit = index.get(k)
    if (hit !== undefined) return hit
    const e: Offsets = {}
    index.set(k, e)
    return e
  }
  const walk = (node: unknown, path: (string | number)[]): void => {
    if (isMap(node)) {
      const seen = new Set<string>()
      for (const pair of node.items) {
        if (!isScalar(pair.key) || pair.key.value === null) continue
        const name = String(pair.key.value)
        if (seen.has(name)) duplicates.push({ key: name, at: pair.key.range?.[0] ?? 0 })
        seen.add(name)
        const p = [...path, name]
        const e = entry(p)
        if (pair.key.range) e.key = pair.key.range[0]
        if (isNode(pair.value) && pair.value.range) e.value = pair.value.range[0]
        walk(pair.value, p)
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const p = [...path, i]
        if (isNode(item) && item.range) entry(p).value = item.range[0]
        walk(item, p)
      })
    }
  }
  if (isNode(doc.contents) && doc.contents.range) entry([]).value = doc.contents.range[0]
  walk(doc.contents, [])
  return { index, duplicates }
}

/** Offset of the first alias (`*name`) in the document, where an alias bomb is reported. */
const firstAlias = (doc: Document): number => {
  let at = 0
  visit(doc, {
    Alias: (_, node) => {
      at = node.range?.[0] ?? 0
      return visit.BREAK
    },
  })
  return at
}

export const parseSource = (abs: string, cwd: string): { file: SourceFile; errors: Diagnostic[] } => {
  const display = displayPath(abs, cwd)
  let text: string
  try {
    text = readFileSync(abs, "utf8")
  } catch (e) {
    const reason = (e as NodeJS.ErrnoException).code === "EISDIR" ? "is a directory, not a pipeline file" : `cannot be read (${e instanceof Error ? e.message : String(e)})`
    const pos = { file: display, line: 0, column: 0 }
    return { file: { path: abs, display, data: undefined, pos: () => pos }, errors: [{ pos, message: reason }] }
  }
  const lc = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false, prettyErrors: false })
  const { index, duplicates } = offsetIndex(doc)
  const at = (offset: number): SourcePos => {
    const { line, col } = lc.linePos(offset)
    return { file: display, line, column: col }
  }
  const pos = (path: readonly (string | number)[], which: "key" | "value" = "value"): SourcePos => {
    for (let n = path.length; n >= 0; n--) {
      const e = index.get(pathKey(path.slice(0, n)))
      if (e === undefined) continue
      if (which === "key" && n === path.length) {
        if (e.key !== undefined) return at(e.key)
      } else if (e.value !== undefined) return at(e.value)
      // a missing value: point at its key when there is one
      if (e.key !== undefined) return at(e.key)
    }
    return { file: display, line: 1, column: 1 }
  }
  const errors: Diagnostic[] = [...doc.errors, ...doc.warnings].map((e) => ({
    pos: at(e.pos[0]),
    message: e.message.split("\n")[0] ?? e.message,
  }))
  for (const d of duplicates) errors.push({ pos: at(d.at), message: `duplicate key "${d.key}" (node ids and params must be unique)` })
  let data: unknown
  if (errors.length === 0)
    try {
      // yaml refuses documents whose aliases expand past its limit (an "alias bomb": a few lines that
      // would expand to millions of nodes), by throwing rather than reporting.
      data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
    } catch (e) {
      if (!(e instanceof ReferenceError)) throw e
      errors.push({ pos: at(firstAlias(doc)), message: `YAML aliases (*name) here expand to too many copies (more than ${MAX_ALIAS_COUNT}); write the values out or use a sweep` })
    }
  return { file: { path: abs, display, data, pos }, errors }
}

// A parsed YAML file that remembers where every value came from, so any problem found later
// (schema, graph, params from a profile) is reported as FILE:LINE:COL.
import { readFileSync } from "node:fs"
import { isAbsolute, relative } from "node:path"
import { isMap, isNode, isPair, isScalar, LineCounter, parseDocument, type Document } from "yaml"
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

const keyNodeAt = (doc: Document, path: readonly (string | number)[]): unknown => {
  if (path.length === 0) return undefined
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true)
  if (!isMap(parent)) return undefined
  const last = path[path.length - 1]
  const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === last)
  return pair?.key
}

export const parseSource = (abs: string, cwd: string): { file: SourceFile; errors: Diagnostic[] } => {
  const display = displayPath(abs, cwd)
  const text = readFileSync(abs, "utf8")
  const lc = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false })
  const at = (offset: number): SourcePos => {
    const { line, col } = lc.linePos(offset)
    return { file: display, line, column: col }
  }
  const pos = (path: readonly (string | number)[], which: "key" | "value" = "value"): SourcePos => {
    for (let n = path.length; n >= 0; n--) {
      const p = path.slice(0, n)
      const node = which === "key" && n === path.length ? keyNodeAt(doc, p) : p.length === 0 ? doc.contents : doc.getIn(p, true)
      if (isNode(node) && node.range !== undefined && node.range !== null) return at(node.range[0])
      // a missing value: point at its key when there is one
      const key = keyNodeAt(doc, p)
      if (isNode(key) && key.range !== undefined && key.range !== null) return at(key.range[0])
    }
    return { file: display, line: 1, column: 1 }
  }
  const errors: Diagnostic[] = [...doc.errors, ...doc.warnings].map((e) => ({
    pos: at(e.pos[0]),
    message: e.message.split("\n")[0] ?? e.message,
  }))
  return { file: { path: abs, display, data: errors.length > 0 ? undefined : doc.toJS(), pos }, errors }
}

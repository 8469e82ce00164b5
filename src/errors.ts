// The engine's typed failures. Each carries what a fix needs (a source position, a cycle, a node id)
// and the CLI prints each as one located line, never a stack trace.
// Data.TaggedError rather than Schema.TaggedErrorClass: `effect/Schema` costs ~110 ms to import and
// these errors are never serialised, while startup of a fully cached run must stay well under 1 s.
import * as Data from "effect/Data"

/** A position in a pipeline file (1-based line and column), or a pseudo-source like `--set`. */
export interface SourcePos {
  readonly file: string
  readonly line: number
  readonly column: number
}

/** One located problem found before any work. */
export interface Diagnostic {
  readonly pos: SourcePos
  readonly message: string
}

export const formatPos = (pos: SourcePos): string =>
  pos.line > 0 ? `${pos.file}:${pos.line}:${pos.column}` : pos.file

export const formatDiagnostic = (d: Diagnostic): string => `${formatPos(d.pos)}: ${d.message}`

/** The pipeline (or one of its includes, profiles or --set overrides) is invalid. */
export class InvalidPipeline extends Data.TaggedError("InvalidPipeline")<{
  readonly diagnostics: readonly Diagnostic[]
}> {}

/** A node kind file in nodes/ is broken (does not load, wrong default export, kind != file name). */
export class RegistryError extends Data.TaggedError("RegistryError")<{
  readonly file: string
  readonly reason: string
}> {}

/** The artifact store could not read or write; `reason` says what and where. */
export class StoreError extends Data.TaggedError("StoreError")<{
  readonly reason: string
}> {
  override get message(): string {
    return this.reason
  }
}

/** A stored object's bytes do not hash to its address: it is reported, deleted and recomputed. */
export class CorruptObject extends Data.TaggedError("CorruptObject")<{
  readonly digest: string
  readonly reason: string
}> {
  override get message(): string {
    return this.reason
  }
}

/** A node failed while running; names the node id, kind and where it is declared. */
export class NodeFailed extends Data.TaggedError("NodeFailed")<{
  readonly node: string
  readonly kind: string
  readonly pos: SourcePos
  readonly message: string
}> {}

/** The user asked for something impossible with the given selectors (e.g. --only on an uncached input). */
export class SelectionError extends Data.TaggedError("SelectionError")<{
  readonly message: string
}> {}

// The engine's view of an artifact kind: a name (checked on DAG edges at validation time) and the one
// codec that turns a value of that kind into an Apache Arrow table and back. The engine stores the
// table as Arrow IPC bytes addressed by their sha256; it never looks inside.
import type { Table } from "apache-arrow"

export interface ArtifactType<A> {
  /** Port type name, e.g. "dataset"; two ports connect only when their names are equal. */
  readonly name: string
  /** One line for docs and the generated schema. */
  readonly description: string
  // Method syntax on purpose: it makes ArtifactType<Dataset> assignable to ArtifactType<unknown>.
  encode(value: A): Table
  /** Throws only on a bug or a corrupt table; the store verifies digests before decoding. */
  decode(table: Table): A
}

/** The value type carried by an artifact type. */
export type ArtifactValue<T> = T extends ArtifactType<infer A> ? A : never

// The node API: one node kind = one file in nodes/ exporting `defineNode({...})` as default.
// A node is pure in (inputs, params): randomness comes from a seed param; the clock, files and
// progress reporting come through the context, never from globals.
import type { Static, TObject } from "@sinclair/typebox"
import type { Effect } from "effect"
import type { ArtifactType, ArtifactValue } from "./artifact.ts"

/** An input port: an artifact type, optionally marked optional (`optional(Images)`). */
export interface Port<A = unknown> {
  readonly type: ArtifactType<A>
  readonly optional: boolean
}
export type PortSpec = ArtifactType<unknown> | Port<unknown>
export const optional = <A>(type: ArtifactType<A>): Port<A> & { readonly optional: true } => ({ type, optional: true })
export const portOf = (spec: PortSpec): Port<unknown> =>
  "encode" in spec ? { type: spec as ArtifactType<unknown>, optional: false } : (spec as Port<unknown>)

type PortValue<S> = S extends Port<infer A> ? A : ArtifactValue<S>
type IsOptional<S> = S extends Port<unknown> ? (S["optional"] extends true ? true : false) : false
export type InputValues<I extends Record<string, PortSpec>> = {
  readonly [K in keyof I as IsOptional<I[K]> extends true ? never : K]: PortValue<I[K]>
} & {
  readonly [K in keyof I as IsOptional<I[K]> extends true ? K : never]?: PortValue<I[K]>
}
export type OutputValues<O extends Record<string, ArtifactType<unknown>>> = {
  readonly [K in keyof O]: ArtifactValue<O[K]>
}

/** A progress event; the CLI draws bars from these, tests record them. */
export interface ProgressEvent {
  readonly phase: string // e.g. "train", "sample"
  readonly step: number // 1-based
  readonly total: number
  readonly epoch?: number
  readonly metrics?: Readonly<Record<string, number>> // loss, ...
}

/** What a running node may use besides its inputs and params. */
export interface NodeContext {
  /** Node id in the pipeline (for messages only: never part of a result or a key). */
  readonly nodeId: string
  readonly progress: (event: ProgressEvent) => void
  readonly log: (message: string) => void
  /** Set when the user pressed Ctrl-C: long loops check it between steps and stop early with NodeInterrupted. */
  readonly interrupted: () => boolean
}

/** Typed failure of a node body; the executor adds node id, kind and file position. */
export class NodeError extends Error {
  readonly _tag = "NodeError"
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
  }
}

export interface NodeDefinition<
  P extends TObject = TObject,
  I extends Record<string, PortSpec> = Record<string, PortSpec>,
  O extends Record<string, ArtifactType<unknown>> = Record<string, ArtifactType<unknown>>,
> {
  /** Must equal the file name in nodes/ and the YAML `kind:` value. */
  readonly kind: string
  readonly description: string
  /** TypeBox object schema; defaults are applied by validation, so `run` sees every field. */
  readonly params: P
  readonly inputs: I
  readonly outputs: O
  /** Heavy nodes use the tensor backend; the executor runs at most one at a time. */
  readonly heavy: boolean
  readonly run: (
    inputs: InputValues<I>,
    params: Static<P>,
    ctx: NodeContext,
  ) => Effect.Effect<OutputValues<O>, NodeError>
}

export const defineNode = <
  P extends TObject,
  I extends Record<string, PortSpec>,
  O extends Record<string, ArtifactType<unknown>>,
>(
  def: NodeDefinition<P, I, O>,
): NodeDefinition<P, I, O> => def

/** Type-erased node as the engine stores it in the registry. */
export type AnyNode = NodeDefinition<TObject, Record<string, PortSpec>, Record<string, ArtifactType<unknown>>>

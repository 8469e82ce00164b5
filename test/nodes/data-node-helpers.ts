// Helpers for the data node tests (load-mnist, canny, grid): a fake NodeContext and params with their
// schema defaults applied, as the engine's validation does before calling `run`.
import type { Static, TObject } from "@sinclair/typebox"
import { Value } from "@sinclair/typebox/value"
import { Effect } from "effect"
import type { NodeContext, NodeDefinition, NodeError, PortSpec } from "../../src/node.ts"
import type { ArtifactType } from "../../src/artifact.ts"

export const fakeCtx: NodeContext = { nodeId: "test", progress: () => {}, log: () => {}, interrupted: () => false }

export const withDefaults = <P extends TObject>(schema: P, given: Partial<Static<P>>): Static<P> =>
  Value.Default(schema, structuredClone(given)) as Static<P>

type Def<P extends TObject, I extends Record<string, PortSpec>, O extends Record<string, ArtifactType<unknown>>> = NodeDefinition<P, I, O>

/** Runs a node with defaults applied; resolves to its outputs. */
export const runNode = <P extends TObject, I extends Record<string, PortSpec>, O extends Record<string, ArtifactType<unknown>>>(
  node: Def<P, I, O>,
  inputs: Parameters<Def<P, I, O>["run"]>[0],
  params: Partial<Static<P>>,
) => Effect.runPromise(node.run(inputs, withDefaults(node.params, params), fakeCtx))

/** Runs a node expected to fail; resolves to its NodeError. */
export const failNode = <P extends TObject, I extends Record<string, PortSpec>, O extends Record<string, ArtifactType<unknown>>>(
  node: Def<P, I, O>,
  inputs: Parameters<Def<P, I, O>["run"]>[0],
  params: Partial<Static<P>>,
): Promise<NodeError> => Effect.runPromise(Effect.flip(node.run(inputs, withDefaults(node.params, params), fakeCtx)))

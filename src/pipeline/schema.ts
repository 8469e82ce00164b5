// JSON Schema of pipeline files, generated from the node registry. The same pieces serve editors
// (schema/pipeline.schema.json, via `npm run schema`) and validation, so the two cannot disagree.
// Each node entry is discriminated by `kind`: `if kind == K then params: <K's params schema>`.
import type { JsonSchema, NodeMeta } from "../registry/registry.ts"
import { VAR_PATTERN } from "./sweep.ts"

export const ID_PATTERN = "^[A-Za-z_][A-Za-z0-9_-]*$"
// A reference may name a namespaced node ("ddpm/train.model"; see src/pipeline/scope.ts).
export const REF_PATTERN = "^(?:[A-Za-z_][A-Za-z0-9_-]*/)*[A-Za-z_][A-Za-z0-9_-]*\\.[A-Za-z_][A-Za-z0-9_-]*$"

/** A kind's params schema, closed: unknown params are errors, not silently ignored. */
export const paramsSchema = (meta: NodeMeta): JsonSchema => ({
  ...meta.params,
  type: "object",
  additionalProperties: meta.params.additionalProperties ?? false,
})

const portLine = (name: string, p: { type: string; optional: boolean }): string =>
  `${name}: ${p.type}${p.optional ? " (optional)" : ""}`

export const kindDescription = (meta: NodeMeta): string => {
  const ins = Object.entries(meta.inputs).map(([n, p]) => portLine(n, p))
  const outs = Object.entries(meta.outputs).map(([n, p]) => portLine(n, p))
  return [
    meta.description,
    `inputs: ${ins.length > 0 ? ins.join(", ") : "none"}`,
    `outputs: ${outs.length > 0 ? outs.join(", ") : "none"}`,
    meta.heavy ? "heavy: runs one at a time" : "",
  ]
    .filter((s) => s !== "")
    .join("\n")
}

export const inputsSchema = (meta: NodeMeta): JsonSchema => ({
  type: "object",
  description: "Input port -> `node.output` of an upstream node.",
  additionalProperties: false,
  required: Object.entries(meta.inputs)
    .filter(([, p]) => !p.optional)
    .map(([n]) => n),
  properties: Object.fromEntries(
    Object.entries(meta.inputs).map(([n, p]) => [
      n,
      {
        type: "string",
        pattern: REF_PATTERN,
        description: `${p.type}${p.optional ? " (optional)" : ""}: ${p.typeDescription}`,
      },
    ]),
  ),
})

/** A node entry discriminated by `kind`; the template form only loosens the kind, params and inputs. */
const entrySchema = (
  metas: readonly NodeMeta[],
  kind: JsonSchema,
  params: (m: NodeMeta) => JsonSchema,
  inputs: (m: NodeMeta) => JsonSchema,
): JsonSchema => ({
  type: "object",
  additionalProperties: false,
  required: ["kind"],
  properties: {
    kind: { description: "Node kind: the file name of a node in nodes/.", ...kind },
    description: { type: "string" },
    params: { type: "object" },
    inputs: { type: "object" },
  },
  allOf: metas.map((m) => ({
    if: { properties: { kind: { const: m.kind } }, required: ["kind"] },
    then: {
      description: kindDescription(m),
      properties: { params: params(m), inputs: inputs(m) },
      ...(Object.values(m.inputs).some((p) => !p.optional) ? { required: ["inputs"] } : {}),
    },
  })),
})

export const nodeEntrySchema = (metas: readonly NodeMeta[]): JsonSchema =>
  entrySchema(metas, { enum: metas.map((m) => m.kind) }, paramsSchema, inputsSchema)

// Sweep templates (src/pipeline/sweep.ts). The loader checks their expansions against the schemas
// above; these looser ones only let editors autocomplete templates without flagging "${var}".
const VAR = "\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}"
const varRef: JsonSchema = { type: "string", pattern: VAR, description: 'A sweep variable: "${v}" alone keeps its YAML type; inside a string it interpolates.' }
export const TEMPLATE_ID_PATTERN = `^(?:[A-Za-z_]|${VAR})(?:[A-Za-z0-9_-]|${VAR})*$`
const TEMPLATE_REF_PATTERN = `^(?:[A-Za-z0-9_./-]|${VAR})+$`

/** Each param accepts its own schema or a string using a sweep variable. */
const templateParams = (meta: NodeMeta): JsonSchema => {
  const p = paramsSchema(meta)
  const props = (p.properties ?? {}) as Record<string, JsonSchema>
  return {
    ...p,
    properties: Object.fromEntries(
      Object.entries(props).map(([n, s]) => [n, { ...(s.description === undefined ? {} : { description: s.description }), anyOf: [s, varRef] }]),
    ),
  }
}

const templateInputs = (meta: NodeMeta): JsonSchema => {
  const i = inputsSchema(meta)
  const props = (i.properties ?? {}) as Record<string, JsonSchema>
  return { ...i, properties: Object.fromEntries(Object.entries(props).map(([n, s]) => [n, { ...s, pattern: TEMPLATE_REF_PATTERN }])) }
}

export const templateEntrySchema = (metas: readonly NodeMeta[]): JsonSchema =>
  entrySchema(metas, { anyOf: [{ enum: metas.map((m) => m.kind) }, varRef] }, templateParams, templateInputs)

const sweepSchema: JsonSchema = {
  type: "object",
  additionalProperties: false,
  required: ["over", "nodes"],
  properties: {
    description: { type: "string" },
    over: {
      description:
        "The bindings: a map of variable -> list of values (their cartesian product, first variable slowest), or a list of maps (one binding each).",
      oneOf: [
        { type: "object", minProperties: 1, propertyNames: { pattern: VAR_PATTERN }, additionalProperties: { type: "array", minItems: 1 } },
        { type: "array", minItems: 1, items: { type: "object", minProperties: 1, propertyNames: { pattern: VAR_PATTERN } } },
      ],
    },
    nodes: {
      type: "object",
      minProperties: 1,
      description: 'Template id (e.g. "euler-${steps}") -> node, instantiated once per binding.',
      propertyNames: { pattern: TEMPLATE_ID_PATTERN },
      additionalProperties: { $ref: "#/definitions/template" },
    },
  },
}

const sweepsSchema: JsonSchema = {
  type: "object",
  description: "Sweep name -> { over, nodes }: template nodes expanded once per binding of their variables into ordinary nodes, before validation.",
  propertyNames: { pattern: ID_PATTERN },
  additionalProperties: sweepSchema,
}

/**
 * `form: "file"` describes files as written (for editors); `"expanded"` describes what the loader
 * validates, after sweeps became nodes: no `sweeps`, and no template schemas to compile.
 */
export const pipelineSchema = (metas: readonly NodeMeta[], form: "file" | "expanded" = "file"): JsonSchema => ({
  $schema: "http://json-schema.org/draft-07/schema#",
  $id: "https://pipe.local/schema/pipeline.schema.json",
  title: "pipe pipeline",
  description: "A DAG of typed nodes. Generated by `npm run schema` from nodes/: do not edit by hand.",
  type: "object",
  additionalProperties: false,
  required: ["name"],
  properties: {
    name: { type: "string", description: "Pipeline name (informational; never part of a cache key)." },
    description: { type: "string" },
    include: {
      type: "array",
      description:
        'Pipeline files (relative to this one) whose nodes and profiles are merged into this one. A plain path is a shared sub-DAG (its nodes keep their ids, one copy however often included); `{ file, as }` puts the file\'s own nodes under `as/` ("ddpm/train").',
      items: {
        anyOf: [
          { type: "string" },
          {
            type: "object",
            additionalProperties: false,
            required: ["file", "as"],
            properties: {
              file: { type: "string", description: "Pipeline file, relative to this one." },
              as: { type: "string", pattern: ID_PATTERN, description: "Namespace: the file's nodes become `as/<id>`; its plain includes stay shared." },
            },
          },
        ],
      },
    },
    nodes: {
      type: "object",
      description: "Node id -> node. Ids are local names; they never enter cache keys.",
      propertyNames: { pattern: ID_PATTERN },
      additionalProperties: { $ref: "#/definitions/node" },
    },
    ...(form === "expanded" ? {} : { sweeps: sweepsSchema }),
    profiles: {
      type: "object",
      description:
        'Named param overrides: profile -> node id -> params (select with --profile). A key with "*" is a glob over node ids ("euler-*"); entries apply in order, later wins.',
      additionalProperties: {
        type: "object",
        additionalProperties: { type: "object" },
      },
    },
  },
  definitions: { node: nodeEntrySchema(metas), ...(form === "expanded" ? {} : { template: templateEntrySchema(metas) }) },
})

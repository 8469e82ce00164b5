// schema/pipeline.schema.json must be what `npm run schema` generates from nodes/ today.
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import t from "tap"
import { generateSchemaText } from "../../src/pipeline/schema-file.ts"
import { kindFiles } from "../../src/registry/registry.ts"
import { FIXTURE, REPO } from "./helpers.ts"

const noKinds = kindFiles(join(REPO, "nodes")).length === 0

t.test("checked-in pipeline schema is up to date with nodes/", { skip: noKinds ? "nodes/ has no node kinds yet: nothing to generate the schema from" : false }, async (t) => {
  const file = join(REPO, "schema/pipeline.schema.json")
  const { text } = await generateSchemaText(REPO, join(REPO, "nodes"))
  t.ok(existsSync(file), "schema/pipeline.schema.json exists")
  t.ok(readFileSync(file, "utf8") === text, "schema/pipeline.schema.json is stale: run `npm run schema` and commit it")
})

t.test("generated schema: discriminated by kind, params closed with defaults, ports described", async (t) => {
  const { text, kinds } = await generateSchemaText(FIXTURE, join(FIXTURE, "nodes"))
  t.equal(kinds, 8)
  const schema = JSON.parse(text) as {
    definitions: { node: { properties: { kind: { enum: string[] } }; allOf: { if: unknown; then: { description: string; properties: { params: { additionalProperties: boolean; properties: Record<string, { default?: unknown }> }; inputs: { required: string[] } } } }[] } }
  }
  const node = schema.definitions.node
  t.same(node.properties.kind.enum, ["add", "fail", "read-path", "render", "round", "scale", "slow", "source"])
  const add = node.allOf[0]
  t.same(add?.if, { properties: { kind: { const: "add" } }, required: ["kind"] })
  t.equal(add?.then.properties.params.additionalProperties, false)
  t.equal(add?.then.properties.params.properties.offset?.default, 0)
  t.same(add?.then.properties.inputs.required, ["a"], "optional port b is not required")
  t.match(add?.then.description, /inputs: a: numbers, b: numbers \(optional\)\noutputs: sum: numbers/)
  t.match(node.allOf[6]?.then.description, /heavy/)
})

// schema/pipeline.schema.json must be what `npm run schema` generates from nodes/ today.
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import t from "tap"
import { generateSchemaText } from "../../src/pipeline/schema-file.ts"
import { spliceReference } from "../../src/pipeline/node-docs.ts"
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

t.test("README node reference is up to date with nodes/", { skip: noKinds ? "nodes/ has no node kinds yet" : false }, async (t) => {
  const { reference } = await generateSchemaText(REPO, join(REPO, "nodes"))
  const readme = readFileSync(join(REPO, "README.md"), "utf8")
  t.ok(readme === spliceReference(readme, reference), "README.md node reference is stale: run `npm run schema` and commit it")
})

t.test("node reference: one section per kind with ports, params, defaults; splicing is idempotent", async (t) => {
  const { reference } = await generateSchemaText(FIXTURE, join(FIXTURE, "nodes"))
  t.match(reference, /### `add`\n/)
  t.match(reference, /- inputs: `a`: numbers, `b`: numbers \(optional\)\n- outputs: `sum`: numbers/)
  t.match(reference, /\| `offset` \| [a-z]+ \| `0` \|/)
  t.match(reference, /### `slow` \(heavy\)/)
  const once = spliceReference("# x\n", reference)
  t.match(once, /## Node reference/)
  t.equal(spliceReference(once, reference), once, "splicing twice changes nothing")
  t.not(spliceReference(once, reference.replace("### `add`", "### `added`")), once, "a changed reference replaces the old one")
})

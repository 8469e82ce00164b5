// Generates the text of schema/pipeline.schema.json from a nodes/ directory (imports every node:
// generation must see the real definitions, never memoised metadata).
import { loadRegistry } from "../registry/registry.ts"
import { nodeReference } from "./node-docs.ts"
import { pipelineSchema } from "./schema.ts"

/** The schema file's text and the README's node reference section, from one registry load. */
export const generateSchemaText = async (
  root: string,
  nodesDir: string,
): Promise<{ text: string; kinds: number; reference: string }> => {
  const registry = await loadRegistry({ root, nodesDir })
  const metas = [...registry.entries.values()].map((e) => e.meta)
  return { text: `${JSON.stringify(pipelineSchema(metas), null, 2)}\n`, kinds: metas.length, reference: nodeReference(metas) }
}

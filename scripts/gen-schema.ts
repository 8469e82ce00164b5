// `npm run schema`: regenerates schema/pipeline.schema.json from nodes/ (see src/pipeline/schema.ts).
import { main, processIo } from "../src/cli/main.ts"

process.exitCode = await main(["schema", ...process.argv.slice(2)], processIo())

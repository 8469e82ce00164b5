import { readFileSync } from "node:fs"
import { tableFromIPC } from "apache-arrow"
import { MetricsType } from "./src/artifacts/index.ts"
for (const f of process.argv.slice(2)) console.log(f, JSON.stringify(MetricsType.decode(tableFromIPC(readFileSync(f))).scalars))

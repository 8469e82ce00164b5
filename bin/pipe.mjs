#!/usr/bin/env node
// `pipe` CLI: registers tsx (the engine and nodes are TypeScript) and runs src/cli/main.ts.
import { register } from "tsx/esm/api"

register()
const { main, processIo } = await import("../src/cli/main.ts")
const code = await main(process.argv.slice(2), processIo())
// Flush stdout before exiting (pipes are asynchronous in Node).
process.stdout.write("", () => process.exit(code))

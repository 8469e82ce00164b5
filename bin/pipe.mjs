#!/usr/bin/env node
// `pipe` CLI: registers tsx (the engine and nodes are TypeScript) and runs src/cli/main.ts.
// The engine's npm dependencies are imported *before* tsx registers its loader hooks, so their
// hundreds of internal modules load at native speed (hooked loading roughly triples their cost);
// this is most of what keeps a fully cached `pipe run` fast.
const preload = Promise.all(
  ["effect/Effect", "effect/Deferred", "effect/Semaphore", "effect/Exit", "effect/Cause", "effect/Data", "yaml"].map(
    (m) => import(m),
  ),
)
const { register } = await import("tsx/esm/api")
await preload
register()
const { main, processIo } = await import("../src/cli/main.ts")
const code = await main(process.argv.slice(2), processIo())
// Flush stdout before exiting (pipes are asynchronous in Node).
process.stdout.write("", () => process.exit(code))

#!/usr/bin/env node
// `pipe` CLI. Runs the engine from the JavaScript that `npm install` compiled from src/ and nodes/
// (bin/build.mjs), when a build of exactly the current sources exists; builds it when the
// sources changed since (about 0.3 s, once); and when no build can be made, runs the TypeScript
// through tsx. So a start never runs stale compiled code, and node code versions (cache keys) are
// digests of the TypeScript sources either way. PIPE_NO_BUILD=1 forces the tsx path.
import { dirname, join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const noBuild = (e) => {
  process.stderr.write(`pipe: no compiled build (${e instanceof Error ? e.message : String(e)}); running the TypeScript sources\n`)
  return undefined
}
const build =
  (process.env.PIPE_NO_BUILD ?? "") === ""
    ? await import("./build.mjs").then(({ ensureBuild }) => ensureBuild(root, { onError: noBuild }), noBuild)
    : undefined

const loadMain = async () => {
  if (build !== undefined) return import(pathToFileURL(join(build, "src", "cli", "main.js")).href)
  // The engine's npm dependencies are imported *before* tsx registers its loader hooks, so their
  // hundreds of internal modules load at native speed (hooked loading roughly triples their cost).
  const preload = Promise.all(["effect/Effect", "effect/Deferred", "effect/Semaphore", "effect/Exit", "effect/Cause", "effect/Data", "yaml"].map((m) => import(m)))
  const { register } = await import("tsx/esm/api")
  await preload
  register()
  return import("../src/cli/main.ts")
}

const { main, processIo } = await loadMain()
const code = await main(process.argv.slice(2), processIo())
// Flush stdout before exiting (pipes are asynchronous in Node).
process.stdout.write("", () => process.exit(code))

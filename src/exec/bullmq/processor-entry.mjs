// What BullMQ's sandbox imports in each job process of `pipe worker`: the npm dependencies first, at
// native speed, then tsx's loader for the TypeScript processor and node files (as bin/pipe.mjs does;
// hooked loading roughly triples the cost of a big dependency). Each child pays this once.
// A job process whose worker died cannot report anything: exit. (Without this BullMQ's child loops:
// its uncaughtException handler reports through the closed channel, which rejects, which is
// uncaught again, all in microtasks, so the 'disconnect' event never gets its turn.)
process.on("disconnect", () => process.exit(1))
process.on("unhandledRejection", (e) => {
  if (!process.connected) process.exit(1)
  throw e
})
const preload = Promise.all(["effect/Effect", "effect/Exit", "effect/Cause", "effect/Data", "apache-arrow"].map((m) => import(m)))
const { register } = await import("tsx/esm/api")
await preload
register()
const { default: processor } = await import("./processor.ts")
export default processor

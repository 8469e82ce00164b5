#!/usr/bin/env node
// Builds the pipe-native addon (native/*.cc -> native/build/Release/pipe_native.node).
// Runs as the package's own "install" script, so `npm install` / `npm ci` build it with no extra
// step. It NEVER fails the install: on any problem it prints one warning and exits 0, and pipe
// falls back to the wasm / cpu tfjs backends (slower, same results). `--strict` exits 1 instead.
//
// Route: compile directly with g++ against the Node headers that ship beside the node binary
// (offline, ~10 s); if those headers are absent, fall back to node-gyp with native/binding.gyp.
// The kernels use AVX-512F intrinsics and -march=native, so the addon is built for this machine.
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const nativeDir = join(root, "native")
const outDir = join(nativeDir, "build", "Release")
const target = join(outDir, "pipe_native.node")
const strict = process.argv.includes("--strict")
const quiet = process.argv.includes("--quiet")

const log = (m) => { if (!quiet) console.log(`[pipe-native] ${m}`) }
const giveUp = (why) => {
  console.warn(`[pipe-native] WARNING: native addon not built: ${why}`)
  console.warn("[pipe-native] pipe will use the tfjs wasm/cpu backends instead (much slower training).")
  process.exit(strict ? 1 : 0)
}

if (process.env.PIPE_SKIP_NATIVE === "1") giveUp("PIPE_SKIP_NATIVE=1")
if (process.platform !== "linux" || process.arch !== "x64") giveUp(`unsupported platform ${process.platform}/${process.arch} (needs linux x64)`)
const cpuinfo = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : ""
if (!/\bavx512f\b/.test(cpuinfo)) giveUp("this CPU lacks AVX-512F, which the kernels are written for")

const sources = ["addon.cc", "gemm.cc", "elementwise.cc", "interrupts.cc"].map((f) => join(nativeDir, f))
const flags = ["-O3", "-march=native", "-fopenmp", "-std=c++17", "-fno-math-errno", "-shared", "-fPIC"]
const defines = ["-DNODE_GYP_MODULE_NAME=pipe_native", "-DNAPI_VERSION=8"]

const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: quiet ? "pipe" : "inherit", ...opts })

/** Loads the freshly built addon in a child process (an illegal instruction must not kill us). */
const smokeTest = (file) => {
  const r = spawnSync(process.execPath, ["-e", `const a = require(${JSON.stringify(file)}); if (a.abiVersion !== 1) process.exit(3)`], { stdio: "pipe" })
  return r.status === 0 ? null : `built addon failed to load (${(r.stderr?.toString() ?? "").split("\n")[0] || `exit ${r.status}`})`
}

const buildWithGxx = () => {
  const headers = [join(dirname(process.execPath), "..", "include", "node"), "/usr/include/node", "/usr/local/include/node"]
    .find((d) => existsSync(join(d, "node_api.h")))
  if (headers === undefined) return "Node headers (node_api.h) not found beside the node binary"
  const cxx = process.env.CXX ?? "g++"
  mkdirSync(outDir, { recursive: true })
  const tmp = join(outDir, `pipe_native.tmp-${process.pid}.node`) // require() needs the .node suffix
  log(`compiling with ${cxx} (headers ${headers}) ...`)
  const r = run(cxx, [...flags, ...defines, `-I${headers}`, ...sources, "-o", tmp])
  if (r.error !== undefined || r.status !== 0) {
    rmSync(tmp, { force: true })
    return `${cxx} failed (${r.error?.message ?? `exit ${r.status}`})`
  }
  const bad = smokeTest(tmp)
  if (bad !== null) {
    rmSync(tmp, { force: true })
    return bad
  }
  renameSync(tmp, target) // atomic: a half-written addon is never loaded
  return null
}

const buildWithNodeGyp = () => {
  let gyp = process.env.npm_config_node_gyp
  if (gyp === undefined || !existsSync(gyp)) {
    try {
      gyp = createRequire(import.meta.url).resolve("node-gyp/bin/node-gyp.js")
    } catch {
      return "node-gyp not available"
    }
  }
  log("building with node-gyp ...")
  const r = run(process.execPath, [gyp, "rebuild"], { cwd: nativeDir })
  if (r.error !== undefined || r.status !== 0) return `node-gyp failed (${r.error?.message ?? `exit ${r.status}`})`
  return existsSync(target) ? smokeTest(target) : "node-gyp produced no addon"
}

const e1 = buildWithGxx()
if (e1 === null) {
  log(`built ${target}`)
  process.exit(0)
}
// node-gyp would use the same compiler, so it only helps when the headers were missing (it
// downloads them); it also wipes native/build, so never run it after a compiler failure.
if (!e1.startsWith("Node headers")) giveUp(e1)
log(`direct build impossible: ${e1}; trying node-gyp`)
const e2 = buildWithNodeGyp()
if (e2 === null) {
  log(`built ${target}`)
  process.exit(0)
}
giveUp(`${e1}; ${e2}`)

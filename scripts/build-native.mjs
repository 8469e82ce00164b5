#!/usr/bin/env node
// Builds pipe's two native addons into native/build/Release/:
//   pipe_native.node      the kernels (native/*.cc), with a manifest pipe_native.json beside it
//   pipe_interrupts.node  the Ctrl-C counter (native/interrupts.cc), tiny and portable, so Ctrl-C
//                         works even where the kernels cannot be built or loaded
// Runs as the package's own "install" script, so `npm install` / `npm ci` build them with no extra
// step. It NEVER fails the install: on any problem it prints a warning and exits 0, and pipe falls
// back to the wasm / cpu tfjs backends (slower, same results). `--strict` exits 1 instead.
//
// One build runs on every CPU of its architecture: the kernel sources are compiled once per
// instruction set (x86-64: avx512, avx2, portable; arm64: neon, portable; elsewhere: portable),
// each copy in its own namespace, and the addon picks one at run time from cpuid (native/dispatch.cc).
// Never -march=native. Linux (g++ or clang++) and macOS (clang++; OpenMP when Homebrew's libomp is
// installed, otherwise single-threaded) from the same sources, against the Node headers that ship
// beside the node binary (if absent, node-gyp downloads them; that needs the network).
//
//   node scripts/build-native.mjs [--strict] [--quiet]
//   node scripts/build-native.mjs --harness [--target aarch64]   C++ kernel tests, no Node needed
//     (native/test/harness.cc; aarch64 cross-compiles with aarch64-linux-gnu-g++; run it under
//     qemu-aarch64 -L /usr/aarch64-linux-gnu). Prints the binary's path.
//   node scripts/build-native.mjs --check-objects DIR   the per-ISA symbol check on DIR/<isa>/*.o
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { availableParallelism } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const nativeDir = join(root, "native")
const buildDir = join(nativeDir, "build")
const outDir = join(buildDir, "Release")
const argv = process.argv.slice(2)
const strict = argv.includes("--strict")
const quiet = argv.includes("--quiet")
const flagValue = (f) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : undefined)

// Must equal kAbiVersion in native/kernels.h and NATIVE_ABI in src/ml/backend/native.ts.
const ABI = 3
const KERNEL_SOURCES = ["gemm.cc", "elementwise.cc", "linear.cc", "table.cc"]
/** Instruction-set copies per architecture, widest first; the flags each copy is compiled with. */
const ISA_FLAGS = {
  x64: { avx512: ["-mavx512f", "-mavx2", "-mfma"], avx2: ["-mavx2", "-mfma"], portable: [] },
  arm64: { neon: [], portable: [] },
  other: { portable: [] },
}
/** The architecture's baseline, so a compiler defaulting to -march=native cannot leak into the shared code. */
const BASELINE = { x64: ["-march=x86-64", "-mtune=generic"], arm64: [], other: [] }

const log = (m) => { if (!quiet) console.log(`[pipe-native] ${m}`) }
const warn = (m) => console.warn(`[pipe-native] WARNING: ${m}`)

const run = (cmd, args, opts = {}) => spawnSync(cmd, args, { stdio: "pipe", encoding: "utf8", ...opts })
const firstLine = (s) => (s ?? "").trim().split("\n").find((l) => /error|fatal/i.test(l)) ?? (s ?? "").trim().split("\n")[0] ?? ""

/** Runs jobs (functions returning a child-process promise) at most `n` at a time; resolves to the first error or null. */
const runAll = async (jobs, n) => {
  let next = 0, failure = null
  const worker = async () => {
    while (failure === null && next < jobs.length) {
      const e = await jobs[next++]()
      if (e !== null && failure === null) failure = e
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, n) }, worker))
  return failure
}
const compileJob = (cxx, args, label) => () => new Promise((resolve) => {
  const child = spawn(cxx, args, { stdio: ["ignore", "pipe", "pipe"] })
  let err = ""
  child.stderr.on("data", (d) => { err += d })
  child.on("error", (e) => resolve(`${cxx}: ${e.message}`))
  child.on("close", (code) => resolve(code === 0 ? null : `${cxx} failed on ${label}: ${firstLine(err)}`))
})

const archOf = (a) => (a === "x64" || a === "aarch64" || a === "arm64" ? (a === "x64" ? "x64" : "arm64") : "other")

/** The C++ compiler: $CXX, else the first of c++ / g++ / clang++ that runs. */
const findCompiler = () => {
  const candidates = process.env.CXX !== undefined && process.env.CXX !== "" ? [process.env.CXX] : ["c++", "g++", "clang++"]
  for (const c of candidates) {
    const r = run(c, ["--version"])
    if (r.status === 0) return { cxx: c, version: (r.stdout ?? "").split("\n")[0]?.trim() ?? c }
  }
  return null
}

/** OpenMP flags that compile and link with this compiler, or null (the kernels then run on one thread). */
const openmpFlags = (cxx, tmp) => {
  const src = join(tmp, "omp-probe.cc")
  writeFileSync(src, "#include <omp.h>\nint main() { return omp_get_max_threads() > 0 ? 0 : 1; }\n")
  const brew = ["/opt/homebrew/opt/libomp", "/usr/local/opt/libomp"].find((d) => existsSync(join(d, "include", "omp.h")))
  const options = process.platform === "darwin"
    ? (brew === undefined ? [] : [{ compile: ["-Xpreprocessor", "-fopenmp", `-I${brew}/include`], link: [`-L${brew}/lib`, "-lomp"] }])
    : [{ compile: ["-fopenmp"], link: ["-fopenmp"] }]
  for (const o of options) {
    const r = run(cxx, [...o.compile, src, ...o.link, "-o", join(tmp, "omp-probe")])
    if (r.status === 0) return o
  }
  return null
}

/**
 * Global symbols a per-ISA object defines outside its own namespace. Any such symbol (an inline
 * function or template instantiated in several ISA copies) would be merged by the linker into one
 * copy, possibly the AVX-512 one, and then run on CPUs without AVX-512. Returns null when nm is missing.
 */
const isaObjectLeaks = (obj, isa) => {
  const r = run("nm", ["-P", "--defined-only", obj])
  if (r.status !== 0 || r.error !== undefined) return null
  const mark = `4pipe${isa.length}${isa}`
  return r.stdout.split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 2 && /^[A-Z]$/.test(f[1]))
    .map((f) => f[0]).filter((name) => !name.includes(mark))
}

/**
 * Compiles the kernel sources once per ISA plus the dispatcher; returns the object list (dispatcher
 * first: for any weak symbol, linkers keep the first definition they see) or an error string.
 */
const compileKernels = async ({ cxx, arch, objDir, common, extraIsas = [] }) => {
  const isas = Object.keys(ISA_FLAGS[arch])
  const jobs = [], objects = { dispatch: join(objDir, "dispatch.o"), isa: [] }
  mkdirSync(objDir, { recursive: true })
  for (const isa of isas) {
    mkdirSync(join(objDir, isa), { recursive: true })
    for (const src of KERNEL_SOURCES) {
      const obj = join(objDir, isa, src.replace(/\.cc$/, ".o"))
      objects.isa.push({ isa, obj })
      jobs.push(compileJob(cxx, [...common, ...BASELINE[arch], ...ISA_FLAGS[arch][isa], "-fno-exceptions", "-fno-rtti",
        `-DPIPE_ISA_${isa.toUpperCase()}`, "-c", join(nativeDir, src), "-o", obj], `${src} (${isa})`))
    }
  }
  jobs.push(compileJob(cxx, [...common, ...BASELINE[arch], ...isas.map((i) => `-DPIPE_WITH_${i.toUpperCase()}`), ...extraIsas,
    "-c", join(nativeDir, "dispatch.cc"), "-o", objects.dispatch], "dispatch.cc"))
  const failed = await runAll(jobs, availableParallelism())
  if (failed !== null) return { error: failed }
  for (const { isa, obj } of objects.isa) {
    const leaks = isaObjectLeaks(obj, isa)
    if (leaks === null) { log("nm not found: skipped the per-ISA symbol check"); break }
    if (leaks.length > 0) return { error: `${obj} defines ${leaks.slice(0, 3).join(", ")} outside namespace pipe::${isa} (would be shared across ISAs)` }
  }
  return { isas, objects: [objects.dispatch, ...objects.isa.map((o) => o.obj)] }
}

/** Node's headers: beside the node binary (official builds, Debian), else downloaded by node-gyp. */
const nodeHeaders = () => {
  const local = [join(dirname(process.execPath), "..", "include", "node"), "/usr/include/node", "/usr/local/include/node"]
    .find((d) => existsSync(join(d, "node_api.h")))
  if (local !== undefined) return local
  let gyp = process.env.npm_config_node_gyp
  if (gyp === undefined || !existsSync(gyp)) {
    try {
      gyp = createRequire(import.meta.url).resolve("node-gyp/bin/node-gyp.js")
    } catch {
      return null
    }
  }
  const devdir = join(buildDir, "node-gyp")
  log("Node headers not found beside node: fetching them with node-gyp ...")
  const r = run(process.execPath, [gyp, "install", "--ensure", `--devdir=${devdir}`], { stdio: quiet ? "pipe" : "inherit" })
  const dir = join(devdir, process.version.slice(1), "include", "node")
  return r.status === 0 && existsSync(join(dir, "node_api.h")) ? dir : null
}

/** Loads a built addon in a child process (a crash must not kill the install); returns its exports summary or an error. */
const probeAddon = (file, expr) => {
  const r = run(process.execPath, ["-e", `const a = require(${JSON.stringify(file)}); console.log(JSON.stringify(${expr}))`])
  if (r.status !== 0) return { error: `built addon failed to load (${firstLine(r.stderr) || `exit ${r.status}`})` }
  return { value: JSON.parse(r.stdout.trim()) }
}

const linkArgs = (platform) => (platform === "darwin" ? ["-bundle", "-undefined", "dynamic_lookup"] : ["-shared"])

const buildAddons = async () => {
  if (process.env.PIPE_SKIP_NATIVE === "1") return { error: "PIPE_SKIP_NATIVE=1", interrupts: false }
  if (process.platform !== "linux" && process.platform !== "darwin") return { error: `unsupported platform ${process.platform} (linux and macOS only)`, interrupts: false }
  const compiler = findCompiler()
  if (compiler === null) return { error: "no C++ compiler found (set CXX, or install g++ / clang++)", interrupts: false }
  const headers = nodeHeaders()
  if (headers === null) return { error: "Node headers (node_api.h) not found and node-gyp could not fetch them", interrupts: false }
  const { cxx } = compiler
  const arch = archOf(process.arch)
  const tmp = join(buildDir, `tmp-${process.pid}`)
  mkdirSync(tmp, { recursive: true })
  mkdirSync(outDir, { recursive: true })
  try {
    const napi = [`-I${headers}`, "-DNAPI_VERSION=8"]
    const common = ["-O3", "-std=c++17", "-fPIC", "-fno-math-errno", "-fvisibility=hidden"]

    // 1. the interrupt counter: no SIMD, no OpenMP
    const intTmp = join(tmp, "pipe_interrupts.node")
    log(`compiling the interrupt counter with ${compiler.version} ...`)
    const ri = run(cxx, [...common, ...BASELINE[arch], ...napi, "-DNODE_GYP_MODULE_NAME=pipe_interrupts",
      join(nativeDir, "interrupts.cc"), ...linkArgs(process.platform), "-o", intTmp])
    let interrupts = false
    if (ri.status === 0 && probeAddon(intTmp, "a.abiVersion").value === 1) {
      renameSync(intTmp, join(outDir, "pipe_interrupts.node"))
      interrupts = true
    } else {
      warn(`interrupt counter not built (${firstLine(ri.stderr) || "load check failed"}): Ctrl-C will wait for the running node`)
    }

    // 2. the kernels
    const omp = openmpFlags(cxx, tmp)
    if (omp === null) log("OpenMP not available with this compiler: the kernels will run on one thread")
    const ompCompile = omp?.compile ?? ["-Wno-unknown-pragmas"]
    log(`compiling the kernels for ${Object.keys(ISA_FLAGS[arch]).join(", ")} (${arch}) ...`)
    const k = await compileKernels({ cxx, arch, objDir: join(buildDir, "obj"), common: [...common, ...ompCompile] })
    if (k.error !== undefined) return { error: k.error, interrupts }
    const addonObj = join(tmp, "addon.o")
    const ra = run(cxx, [...common, ...BASELINE[arch], ...napi, "-DNODE_GYP_MODULE_NAME=pipe_native", "-c", join(nativeDir, "addon.cc"), "-o", addonObj])
    if (ra.status !== 0) return { error: `${cxx} failed on addon.cc: ${firstLine(ra.stderr)}`, interrupts }
    const kTmp = join(tmp, "pipe_native.node") // require() needs the .node suffix
    const rl = run(cxx, [addonObj, ...k.objects, ...linkArgs(process.platform), ...(omp?.link ?? []), "-o", kTmp])
    if (rl.status !== 0) return { error: `linking failed: ${firstLine(rl.stderr)}`, interrupts }
    const probe = probeAddon(kTmp, "{ abi: a.abiVersion, isas: a.isas, isa: a.isa(), features: a.cpuFeatures() }")
    if (probe.error !== undefined) return { error: probe.error, interrupts }
    const p = probe.value
    if (p.abi !== ABI || JSON.stringify(p.isas) !== JSON.stringify(k.isas)) {
      return { error: `built addon reports ABI ${p.abi} / ISAs ${p.isas}, expected ${ABI} / ${k.isas}`, interrupts }
    }
    // The manifest lets the loader reject a stale or foreign build without loading it (an old
    // -march=native build could fault inside require()).
    const manifest = {
      abi: ABI, isas: k.isas, platform: process.platform, arch: process.arch, openmp: omp !== null,
      compiler: compiler.version, node: process.version,
    }
    rmSync(join(outDir, "pipe_native.json"), { force: true }) // never a new addon beside an old manifest
    renameSync(kTmp, join(outDir, "pipe_native.node")) // atomic: a half-written addon is never loaded
    writeFileSync(join(outDir, "pipe_native.json"), `${JSON.stringify(manifest, null, 2)}\n`)
    log(`built ${join(outDir, "pipe_native.node")} (ISAs ${k.isas.join(", ")}; this CPU: ${p.isa})`)
    return { error: null, interrupts }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** `--harness [--target aarch64]`: the C++ kernel test binary (no Node). */
const buildHarness = async (target) => {
  const cross = target === "aarch64"
  const arch = cross ? "arm64" : archOf(process.arch)
  const cxx = cross ? "aarch64-linux-gnu-g++" : (findCompiler()?.cxx ?? "g++")
  if (run(cxx, ["--version"]).status !== 0) return { error: `${cxx} not found` }
  const dir = join(buildDir, `harness-${cross ? "aarch64" : process.arch}`)
  mkdirSync(dir, { recursive: true })
  const omp = openmpFlags(cxx, dir)
  const common = ["-O2", "-std=c++17", "-fno-math-errno", ...(omp?.compile ?? ["-Wno-unknown-pragmas"])]
  const k = await compileKernels({ cxx, arch, objDir: join(dir, "obj"), common })
  if (k.error !== undefined) return k
  const bin = join(dir, "harness")
  const r = run(cxx, [...common, ...BASELINE[arch], join(nativeDir, "test", "harness.cc"), ...k.objects, ...(omp?.link ?? []), "-o", bin])
  return r.status === 0 ? { bin, isas: k.isas } : { error: `${cxx} failed on harness.cc: ${firstLine(r.stderr)}` }
}

if (argv.includes("--check-objects")) {
  const dir = flagValue("--check-objects") ?? join(buildDir, "obj")
  let checked = 0, bad = 0
  for (const isa of readdirSync(dir).filter((d) => Object.values(ISA_FLAGS).some((f) => d in f))) {
    for (const f of readdirSync(join(dir, isa)).filter((n) => n.endsWith(".o"))) {
      const leaks = isaObjectLeaks(join(dir, isa, f), isa)
      if (leaks === null) { console.error("nm not found"); process.exit(2) }
      checked++
      if (leaks.length > 0) { bad++; console.log(`${isa}/${f}: ${leaks.join(" ")}`) }
    }
  }
  console.log(`${checked} objects checked, ${bad} define symbols outside their ISA namespace`)
  process.exit(bad > 0 || checked === 0 ? 1 : 0)
} else if (argv.includes("--harness")) {
  const h = await buildHarness(flagValue("--target"))
  if (h.error !== undefined) {
    console.error(`[pipe-native] harness not built: ${h.error}`)
    process.exit(1)
  }
  console.log(h.bin)
} else {
  const t0 = Date.now()
  const r = await buildAddons()
  if (r.error !== null) {
    warn(`kernel addon not built: ${r.error}`)
    warn("pipe will use the tfjs wasm/cpu backends instead (much slower training).")
    process.exit(strict ? 1 : 0)
  }
  log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  process.exit(strict && !r.interrupts ? 1 : 0)
}

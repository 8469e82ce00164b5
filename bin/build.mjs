// Compiles the engine and the nodes (every .ts under src/ and nodes/) to JavaScript once, with
// esbuild, so that `pipe` starts without a TypeScript loader: tsx transpiles and hooks every module
// on every start, which was most of a fully cached run's wall time. npm runs this after install
// (package.json "postinstall"); bin/pipe.mjs calls `ensureBuild` on every start.
//
// Never stale: a build lives in node_modules/.cache/pipe-build/<digest>/, where the digest covers
// the bytes of every source file, the project path, the esbuild version and BUILD_FORMAT. At start
// bin/pipe.mjs recomputes the digest (reading ~100 files, a few ms) and uses the build only when one
// with exactly that digest exists; otherwise it builds one (about 0.3 s) or, when it cannot, runs
// the TypeScript through tsx as before. Builds are written to a temp dir and renamed into place, so
// concurrent starts never see half a build. A build is deleted (when a later one is made) only once
// its project directory is gone or it went unused for a day: every start touches its build.json, so
// a long run that still imports node modules from its build keeps it.
//
// Each compiled module behaves as its source file: `import.meta.url` is defined as the source
// file's URL (paths computed from it, like the native addon's, stay right) and relative ".ts"
// imports point at the compiled twins. `import.meta.pipeBuild` tells src/import-module.ts where the
// build is, for the imports whose path is computed at run time (node files, the report hook).
// Cache keys are untouched: node code versions are digests of the TypeScript sources.
//
//   node bin/build.mjs            build (or find) the build of the current sources; prints its dir
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs"
import { dirname, join, relative, sep } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

/** Bump when the output of a build changes for the same sources (options, rewriting). */
const BUILD_FORMAT = "pipe-build-1"
/** Directories compiled, relative to the project root. */
export const SOURCE_DIRS = ["src", "nodes"]

const walk = (dir) =>
  existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".d.ts") ? [join(dir, e.name)] : []))
    : []

/** Every source file, project-relative with "/" separators, sorted. */
export const sourceFiles = (root) =>
  SOURCE_DIRS.flatMap((d) => walk(join(root, d)))
    .map((f) => relative(root, f).split(sep).join("/"))
    .sort()

const esbuildVersion = (root) => {
  try {
    return JSON.parse(readFileSync(join(root, "node_modules", "esbuild", "package.json"), "utf8")).version
  } catch {
    return "missing"
  }
}

/** Digest of everything a build depends on: the build is valid for these sources and nothing else. */
export const sourceDigest = (root, files = sourceFiles(root)) => {
  const h = createHash("sha256").update(`${BUILD_FORMAT}\0${root}\0${esbuildVersion(root)}\0`)
  for (const f of files) h.update(`${f}\0`).update(readFileSync(join(root, f))).update("\0")
  return h.digest("hex")
}

export const buildsDir = (root) => join(root, "node_modules", ".cache", "pipe-build")

/** Relative ".ts" specifiers of static imports, re-exports, side-effect and literal dynamic imports -> ".js". */
export const rewriteImports = (code) => code.replace(/((?:\bfrom|\bimport)\s*\(?\s*)"(\.{1,2}\/[^"\n]*?)\.ts"/g, '$1"$2.js"')

/** Compiles every source file into `out` (which must not exist yet). */
const compileInto = async (root, files, out) => {
  const { transform } = await import("esbuild")
  const pipeBuild = JSON.stringify({ dir: out.replace(/\.tmp-\d+$/, ""), root })
  await Promise.all(
    files.map(async (f) => {
      const abs = join(root, f)
      const r = await transform(readFileSync(abs, "utf8"), {
        loader: "ts",
        format: "esm",
        target: "node20",
        sourcefile: abs,
        define: { "import.meta.url": JSON.stringify(pathToFileURL(abs).href), "import.meta.pipeBuild": pipeBuild },
      })
      const dst = join(out, f.replace(/\.ts$/, ".js"))
      mkdirSync(dirname(dst), { recursive: true })
      writeFileSync(dst, rewriteImports(r.code))
    }),
  )
}

const DAY = 24 * 3600 * 1000

/**
 * Removes builds nobody will use: those of a project directory that is gone (a test's scratch copy
 * sharing this node_modules through a symlink), and those of this project unused for a day (every
 * start touches its build's build.json, so a build in use by a running process stays). Temp dirs
 * of crashed builds go after a day too.
 */
const prune = (dir, root, current) => {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (path === current) continue
    const stamp = join(path, "build.json")
    let owner
    try {
      owner = JSON.parse(readFileSync(stamp, "utf8")).root
    } catch {
      owner = undefined
    }
    const idle = Date.now() - statSync(existsSync(stamp) ? stamp : path).mtimeMs
    const gone = typeof owner === "string" && !existsSync(owner)
    if (gone || (idle > DAY && (owner === root || owner === undefined))) rmSync(path, { recursive: true, force: true })
  }
}

/**
 * The build directory for the current sources: found, or built when `build` is true. Returns
 * undefined (never throws) when there is none and it cannot be made (esbuild missing, read-only
 * node_modules...): the caller then runs the TypeScript sources.
 */
export const ensureBuild = async (root, { build = true, onError = () => undefined } = {}) => {
  try {
    const files = sourceFiles(root)
    const dir = join(buildsDir(root), sourceDigest(root, files).slice(0, 24))
    const stamp = join(dir, "build.json")
    if (existsSync(stamp)) {
      // Last use, for pruning (best effort: a read-only install just never prunes this one).
      try {
        const now = new Date()
        utimesSync(stamp, now, now)
      } catch {}
      return dir
    }
    if (!build) return undefined
    const tmp = `${dir}.tmp-${process.pid}`
    rmSync(tmp, { recursive: true, force: true })
    try {
      await compileInto(root, files, tmp)
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true })
      throw e
    }
    writeFileSync(join(tmp, "build.json"), `${JSON.stringify({ format: BUILD_FORMAT, root, files: files.length, created: new Date().toISOString() })}\n`)
    try {
      renameSync(tmp, dir)
    } catch (e) {
      // Another process finished the same build first: use theirs.
      rmSync(tmp, { recursive: true, force: true })
      if (!existsSync(join(dir, "build.json"))) throw e
    }
    prune(buildsDir(root), root, dir)
    return dir
  } catch (e) {
    onError(e)
    return undefined
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL("..", import.meta.url)).replace(/[\\/]$/, "")
  const t0 = performance.now()
  const dir = await ensureBuild(root, { onError: (e) => process.stderr.write(`warning: bin/build.mjs: ${e instanceof Error ? e.message : String(e)}; pipe will run the TypeScript sources through tsx (slower start)\n`) })
  if (dir !== undefined) process.stdout.write(`pipe build: ${relative(root, dir)} (${sourceFiles(root).length} files, ${((performance.now() - t0) / 1000).toFixed(2)} s)\n`)
}

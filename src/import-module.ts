// Imports a project TypeScript module whose path is only known at run time (a node file, the
// nodes' _runtime.ts, the report hook). When this process runs the install-time build
// (bin/build.mjs defines `import.meta.pipeBuild` in every compiled module), the compiled twin is
// imported, so the node and the engine share one instance of every src/ module. A file outside the
// build (a --nodes directory elsewhere) is TypeScript: tsx is registered on first need. Under tsx
// (tests, the fallback start) the file is imported as is.
import { existsSync } from "node:fs"
import { isAbsolute, join, relative } from "node:path"
import { pathToFileURL } from "node:url"

declare global {
  interface ImportMeta {
    /** Set by bin/build.mjs in compiled modules: the build directory and the project it was built from. */
    readonly pipeBuild?: { readonly dir: string; readonly root: string }
  }
}

/** The compiled twin of `file` in `build`, when `file` is a .ts file of the project it was built from. */
export const compiledTwin = (build: { readonly dir: string; readonly root: string }, file: string): string | undefined => {
  const rel = relative(build.root, file)
  if (!rel.endsWith(".ts") || rel.startsWith("..") || isAbsolute(rel)) return undefined
  const twin = join(build.dir, `${rel.slice(0, -3)}.js`)
  return existsSync(twin) ? twin : undefined
}

const once = <T>(f: () => Promise<T>): (() => Promise<T>) => {
  let p: Promise<T> | undefined
  return () => (p ??= f())
}

const registerTsx = once(async () => {
  const { register } = await import("tsx/esm/api")
  register()
})

export const importModule = async (file: string): Promise<unknown> => {
  const build = import.meta.pipeBuild
  if (build !== undefined) {
    const twin = compiledTwin(build, file)
    if (twin !== undefined) return import(pathToFileURL(twin).href)
    if (file.endsWith(".ts")) await registerTsx()
  }
  return import(pathToFileURL(file).href)
}

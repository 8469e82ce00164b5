// Path params are project-relative: the loader checks each one here (and the key hashes the real
// path it returns); a BullMQ worker repeats the check against its own checkout. Kept apart from
// load.ts so that a worker's job process does not import the YAML and schema machinery.
import { existsSync, realpathSync } from "node:fs"
import { isAbsolute, relative, resolve } from "node:path"

/** True when `target` is `root` or below it. */
export const insideRoot = (root: string, target: string): boolean => {
  const rel = relative(root, target)
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel))
}

/**
 * True when `real` lies inside the project's installed packages (the real path of <root>/node_modules).
 * node_modules is often a link to a directory elsewhere (a shared install, a test's scratch copy of
 * the project), and package data there is what the project declared in package.json, not a way out.
 */
const insidePackages = (root: string, real: string): boolean => {
  const modules = resolve(root, "node_modules")
  return existsSync(modules) && insideRoot(realpathSync(modules), real)
}

/**
 * Where a path param, or a symlink inside its directory, may lead (`real`: symlinks resolved): into
 * the project (`realRoot`: the root's real path) or into its installed packages. One rule for both,
 * so a directory that passes the check also digests (a pnpm install links packages to each other).
 */
export const withinProject = (root: string, realRoot: string, real: string): boolean => insideRoot(realRoot, real) || insidePackages(root, real)

/**
 * A path param's real absolute path (symlinks resolved), or what is wrong with it. `realRoot` is the
 * root with its own symlinks resolved, so a project under a linked directory still compares equal.
 */
export const checkPath = (root: string, realRoot: string, v: string): string | { readonly problem: string } => {
  if (v.trim() === "") return { problem: " is empty; name a file or directory relative to the project root" }
  const abs = resolve(root, v)
  if (isAbsolute(v) || !insideRoot(root, abs)) return { problem: ` = "${v}" escapes the project; use a path relative to ${root}` }
  if (!existsSync(abs)) return { problem: `: "${v}" does not exist (relative to the project root ${root})` }
  const real = realpathSync(abs)
  if (!withinProject(root, realRoot, real))
    return { problem: ` = "${v}" leaves the project through a symlink (it resolves to ${real})` }
  if (real === realRoot) return { problem: ` = "${v}" names the whole project (its content includes the cache); name a file or directory inside it` }
  return real
}

// Code version of a node kind: a digest over the node file, every project module it imports
// transitively, and the name@version of every npm package those files import directly. A change
// anywhere in that closure (not only in the node body) changes the version and so the cache key;
// a module no node imports changes nothing. Type-only imports are skipped: TypeScript erases them,
// so they cannot change what runs. Imports are found lexically (static, re-exports, string-literal
// dynamic imports), which is enough for this codebase's style and errs on the side of extra edges.
import { existsSync, readFileSync, statSync } from "node:fs"
import { builtinModules } from "node:module"
import { dirname, join, relative, resolve, sep } from "node:path"
import { canonicalJson, sha256 } from "../key/canonical.ts"

export interface CodeVersion {
  readonly digest: string
  /** Project-relative posix path -> sha256 of the (LF-normalised) source. */
  readonly files: Readonly<Record<string, string>>
  /** Bare npm package -> version, for packages imported directly by files in the closure. */
  readonly packages: Readonly<Record<string, string>>
}

interface ScannedFile {
  readonly sha: string
  readonly local: readonly string[] // absolute paths
  readonly bare: readonly string[] // package names
}

const STATIC_FROM = /(?:^|[;\s}])(import|export)\s+(type\s+)?([\w*${}\s,]*?)\s*from\s*["']([^"']+)["']/g
const SIDE_EFFECT = /(?:^|[;\s])import\s*["']([^"']+)["']/g
const DYNAMIC = /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g

/** Module specifiers a source file imports at runtime (type-only imports excluded). */
export const importSpecifiers = (source: string): string[] => {
  const out: string[] = []
  for (const m of source.matchAll(STATIC_FROM)) {
    const typeOnly = m[2] !== undefined
    if (!typeOnly && m[4] !== undefined) out.push(m[4])
  }
  for (const m of source.matchAll(SIDE_EFFECT)) if (m[1] !== undefined) out.push(m[1])
  for (const m of source.matchAll(DYNAMIC)) if (m[1] !== undefined) out.push(m[1])
  return [...new Set(out)]
}

const builtins = new Set(builtinModules)
const isBuiltin = (spec: string): boolean => spec.startsWith("node:") || builtins.has(spec.split("/")[0] ?? "")

/** "@scope/pkg/sub" -> "@scope/pkg"; "pkg/sub" -> "pkg". */
export const packageName = (spec: string): string => {
  const parts = spec.split("/")
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? spec)
}

const resolveLocal = (fromFile: string, spec: string): string | undefined => {
  const base = resolve(dirname(fromFile), spec)
  const candidates = [base, base.replace(/\.js$/, ".ts"), `${base}.ts`, join(base, "index.ts")]
  return candidates.find((c) => existsSync(c) && statSync(c).isFile())
}

const packageVersion = (fromFile: string, name: string): string => {
  let dir = dirname(fromFile)
  for (;;) {
    const pj = join(dir, "node_modules", name, "package.json")
    if (existsSync(pj)) {
      const parsed: unknown = JSON.parse(readFileSync(pj, "utf8"))
      const version = typeof parsed === "object" && parsed !== null && "version" in parsed ? parsed.version : undefined
      return typeof version === "string" ? version : "unknown"
    }
    const parent = dirname(dir)
    if (parent === dir) return "missing"
    dir = parent
  }
}

const toPosix = (p: string): string => p.split(sep).join("/")

/**
 * A code versioner for one project root. It memoises scanned files, so computing the versions of
 * all node kinds reads each shared module once.
 */
export const makeCodeVersioner = (root: string): ((entry: string) => CodeVersion) => {
  const scanned = new Map<string, ScannedFile>()
  const scan = (file: string): ScannedFile => {
    const hit = scanned.get(file)
    if (hit !== undefined) return hit
    const source = readFileSync(file, "utf8").replace(/\r\n/g, "\n")
    const local: string[] = []
    const bare: string[] = []
    for (const spec of importSpecifiers(source)) {
      if (spec.startsWith(".") || spec.startsWith("/")) {
        const target = resolveLocal(file, spec)
        if (target !== undefined) local.push(target)
      } else if (!isBuiltin(spec)) bare.push(packageName(spec))
    }
    const result: ScannedFile = { sha: sha256(source), local, bare }
    scanned.set(file, result)
    return result
  }
  return (entry) => {
    const files: Record<string, string> = {}
    const packages: Record<string, string> = {}
    const seen = new Set<string>()
    const stack = [resolve(entry)]
    while (stack.length > 0) {
      const file = stack.pop() as string
      if (seen.has(file)) continue
      seen.add(file)
      const s = scan(file)
      files[toPosix(relative(root, file))] = s.sha
      for (const name of s.bare) packages[name] ??= packageVersion(file, name)
      stack.push(...s.local)
    }
    return { digest: sha256(canonicalJson({ files, packages })), files, packages }
  }
}

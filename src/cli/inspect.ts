// `pipe validate`, `pipe dag`, `pipe explain`.
import { relative } from "node:path"
import type { Json } from "../key/canonical.ts"
import { canonicalJson } from "../key/canonical.ts"
import type { KeyComponents } from "../key/key.ts"
import { planPipeline, select, unknownNode } from "../exec/plan.ts"
import { readRunRecords } from "../exec/record.ts"
import type { Pipeline } from "../pipeline/load.ts"
import type { Manifest, Store } from "../store/store.ts"
import { str, strs, UsageError, type Values } from "./args.ts"
import { loadFor } from "./context.ts"
import { type Io, setup } from "./run.ts"

export const validateCommand = async (v: Values, [file]: string[], io: Io): Promise<number> => {
  const project = await setup(v, file, io)
  const p = loadFor(project, file as string, { profile: str(v, "profile"), sets: strs(v, "set") }, io.cwd)
  io.out(`${p.display}: ok (${p.nodes.size} nodes${p.files.length > 1 ? `, ${p.files.length - 1} included file(s)` : ""})\n`)
  return 0
}

const edges = (p: Pipeline): { from: string; out: string; to: string; port: string }[] =>
  p.order.flatMap((id) => Object.entries(p.nodes.get(id)?.inputs ?? {}).map(([port, r]) => ({ from: r.node, out: r.port, to: id, port })))

export const renderDag = (p: Pipeline, format: string): string => {
  const es = edges(p)
  // Mermaid ids are word characters only ("-" and the "/" of namespaced ids are not).
  const mid = (id: string): string => id.replace(/[^A-Za-z0-9_]/g, "_")
  if (format === "mermaid")
    return [
      "flowchart LR",
      ...p.order.map((id) => `  ${mid(id)}["${id}<br/><small>${p.nodes.get(id)?.kind ?? ""}</small>"]`),
      ...es.map((e) => `  ${mid(e.from)} -- "${e.out} → ${e.port}" --> ${mid(e.to)}`),
    ].join("\n")
  if (format === "dot")
    return [
      `digraph "${p.name}" {`,
      "  rankdir=LR; node [shape=box];",
      ...p.order.map((id) => `  "${id}" [label="${id}\\n${p.nodes.get(id)?.kind ?? ""}"];`),
      ...es.map((e) => `  "${e.from}" -> "${e.to}" [label="${e.out} → ${e.port}"];`),
      "}",
    ].join("\n")
  if (format !== "text") throw new UsageError(`--format must be text, mermaid or dot, got "${format}"`)
  return p.order
    .map((id) => {
      const n = p.nodes.get(id)
      const ins = Object.entries(n?.inputs ?? {}).map(([port, r]) => `${port} <- ${r.node}.${r.port}`)
      return `${id} (${n?.kind ?? ""})${ins.length > 0 ? `\n  ${ins.join("\n  ")}` : ""}`
    })
    .join("\n")
}

export const dagCommand = async (v: Values, [file]: string[], io: Io): Promise<number> => {
  const project = await setup(v, file, io)
  const p = loadFor(project, file as string, { profile: str(v, "profile"), sets: strs(v, "set") }, io.cwd)
  io.out(`${renderDag(p, str(v, "format") ?? "text")}\n`)
  return 0
}

const show = (j: Json | undefined): string => (j === undefined ? "(unset)" : canonicalJson(j))

/** Human lines naming every key component that differs between `before` and `now`. */
export const diffComponents = (before: Manifest, now: KeyComponents, codeNow: { files: Readonly<Record<string, string>>; packages: Readonly<Record<string, string>> }): string[] => {
  const out: string[] = []
  const b = before.components
  if (b.salt !== now.salt) out.push(`engine format changed (${b.salt} -> ${now.salt})`)
  if (b.kind !== now.kind) out.push(`kind changed: ${b.kind} -> ${now.kind}`)
  if (b.codeVersion !== now.codeVersion) {
    const files = new Set([...Object.keys(before.code.files), ...Object.keys(codeNow.files)])
    for (const f of [...files].sort()) {
      const x = before.code.files[f]
      const y = codeNow.files[f]
      if (x !== y) out.push(`code: ${f} ${x === undefined ? "is newly imported" : y === undefined ? "is no longer imported" : "changed"}`)
    }
    const pkgs = new Set([...Object.keys(before.code.packages), ...Object.keys(codeNow.packages)])
    for (const k of [...pkgs].sort())
      if (before.code.packages[k] !== codeNow.packages[k]) out.push(`package ${k}: ${before.code.packages[k] ?? "(none)"} -> ${codeNow.packages[k] ?? "(none)"}`)
    if (out.length === 0) out.push("code version changed")
  }
  for (const k of [...new Set([...Object.keys(b.params), ...Object.keys(now.params)])].sort())
    if (canonicalJson(b.params[k] ?? null) !== canonicalJson(now.params[k] ?? null) || (k in b.params) !== (k in now.params))
      out.push(`param ${k}: ${show(b.params[k])} -> ${show(now.params[k])}`)
  for (const k of [...new Set([...Object.keys(b.inputs), ...Object.keys(now.inputs)])].sort())
    if (b.inputs[k] !== now.inputs[k]) out.push(`input ${k}: content changed (${b.inputs[k]?.slice(0, 12) ?? "none"} -> ${now.inputs[k]?.slice(0, 12) ?? "none"})`)
  for (const k of [...new Set([...Object.keys(b.paths), ...Object.keys(now.paths)])].sort())
    if (b.paths[k] !== now.paths[k]) out.push(`path param ${k}: file contents changed`)
  return out
}

/** The manifest of the last time this pipeline's node `id` was computed (or reused), if any. */
const previousManifest = (store: Store, runsDir: string, pipelineRel: string, id: string, kind: string): { m: Manifest; from: string } | undefined => {
  for (const r of readRunRecords(runsDir)) {
    if (r.pipeline !== pipelineRel) continue
    const n = r.nodes.find((x) => x.id === id && x.key !== null && (x.status === "ran" || x.status === "cached"))
    if (n?.key == null) continue
    const m = store.readManifest(n.key)
    if (m !== undefined && m.kind === kind) return { m, from: `run ${r.id}` }
  }
  return undefined
}

export const explainCommand = async (v: Values, [file, id]: string[], io: Io): Promise<number> => {
  const project = await setup(v, file, io)
  const p = loadFor(project, file as string, { profile: str(v, "profile"), sets: strs(v, "set") }, io.cwd)
  const node = p.nodes.get(id as string)
  if (node === undefined) throw unknownNode(p, id as string)
  const planned = planPipeline(p, project.store, project.paths, select(p, {}))
  project.paths.flush()
  const me = planned.find((n) => n.id === id)
  if (me === undefined) return 1
  const lines: string[] = [`${node.id} (${node.kind}) declared at ${node.pos.file}:${node.pos.line}:${node.pos.column}`]
  if (me.components === null || me.key === null) {
    const missing = Object.values(node.inputs)
      .map((r) => r.node)
      .filter((u) => !planned.find((n) => n.id === u)?.cached)
    lines.push(`not cached: upstream ${[...new Set(missing)].join(", ")} must run first, so its input digests are not known yet`)
    lines.push(`(run \`pipe explain ${file} ${missing[0] ?? ""}\` to see why)`)
    io.out(`${lines.join("\n")}\n`)
    return 0
  }
  lines.push(`key ${me.key}`)
  const prev = previousManifest(project.store, project.dirs.runs, relative(project.dirs.root, p.file).split("\\").join("/"), node.id, node.kind)
  if (me.cached) {
    const m = me.manifest as Manifest
    lines.push(`cached: computed ${m.created} by ${m.computedBy.pipeline} (node ${m.computedBy.node}) in ${m.seconds.toFixed(2)} s`)
  } else {
    lines.push("not cached: no entry with this key in the store")
    if (prev === undefined) lines.push("no earlier run of this pipeline computed this node, so there is nothing to compare against")
    else {
      lines.push(`changes since ${prev.from} (key ${prev.m.key.slice(0, 12)}):`)
      const diff = diffComponents(prev.m, me.components, node.entry.code)
      lines.push(...(diff.length > 0 ? diff.map((d) => `  - ${d}`) : ["  - nothing: same key, but its entry was deleted (gc) or corrupt"]))
    }
  }
  io.out(`${lines.join("\n")}\n`)
  return 0
}

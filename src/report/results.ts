// The results of a run, study by study: one section per include namespace (study.yaml's ddpm/,
// latent-rf/, ...) plus the top-level nodes, each with its sampler table; and the same tables as
// Markdown (`pipe report RUN --markdown`), so the README's results are generated, not typed.
import type { RunRecord } from "../exec/record.ts"
import { GLOBAL, scopeOf } from "../pipeline/scope.ts"
import { fmtNum } from "./format.ts"
import { paretoFront } from "./plots.ts"
import { localModel, type SamplerPoint } from "./series.ts"

export interface Section {
  /** Include namespace ("" for the top-level file and its plain includes). */
  readonly scope: string
  readonly title: string
  /** The included file, relative to the project root (null for the top level). */
  readonly file: string | null
  readonly description: string
  readonly nodes: readonly string[]
  readonly points: readonly SamplerPoint[]
}

/**
 * Namespaced includes first, in include order, then the top level: in study.yaml that is the shared
 * sub-DAGs (MNIST, judge, VAE); in a single pipeline it is everything, under the pipeline's name.
 */
export const sectionsOf = (record: RunRecord, points: readonly SamplerPoint[]): Section[] => {
  const scopes = record.scopes ?? []
  const nodesIn = (scope: string) => record.nodes.filter((n) => scopeOf(n.id) === scope).map((n) => n.id)
  const scoped = scopes.map((s) => ({ scope: s.scope, title: s.scope, file: s.file, description: s.description, nodes: nodesIn(s.scope), points: points.filter((p) => p.scope === s.scope) }))
  const top: Section = {
    scope: GLOBAL,
    title: scoped.length === 0 ? record.name : "shared",
    file: null,
    description: scoped.length === 0 ? "" : "Nodes of the top-level file and of its plain includes, shared by every study above.",
    nodes: nodesIn(GLOBAL),
    points: points.filter((p) => p.scope === GLOBAL),
  }
  return [...scoped, top].filter((s) => s.nodes.length > 0)
}

/** "64.52 ± 1.2" when the score reports a standard error, else the FLD alone. */
export const fmtFld = (fld: number | null, se: number | null): string => (fld === null ? "" : se === null ? fmtNum(fld) : `${fmtNum(fld)} ± ${fmtNum(se)}`)

export interface ResultTable {
  readonly columns: readonly string[]
  readonly rows: readonly (readonly string[])[]
}

/** A section's sampler table: one row per scored sampler setting, in run order. */
export const resultTable = (points: readonly SamplerPoint[], scope: string | null): ResultTable => {
  const scored = points.filter((p) => p.fld !== null)
  const dev = scored.some((p) => p.classDev !== null)
  const acc = scored.some((p) => p.accuracy !== null)
  const columns = ["model", "sampler", "steps", "FLD", "floor", ...(dev ? ["class dev"] : []), ...(acc ? ["accuracy"] : []), "s / image"]
  const rows = scored.map((p) => [
    localModel(p, scope),
    p.setting === "" ? p.sampler : `${p.sampler} ${p.setting}`,
    String(p.steps),
    fmtFld(p.fld, p.fldSe),
    p.floor === null ? "" : fmtNum(p.floor),
    ...(dev ? [p.classDev === null ? "" : fmtNum(p.classDev)] : []),
    ...(acc ? [p.accuracy === null ? "" : fmtNum(p.accuracy)] : []),
    p.secondsPerImage === null ? "" : fmtNum(p.secondsPerImage),
  ])
  return { columns, rows }
}

/** The Pareto front across every section: full model ids. */
export const frontTable = (points: readonly SamplerPoint[]): ResultTable => resultTable(paretoFront(points), null)

const mdEscape = (s: string): string => s.replace(/\|/g, "\\|")

export const markdownTable = (t: ResultTable): string =>
  [`| ${t.columns.join(" | ")} |`, `|${t.columns.map(() => "---").join("|")}|`, ...t.rows.map((r) => `| ${r.map(mdEscape).join(" | ")} |`)].join("\n")

/**
 * Every section's table, then the speed-quality front: what the README's results section shows. A
 * section with DeepCache samplers shows them in their own table (`extra`: interval, schedule, MAC and
 * wall speed-ups, fidelity to the uncached run) instead of one generic row each.
 */
export const resultsMarkdown = (
  record: RunRecord,
  points: readonly SamplerPoint[],
  extra: (s: Section) => { readonly own: ReadonlySet<string>; readonly markdown: string } | undefined = () => undefined,
): string => {
  const parts = [`Run \`${record.id}\` of \`${record.pipeline}\`${record.profile === null ? "" : ` (profile ${record.profile})`}, ${record.status}.`]
  for (const s of sectionsOf(record, points)) {
    const more = extra(s)
    const t = resultTable(s.points.filter((p) => more?.own.has(p.node) !== true), s.scope)
    if (t.rows.length === 0 && more === undefined) continue
    parts.push(`### ${s.title}${s.file === null ? "" : ` (\`${s.file}\`)`}`)
    if (t.rows.length > 0) parts.push(markdownTable(t))
    if (more !== undefined) parts.push(more.markdown)
  }
  const front = frontTable(points)
  if (front.rows.length > 0) parts.push("### Speed-quality front (no other sampler is both faster and better)", markdownTable(front))
  return `${parts.join("\n\n")}\n`
}

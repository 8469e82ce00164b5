// The per-run HTML report: runs/<run-id>/report.html. The engine calls `onRunFinished` after every
// `pipe run` (src/exec/record.ts) and turns any exception into a warning, so a broken report never
// fails a run; `pipe report RUN` calls `writeReport` to regenerate it (`--markdown` prints the
// results tables instead). A run of study.yaml gets one section per included study and the
// speed-quality frontier across them; any other run gets one section.
import { join } from "node:path"
import type { RunRecord } from "../exec/record.ts"
import { writeFileAtomic } from "../store/atomic.ts"
import { dagSvg } from "./dag.ts"
import { deepcachePlots, deepcachePoints, deepcacheTable, gridGroups, isCachedEntry, markdownTable as deepcacheMarkdown } from "./deepcache-series.ts"
import { renderReportHtml } from "./html.ts"
import { loadReportData, type ReportData } from "./load.ts"
import { guidancePoints, routeOf } from "./guidance-series.ts"
import { frontierPlot, guidancePlots, lossCurvePlots, type PlotSpec, qualityPlots, renderPlots } from "./plots.ts"
import { GLOBAL, scopeOf } from "../pipeline/scope.ts"
import { resultsMarkdown, type Section, sectionsOf } from "./results.ts"
import { modelNodes, samplerPoints, type SamplerPoint } from "./series.ts"

export const REPORT_FILE = "report.html"

/** The store a run used: recorded in run.json; older records assume the default <project>/cache. */
export const cacheDirOf = (runDir: string, record: RunRecord): string => record.cache ?? join(runDir, "..", "..", "cache")

export const pointsOf = (data: Pick<ReportData, "metrics" | "nodes" | "edges">): SamplerPoint[] => samplerPoints(data.metrics, data.nodes, data.edges)

export interface ReportPlots {
  readonly frontier: PlotSpec | undefined
  /**
   * Per section (same order as `sections`): quality and speed vs steps, accuracy and FLD vs the
   * guidance scale (when it has guided samplers), then its loss curves.
   */
  readonly sections: readonly (readonly PlotSpec[])[]
}

/** A section's DeepCache points (its cached samplers against their uncached runs; none outside deepcache.yaml). */
const cachePointsOf = (data: Pick<ReportData, "metrics" | "nodes" | "edges">, s: Section) =>
  deepcachePoints({ metrics: data.metrics.filter((e) => scopeOf(e.node) === s.scope), nodes: data.nodes, edges: data.edges })

/** Every plot of the report as a Vega-Lite spec, by section (pure: tests check them as data). */
export const plotSpecsOf = (data: Pick<ReportData, "metrics" | "nodes" | "edges">, sections: readonly Section[]): ReportPlots => {
  const points = sections.flatMap((s) => s.points)
  const many = sections.length > 1
  // A study's loss curves are those of its own nodes and of the models it samples, which may be
  // shared (ddpm.yaml samples shared/ddpm-unet.yaml's ddpm-unet); each curve is drawn once, in the
  // first section that claims it.
  const drawn = new Set<string>()
  const lossNodes = (s: Section): Set<string> => {
    const mine = new Set([...s.points.flatMap((p) => (p.model === null ? [] : modelNodes(p.model))), ...s.nodes].filter((n) => !drawn.has(n)))
    for (const n of mine) drawn.add(n)
    return mine
  }
  const scopedFirst = [...sections.filter((s) => s.scope !== GLOBAL), ...sections.filter((s) => s.scope === GLOBAL)]
  const losses = new Map(scopedFirst.map((s) => [s, lossNodes(s)]))
  const inScope = (s: Section) => data.metrics.filter((e) => scopeOf(e.node) === s.scope)
  const guided = (s: Section) => guidancePoints(inScope(s), (e) => routeOf(e.node, data.nodes, data.edges) ?? "?")
  // DeepCache runs (pipelines/deepcache.yaml) get their own plots against the interval, not 126 points against steps
  const cachedNodes = new Set(data.metrics.filter(isCachedEntry).map((e) => e.node))
  return {
    frontier: points.filter((p) => p.fld !== null && p.secondsPerImage !== null).length >= 2 ? frontierPlot(points, many ? null : (sections[0]?.scope ?? null)) : undefined,
    sections: sections.map((s, i) => {
      const g = guided(s)
      const id = many ? `-${i}` : ""
      // Steps plots whose x axis holds one value (cfg.yaml samples every scale with DDIM-50) say
      // nothing the table does not: a guided section shows its guidance plots instead.
      const oneStepCount = new Set(s.points.map((p) => p.steps)).size <= 1
      return [
        ...(g.length > 0 && oneStepCount ? [] : qualityPlots(s.points.filter((p) => !cachedNodes.has(p.node)), s.scope, id)),
        ...guidancePlots(g, id),
        ...deepcachePlots(cachePointsOf(data, s)),
        ...lossCurvePlots(data.metrics.filter((e) => losses.get(s)?.has(e.node) === true), s.scope),
      ]
    }),
  }
}

export const buildReport = async (runDir: string, record: RunRecord, cacheDir: string): Promise<string> => {
  const data = await loadReportData(runDir, record, cacheDir)
  const sections = sectionsOf(record, pointsOf(data))
  const specs = plotSpecsOf(data, sections)
  const all = [...(specs.frontier === undefined ? [] : [specs.frontier]), ...specs.sections.flat()]
  const { plots, warnings } = await renderPlots(all, { cacheDir })
  const byId = new Map(plots.map((p) => [p.id, p]))
  const dag = dagSvg(
    record.nodes.map((n) => ({ id: n.id, kind: n.kind, status: n.status, sweep: n.sweep })),
    data.edges,
  )
  return renderReportHtml({
    data: { ...data, warnings: [...data.warnings, ...warnings] },
    dag,
    frontier: specs.frontier === undefined ? undefined : byId.get(specs.frontier.id),
    sections: sections.map((section, i) => ({
      section,
      plots: (specs.sections[i] ?? []).flatMap((s) => byId.get(s.id) ?? []),
      gridGroups: gridGroups(cachePointsOf(data, section), data.images, data.edges),
    })),
  })
}

/** The results tables of a run as Markdown (`pipe report RUN --markdown`). */
export const buildMarkdown = async (runDir: string, record: RunRecord, cacheDir: string): Promise<string> => {
  const data = await loadReportData(runDir, record, cacheDir)
  return resultsMarkdown(record, pointsOf(data), (s) => {
    const cached = cachePointsOf(data, s).filter((p) => p.interval !== null)
    return cached.length === 0 ? undefined : { own: new Set(cached.map((p) => p.node)), markdown: `DeepCache:\n\n${deepcacheMarkdown(deepcacheTable(cached))}` }
  })
}

/** Writes runs/<run-id>/report.html (atomically) and returns its path. */
export const writeReport = async (runDir: string, record: RunRecord, cacheDir = cacheDirOf(runDir, record)): Promise<string> => {
  const file = join(runDir, REPORT_FILE)
  writeFileAtomic(file, await buildReport(runDir, record, cacheDir))
  return file
}

/** Engine hook (see src/exec/record.ts). */
export const onRunFinished = async (runDir: string, record: RunRecord): Promise<void> => {
  await writeReport(runDir, record)
}

// Progress reporting. Nodes emit ProgressEvents through ctx.progress; a Reporter turns them into
// one updating line per running node on a TTY, occasional plain lines otherwise, or JSON lines
// (--json) for machines. Reporters own the clock: nodes and keys never see it.
import type { ProgressEvent } from "../node.ts"

/** ran / cached: outputs available; failed: the node's own error; interrupted: stopped by Ctrl-C while
 * running (nothing stored); skipped: not started (an input missing, or the run stopping). */
export type NodeStatus = "cached" | "ran" | "failed" | "interrupted" | "skipped"

/** One character per finished status in the plain and TTY logs. */
export const statusMark = (s: NodeStatus): string => (s === "ran" ? "✓" : s === "failed" ? "✗" : s === "interrupted" ? "!" : "-")

export interface Reporter {
  readonly start: (id: string, kind: string) => void
  readonly progress: (id: string, e: ProgressEvent) => void
  readonly log: (id: string, message: string) => void
  readonly info: (message: string) => void
  readonly finish: (id: string, status: NodeStatus, seconds: number, detail?: string) => void
  readonly close: () => void
}

interface Live {
  readonly kind: string
  readonly started: number
  phase: string
  phaseStart: number
  phaseStep0: number
  last: ProgressEvent | undefined
  lastPrinted: number
}

export const fmtDuration = (s: number): string => {
  if (!Number.isFinite(s) || s < 0) return "?"
  const whole = Math.round(s) // round first: 59.6 s is "1:00", never "0:60"
  const m = Math.floor(whole / 60)
  const r = whole % 60
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m` : `${m}:${String(r).padStart(2, "0")}`
}

/** "train epoch 2 step 120/500 loss 0.0312 | 12.3 it/s ETA 0:31" */
export const progressLine = (e: ProgressEvent, rate: number): string => {
  const parts = [e.phase]
  if (e.epoch !== undefined) parts.push(`epoch ${e.epoch}`)
  parts.push(`${e.step}/${e.total}`)
  for (const [k, v] of Object.entries(e.metrics ?? {})) parts.push(`${k} ${Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : Number(v.toPrecision(4))}`)
  if (rate > 0) parts.push(`| ${rate >= 10 ? rate.toFixed(0) : rate.toFixed(2)} it/s ETA ${fmtDuration((e.total - e.step) / rate)}`)
  return parts.join(" ")
}

const now = (): number => performance.now()

const update = (l: Live, e: ProgressEvent, t: number): number => {
  if (e.phase !== l.phase || (l.last !== undefined && e.step < l.last.step)) {
    l.phase = e.phase
    l.phaseStart = t
    l.phaseStep0 = e.step
  }
  l.last = e
  const dt = (t - l.phaseStart) / 1000
  return dt > 0 ? (e.step - l.phaseStep0) / dt : 0
}

const newLive = (kind: string): Live => ({ kind, started: now(), phase: "", phaseStart: now(), phaseStep0: 0, last: undefined, lastPrinted: 0 })

/** Plain lines (CI logs, pipes): one line per node per `every` ms at most, plus phase ends. */
export const plainReporter = (write: (s: string) => void, every = 10_000): Reporter => {
  const live = new Map<string, Live>()
  return {
    start: (id, kind) => {
      live.set(id, newLive(kind))
      write(`▸ ${id} (${kind}) started\n`)
    },
    progress: (id, e) => {
      const l = live.get(id)
      if (l === undefined) return
      const t = now()
      const rate = update(l, e, t)
      if (t - l.lastPrinted >= every || e.step === e.total) {
        l.lastPrinted = t
        write(`  ${id}: ${progressLine(e, rate)}\n`)
      }
    },
    log: (id, m) => write(`  ${id}: ${m}\n`),
    info: (m) => write(`${m}\n`),
    finish: (id, status, seconds, detail) => {
      live.delete(id)
      if (status === "cached") return
      write(`${statusMark(status)} ${id} ${status} in ${seconds.toFixed(2)} s${detail ? `: ${detail}` : ""}\n`)
    },
    close: () => undefined,
  }
}

/** A TTY: a block of live lines (one per running node) redrawn in place, logs printed above it. */
export const ttyReporter = (write: (s: string) => void, columns: () => number): Reporter => {
  const live = new Map<string, Live>()
  let drawn = 0
  let lastDraw = 0
  const clear = (): void => {
    if (drawn > 0) write(`\x1b[${drawn}A\x1b[J`)
    drawn = 0
  }
  const draw = (): void => {
    const lines = [...live].map(([id, l]) => {
      const rate = l.last === undefined ? 0 : ((l.last.step - l.phaseStep0) * 1000) / Math.max(1, now() - l.phaseStart)
      const body = l.last === undefined ? `running ${fmtDuration((now() - l.started) / 1000)}` : progressLine(l.last, rate)
      return `  ▸ ${id} (${l.kind}) ${body}`.slice(0, Math.max(20, columns() - 1))
    })
    for (const line of lines) write(`${line}\n`)
    drawn = lines.length
  }
  const redraw = (force: boolean): void => {
    const t = now()
    if (!force && t - lastDraw < 100) return
    lastDraw = t
    clear()
    draw()
  }
  const above = (s: string): void => {
    clear()
    write(s)
    draw()
  }
  return {
    start: (id, kind) => {
      live.set(id, newLive(kind))
      redraw(true)
    },
    progress: (id, e) => {
      const l = live.get(id)
      if (l === undefined) return
      update(l, e, now())
      redraw(false)
    },
    log: (id, m) => above(`  ${id}: ${m}\n`),
    info: (m) => above(`${m}\n`),
    finish: (id, status, seconds, detail) => {
      live.delete(id)
      if (status === "cached") return redraw(true)
      above(`${statusMark(status)} ${id} ${status} in ${seconds.toFixed(2)} s${detail ? `: ${detail}` : ""}\n`)
    },
    close: () => clear(),
  }
}

/** --json: one JSON object per line on stdout. */
export const jsonReporter = (write: (s: string) => void): Reporter => {
  const line = (o: Record<string, unknown>): void => write(`${JSON.stringify(o)}\n`)
  return {
    start: (id, kind) => line({ event: "start", node: id, kind }),
    progress: (id, e) => line({ event: "progress", node: id, ...e }),
    log: (id, message) => line({ event: "log", node: id, message }),
    info: (message) => line({ event: "info", message }),
    finish: (id, status, seconds, detail) => line({ event: "finish", node: id, status, seconds, ...(detail ? { detail } : {}) }),
    close: () => undefined,
  }
}

/** Records everything (tests). */
export const silentReporter = (): Reporter => ({
  start: () => undefined,
  progress: () => undefined,
  log: () => undefined,
  info: () => undefined,
  finish: () => undefined,
  close: () => undefined,
})

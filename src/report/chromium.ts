// Opens a report in headless Chromium and reports what a reader would hit: console errors, page
// exceptions, failed loads (Log domain), images that did not decode, and how many plots, sample
// images and DAG boxes rendered. Talks the DevTools protocol over --remote-debugging-pipe (fd 3 in,
// fd 4 out, NUL-separated JSON), so no port, no network and no extra npm package are involved.
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import type { Readable, Writable } from "node:stream"

export const DEFAULT_CHROMIUM = "/usr/bin/chromium"

export interface PageCheck {
  /** Console errors/warnings, uncaught exceptions and Log-domain errors (failed loads, CSP...). */
  readonly problems: readonly string[]
  readonly plots: number // <svg class="marks"> elements rendered by vega
  readonly images: number // sample <img> elements
  readonly brokenImages: number // sample images whose data did not decode
  readonly dagNodes: number // boxes: nodes and collapsed sweeps
  readonly dagSweeps: number
  readonly title: string
  /** Page width against viewport width: equal means no horizontal scrolling. */
  readonly scrollWidth: number
  readonly clientWidth: number
  /** The DAG is drawn at full size (not shrunk) and inside its column. */
  readonly dagFits: boolean
  /** Full-page PNG screenshot when asked for. */
  readonly screenshot: Uint8Array | null
}

export class ChromiumError extends Error {
  readonly _tag = "ChromiumError"
}

/** Counts evaluated in the page; kept as one expression string because it runs inside Chromium. */
const PROBE = `JSON.stringify({
  plots: document.querySelectorAll("figure.plot svg.marks").length,
  images: document.querySelectorAll("figure.sample img").length,
  brokenImages: [...document.querySelectorAll("figure.sample img")].filter((i) => !i.complete || i.naturalWidth === 0).length,
  dagNodes: document.querySelectorAll("svg.dag g.node, svg.dag g.sweep").length,
  dagSweeps: document.querySelectorAll("svg.dag g.sweep").length,
  title: document.title,
  scrollWidth: document.documentElement.scrollWidth,
  clientWidth: document.documentElement.clientWidth,
  dagFits: [...document.querySelectorAll("svg.dag")].every((s) => s.getBoundingClientRect().width <= s.parentElement.clientWidth && s.getBoundingClientRect().width >= s.viewBox.baseVal.width * 0.999),
})`

interface CdpMessage {
  readonly id?: number
  readonly method?: string
  readonly sessionId?: string
  readonly params?: Record<string, unknown>
  readonly result?: Record<string, unknown>
  readonly error?: { readonly message: string }
}

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--no-default-browser-check",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-extensions",
  "--mute-audio",
  "--remote-debugging-pipe",
]

const describeConsole = (p: Record<string, unknown>): string => {
  const args = Array.isArray(p.args) ? (p.args as { value?: unknown; description?: string }[]) : []
  return `console.${String(p.type)}: ${args.map((a) => (a.value !== undefined ? String(a.value) : (a.description ?? "?"))).join(" ")}`
}

/**
 * Loads `htmlFile` in a fresh headless Chromium profile and probes it.
 * Throws ChromiumError when the browser cannot be started or does not answer within `timeoutMs`.
 */
export const checkPage = async (
  htmlFile: string,
  opts: { readonly chromium?: string; readonly screenshot?: boolean; readonly timeoutMs?: number; readonly width?: number } = {},
): Promise<PageCheck> => {
  const bin = opts.chromium ?? DEFAULT_CHROMIUM
  if (!existsSync(bin)) throw new ChromiumError(`${bin} not found (apt-get install chromium)`)
  const profile = mkdtempSync(join(tmpdir(), "pipe-chromium-"))
  const child = spawn(bin, [...FLAGS, `--user-data-dir=${profile}`, "about:blank"], { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"] })
  const toBrowser = child.stdio[3] as Writable
  const fromBrowser = child.stdio[4] as Readable
  let stderr = ""
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)))
  const pending = new Map<number, { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }>()
  const listeners: ((m: CdpMessage) => void)[] = []
  const problems: string[] = []
  let nextId = 1
  let buffer = ""
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code, signal) => reject(new ChromiumError(`chromium exited (${code ?? signal}) before the check finished: ${stderr.trim().split("\n").slice(-3).join(" | ")}`))),
  )
  exited.catch(() => undefined)
  const errored = new Promise<never>((_, reject) => child.once("error", (e) => reject(new ChromiumError(`cannot start ${bin}: ${e.message}`))))
  errored.catch(() => undefined)
  fromBrowser.on("data", (d: Buffer) => {
    buffer += d.toString("utf8")
    for (let i = buffer.indexOf("\0"); i >= 0; i = buffer.indexOf("\0")) {
      const msg = JSON.parse(buffer.slice(0, i)) as CdpMessage
      buffer = buffer.slice(i + 1)
      if (msg.id !== undefined) {
        const p = pending.get(msg.id)
        pending.delete(msg.id)
        if (msg.error !== undefined) p?.reject(new ChromiumError(msg.error.message))
        else p?.resolve(msg.result ?? {})
      } else for (const l of listeners) l(msg)
    }
  })
  const send = (method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> =>
    Promise.race([
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const id = nextId++
        pending.set(id, { resolve, reject })
        toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId !== undefined ? { sessionId } : {}) })}\0`)
      }),
      exited,
      errored,
    ])
  const waitFor = (method: string): Promise<CdpMessage> =>
    Promise.race([new Promise<CdpMessage>((resolve) => listeners.push((m) => m.method === method && resolve(m))), exited, errored])
  listeners.push((m) => {
    const p = m.params ?? {}
    if (m.method === "Runtime.consoleAPICalled" && (p.type === "error" || p.type === "warning" || p.type === "assert")) problems.push(describeConsole(p))
    if (m.method === "Runtime.exceptionThrown") {
      const d = p.exceptionDetails as { text?: string; exception?: { description?: string } } | undefined
      problems.push(`exception: ${d?.exception?.description ?? d?.text ?? "?"}`)
    }
    if (m.method === "Log.entryAdded") {
      const e = p.entry as { level?: string; text?: string; url?: string } | undefined
      if (e?.level === "error" || e?.level === "warning") problems.push(`${e.level}: ${e.text ?? ""}${e.url ? ` (${e.url})` : ""}`)
    }
  })
  const timeoutMs = opts.timeoutMs ?? 60_000
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ChromiumError(`no answer from chromium within ${timeoutMs / 1000} s`)), timeoutMs)
  })
  try {
    return await Promise.race([
      timeout,
      (async (): Promise<PageCheck> => {
        const { targetId } = (await send("Target.createTarget", { url: "about:blank" })) as { targetId: string }
        const { sessionId } = (await send("Target.attachToTarget", { targetId, flatten: true })) as { sessionId: string }
        const s = (method: string, params: Record<string, unknown> = {}) => send(method, params, sessionId)
        await s("Page.enable")
        await s("Runtime.enable")
        await s("Log.enable")
        await s("Emulation.setDeviceMetricsOverride", { width: opts.width ?? 1280, height: 900, deviceScaleFactor: 1, mobile: false })
        const loaded = waitFor("Page.loadEventFired")
        const nav = (await s("Page.navigate", { url: pathToFileURL(htmlFile).href })) as { errorText?: string }
        if (nav.errorText !== undefined) throw new ChromiumError(`navigation failed: ${nav.errorText}`)
        await loaded
        const probe = (await s("Runtime.evaluate", { expression: PROBE, returnByValue: true })) as { result: { value: string } }
        const counts = JSON.parse(probe.result.value) as Omit<PageCheck, "problems" | "screenshot">
        let screenshot: Uint8Array | null = null
        if (opts.screenshot === true) {
          const { cssContentSize: size } = (await s("Page.getLayoutMetrics")) as { cssContentSize: { width: number; height: number } }
          const clip = { x: 0, y: 0, width: Math.ceil(size.width), height: Math.min(Math.ceil(size.height), 16_000), scale: 1 }
          const shot = (await s("Page.captureScreenshot", { format: "png", captureBeyondViewport: true, clip })) as { data: string }
          screenshot = new Uint8Array(Buffer.from(shot.data, "base64"))
        }
        await send("Browser.close").catch(() => undefined)
        return { ...counts, problems: [...problems], screenshot }
      })(),
    ])
  } finally {
    clearTimeout(timer)
    if (child.exitCode === null && child.signalCode === null) {
      // Browser.close was sent on success: give it a moment to exit cleanly before killing it.
      const gone = new Promise((r) => child.once("exit", r))
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))])
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))])
    }
    try {
      // Chromium's helper processes may still be flushing into the profile for a moment.
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 })
    } catch (e) {
      process.emitWarning(`could not remove the temporary Chromium profile ${profile}: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
}

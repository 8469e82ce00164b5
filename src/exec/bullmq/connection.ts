// Redis connections for BullMQ, with every wait bounded: ioredis retries a lost connection forever
// (which is what a worker wants: Redis restarts, the worker carries on), so anything a user waits on
// goes through `bounded`, which turns a silent Redis into a clear error after a deadline.
import type { ConnectionOptions } from "bullmq"

/** Connecting, or a Redis that stopped answering for longer than allowed. */
export class RedisUnavailable extends Error {}

/** Checks the URL up front so a typo fails as a usage error, not as endless reconnects. */
export const checkRedisUrl = (url: string): string | undefined => {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return `"${url}" is not a URL (e.g. redis://127.0.0.1:6379)`
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") return `"${url}": the scheme must be redis:// or rediss://`
  return undefined
}

/** Hides a password in messages. */
export const displayUrl = (url: string): string => url.replace(/\/\/([^@/]*)@/, "//***@")

export const connectionOf = (url: string): ConnectionOptions => ({
  url,
  connectTimeout: 5000,
  // Reconnect quickly after a Redis restart (BullMQ's default backs off to 20 s).
  retryStrategy: (times: number) => Math.min(250 * times, 2000),
})

/** `p`, or a RedisUnavailable after `ms` (the promise itself is left to settle or fail on its own). */
export const bounded = <A>(p: Promise<A>, ms: number, what: string): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisUnavailable(`${what}: no answer from Redis within ${(ms / 1000).toFixed(0)} s`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

interface Closable {
  readonly close: () => Promise<void>
  readonly disconnect: () => Promise<void>
}

/** Closes BullMQ clients within `graceMs`, then drops them; never waits on a silent Redis. */
export const closeAll = (clients: readonly Closable[], graceMs: number): Promise<void> =>
  bounded(Promise.all(clients.map((c) => c.close())), graceMs, "closing")
    .catch(() => bounded(Promise.all(clients.map((c) => c.disconnect())), 1000, "disconnecting"))
    .then(
      () => undefined,
      () => undefined, // a command exits right after; nothing is left to flush
    )

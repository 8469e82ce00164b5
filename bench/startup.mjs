// Start-up benchmark: wall time of `node bin/pipe.mjs ARGS` (via /usr/bin/time -f %e), median of N,
// alternating between checkouts so that a busy machine slows each about equally. Every checkout
// uses the same PIPE_CACHE (warm it first: the runs below must be fully cached) and its own runs dir.
//   node bench/startup.mjs [--n 5] [--cache DIR] CHECKOUT... -- ARGS...
// e.g. node bench/startup.mjs --cache /tmp/c /tmp/before . -- run pipelines/latent-rf.yaml --profile smoke
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { loadavg, tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"

const sep = process.argv.indexOf("--")
if (sep < 0) {
  process.stderr.write("usage: node bench/startup.mjs [--n 5] [--cache DIR] CHECKOUT... -- ARGS...\n")
  process.exit(2)
}
const { values, positionals } = parseArgs({ args: process.argv.slice(2, sep), allowPositionals: true, options: { n: { type: "string", default: "5" }, cache: { type: "string" } } })
const args = process.argv.slice(sep + 1)
const checkouts = positionals.map((p) => resolve(p))
const runs = mkdtempSync(join(tmpdir(), "pipe-startup-runs-"))
const times = new Map(checkouts.map((c) => [c, []]))
const load0 = loadavg()[0]
for (let i = 0; i < Number(values.n); i++)
  for (const [k, c] of checkouts.entries()) {
    const out = join(runs, `time-${k}`)
    const r = spawnSync("/usr/bin/time", ["-f", "%e", "-o", out, process.execPath, "bin/pipe.mjs", ...args], {
      cwd: c,
      env: { ...process.env, ...(values.cache ? { PIPE_CACHE: values.cache } : {}), PIPE_RUNS: join(runs, String(k)) },
      stdio: ["ignore", "ignore", "pipe"],
    })
    if (r.status !== 0) throw new Error(`${c}: pipe ${args.join(" ")} exited ${r.status}: ${r.stderr}`)
    times.get(c).push(Number(readFileSync(out, "utf8").trim().split("\n").at(-1)))
  }
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
process.stdout.write(`pipe ${args.join(" ")}  (load average ${load0.toFixed(1)} -> ${loadavg()[0].toFixed(1)})\n`)
for (const [c, xs] of times) process.stdout.write(`  ${c}: median ${median(xs).toFixed(2)} s  (${xs.map((x) => x.toFixed(2)).join(" ")})\n`)

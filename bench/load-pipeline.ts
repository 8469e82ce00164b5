// Validation time against pipeline size: one sweep of N bindings x 2 templates (2N + 1 nodes), and a
// hand-written file of N nodes, over the engine test fixture's kinds. Linear code keeps the time per
// node flat as N grows. Prints this process's CPU time (user + system, what the machine's load does
// not inflate much) and the wall time.
//
//   npx tsx bench/load-pipeline.ts [--sizes 2000,8000,32000]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { loadPipeline } from "../src/pipeline/load.ts"
import { loadRegistry } from "../src/registry/registry.ts"

const { values } = parseArgs({ options: { sizes: { type: "string", default: "2000,8000,32000" } } })
const sizes = String(values.sizes).split(",").map(Number)
const fixture = join(import.meta.dirname, "../test/engine/fixtures/project")
const registry = await loadRegistry({ root: fixture, nodesDir: join(fixture, "nodes") })
const root = mkdtempSync(join(tmpdir(), "pipe-bench-load-"))

const sweep = (n: number): string =>
  `name: s\nnodes:\n  src: { kind: source }\nsweeps:\n  s:\n    over: { k: [${Array.from({ length: n }, (_, i) => i).join(", ")}] }\n    nodes:\n      "a-\${k}": { kind: scale, params: { by: "\${k}" }, inputs: { x: src.values } }\n      "b-\${k}": { kind: round, inputs: { x: "a-\${k}.y" } }\n`
const flat = (n: number): string =>
  ["name: f", "nodes:", "  src: { kind: source }", ...Array.from({ length: n }, (_, i) => `  a-${i}: { kind: scale, params: { by: ${i} }, inputs: { x: src.values } }`)].join("\n")

try {
  loadPipeline(join(root, "warm.yaml"), { root, registry, cwd: root }) // compile the schemas once
} catch {
  // the file does not exist: only the schema compilation mattered
}
for (const [shape, text] of [["sweep", sweep], ["flat", flat]] as const)
  for (const n of sizes) {
    writeFileSync(join(root, "p.yaml"), text(n))
    const t0 = performance.now()
    const c0 = process.cpuUsage()
    const p = loadPipeline(join(root, "p.yaml"), { root, registry, cwd: root })
    const c = process.cpuUsage(c0)
    const wallMs = performance.now() - t0
    const cpuMs = (c.user + c.system) / 1000
    console.log(
      `${shape.padEnd(5)} ${String(p.nodes.size).padStart(7)} nodes  cpu ${(cpuMs / 1000).toFixed(2).padStart(6)} s  ${((cpuMs * 1000) / p.nodes.size).toFixed(0).padStart(5)} us/node  wall ${(wallMs / 1000).toFixed(2).padStart(6)} s`,
    )
  }
rmSync(root, { recursive: true, force: true })

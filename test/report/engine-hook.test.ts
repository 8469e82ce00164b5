// End to end through the real CLI: `pipe run` on the engine's fixture project writes report.html via
// the src/exec/record.ts hook, records the cache dir and DAG edges, and `pipe report last` rebuilds it.
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import t from "tap"
import { makeProject } from "../engine/helpers.ts"

t.test("pipe run writes runs/<id>/report.html with the DAG of the run", async (t) => {
  const p = makeProject(t)
  const r = await p.pipe(["run", "pipelines/basic.yaml"])
  t.equal(r.code, 0, r.stderr)
  t.notMatch(r.stderr, /warning: report failed/)
  const record = p.lastRun()
  t.equal(record.cache, join(p.dir, "cache"))
  t.same(
    record.edges?.map((e) => `${e.from}.${e.output}->${e.to}.${e.input}`).sort(),
    ["r.y->sum.b", "src.values->r.x", "src.values->sum.a", "sum.sum->out.x"],
  )
  const file = join(p.dir, "runs", record.id, "report.html")
  t.ok(existsSync(file))
  const html = readFileSync(file, "utf8")
  t.equal(html.split('<g class="node ran">').length - 1, record.nodes.length, "every node ran")
  t.equal(html.split('marker-end="url(#arrow)"').length - 1, 4)
  t.match(html, /fixture runtime/, "backend notes in the header")
  t.match(html, /<code>out\/values\.txt<\/code>/, "non-PNG files are listed")
  const again = await p.pipe(["report", "last"])
  t.equal(again.code, 0, again.stderr)
  t.equal(again.stdout.trim(), file)
  t.match(readFileSync(file, "utf8"), /<g class="node ran">/)
})

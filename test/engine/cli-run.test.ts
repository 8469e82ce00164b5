// End-to-end runs of the fixture pipelines through the real CLI process.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import t from "tap"
import { makeProject } from "./helpers.ts"

t.test("second run is fully cached; file artifacts land in every run dir", async (t) => {
  const p = makeProject(t)
  const first = await p.pipe(["run", "pipelines/basic.yaml"])
  t.equal(first.code, 0, first.stderr)
  t.same(p.statuses(), { src: "ran", r: "ran", sum: "ran", out: "ran", text: "ran" })
  t.match(first.stderr, /backend: fixture-cpu/)
  t.equal(p.lastRun().backend, "fixture-cpu")
  const second = await p.pipe(["run", "pipelines/basic.yaml"])
  t.equal(second.code, 0, second.stderr)
  t.same(p.statuses(), { src: "cached", r: "cached", sum: "cached", out: "cached", text: "cached" })
  t.notMatch(second.stderr, /backend:/, "a fully cached run never prepares the runtime")
  t.equal(p.lastRun().backend, null)
  for (const r of p.runs()) {
    // src = 0..4, r = round = same, sum = 2x + 0.5
    t.equal(readFileSync(join(p.dir, "runs", r.id, "out", "values.txt"), "utf8"), "0.5 2.5 4.5 6.5 8.5")
    t.same(r.nodes.find((n) => n.id === "out")?.files, ["out/values.txt"])
  }
  t.same(p.runs()[0]?.nodes.map((n) => n.outputs), p.runs()[1]?.nodes.map((n) => n.outputs), "same output digests")
})

t.test("editing one param reruns exactly that node and its dependents", async (t) => {
  const p = makeProject(t)
  t.equal((await p.pipe(["run", "pipelines/basic.yaml"])).code, 0)
  const r = await p.pipe(["run", "pipelines/basic.yaml", "--set", "sum.offset=1"])
  t.equal(r.code, 0, r.stderr)
  t.same(p.statuses(), { src: "cached", r: "cached", sum: "ran", out: "ran", text: "cached" })
  t.same(p.lastRun().sets, ["sum.offset=1"])
})

t.test("early cutoff: an upstream rerun with identical bytes stops invalidation", async (t) => {
  const p = makeProject(t)
  t.equal((await p.pipe(["run", "pipelines/a.yaml"])).code, 0)
  // scale 1.5 -> 1.5000001: src and sq rerun, but round(sq) is byte-identical, so out stays cached
  const r = await p.pipe(["run", "pipelines/a.yaml", "--set", "src.scale=1.5000001"])
  t.equal(r.code, 0, r.stderr)
  t.same(p.statuses(), { src: "ran", sq: "ran", r: "ran", out: "cached" })
  const [a, b] = p.runs()
  t.equal(a?.nodes.find((n) => n.id === "r")?.key !== b?.nodes.find((n) => n.id === "r")?.key, true, "r had a new key")
  t.equal(a?.nodes.find((n) => n.id === "out")?.key, b?.nodes.find((n) => n.id === "out")?.key, "out kept its key")
})

t.test("two pipelines including the same sub-DAG share cache entries", async (t) => {
  const p = makeProject(t)
  t.equal((await p.pipe(["run", "pipelines/a.yaml"])).code, 0)
  const r = await p.pipe(["run", "pipelines/b.yaml"])
  t.equal(r.code, 0, r.stderr)
  t.same(p.statuses(), { src: "cached", sq: "cached", slow: "ran" })
  const [a, b] = p.runs()
  t.equal(a?.nodes.find((n) => n.id === "sq")?.key, b?.nodes.find((n) => n.id === "sq")?.key)
  // profiles from the include apply in both
  t.equal((await p.pipe(["run", "pipelines/a.yaml", "--profile", "smoke"])).code, 0)
  t.same(p.statuses(), { src: "ran", sq: "ran", r: "ran", out: "ran" })
  t.equal((await p.pipe(["run", "pipelines/b.yaml", "--profile", "smoke"])).code, 0)
  t.same(p.statuses(), { src: "cached", sq: "cached", slow: "ran" })
})

t.test("touching a module only one node imports reruns exactly that node", async (t) => {
  const p = makeProject(t)
  t.equal((await p.pipe(["run", "pipelines/a.yaml"])).code, 0)
  writeFileSync(join(p.dir, "lib/helper.ts"), "// edited\nexport const factor = (x: number): number => x * 1\n")
  const r = await p.pipe(["run", "pipelines/a.yaml"])
  t.equal(r.code, 0, r.stderr)
  // sq's code changed; its output bytes did not, so r and out are cut off
  t.same(p.statuses(), { src: "cached", sq: "ran", r: "cached", out: "cached" })
  const ex = await p.pipe(["explain", "pipelines/a.yaml", "sq", "--set", "sq.by=3"])
  t.equal(ex.code, 0, ex.stderr)
  t.match(ex.stdout, /param by: 2 -> 3/)
})

t.test("explain names the changed key component", async (t) => {
  const p = makeProject(t)
  t.equal((await p.pipe(["run", "pipelines/a.yaml"])).code, 0)
  writeFileSync(join(p.dir, "lib/helper.ts"), "export const factor = (x: number): number => x * 2\n")
  const ex = await p.pipe(["explain", "pipelines/a.yaml", "sq"])
  t.equal(ex.code, 0, ex.stderr)
  t.match(ex.stdout, /not cached/)
  t.match(ex.stdout, /code: lib\/helper\.ts changed/)
  const up = await p.pipe(["explain", "pipelines/a.yaml", "r"])
  t.match(up.stdout, /upstream sq must run first/)
  const cached = await p.pipe(["explain", "pipelines/a.yaml", "src"])
  t.match(cached.stdout, /cached: computed .* by pipelines\/a\.yaml \(node src\)/)
})

t.test("plan --json is a dry run", async (t) => {
  const p = makeProject(t)
  const before = await p.pipe(["plan", "pipelines/a.yaml", "--json"])
  t.equal(before.code, 0, before.stderr)
  const plan = JSON.parse(before.stdout) as { nodes: { id: string; kind: string; key: string | null; cached: boolean }[] }
  t.same(plan.nodes.map((n) => [n.id, n.kind, n.cached]), [["src", "source", false], ["sq", "scale", false], ["r", "round", false], ["out", "render", false]])
  t.match(plan.nodes[0]?.key, /^[0-9a-f]{64}$/)
  t.equal(plan.nodes[1]?.key, null, "downstream keys are unknown until upstream content exists")
  t.notOk(existsSync(join(p.dir, "runs")), "plan runs nothing")
  await p.pipe(["run", "pipelines/a.yaml"])
  const after = JSON.parse((await p.pipe(["plan", "pipelines/a.yaml", "--json"])).stdout) as typeof plan
  t.ok(after.nodes.every((n) => n.cached && n.key !== null))
  t.equal(after.nodes[0]?.key, plan.nodes[0]?.key)
  const forced = JSON.parse((await p.pipe(["plan", "pipelines/a.yaml", "--json", "--from", "r"])).stdout) as typeof plan
  t.same(forced.nodes.map((n) => n.cached), [true, true, false, false])
  const until = JSON.parse((await p.pipe(["plan", "pipelines/a.yaml", "--json", "--until", "sq"])).stdout) as typeof plan
  t.same(until.nodes.map((n) => n.id), ["src", "sq"])
})

t.test("selectors: --force, --only, --until", async (t) => {
  const p = makeProject(t)
  t.equal((await p.pipe(["run", "pipelines/a.yaml", "--until", "sq"])).code, 0)
  t.same(p.statuses(), { src: "ran", sq: "ran" })
  t.equal((await p.pipe(["run", "pipelines/a.yaml", "--only", "r"])).code, 0)
  t.same(p.statuses(), { r: "ran" })
  const bad = await p.pipe(["run", "pipelines/a.yaml", "--only", "out", "--set", "src.n=9"])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /out needs r\.y, which is not cached/)
  t.equal((await p.pipe(["run", "pipelines/a.yaml", "--force", "src"])).code, 0)
  t.same(p.statuses(), { src: "ran", sq: "cached", r: "cached", out: "ran" })
  const unknown = await p.pipe(["run", "pipelines/a.yaml", "--force", "nope"])
  t.equal(unknown.code, 1)
  t.match(unknown.stderr, /--force nope: no node "nope" in pipelines\/a\.yaml; `pipe plan pipelines\/a\.yaml` lists its 4 nodes/)
  // A near miss names the nearest id instead of listing every node (the study has 400+).
  const near = await p.pipe(["run", "pipelines/a.yaml", "--only", "sqq"])
  t.match(near.stderr, /--only sqq: no node "sqq" in pipelines\/a\.yaml \(did you mean "sq"\?\)/)
  t.notMatch(near.stderr, /src, sq/)
  // Comma lists are lists of ids (ids contain no commas).
  t.equal((await p.pipe(["run", "pipelines/a.yaml", "--force", "src,r"])).code, 0)
  t.same(p.statuses(), { src: "ran", sq: "cached", r: "ran", out: "cached" })
  t.equal((await p.pipe(["run", "pipelines/a.yaml", "--only", "sq,out"])).code, 0)
  t.same(p.statuses(), { sq: "cached", out: "cached" })
})

t.test("a failing node names id, kind and position; dependents are skipped; store stays usable", async (t) => {
  const p = makeProject(t)
  writeFileSync(
    join(p.dir, "pipelines/failing.yaml"),
    "name: failing\nnodes:\n  src:\n    kind: source\n  bad:\n    kind: fail\n    inputs: { x: src.values }\n  after:\n    kind: round\n    inputs: { x: bad.y }\n",
  )
  const r = await p.pipe(["run", "pipelines/failing.yaml"])
  t.equal(r.code, 1)
  t.match(r.stderr, /error: bad \(fail\) at pipelines\/failing\.yaml:5:3: boom: deliberate failure/)
  t.notMatch(r.stderr, /\n\s+at /, "no stack trace")
  t.same(p.statuses(), { src: "ran", bad: "failed", after: "skipped" })
  const again = await p.pipe(["run", "pipelines/failing.yaml", "--until", "src"])
  t.equal(again.code, 0)
  t.same(p.statuses(), { src: "cached" })
})

t.test("Ctrl-C: the running node is interrupted (not failed), queued ones never start, a rerun resumes", async (t) => {
  const p = makeProject(t)
  const { child, done } = p.spawnPipe(["run", "pipelines/interrupt.yaml"])
  let seen = ""
  await new Promise<void>((res) => {
    const onData = (d: Buffer) => {
      seen += d.toString()
      if (/▸ s[12] \(slow\) started/.test(seen)) res()
    }
    child.stdout?.on("data", onData)
    child.stderr?.on("data", onData)
  })
  await new Promise((r) => setTimeout(r, 300)) // a few steps into the node
  child.kill("SIGINT")
  const r = await done
  t.equal(r.code, 130, "exit code 130 after Ctrl-C")
  const run = p.lastRun()
  t.equal(run.status, "interrupted")
  const byId = Object.fromEntries(run.nodes.map((n) => [n.id, n]))
  t.equal(byId.src?.status, "ran")
  const running = [byId.s1, byId.s2].find((n) => n?.status === "interrupted")
  const queued = [byId.s1, byId.s2].find((n) => n?.status === "skipped")
  t.ok(running !== undefined && queued !== undefined, "one heavy node was running, the other queued behind it")
  t.equal(running?.error, "interrupted")
  t.ok((running?.seconds ?? 0) > 0.2, "the interrupted node's running time is recorded")
  t.equal(queued?.error, "interrupted", "a node waiting for the heavy slot does not start after Ctrl-C")
  t.equal(byId.s3?.status, "skipped")
  t.equal(byId.s3?.error, "interrupted")
  t.notMatch(r.stdout + r.stderr, /failed in|error:/, "nothing is reported as a failure")
  t.match(r.stderr, /1 interrupted, 2 skipped/)
  t.match(r.stderr, /run the same command again to resume/)
  const again = await p.pipe(["run", "pipelines/interrupt.yaml", "--set", "s1.steps=2", "--set", "s2.steps=2"])
  t.equal(again.code, 0, again.stderr)
  t.same(p.statuses(), { src: "cached", s1: "ran", s2: "ran", s3: "ran" })
})

t.test("two nodes with the same key in one run: computed once, the wait names the other node", async (t) => {
  const p = makeProject(t)
  // A light copy of slow: heavy twins would take the one heavy slot in turn, and a node takes the key
  // lock only once it has its slot, so the second would just find the first's result.
  const slow = readFileSync(join(p.dir, "nodes/slow.ts"), "utf8")
  writeFileSync(join(p.dir, "nodes/busy.ts"), slow.replace('kind: "slow"', 'kind: "busy"').replace("heavy: true", "heavy: false"))
  writeFileSync(
    join(p.dir, "pipelines/twins.yaml"),
    "name: twins\nnodes:\n  src: { kind: source }\n  a: { kind: busy, params: { ms: 50, steps: 4 }, inputs: { x: src.values } }\n  b: { kind: busy, params: { ms: 50, steps: 4 }, inputs: { x: src.values } }\n",
  )
  const r = await p.pipe(["run", "pipelines/twins.yaml"])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /(a: same key as b|b: same key as a) \(identical kind, params and inputs\); waiting for its result/)
  t.same(Object.values(p.statuses()).sort(), ["cached", "ran", "ran"], "src ran, one twin ran, the other took its result")
})

t.test("a corrupt input of a heavy node with a heavy producer: the producer is recomputed, without deadlocking on the heavy slot", async (t) => {
  const p = makeProject(t)
  writeFileSync(
    join(p.dir, "pipelines/chain.yaml"),
    "name: chain\nnodes:\n  src: { kind: source }\n  s1: { kind: slow, params: { ms: 10, steps: 2 }, inputs: { x: src.values } }\n  s2: { kind: slow, params: { ms: 10, steps: 2 }, inputs: { x: s1.y } }\n",
  )
  t.equal((await p.pipe(["run", "pipelines/chain.yaml"])).code, 0)
  const digest = p.lastRun().nodes.find((n) => n.id === "s1")?.outputs.y as string
  const object = join(p.dir, "cache/objects", digest.slice(0, 2), `${digest}.arrow`)
  const bytes = readFileSync(object)
  bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff
  writeFileSync(object, bytes)
  // s2 finds the damage while it holds the one heavy slot, which recomputing s1 needs. Deadlocked, the
  // process exits silently once no timer is left (no summary, no run record), or hangs: then it is killed.
  const { child, done } = p.spawnPipe(["run", "pipelines/chain.yaml", "--force", "s2"])
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
  const r = await done
  clearTimeout(timer)
  t.equal(r.code, 0, r.stderr)
  t.match(r.stderr, /corrupt cache object for s1\.y/)
  t.match(r.stderr, /1 cached, 2 ran, 0 failed, 0 skipped/)
  t.same(p.statuses(), { src: "cached", s1: "ran", s2: "ran" })
})

t.test("--json prints machine-readable events", async (t) => {
  const p = makeProject(t)
  const r = await p.pipe(["run", "pipelines/b.yaml", "--json"])
  t.equal(r.code, 0, r.stderr)
  const events = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { event: string; node?: string; step?: number })
  t.ok(events.some((e) => e.event === "progress" && e.node === "slow" && e.step === 3))
  t.equal(events.at(-1)?.event, "done")
})

t.test("path params are content-addressed", async (t) => {
  const p = makeProject(t)
  t.equal((await p.pipe(["run", "pipelines/basic.yaml", "--only", "text"])).code, 0)
  writeFileSync(join(p.dir, "data/digits/b.txt"), "9 2 6\n") // same content, new mtime
  t.equal((await p.pipe(["run", "pipelines/basic.yaml", "--only", "text"])).code, 0)
  t.same(p.statuses(), { text: "cached" })
  writeFileSync(join(p.dir, "data/digits/c.txt"), "7\n")
  t.equal((await p.pipe(["run", "pipelines/basic.yaml", "--only", "text"])).code, 0)
  t.same(p.statuses(), { text: "ran" })
  t.ok(readdirSync(join(p.dir, "cache/memo")).length > 0, "digests memoised")
})

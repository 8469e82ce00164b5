// Every way the store can be damaged on disk, and what brings it back. Each scenario: a clean run of
// pipelines/a.yaml (src -> sq -> r -> out, out writes a file), one kind of damage, the command a user
// would run (a plain rerun unless noted), then: exit 0, no stack trace, the same output digests and
// file contents as the clean run, and `pipe verify` clean. Runs the CLI in-process (fast).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import t from "tap"
import { makeProject, type Project } from "../engine/helpers.ts"
import { blobPath, files, flipByte, hasStack, inProcess, manifest, newestRun, objectPath } from "./helpers.ts"

// Many CLI starts (each a tsx process) one after another: on the shared 2-core machine under load
// this file outgrows tap's 300 s per-file timeout (package.json), so it asks for more. Its CPU time
// is far below that (README, Reliability).
t.setTimeout(900_000)

interface Ctx {
  readonly p: Project
  /** key of a node in the clean run */
  readonly key: (node: string) => string
  /** object (first output) of a node in the clean run */
  readonly object: (node: string) => string
  readonly blob: () => string
}

interface Scenario {
  readonly name: string
  readonly damage: (c: Ctx) => void
  /** Commands after the damage (default: a plain rerun). */
  readonly heal?: readonly (readonly string[])[]
  /** Nodes the final run recomputes (default: none). */
  readonly reran?: readonly string[]
  /** Further checks after healing. */
  readonly check?: (c: Ctx, t: Tap) => void
}

interface Tap {
  readonly ok: (v: unknown, msg: string) => unknown
}

const RUN = ["run", "pipelines/a.yaml"]
const old = (file: string): void => utimesSync(file, new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000))

export const SCENARIOS: readonly Scenario[] = [
  { name: "an input object with a flipped byte (same size), read by a forced consumer", damage: (c) => flipByte(c.object("sq")), heal: [[...RUN, "--force", "r"]], reran: ["sq", "r"] },
  { name: "a leaf object with a flipped byte, found by verify --repair", damage: (c) => flipByte(c.object("out")), heal: [["verify", "--repair"], RUN], reran: ["out"] },
  { name: "a truncated object", damage: (c) => truncateSync(c.object("src"), 10), reran: ["src"] },
  { name: "an empty object", damage: (c) => writeFileSync(c.object("out"), ""), reran: ["out"] },
  { name: "a deleted object", damage: (c) => rmSync(c.object("sq")), reran: ["sq"] },
  { name: "a file blob with a flipped byte", damage: (c) => flipByte(c.blob(), 0), reran: ["out"] },
  { name: "a deleted file blob", damage: (c) => rmSync(c.blob()), reran: ["out"] },
  { name: "a truncated file blob", damage: (c) => truncateSync(c.blob(), 1), reran: ["out"] },
  { name: "a manifest that is not JSON", damage: (c) => writeFileSync(join(c.p.dir, "cache/keys", `${c.key("r")}.json`), "{ not json"), reran: ["r"] },
  { name: "a truncated manifest", damage: (c) => truncateSync(join(c.p.dir, "cache/keys", `${c.key("sq")}.json`), 40), reran: ["sq"] },
  {
    name: "a manifest of the wrong shape",
    damage: (c) => writeFileSync(join(c.p.dir, "cache/keys", `${c.key("out")}.json`), JSON.stringify({ format: 1, key: c.key("out"), kind: "render", outputs: { file: { digest: 7 } } })),
    reran: ["out"],
  },
  {
    name: "a manifest naming an object that does not exist",
    damage: (c) => {
      const f = join(c.p.dir, "cache/keys", `${c.key("src")}.json`)
      const m = JSON.parse(readFileSync(f, "utf8")) as { outputs: { values: { digest: string } } }
      m.outputs.values.digest = "0".repeat(64)
      writeFileSync(f, JSON.stringify(m))
    },
    reran: ["src"],
  },
  {
    name: "a manifest of an unknown format",
    damage: (c) => {
      const f = join(c.p.dir, "cache/keys", `${c.key("r")}.json`)
      writeFileSync(f, JSON.stringify({ ...(JSON.parse(readFileSync(f, "utf8")) as object), format: 2 }))
    },
    reran: ["r"],
  },
  { name: "corrupt registry metadata", damage: (c) => files(join(c.p.dir, "cache/registry")).forEach((f) => writeFileSync(f, "garbage")) },
  { name: "corrupt validated-pipeline memos", damage: (c) => files(join(c.p.dir, "cache/memo/pipelines")).forEach((f) => writeFileSync(f, "{\"files\":")) },
  {
    name: "a corrupt path-digest memo",
    damage: (c) => {
      mkdirSync(join(c.p.dir, "cache/memo"), { recursive: true })
      writeFileSync(join(c.p.dir, "cache/memo/path-digests.json"), "[1,2")
    },
  },
  {
    name: "a lock left by a dead process",
    damage: (c) => writeFileSync(join(c.p.dir, "cache/locks", `${c.key("src")}.lock`), JSON.stringify({ pid: 2 ** 22 + 7, host: hostname(), boot: "", start: "", token: "t", created: "", what: "" })),
    heal: [[...RUN, "--force", "src"]],
    reran: ["src"],
  },
  {
    name: "an old unreadable lock file",
    damage: (c) => {
      const f = join(c.p.dir, "cache/locks", `${c.key("sq")}.lock`)
      writeFileSync(f, "")
      old(f)
    },
    heal: [[...RUN, "--force", "sq"]],
    reran: ["sq"],
  },
  {
    name: "a lease of a dead process, removed by gc",
    damage: (c) => {
      mkdirSync(join(c.p.dir, "cache/leases"), { recursive: true })
      writeFileSync(join(c.p.dir, "cache/leases/1-dead.lease"), `${JSON.stringify({ pid: 2 ** 22 + 9, host: hostname(), boot: "", start: "", token: "dead", created: "", what: "pipe run x" })}\nk ${"1".repeat(64)}\n`)
    },
    heal: [["gc"], RUN],
  },
  {
    name: "orphan temp files of interrupted writes (old ones removed by gc, fresh ones left)",
    damage: (c) => {
      const stale = `${c.object("src")}.tmp-1-0badf00d`
      writeFileSync(stale, "partial")
      old(stale)
      writeFileSync(join(c.p.dir, "cache/keys", `${c.key("sq")}.json.tmp-1-0badf00d`), "{")
      old(join(c.p.dir, "cache/keys", `${c.key("sq")}.json.tmp-1-0badf00d`))
      writeFileSync(`${c.object("sq")}.tmp-2-00c0ffee`, "in flight")
    },
    heal: [["gc"], RUN],
    check: (c, t) => {
      t.ok(!existsSync(`${c.object("src")}.tmp-1-0badf00d`), "an old temp object removed")
      t.ok(!existsSync(join(c.p.dir, "cache/keys", `${c.key("sq")}.json.tmp-1-0badf00d`)), "an old temp manifest removed")
      t.ok(existsSync(`${c.object("sq")}.tmp-2-00c0ffee`), "a fresh temp file left (its write may be in flight)")
    },
  },
  {
    name: "fresh lock temp files of a killed process removed by gc at once, a live holder's kept",
    damage: (c) => {
      mkdirSync(join(c.p.dir, "cache/locks"), { recursive: true })
      const lock = (pid: number, start: string): string => JSON.stringify({ pid, host: hostname(), boot: "", start, token: "t", created: "", what: "pipe run x" })
      // kill -9 between the temp write and the link leaves this (seen in CI: gc kept it for an hour)
      writeFileSync(join(c.p.dir, "cache/locks", `${c.key("sq")}.lock.tmp-${2 ** 22 + 9}-0badf00d`), lock(2 ** 22 + 9, ""))
      writeFileSync(join(c.p.dir, "cache/locks", `${c.key("r")}.lock.broken-0badf00d`), lock(2 ** 22 + 9, ""))
      writeFileSync(join(c.p.dir, "cache/locks", `${c.key("r")}.lock.tmp-${process.pid}-00c0ffee`), lock(process.pid, ""))
    },
    heal: [["gc"], RUN],
    check: (c, t) => {
      t.ok(!existsSync(join(c.p.dir, "cache/locks", `${c.key("sq")}.lock.tmp-${2 ** 22 + 9}-0badf00d`)), "a dead writer's lock temp removed")
      t.ok(!existsSync(join(c.p.dir, "cache/locks", `${c.key("r")}.lock.broken-0badf00d`)), "a dead holder's lock set aside removed")
      const live = join(c.p.dir, "cache/locks", `${c.key("r")}.lock.tmp-${process.pid}-00c0ffee`)
      t.ok(existsSync(live), "a live writer's lock temp kept")
      rmSync(live) // as its writer would, after the link
    },
  },
  {
    name: "an unreadable run record",
    damage: (c) => {
      mkdirSync(join(c.p.dir, "runs/0000-broken"), { recursive: true })
      writeFileSync(join(c.p.dir, "runs/0000-broken/run.json"), "{")
    },
    heal: [["gc", "--keep-runs", "1"], ["explain", "pipelines/a.yaml", "r"], RUN],
  },
]

const digests = (p: Project): Record<string, Record<string, string>> => Object.fromEntries(newestRun(p).nodes.map((n) => [n.id, n.outputs]))

for (const s of SCENARIOS)
  t.test(s.name, async (t) => {
    const p = makeProject(t)
    const pipe = inProcess(p.dir)
    const clean = await pipe(RUN)
    t.equal(clean.code, 0, clean.stderr)
    const before = digests(p)
    const run = newestRun(p)
    const c: Ctx = {
      p,
      key: (node) => run.nodes.find((n) => n.id === node)?.key as string,
      object: (node) => objectPath(p, Object.values(run.nodes.find((n) => n.id === node)?.outputs ?? {})[0] as string),
      blob: () => blobPath(p, manifest(p, run.nodes.find((n) => n.id === "out")?.key as string).outputs.file?.file?.sha256 as string),
    }
    mkdirSync(join(p.dir, "cache/locks"), { recursive: true })
    s.damage(c)
    for (const args of s.heal ?? [RUN]) {
      const r = await pipe(args)
      t.equal(r.code, 0, `${args.join(" ")}: ${r.stdout}${r.stderr}`)
      t.notOk(hasStack(r), "no stack trace")
    }
    t.same(digests(p), before, "the same output digests as the clean run")
    const last = newestRun(p)
    t.same(last.nodes.filter((n) => n.status === "ran").map((n) => n.id).sort(), [...(s.reran ?? [])].sort(), "recomputed exactly what was damaged")
    t.equal(readFileSync(join(p.dir, "runs", last.id, "out/values.txt"), "utf8"), "0 3 6 9")
    s.check?.(c, t)
    const v = await pipe(["verify"])
    t.equal(v.code, 0, v.stdout)
    t.same(files(join(p.dir, "cache/locks")), [], "no lock left")
    const leases = join(p.dir, "cache/leases")
    t.same(existsSync(leases) ? readdirSync(leases) : [], [], "no lease left")
  })

t.test("the scenario count the README quotes", (t) => {
  t.equal(SCENARIOS.length, 22)
  t.end()
})

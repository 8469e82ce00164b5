// fast-check generators of malformed pipelines over the fixture kinds (test/engine/fixtures/project):
// a valid random DAG, then exactly one defect from a family (wrong types, non-finite numbers, bad
// references, cycles, bad sweeps, bad includes, bad profiles and --set, bad paths, bad YAML). Each
// case says which message the defect must produce, so a test can check the right error is reported.
import fc from "fast-check"
import { stringify } from "yaml"

type Obj = Record<string, unknown>

export interface Case {
  /** The defect, for failure messages. */
  readonly what: string
  /** Its family (a key of FAMILIES). */
  readonly family?: string
  /** Relative file -> text; the value DIR makes a directory. */
  readonly files: Readonly<Record<string, string>>
  readonly main: string
  readonly sets?: readonly string[]
  readonly profile?: string
  /** Some diagnostic must match. */
  readonly expect: RegExp
}

export const DIR = "\u0000dir"

interface Base {
  readonly nodes: Obj
  /** Ids producing `numbers` on their first output, with that output's name. */
  readonly numeric: readonly (readonly [string, string])[]
  /** Ids with a required `numbers` input, with the input's name. */
  readonly consumers: readonly (readonly [string, string])[]
}

const NUMBER_OUT: Readonly<Record<string, string>> = { source: "values", scale: "y", round: "y", add: "sum", slow: "y" }
const INPUT_OF: Readonly<Record<string, string>> = { scale: "x", round: "x", add: "a", slow: "x", render: "x" }
const KINDS = ["scale", "round", "add", "slow", "render"] as const

const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 })

const paramsOf = (kind: string, r: { num: number; int: number; name: string }): Obj =>
  kind === "scale" ? { by: r.num } : kind === "add" ? { offset: r.num } : kind === "slow" ? { ms: r.int % 5, steps: 1 + (r.int % 3) } : kind === "render" ? { name: r.name } : {}

/** A valid DAG: `src` then 1-5 nodes, each fed by an earlier numeric node. */
export const baseArb: fc.Arbitrary<Base> = fc
  .record({
    n: fc.integer({ min: 0, max: 10 }),
    scale: finite,
    label: fc.string({ maxLength: 6 }),
    steps: fc.array(
      fc.record({ kind: fc.constantFrom(...KINDS), pick: fc.nat(), num: finite, int: fc.nat({ max: 100 }), name: fc.stringMatching(/^[a-z]{1,6}\.txt$/) }),
      { minLength: 1, maxLength: 5 },
    ),
  })
  .map(({ n, scale, label, steps }) => {
    const nodes: Obj = { src: { kind: "source", params: { n, scale, label } } }
    const numeric: [string, string][] = [["src", "values"]]
    const consumers: [string, string][] = []
    steps.forEach((s, i) => {
      const id = `n${i + 1}`
      const [up, out] = numeric[s.pick % numeric.length] as [string, string]
      const input = INPUT_OF[s.kind] as string
      nodes[id] = { kind: s.kind, params: paramsOf(s.kind, s), inputs: { [input]: `${up}.${out}` } }
      consumers.push([id, input])
      const produced = NUMBER_OUT[s.kind]
      if (produced !== undefined) numeric.push([id, produced])
    })
    return { nodes, numeric, consumers }
  })

/** YAML of `doc`; string values `__RAW:text__` are written as raw YAML (for .inf, 1e400, ...). */
export const toYaml = (doc: unknown): string => stringify(doc, { lineWidth: 0 }).replace(/(["']?)__RAW:(.*?)__\1/g, "$2")
const raw = (text: string): string => `__RAW:${text}__`

const file = (doc: Obj, extra: Record<string, string> = {}): Record<string, string> => ({ "main.yaml": toYaml(doc), ...extra })

type Mutation = (b: Base) => fc.Arbitrary<Case>

const doc = (b: Base, more: Obj = {}): Obj => ({ name: "generated", nodes: structuredClone(b.nodes), ...more })
const pickOf = <T>(xs: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...xs)
const node = (d: Obj, id: string): Obj => (d.nodes as Obj)[id] as Obj

/** A param set to a value of the wrong type. */
const wrongType: Mutation = (b) =>
  fc
    .record({
      target: pickOf(["src.n", "src.scale", "src.label", ...Object.entries(b.nodes).flatMap(([id, n]) => Object.keys(((n as Obj).params ?? {}) as Obj).map((p) => `${id}.${p}`))]),
      bad: pickOf<unknown>(["x", true, [1, 2], { a: 1 }, null, 1.5, -3]),
    })
    .filter(({ target, bad }) => {
      const [id, param] = target.split(".") as [string, string]
      const kind = (b.nodes[id] as Obj).kind
      const integer = (kind === "source" && param === "n") || kind === "slow"
      const numeric = integer || param === "scale" || param === "by" || param === "offset"
      if (typeof bad === "number") return integer && (bad === 1.5 || (param === "n" && bad < 0))
      return numeric ? true : typeof bad !== "string"
    })
    .map(({ target, bad }) => {
      const [id, param] = target.split(".") as [string, string]
      const d = doc(b)
      ;(node(d, id).params as Obj)[param] = bad
      return { what: `wrong type: ${target} = ${JSON.stringify(bad)}`, files: file(d), main: "main.yaml", expect: /must be/ }
    })

const NON_FINITE = [".inf", "-.inf", "+.inf", ".nan", ".NaN", ".Inf", "1e400", "-1e400", "2e308"]

/** A non-finite number as a param, nested in one, in a profile, in a sweep binding or in --set. */
const nonFinite: Mutation = (b) =>
  fc.record({ token: pickOf(NON_FINITE), where: pickOf(["param", "nested", "profile", "sweep", "set"] as const), at: pickOf(["src.scale", "src.n", "src.label"]) }).map(({ token, where, at }) => {
    const [id, param] = at.split(".") as [string, string]
    const d = doc(b)
    const base = { what: `non-finite ${token} in ${where} (${at})`, main: "main.yaml", expect: /not a finite number/ }
    if (where === "set") return { ...base, files: file(d), sets: [`${at}=${token}`] }
    if (where === "profile") return { ...base, files: file({ ...d, profiles: { p: { [id]: { [param]: raw(token) } } } }), profile: "p" }
    if (where === "sweep")
      return {
        ...base,
        files: file({ ...d, sweeps: { s: { over: { v: [1, raw(token)] }, nodes: { "sw-${v}": { kind: "scale", params: { by: "${v}" }, inputs: { x: "src.values" } } } } } }),
      }
    ;(node(d, id).params as Obj)[param] = where === "nested" ? [1, { deep: raw(token) }] : raw(token)
    return { ...base, files: file(d) }
  })

/** An input naming a missing node or port, malformed, of the wrong type, or missing. */
const badRef: Mutation = (b) =>
  fc.record({ consumer: pickOf(b.consumers), bad: fc.integer({ min: 0, max: 6 }) }).map(({ consumer: [id, input], bad }) => {
    const d = doc(b)
    const n = node(d, id)
    const inputs = n.inputs as Obj
    const cases: [string, () => void, RegExp][] = [
      ["unknown node", () => (inputs[input] = "nosuch.values"), /unknown node "nosuch"/],
      ["unknown output", () => (inputs[input] = "src.nope"), /has no output "nope"/],
      ["malformed", () => (inputs[input] = "srcvalues"), /must be "node\.output"/],
      ["three parts", () => (inputs[input] = "src.values.x"), /must be "node\.output"/],
      ["not a string", () => (inputs[input] = 3), /must be string/],
      ["unknown input port", () => (inputs.q = "src.values"), /unknown input port of kind .* "q"/],
      [
        "missing required input",
        () => {
          delete n.inputs
        },
        /missing required "inputs"/,
      ],
    ]
    const [what, apply, expect] = cases[bad] as [string, () => void, RegExp]
    apply()
    return { what: `bad reference: ${what} (${id}.${input})`, files: file(d), main: "main.yaml", expect }
  })

/** A node fed by itself, a two-node cycle, or a type mismatch (a file into a numbers input). */
const cycle: Mutation = (b) => {
  const feedable = b.consumers.filter(([id]) => (b.nodes[id] as Obj).kind !== "render")
  const consumer: fc.Arbitrary<readonly [string, string] | undefined> = feedable.length > 0 ? pickOf(feedable) : fc.constant(undefined)
  return fc.record({ consumer, shape: fc.integer({ min: 0, max: 2 }) }).map(({ consumer, shape }) => {
    const d = doc(b)
    if (shape === 0 && consumer !== undefined) {
      const [id, input] = consumer
      ;(node(d, id).inputs as Obj)[input] = `${id}.${NUMBER_OUT[node(d, id).kind as string]}`
      return { what: `self cycle at ${id}`, files: file(d), main: "main.yaml", expect: /cycle: / }
    }
    if (shape === 1) {
      ;(d.nodes as Obj).c1 = { kind: "scale", inputs: { x: "c2.sum" } }
      ;(d.nodes as Obj).c2 = { kind: "add", inputs: { a: "src.values", b: "c1.y" } }
      return { what: "two-node cycle", files: file(d), main: "main.yaml", expect: /cycle: / }
    }
    ;(d.nodes as Obj).pic = { kind: "render", inputs: { x: "src.values" } }
    ;(d.nodes as Obj).bad = { kind: "scale", inputs: { x: "pic.file" } }
    return { what: "port type mismatch", files: file(d), main: "main.yaml", expect: /port type mismatch/ }
  })
}

const template = (extra: Obj = {}): Obj => ({ "sw-${v}": { kind: "scale", params: { by: "${v}" }, inputs: { x: "src.values" }, ...extra } })

const SWEEP_DEFECTS: readonly [string, Obj, RegExp][] = [
  ["empty list", { over: { v: [] }, nodes: template() }, /empty "over" list/],
  ["empty map", { over: {}, nodes: template() }, /empty "over"/],
  ["empty bindings", { over: [], nodes: template() }, /empty "over"/],
  ["over a string", { over: "v", nodes: template() }, /"over" must be/],
  ["over a number", { over: 3, nodes: template() }, /"over" must be/],
  ["unknown variable", { over: { v: [1, 2] }, nodes: { "sw-${v}": { kind: "scale", params: { by: "${w}" }, inputs: { x: "src.values" } } } }, /unknown variable "w"/],
  ["duplicate expanded id", { over: { v: [1, 2] }, nodes: { fixed: { kind: "round", inputs: { x: "src.values" } } } }, /duplicate node id "fixed"/],
  ["expands onto a declared id", { over: { v: ["src"] }, nodes: { "${v}": { kind: "round", inputs: { x: "n1.y" } } } }, /duplicate node id "src"/],
  ["invalid variable name", { over: { "1v": [1] }, nodes: template() }, /invalid variable name "1v"/],
  ["missing nodes", { over: { v: [1] } }, /missing required "nodes"/],
  ["missing over", { nodes: template() }, /missing required "over"/],
  ["unknown field", { over: { v: [1] }, nodes: template(), extra: 1 }, /unknown field "extra"/],
  ["unterminated", { over: { v: [1] }, nodes: { "sw-${v}": { kind: "source", params: { label: "a${v" } } } }, /unterminated/],
  ["list interpolated", { over: { v: [[1, 2]] }, nodes: { "sw-1": { kind: "source", params: { label: "x-${v}" } } } }, /is a list/],
  ["a binding that is not a map", { over: [1, { v: 2 }], nodes: template() }, /must be a non-empty map/],
  ["a bad param after substitution", { over: { v: ["x"] }, nodes: template() }, /must be number/],
  ["too many nodes", { over: { a: Array.from({ length: 400 }, (_, i) => i), b: Array.from({ length: 300 }, (_, i) => i) }, nodes: template() }, /would expand to 120,000 nodes/],
  ["sweeps not a map", { __whole: [1, 2] }, /sweeps must be a map/],
]

const badSweep: Mutation = (b) =>
  pickOf(SWEEP_DEFECTS).map(([what, sweep, expect]) => {
    const sweeps = "__whole" in sweep ? sweep.__whole : { s: sweep }
    return { what: `bad sweep: ${what}`, files: file({ ...doc(b), sweeps }), main: "main.yaml", expect }
  })

const badInclude: Mutation = (b) =>
  fc.integer({ min: 0, max: 7 }).map((k) => {
    const d = doc(b)
    const inc = (include: unknown, extra: Record<string, string> = {}): Record<string, string> => file({ ...d, include }, extra)
    const cases: [string, Record<string, string>, RegExp][] = [
      ["missing", inc(["missing.yaml"]), /file not found/],
      ["a directory", inc(["dir.yaml"], { "dir.yaml": DIR }), /include "dir\.yaml" is a directory/],
      ["escapes the project", inc(["../../../outside.yaml"]), /escapes the project/],
      ["not a string", inc([3]), /must be string/],
      ["not a list", inc("other.yaml", { "other.yaml": "name: o\n" }), /must be array/],
      ["a cycle", inc(["other.yaml"], { "other.yaml": "name: o\ninclude: [main.yaml]\n" }), /include cycle/],
      ["a duplicate id", inc(["other.yaml"], { "other.yaml": "name: o\nnodes:\n  src: { kind: source }\n" }), /duplicate node id "src"/],
      ["an invalid file", inc(["other.yaml"], { "other.yaml": "name: o\nnodes:\n  z: { kind: sorce }\n" }), /unknown node kind "sorce"/],
    ]
    const [what, files, expect] = cases[k] as [string, Record<string, string>, RegExp]
    return { what: `bad include: ${what}`, files, main: "main.yaml", expect }
  })

const BOMB = ["name: bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]", ...["b", "c", "d", "e"].map((k, i) => `${k}: &${k} [${Array(10).fill(`*${"abcd"[i]}`).join(", ")}]`)].join("\n")

/** Everything else a user gets wrong: kinds, params, ids, YAML itself, profiles, --set, paths. */
const misc: Mutation = (b) =>
  fc.integer({ min: 0, max: 22 }).map((k) => {
    const d = doc(b)
    const nodes = d.nodes as Obj
    const pathNode = (path: string): Record<string, string> => file({ ...d, nodes: { ...nodes, txt: { kind: "read-path", params: { path } } } })
    const cases: [string, () => Omit<Case, "what" | "expect" | "main">, RegExp][] = [
      ["unknown kind", () => ({ files: file({ ...d, nodes: { ...nodes, z: { kind: "scael", inputs: { x: "src.values" } } } }) }), /unknown node kind "scael" \(did you mean "scale"\?\)/],
      ["unknown param", () => ({ files: file({ ...d, nodes: { ...nodes, z: { kind: "scale", params: { bye: 2 }, inputs: { x: "src.values" } } } }) }), /unknown param of kind "scale" "bye"/],
      ["missing name", () => ({ files: file({ nodes }) }), /missing required "name"/],
      ["unknown top-level field", () => ({ files: file({ ...d, nodez: {} }) }), /unknown field "nodez"/],
      ["bad id", () => ({ files: file({ ...d, nodes: { ...nodes, "a.b": { kind: "source" } } }) }), /invalid id "a\.b"/],
      ["node not a map", () => ({ files: file({ ...d, nodes: { ...nodes, z: 3 } }) }), /must be object/],
      ["nodes a list", () => ({ files: file({ ...d, nodes: [1] }) }), /must be object/],
      ["file a list", () => ({ files: { "main.yaml": "- 1\n- 2\n" } }), /must be object/],
      ["empty file", () => ({ files: { "main.yaml": "" } }), /must be object/],
      ["YAML syntax", () => ({ files: { "main.yaml": `${toYaml(d)}oops: [1, 2\n` } }), /./],
      ["tab indentation", () => ({ files: { "main.yaml": "name: x\nnodes:\n\tsrc: { kind: source }\n" } }), /./],
      ["alias bomb", () => ({ files: { "main.yaml": `${BOMB}\n` } }), /aliases/],
      ["duplicate key", () => ({ files: { "main.yaml": `${toYaml(d)}nodes: {}\n` } }), /duplicate key "nodes"/],
      ["unknown profile", () => ({ files: file(d), profile: "nosuch" }), /unknown profile "nosuch"/],
      ["profile of an unknown node", () => ({ files: file({ ...d, profiles: { p: { nosuch: { n: 1 } } } }), profile: "p" }), /unknown node "nosuch"/],
      ["profile glob matching nothing", () => ({ files: file({ ...d, profiles: { p: { "zz-*": { n: 1 } } } }), profile: "p" }), /"zz-\*" matches no node/],
      ["--set without a param", () => ({ files: file(d), sets: ["src=1"] }), /expected NODE\.PARAM=VALUE/],
      ["--set of an unknown node", () => ({ files: file(d), sets: ["nosuch.n=1"] }), /unknown node "nosuch"/],
      ["--set of a wrong type", () => ({ files: file(d), sets: ["src.n=[1"] }), /not valid YAML|must be/],
      ["path escaping", () => ({ files: pathNode("../outside") }), /escapes the project/],
      ["absolute path", () => ({ files: pathNode("/etc") }), /escapes the project/],
      ["empty path", () => ({ files: pathNode("") }), /is empty/],
      ["missing path", () => ({ files: pathNode("data/nope") }), /does not exist/],
    ]
    const [what, make, expect] = cases[k] as [string, () => Omit<Case, "what" | "expect" | "main">, RegExp]
    return { what, main: "main.yaml", expect, ...make() }
  })

export const FAMILIES: Readonly<Record<string, Mutation>> = { wrongType, nonFinite, badRef, cycle, badSweep, badInclude, misc }

/** One malformed pipeline: a random valid DAG with one defect from a random family. */
export const malformedArb: fc.Arbitrary<Case> = baseArb.chain((b) =>
  fc.constantFrom(...Object.entries(FAMILIES)).chain(([family, m]) => m(b).map((c): Case => ({ ...c, family }))),
)

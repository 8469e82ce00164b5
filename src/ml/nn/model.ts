// The common model contract, the Weights round trip (with partial loads and trainable-only saves) and
// the architecture contract. There is no global registry: a caller that rebuilds models from Weights
// imports exactly the architectures it accepts (src/ml/nn/diffusion-models.ts for the diffusion nodes,
// vae.ts / classifier.ts for theirs), so a node's code version covers only the models it can run.
import { createHash } from "node:crypto"
import * as tf from "@tensorflow/tfjs"
import type { Weights, WeightVariable } from "../../artifacts/types.ts"
import { invalidInput } from "../errors.ts"
import type { Rng } from "../random.ts"
import type { Conditioning } from "./conditioning.ts"
import type { Variables } from "./params.ts"

export interface ApplyOpts {
  /** Enables dropout (needs `rng`). Default false. */
  readonly training?: boolean
  readonly rng?: Rng
  /** Labels, context tokens, control residuals: see conditioning.ts. Absent = unconditional. */
  readonly cond?: Conditioning
}

export interface Model<C = unknown> {
  readonly architecture: string
  readonly config: C
  /** Named variables in a fixed order (the order they were created): what the model owns and saves. */
  readonly variables: Variables
  /** The network output for input x (e.g. [B, 28, 28, 1] or [B, D]) at timesteps t [B] (float). */
  apply(x: tf.Tensor, t: tf.Tensor1D, opts?: ApplyOpts): tf.Tensor
}

/** How to rebuild one architecture from a Weights artifact's config. */
export interface Architecture<C, M extends Model<C> = Model<C>> {
  readonly name: string
  /** Validates a JSON config (from a Weights artifact) into the typed config; throws a teaching error. */
  readonly decodeConfig: (json: unknown) => C
  readonly build: (config: C, seed: number) => M
}

export const countParams = (model: Model, vars: Variables = model.variables): number => {
  let n = 0
  for (const v of vars.values()) n += v.size
  return n
}

/** Snapshot of variables (default: all the model's) with the model's config; copies the data. */
export const modelToWeights = (model: Model, vars: Variables = model.variables): Weights => ({
  architecture: model.architecture,
  config: JSON.parse(JSON.stringify(model.config)) as Record<string, unknown>,
  variables: [...vars.entries()].map(([name, v]): WeightVariable => ({
    name,
    shape: [...v.shape],
    values: new Float32Array(v.dataSync() as Float32Array),
  })),
})

export interface LoadOptions {
  /** Model name for a weights name (undefined: skip it). Default: `prefix + name`. */
  readonly rename?: (name: string) => string | undefined
  /** Shorthand for rename: model name = prefix + weights name ("control." loads a base into a copy). */
  readonly prefix?: string
  /**
   * strict (default): every model variable is assigned and every weights variable is used. Non-strict:
   * only matching names are assigned; shapes must still agree. Either way the report lists both sides.
   */
  readonly strict?: boolean
}

export interface LoadReport {
  readonly assigned: readonly string[]
  /** Model variables the weights did not provide. */
  readonly missing: readonly string[]
  /** Weights variables with no model variable of that name. */
  readonly unused: readonly string[]
}

/** Assigns `weights` into `model` (names mapped by `o`); throws on a shape mismatch, and when strict on any gap. */
export const loadWeights = (model: Model, weights: Weights, o: LoadOptions = {}): LoadReport => {
  const rename = o.rename ?? ((n: string) => `${o.prefix ?? ""}${n}`)
  const assigned: string[] = []
  const unused: string[] = []
  for (const w of weights.variables) {
    const name = rename(w.name)
    const v = name === undefined ? undefined : model.variables.get(name)
    if (name === undefined || v === undefined) {
      unused.push(w.name)
      continue
    }
    if (w.shape.length !== v.shape.length || w.shape.some((d, i) => d !== v.shape[i])) {
      throw invalidInput(`loadWeights: ${w.name} has shape [${w.shape}] but the model's ${name} is [${v.shape}]`)
    }
    tf.tidy(() => v.assign(tf.tensor(w.values, [...w.shape], "float32")))
    assigned.push(name)
  }
  const done = new Set(assigned)
  const missing = [...model.variables.keys()].filter((n) => !done.has(n))
  if (o.strict !== false) {
    if (missing.length > 0) throw invalidInput(`loadWeights: weights lack variable ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""}`)
    if (unused.length > 0) throw invalidInput(`loadWeights: weights have variables the model lacks: ${unused.join(", ")}`)
  }
  return { assigned, missing, unused }
}

/** Rebuilds a model of `arch` from its Weights artifact: config decoded, then every variable assigned (strict). */
export const fromWeights = <C, M extends Model<C>>(arch: Architecture<C, M>, w: Weights): M => {
  if (w.architecture !== arch.name) throw invalidInput(`weights are of architecture "${w.architecture}", expected "${arch.name}"`)
  const model = arch.build(arch.decodeConfig(w.config), 0)
  try {
    loadWeights(model, w)
  } catch (e) {
    disposeModel(model)
    throw e
  }
  return model
}

/**
 * Content digest of a Weights value: architecture, canonical config and every variable's name, shape
 * and float32 bytes. A weights artifact that extends a base (a ControlNet) names the base by it.
 */
export const weightsDigest = (w: Weights): string => {
  const h = createHash("sha256")
  h.update(`${w.architecture}\n${JSON.stringify(sortKeys(w.config))}\n`)
  for (const v of w.variables) {
    h.update(`${v.name}[${v.shape.join(",")}]`)
    h.update(Buffer.from(v.values.buffer, v.values.byteOffset, v.values.byteLength))
  }
  return h.digest("hex")
}

const sortKeys = (x: unknown): unknown =>
  Array.isArray(x) ? x.map(sortKeys)
  : typeof x === "object" && x !== null ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sortKeys((x as Record<string, unknown>)[k])]))
  : x

/** Frees a model's variables. */
export const disposeModel = (model: Model): void => {
  for (const v of model.variables.values()) v.dispose()
}

// ---- small config validation helpers shared by architecture files -------------------------------
const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x)
export const configRecord = (arch: string, json: unknown): Record<string, unknown> => {
  if (!isRecord(json)) throw new Error(`${arch} config: expected an object`)
  return json
}
export const intField = (arch: string, r: Record<string, unknown>, key: string): number => {
  const v = r[key]
  if (typeof v !== "number" || !Number.isInteger(v)) throw new Error(`${arch} config: "${key}" must be an integer, got ${JSON.stringify(v)}`)
  return v
}
export const optionalIntField = (arch: string, r: Record<string, unknown>, key: string): number | undefined =>
  r[key] === undefined || r[key] === null ? undefined : intField(arch, r, key)
export const numberField = (arch: string, r: Record<string, unknown>, key: string): number => {
  const v = r[key]
  if (typeof v !== "number") throw new Error(`${arch} config: "${key}" must be a number, got ${JSON.stringify(v)}`)
  return v
}
export const intArrayField = (arch: string, r: Record<string, unknown>, key: string): number[] => {
  const v = r[key]
  if (!Array.isArray(v) || v.some((e) => typeof e !== "number" || !Number.isInteger(e))) {
    throw new Error(`${arch} config: "${key}" must be an array of integers, got ${JSON.stringify(v)}`)
  }
  return v as number[]
}
export const optionalIntArrayField = (arch: string, r: Record<string, unknown>, key: string): number[] | undefined =>
  r[key] === undefined || r[key] === null ? undefined : intArrayField(arch, r, key)
/** A string field restricted to `values`; absent gives undefined. */
export const optionalEnumField = <T extends string>(arch: string, r: Record<string, unknown>, key: string, values: readonly T[]): T | undefined => {
  const v = r[key]
  if (v === undefined || v === null) return undefined
  if (typeof v !== "string" || !(values as readonly string[]).includes(v)) throw new Error(`${arch} config: "${key}" must be one of ${values.join(", ")}, got ${JSON.stringify(v)}`)
  return v as T
}

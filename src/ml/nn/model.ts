// The common model contract, the Weights round trip and the architecture registry.
// Architectures register themselves (unet.ts, mlp.ts; later vae, classifier in their own files) so
// `modelFromWeights` can rebuild any model from a Weights artifact alone.
import * as tf from "@tensorflow/tfjs"
import type { Weights, WeightVariable } from "../../artifacts/types.ts"
import type { Rng } from "../random.ts"
import type { Variables } from "./params.ts"

export interface ApplyOpts {
  /** Enables dropout (needs `rng`). Default false. */
  readonly training?: boolean
  /** Class labels [B] (int32) in 0..numClasses; numClasses itself is the learned null class (CFG). */
  readonly labels?: tf.Tensor1D
  readonly rng?: Rng
}

export interface Model<C = unknown> {
  readonly architecture: string
  readonly config: C
  /** Named variables in a fixed order (the order they were created). */
  readonly variables: Variables
  /** The network output for input x (e.g. [B, 28, 28, 1] or [B, D]) at timesteps t [B] (float). */
  apply(x: tf.Tensor, t: tf.Tensor1D, opts?: ApplyOpts): tf.Tensor
}

export interface Architecture<C> {
  /** Validates a JSON config (from a Weights artifact) into the typed config; throws a teaching error. */
  readonly decodeConfig: (json: unknown) => C
  readonly build: (config: C, seed: number) => Model<C>
}

// The one registry of architectures (a module-level table, like tfjs's kernel registry): filled by
// registerArchitecture calls at import time of each architecture file, read by modelFromWeights.
const architectures = new Map<string, Architecture<unknown>>()

export const registerArchitecture = <C>(name: string, arch: Architecture<C>): void => {
  const prev = architectures.get(name)
  if (prev !== undefined && prev !== (arch as Architecture<unknown>)) {
    throw new Error(`registerArchitecture: "${name}" is already registered`)
  }
  architectures.set(name, arch as Architecture<unknown>)
}

export const registeredArchitectures = (): readonly string[] => [...architectures.keys()].sort()

export const countParams = (model: Model): number => {
  let n = 0
  for (const v of model.variables.values()) n += v.size
  return n
}

/** Snapshot of a model's variables (copies the data; the model stays usable). */
export const modelToWeights = (model: Model): Weights => ({
  architecture: model.architecture,
  config: JSON.parse(JSON.stringify(model.config)) as Record<string, unknown>,
  variables: [...model.variables.entries()].map(([name, v]): WeightVariable => ({
    name,
    shape: [...v.shape],
    values: new Float32Array(v.dataSync() as Float32Array),
  })),
})

/** Rebuilds a model from Weights: the registered architecture with its config, then every variable assigned. */
export const modelFromWeights = (weights: Weights): Model => {
  const arch = architectures.get(weights.architecture)
  if (arch === undefined) {
    throw new Error(
      `modelFromWeights: unknown architecture "${weights.architecture}" (registered: ${registeredArchitectures().join(", ")}); import its module first`,
    )
  }
  const model = arch.build(arch.decodeConfig(weights.config), 0)
  loadWeights(model, weights)
  return model
}

/** Assigns every variable of `weights` into `model`; names and shapes must match exactly. */
export const loadWeights = (model: Model, weights: Weights): void => {
  const given = new Map(weights.variables.map((v) => [v.name, v]))
  for (const [name, v] of model.variables) {
    const w = given.get(name)
    if (w === undefined) throw new Error(`loadWeights: weights lack variable ${name}`)
    if (w.shape.length !== v.shape.length || w.shape.some((d, i) => d !== v.shape[i])) {
      throw new Error(`loadWeights: ${name} has shape [${w.shape}] but the model expects [${v.shape}]`)
    }
    tf.tidy(() => v.assign(tf.tensor(w.values, [...w.shape], "float32")))
  }
  if (given.size !== model.variables.size) {
    const extra = [...given.keys()].filter((n) => !model.variables.has(n))
    throw new Error(`loadWeights: weights have variables the model lacks: ${extra.join(", ")}`)
  }
}

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

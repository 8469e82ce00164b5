// Named, seeded parameters. Every model owns a Map<name, tf.Variable>; names are dotted paths
// ("enc0.conv1.weight") that double as the variable names in the Weights artifact.
// Init follows PyTorch's defaults (nn.Linear / nn.Conv2d reset_parameters): kaiming_uniform_ with
// a = sqrt(5), i.e. W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias.
// A variable's init values depend only on the builder's Rng and the variable's full name (each draws
// from rng.fork(name)), never on creation order: adding a layer never re-initialises the others.
import * as tf from "@tensorflow/tfjs"
import type { Rng } from "../random.ts"

export type Variables = ReadonlyMap<string, tf.Variable>

/** A variable holding `initial`; the initial tensor is released (the variable keeps the data alive). */
export const variableFrom = (initial: tf.Tensor, trainable: boolean): tf.Variable => {
  const v = tf.variable(initial, trainable)
  initial.dispose()
  return v
}

/** The variables an optimizer updates (a frozen base's are left out). */
export const trainableOf = (vars: Variables): Variables => new Map([...vars].filter(([, v]) => v.trainable))

export interface ParamScope {
  /** Prepended to every name ("control." gives "control.enc0.conv1.weight"). */
  readonly prefix: string
  /** tf.variable's trainable flag: false for a frozen base. */
  readonly trainable: boolean
}

/**
 * Collects a model's variables while it is being built. `scope` gives a builder that writes into the
 * same map under a name prefix and/or another trainable flag (ControlNet's trainable copy beside a
 * frozen base); the Rng forks by the full name, so a scoped variable's init is as unique as its name.
 */
export class ParamBuilder {
  private readonly vars: Map<string, tf.Variable>
  private readonly rng: Rng
  private readonly at: ParamScope

  constructor(rng: Rng, at: ParamScope = { prefix: "", trainable: true }, vars = new Map<string, tf.Variable>()) {
    this.rng = rng
    this.at = at
    this.vars = vars
  }

  /** A builder for a sub-scope: `prefix` is appended to this one's, `trainable` overrides when given. */
  scope(prefix: string, o: { readonly trainable?: boolean } = {}): ParamBuilder {
    return new ParamBuilder(this.rng, { prefix: `${this.at.prefix}${prefix}`, trainable: o.trainable ?? this.at.trainable }, this.vars)
  }

  /** A variable initialised from `values`; tfjs gets no name (its global namespace would clash between models). */
  add(name: string, shape: readonly number[], values: Float32Array): tf.Variable {
    const full = this.at.prefix + name
    if (this.vars.has(full)) throw new Error(`ParamBuilder: duplicate variable ${full}`)
    const v = variableFrom(tf.tensor(values, [...shape], "float32"), this.at.trainable)
    this.vars.set(full, v)
    return v
  }

  uniform(name: string, shape: readonly number[], bound: number): tf.Variable {
    return this.add(name, shape, this.rng.fork(this.at.prefix + name).uniforms(size(shape), -bound, bound))
  }

  constant(name: string, shape: readonly number[], value: number): tf.Variable {
    return this.add(name, shape, new Float32Array(size(shape)).fill(value))
  }

  /** All zeros: ControlNet's "zero convolutions", whose output is exactly 0 until training moves them. */
  zeros(name: string, shape: readonly number[]): tf.Variable {
    return this.constant(name, shape, 0)
  }

  normal(name: string, shape: readonly number[], std: number): tf.Variable {
    return this.add(name, shape, this.rng.fork(this.at.prefix + name).normals(size(shape), std))
  }

  variables(): Variables {
    return this.vars
  }
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1)

/** Bound of PyTorch's default init for a layer with this fan-in. */
export const torchDefaultBound = (fanIn: number): number => 1 / Math.sqrt(fanIn)

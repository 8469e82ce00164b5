// Named, seeded parameters. Every model owns a Map<name, tf.Variable>; names are dotted paths
// ("enc0.conv1.weight") that double as the variable names in the Weights artifact.
// Init follows PyTorch's defaults (nn.Linear / nn.Conv2d reset_parameters): kaiming_uniform_ with
// a = sqrt(5), i.e. W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the same bound for the bias.
import * as tf from "@tensorflow/tfjs"
import { Rng } from "../random.ts"

export type Variables = ReadonlyMap<string, tf.Variable>

/** A variable holding `initial`; the initial tensor is released (the variable keeps the data alive). */
export const variableFrom = (initial: tf.Tensor, trainable: boolean): tf.Variable => {
  const v = tf.variable(initial, trainable)
  initial.dispose()
  return v
}

/** Collects a model's variables while it is being built; each variable draws from its own Rng fork. */
export class ParamBuilder {
  private readonly vars = new Map<string, tf.Variable>()
  constructor(private readonly rng: Rng) {}

  /** A variable initialised from `values`; tfjs gets no name (its global namespace would clash between models). */
  add(name: string, shape: readonly number[], values: Float32Array): tf.Variable {
    if (this.vars.has(name)) throw new Error(`ParamBuilder: duplicate variable ${name}`)
    const v = variableFrom(tf.tensor(values, [...shape], "float32"), true)
    this.vars.set(name, v)
    return v
  }

  uniform(name: string, shape: readonly number[], bound: number): tf.Variable {
    const n = shape.reduce((a, b) => a * b, 1)
    return this.add(name, shape, this.rng.fork(name).uniforms(n, -bound, bound))
  }

  constant(name: string, shape: readonly number[], value: number): tf.Variable {
    const n = shape.reduce((a, b) => a * b, 1)
    return this.add(name, shape, new Float32Array(n).fill(value))
  }

  normal(name: string, shape: readonly number[], std: number): tf.Variable {
    const n = shape.reduce((a, b) => a * b, 1)
    return this.add(name, shape, this.rng.fork(name).normals(n, std))
  }

  variables(): Variables {
    return this.vars
  }
}

/** Bound of PyTorch's default init for a layer with this fan-in. */
export const torchDefaultBound = (fanIn: number): number => 1 / Math.sqrt(fanIn)

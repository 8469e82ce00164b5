// Optimisation utilities with PyTorch semantics: Adam (Kingma & Ba, arXiv:1412.6980, Algorithm 1,
// bias-corrected exactly as torch.optim.Adam), linear warm-up, clip-by-global-norm
// (torch.nn.utils.clip_grad_norm_), EMA of weights, and a leak-free train step.
import * as tf from "@tensorflow/tfjs"
import * as K from "../backend/kernel-names.ts"
import type { Model } from "./model.ts"
import { hasFused } from "./ops.ts"
import { type Variables, variableFrom } from "./params.ts"

/** Learning rate: a constant or a function of the 1-based step number. */
export type LearningRate = number | ((step: number) => number)

export interface AdamOptions {
  readonly lr: LearningRate
  readonly beta1?: number // 0.9
  readonly beta2?: number // 0.999
  readonly eps?: number // 1e-8
}

/** lr ramps linearly from lr/warmupSteps at step 1 to lr at step warmupSteps, then stays (or follows `after`). */
export const linearWarmup = (lr: number, warmupSteps: number, after?: (step: number) => number) =>
  (step: number): number =>
    step < warmupSteps ? (lr * step) / warmupSteps : after === undefined ? lr : after(step)

/**
 * Adam with bias correction, torch.optim.Adam semantics (eps added to sqrt(v_hat)):
 *   m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2;  p <- p - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 */
export class Adam {
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  private readonly lr: LearningRate
  private readonly m = new Map<string, tf.Variable>()
  private readonly v = new Map<string, tf.Variable>()
  private t = 0

  constructor(o: AdamOptions) {
    this.lr = o.lr
    this.beta1 = o.beta1 ?? 0.9
    this.beta2 = o.beta2 ?? 0.999
    this.eps = o.eps ?? 1e-8
  }

  /** Number of updates applied so far. */
  get step(): number {
    return this.t
  }

  learningRate(step: number): number {
    return typeof this.lr === "number" ? this.lr : this.lr(step)
  }

  /** Applies one update; `grads` is keyed by variable name. Does not dispose the gradients. */
  apply(variables: Variables, grads: ReadonlyMap<string, tf.Tensor>): void {
    this.t += 1
    const lr = this.learningRate(this.t)
    const c1 = 1 - this.beta1 ** this.t
    const c2 = 1 - this.beta2 ** this.t
    const fused = hasFused(K.ADAM_UPDATE)
    for (const [name, p] of variables) {
      const g = grads.get(name)
      if (g === undefined) continue
      const m = this.slot(this.m, name, p)
      const v = this.slot(this.v, name, p)
      if (fused) {
        // One pass over p, m, v, g instead of ~10 elementwise kernels.
        const [p1, m1, v1] = tf.engine().runKernel(
          K.ADAM_UPDATE, { p, m, v, g },
          { lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, c1, c2 } as unknown as tf.NamedAttrMap,
        ) as tf.Tensor[]
        p.assign(p1!)
        m.assign(m1!)
        v.assign(v1!)
        tf.dispose([p1!, m1!, v1!])
        continue
      }
      tf.tidy(() => {
        const m1 = m.mul(this.beta1).add(g.mul(1 - this.beta1))
        const v1 = v.mul(this.beta2).add(g.square().mul(1 - this.beta2))
        m.assign(m1)
        v.assign(v1)
        const denom = v1.div(c2).sqrt().add(this.eps)
        p.assign(p.sub(m1.div(c1).div(denom).mul(lr)))
      })
    }
  }

  dispose(): void {
    for (const x of [...this.m.values(), ...this.v.values()]) x.dispose()
    this.m.clear()
    this.v.clear()
  }

  private slot(slots: Map<string, tf.Variable>, name: string, p: tf.Variable): tf.Variable {
    let s = slots.get(name)
    if (s === undefined) {
      s = variableFrom(tf.zerosLike(p), false)
      slots.set(name, s)
    }
    return s
  }
}

/**
 * Scales all gradients by min(1, maxNorm / (||g||_2 + 1e-6)) where ||g|| is over all of them
 * (torch.nn.utils.clip_grad_norm_). Returns new tensors and the pre-clip norm.
 */
export const clipByGlobalNorm = (
  grads: ReadonlyMap<string, tf.Tensor>, maxNorm: number,
): { grads: Map<string, tf.Tensor>; norm: number } => {
  const norm = tf.tidy(() => {
    const sq = [...grads.values()].map((g) => g.square().sum())
    return sq.length === 0 ? 0 : (tf.addN(sq).sqrt().dataSync()[0] ?? 0)
  })
  const coef = Math.min(1, maxNorm / (norm + 1e-6))
  const out = new Map<string, tf.Tensor>()
  for (const [k, g] of grads) out.set(k, coef === 1 ? g.clone() : tf.tidy(() => g.mul(coef)))
  return { grads: out, norm }
}

export interface TrainStepOptions {
  /** Clip the global gradient norm to this value (no clipping when absent). */
  readonly clipNorm?: number
}

/**
 * One optimisation step: loss = lossFn(model), gradients w.r.t. every trainable variable, optional
 * clipping, one optimizer update. Returns the loss as a number; leaves no new tensors behind.
 */
export const trainStep = <M extends Model>(
  model: M, lossFn: (model: M) => tf.Scalar, optimizer: Adam, o: TrainStepOptions = {},
): { loss: number; gradNorm?: number } => {
  const byTfName = new Map<string, string>()
  const varList: tf.Variable[] = []
  for (const [name, v] of model.variables) {
    if (!v.trainable) continue
    byTfName.set(v.name, name)
    varList.push(v)
  }
  const { value, grads } = tf.variableGrads(() => lossFn(model), varList)
  const named = new Map<string, tf.Tensor>()
  for (const [tfName, g] of Object.entries(grads)) named.set(byTfName.get(tfName) ?? tfName, g)
  let gradNorm: number | undefined
  let applied = named
  if (o.clipNorm !== undefined) {
    const clipped = clipByGlobalNorm(named, o.clipNorm)
    gradNorm = clipped.norm
    applied = clipped.grads
    tf.dispose([...named.values()])
  }
  optimizer.apply(model.variables, applied)
  const loss = value.dataSync()[0] ?? Number.NaN
  tf.dispose([value, ...applied.values()])
  return gradNorm === undefined ? { loss } : { loss, gradNorm }
}

/**
 * EMA decay at a 1-based step: min(decay, (1 + step) / (10 + step)), the warm-up of TF's
 * ExponentialMovingAverage(num_updates) and diffusers' EMAModel. Without it a short run's EMA would
 * still be mostly the random init (0.999^1000 ≈ 0.37 of it after 1000 steps).
 */
export const emaDecayAt = (step: number, decay: number): number => Math.min(decay, (1 + step) / (10 + step))

/**
 * Exponential moving average of weights: shadow <- d * shadow + (1 - d) * w after each step, with
 * d = emaDecayAt(step, decay) when the step is given (else `decay`). Built over the trainable set, it
 * leaves a frozen base alone. `copyTo` writes the averages into a model's variables of the same names.
 */
export class Ema {
  private readonly shadow = new Map<string, tf.Variable>()
  constructor(variables: Variables, readonly decay: number) {
    for (const [name, v] of variables) this.shadow.set(name, variableFrom(v.clone(), false))
  }

  update(variables: Variables, step?: number): void {
    const d = step === undefined ? this.decay : emaDecayAt(step, this.decay)
    tf.tidy(() => {
      for (const [name, v] of variables) {
        const s = this.shadow.get(name)
        if (s !== undefined) s.assign(s.mul(d).add(v.mul(1 - d)))
      }
    })
  }

  copyTo(model: Model): void {
    tf.tidy(() => {
      for (const [name, v] of model.variables) {
        const s = this.shadow.get(name)
        if (s !== undefined) v.assign(s)
      }
    })
  }

  /** The averaged values (for saving them as Weights). */
  variables(): ReadonlyMap<string, tf.Variable> {
    return this.shadow
  }

  dispose(): void {
    for (const s of this.shadow.values()) s.dispose()
    this.shadow.clear()
  }
}

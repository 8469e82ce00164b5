// The epoch / minibatch loop shared by the VAE and classifier trainers: a seeded shuffle per epoch,
// one callback per step, progress every few steps, a stop on interruption or a non-finite loss.
// The loop is async only to yield to the event loop between steps, so Ctrl-C (a signal handler)
// can flip `interrupted()` and progress bars can redraw while a long training runs.
import type { Rng } from "../random.ts"

export interface StepInfo {
  readonly step: number // 1-based over the whole run
  readonly total: number
  readonly epoch: number // 1-based
}

export interface LoopHooks {
  readonly progress: (info: StepInfo, metrics: Readonly<Record<string, number>>) => void
  readonly interrupted: () => boolean
}

export type LoopOutcome =
  | { readonly status: "ok" }
  | { readonly status: "interrupted"; readonly step: number }
  | { readonly status: "non-finite"; readonly step: number; readonly epoch: number; readonly metrics: Readonly<Record<string, number>> }

/** Loop hooks that forward progress as `{ phase: "train", step, total, epoch, metrics }` events. */
export const trainHooks = (sink: {
  readonly progress: (e: { phase: string; step: number; total: number; epoch: number; metrics: Readonly<Record<string, number>> }) => void
  readonly interrupted: () => boolean
}): LoopHooks => ({
  progress: (info, metrics) => sink.progress({ phase: "train", step: info.step, total: info.total, epoch: info.epoch, metrics }),
  interrupted: sink.interrupted,
})

/** Why a loop did not finish, as one sentence for the node error (undefined when it did). */
export const outcomeProblem = (o: LoopOutcome, hint: string): string | undefined =>
  o.status === "ok"
    ? undefined
    : o.status === "interrupted"
      ? `interrupted at step ${o.step}`
      : `non-finite loss at step ${o.step} (epoch ${o.epoch}): ${JSON.stringify(o.metrics)}; ${hint}`

export interface LoopOptions {
  readonly count: number // N examples
  readonly epochs: number
  readonly batchSize: number
  /** Shuffle stream; epoch e uses rng.fork(`epoch-${e}`), so epochs are independent of batch count. */
  readonly rng: Rng
  /** Progress is reported every this many steps (and on the last one). */
  readonly progressEvery: number
}

/** Number of optimisation steps: ceil(N / B) per epoch (the last batch of an epoch may be smaller). */
export const stepsPerEpoch = (count: number, batchSize: number): number => Math.ceil(count / batchSize)

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Runs `step(indices, info)` for every minibatch of every epoch. `step` returns named scalars; the one
 * named "loss" must be finite or the loop stops with "non-finite" naming the step.
 */
export const runMinibatches = async (
  o: LoopOptions,
  step: (indices: Int32Array, info: StepInfo) => Readonly<Record<string, number>>,
  hooks: LoopHooks,
): Promise<LoopOutcome> => {
  const per = stepsPerEpoch(o.count, o.batchSize)
  const total = per * o.epochs
  let n = 0
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const order = o.rng.fork(`epoch-${epoch}`).permutation(o.count)
    for (let b = 0; b < per; b++) {
      await yieldToEventLoop()
      if (hooks.interrupted()) return { status: "interrupted", step: n + 1 }
      n++
      const info = { step: n, total, epoch }
      const metrics = step(order.subarray(b * o.batchSize, Math.min(o.count, (b + 1) * o.batchSize)), info)
      if (!Number.isFinite(metrics.loss ?? NaN)) return { status: "non-finite", step: n, epoch, metrics }
      if (n % o.progressEvery === 0 || n === total) hooks.progress(info, metrics)
    }
  }
  return { status: "ok" }
}

/** Gathers rows `indices` of a row-major [N, rowSize] array into a new [indices.length, rowSize] array. */
export const gatherFloatRows = (src: Float32Array, rowSize: number, indices: ArrayLike<number>): Float32Array => {
  const out = new Float32Array(indices.length * rowSize)
  for (let i = 0; i < indices.length; i++) out.set(src.subarray(indices[i]! * rowSize, (indices[i]! + 1) * rowSize), i * rowSize)
  return out
}

/** uint8 pixels -> float32 in [0, 1] (v / 255). */
export const toUnitFloat = (pixels: Uint8Array): Float32Array => {
  const out = new Float32Array(pixels.length)
  for (let i = 0; i < out.length; i++) out[i] = pixels[i]! / 255
  return out
}

/**
 * A deterministic held-out split: the last `holdout` examples of a seeded permutation are held out,
 * the rest train. Returns index arrays (sorted, so file order is kept inside each part).
 */
export const holdoutSplit = (count: number, holdout: number, rng: Rng): { readonly train: Int32Array; readonly test: Int32Array } => {
  const h = Math.max(0, Math.min(holdout, count - 1))
  const perm = rng.permutation(count)
  return { train: perm.slice(0, count - h).sort(), test: perm.slice(count - h).sort() }
}

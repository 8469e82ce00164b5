// Warm-up + cosine learning-rate schedule for the judge's trainer (classifier.ts). diffusion.ts
// (`learningRateSchedule`) and vae.ts (`cosineLr`) keep their own copies of the same shapes: moving
// them here would change the code version of train-diffusion and train-vae and retrain every model
// for no change in their weights; they move here when their code next changes for another reason.
import { type LearningRate, linearWarmup } from "../nn/optim.ts"

export type LrDecay = "constant" | "cosine"

export interface LrScheduleOptions {
  readonly lr: number
  /** Linear warm-up from 0 over this many steps (0: none). */
  readonly warmupSteps: number
  readonly decay: LrDecay
  /** The run's last step (1-based): where the cosine reaches 0. */
  readonly steps: number
}

/**
 * The learning rate at 1-based step `step`: linear warm-up over `warmupSteps`, then `lr` (constant) or
 * lr·(1 + cos(π·p))/2 with p = (step - warmupSteps)/(steps - warmupSteps): lr at the end of the
 * warm-up, 0 at the last step (diffusers' get_cosine_schedule_with_warmup). A plain number when the
 * schedule is constant, so such a run is the same computation as before schedules existed.
 */
export const lrSchedule = (o: LrScheduleOptions): LearningRate => {
  if (o.decay === "constant" && o.warmupSteps === 0) return o.lr
  const decayed = (step: number): number => {
    if (o.decay === "constant") return o.lr
    const span = o.steps - o.warmupSteps
    const progress = span <= 0 ? 1 : Math.min(1, Math.max(0, (step - o.warmupSteps) / span))
    return (o.lr * (1 + Math.cos(Math.PI * progress))) / 2
  }
  return o.warmupSteps > 0 ? linearWarmup(o.lr, o.warmupSteps, decayed) : decayed
}

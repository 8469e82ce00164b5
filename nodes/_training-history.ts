// The `history` output of the diffusion training kinds (train-diffusion, train-latent-diffusion,
// train-controlnet): the trainer's final losses, budget and speed as scalars, and its loss curve.
import type { Metrics } from "../src/artifacts/types.ts"
import { batchesPerEpoch, type TrainResult } from "../src/ml/training/diffusion.ts"

export interface HistoryContext {
  /** Items the trainer drew batches from. */
  readonly count: number
  /** The requested batch size (epochs are counted with it). */
  readonly batchSize: number
  /** The batch the trainer used (the requested one, capped by count). */
  readonly batch: number
  readonly params: number
}

export const trainingHistory = (r: TrainResult, c: HistoryContext): Metrics => ({
  scalars: {
    final_loss: r.finalLoss,
    final_ema_loss: r.finalSmoothLoss,
    steps: r.steps,
    epochs: r.steps / batchesPerEpoch(c.count, c.batchSize),
    batch_size: c.batch,
    params: c.params,
    seconds: r.seconds,
    images_per_sec: r.imagesPerSec,
  },
  tables: { loss: r.curve },
})

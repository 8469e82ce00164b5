// The conditioning record every model call carries (labels for classifier-free guidance, context tokens
// for cross-attention, a control image for ControlNet, residuals into the U-Net's skips). One record
// travels from the training set / sampling node to the network; a feature adds a field, never a new
// argument. Every tensor field is per item (batch first), so wrappers can stack two records into one
// batch of 2B (classifier-free guidance) with `stackConditioning`.
import * as tf from "@tensorflow/tfjs"

export interface ControlResiduals {
  /** One residual per U-Net skip connection, shallowest first, shaped like that skip. */
  readonly skips: readonly tf.Tensor4D[]
  /** Added to the deepest feature (after the middle block, before the decoder). */
  readonly middle?: tf.Tensor4D
}

export interface Conditioning {
  /** Class ids [B] (int32) in 0..numClasses; numClasses itself is the learned null ("unconditional") class. */
  readonly labels?: tf.Tensor1D
  /** Context tokens [B, N, D] for cross-attention; when absent a class-conditional model uses its label tokens. */
  readonly context?: tf.Tensor3D
  /** Control image [B, H, W, C] (ControlNet's c_f, e.g. Canny edges in [0, 1]); read by a ControlNet. */
  readonly control?: tf.Tensor4D
  /** Residuals added into the U-Net (what a ControlNet produces from `control`). */
  readonly residuals?: ControlResiduals
}

export const noConditioning: Conditioning = {}

/** int32 labels [B] all equal to the null class. */
export const nullLabels = (batch: number, numClasses: number): tf.Tensor1D => tf.fill([batch], numClasses, "int32") as tf.Tensor1D

const stack = <T extends tf.Tensor>(a: T | undefined, b: T | undefined, field: string): T | undefined => {
  if (a === undefined && b === undefined) return undefined
  if (a === undefined || b === undefined) throw new Error(`stackConditioning: ${field} is set on one side only`)
  return tf.concat([a, b], 0) as T
}

/** [a; b] along the batch: the record of a batch of 2B whose first B items are a's. New tensors (caller tidies). */
export const stackConditioning = (a: Conditioning, b: Conditioning): Conditioning => {
  const labels = stack(a.labels, b.labels, "labels")
  const context = stack(a.context, b.context, "context")
  const control = stack(a.control, b.control, "control")
  if (a.residuals !== undefined || b.residuals !== undefined) throw new Error("stackConditioning: residuals are computed per call, stack `control` instead")
  return { ...(labels && { labels }), ...(context && { context }), ...(control && { control }) }
}

/** Every tensor of a record (for tf.dispose / tf.keep). */
export const conditioningTensors = (c: Conditioning): tf.Tensor[] => [
  ...(c.labels ? [c.labels] : []),
  ...(c.context ? [c.context] : []),
  ...(c.control ? [c.control] : []),
  ...(c.residuals ? [...c.residuals.skips, ...(c.residuals.middle ? [c.residuals.middle] : [])] : []),
]

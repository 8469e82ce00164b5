// ControlNet at sampling time, for the `sample` node: its params and inputs, and the binding that
// nodes/_pixel-sampling.ts composes (the composite model instead of the plain U-Net, its runner at
// controlScale, each batch's control images). Sample i is drawn for control image i mod maps, where maps
// = min(controlCount, control.count); the samples carry that image's label (so `score` measures class
// accuracy against the source digit) and their record says control_scale and control_count.
import { Type } from "@sinclair/typebox"
import * as tf from "@tensorflow/tfjs"
import { DatasetType, WeightsType } from "../src/artifacts/index.ts"
import type { Dataset, Weights } from "../src/artifacts/types.ts"
import { toUnitFloat } from "../src/ml/data/pixels.ts"
import { gatherRows } from "../src/ml/data/subset.ts"
import type { DiffusionMeta } from "../src/ml/diffusion-meta.ts"
import { invalidInput } from "../src/ml/errors.ts"
import type { Conditioning } from "../src/ml/nn/conditioning.ts"
import { checkControlNetBase, type ControlledUNet, controlNetFromWeights, controlNetRunner, isControlledUNet } from "../src/ml/nn/controlnet.ts"
import type { Model } from "../src/ml/nn/model.ts"
import type { BatchSpec } from "../src/ml/sampling/generate.ts"
import type { UNetRunner } from "../src/ml/sampling/unet-runner.ts"
import { maybe } from "./_grid.ts"

export const controlInputs = {
  controlnet: maybe(WeightsType),
  control: maybe(DatasetType),
}

export const controlParams = {
  controlScale: Type.Number({ minimum: 0, default: 1, description: "ControlNet: scale of its residuals (diffusers' conditioning_scale); 0 = the base alone." }),
  controlCount: Type.Optional(Type.Integer({ minimum: 1, description: "ControlNet: cycle through the first controlCount control images only (several samples per edge map, for diversity)." })),
}

export interface ControlBinding {
  /** The composite (frozen base + ControlNet) to sample instead of the plain model. */
  readonly acquire: () => ControlledUNet
  /** The composite's runner at controlScale (where DeepCache and guidance wrap the network). */
  readonly runner: (model: Model) => UNetRunner
  /** The control images of a batch (cond.control [count, H, W, C] in [0, 1]) and their clean-up. */
  readonly batch: (b: BatchSpec) => { readonly cond: Conditioning; readonly dispose: () => void }
  /** Labels of `count` samples: the control images'. */
  readonly labels: (count: number) => Uint8Array
  /** What the samples' record adds. */
  readonly record: Readonly<Record<string, number>>
}

interface ControlInputs {
  readonly model: Weights
  readonly controlnet?: Weights
  readonly control?: Dataset
}

/**
 * The ControlNet binding of a sampling node's inputs (undefined without a ControlNet), checked before any
 * work: both inputs or neither, the ControlNet's base = `model` (by digest), control images of the
 * base's item shape. Throws MlError "invalid-input".
 */
export const controlBinding = (inputs: ControlInputs, p: { readonly controlScale: number; readonly controlCount?: number }, meta: DiffusionMeta): ControlBinding | undefined => {
  const { model, controlnet, control } = inputs
  if (model.architecture === "controlnet") throw invalidInput("`model` is a ControlNet: connect its base U-Net to `model` and the ControlNet to `controlnet`")
  if (controlnet === undefined && control === undefined) return undefined
  if (controlnet === undefined || control === undefined)
    throw invalidInput(controlnet === undefined ? "`control` images need a `controlnet` to steer the model" : "a `controlnet` needs `control` images (e.g. a canny node's dataset)")
  const config = checkControlNetBase(controlnet, model)
  const [h, w] = meta.itemShape
  if (control.height !== h || control.width !== w || control.channels !== config.controlChannels)
    throw invalidInput(`control images are ${control.height}x${control.width}x${control.channels}, but this ControlNet takes ${h}x${w}x${config.controlChannels}`)
  if (control.count === 0) throw invalidInput("the control dataset is empty")
  const maps = Math.min(p.controlCount ?? control.count, control.count)
  const size = control.height * control.width * control.channels
  const indices = (first: number, count: number) => Int32Array.from({ length: count }, (_, k) => (first + k) % maps)
  return {
    acquire: () => controlNetFromWeights(controlnet, model),
    runner: (m) => {
      if (!isControlledUNet(m)) throw new Error(`control binding: expected the composite it acquired, got a ${m.architecture}`)
      return controlNetRunner(m, p.controlScale)
    },
    batch: (b) => {
      // edge maps are 0/255: the ControlNet sees them in [0, 1], as train-controlnet feeds them
      const c = tf.tensor4d(toUnitFloat(gatherRows(control.images, size, indices(b.first, b.count))), [b.count, control.height, control.width, control.channels])
      return { cond: { control: c }, dispose: () => c.dispose() }
    },
    labels: (count) => gatherRows(control.labels, 1, indices(0, count)),
    record: { control_scale: p.controlScale, control_count: maps },
  }
}

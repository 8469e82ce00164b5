// src/ml/samplers/rf-midpoint.ts: the explicit midpoint method (second-order Runge-Kutta) for rectified flow.
// Notation as rf-euler.ts: dx/dt = v(x, t) from t = 0 (noise) to 1 (data), h = tPrev - t:
//   x_{t+h} = x_t + h·v(x_t + (h/2)·v(x_t, t), t + h/2)
// Local error O(h³), global O(h²) (Hairer, Nørsett & Wanner, Solving ODEs I, sec. II.1): halving h quarters
// the error, at two model evaluations per step. The first evaluation is the loop's `out`.
import * as tf from "@tensorflow/tfjs"
import { rfModelTime } from "../diffusion.ts"
import { type RfConfig, uniformGrid } from "./rf-euler.ts"
import type { Sampler } from "./sampler.ts"

export const rfMidpoint: Sampler<RfConfig, void> = {
  name: "rf-midpoint",
  timesteps: (_c, _T, n) => uniformGrid(n),
  end: 1,
  modelTime: rfModelTime,
  needsNoise: () => false,
  evalsPerStep: 2,
  step: (_c, _s, { x, out: v, t, tPrev, model }) => {
    if (model === undefined) throw new Error("rf-midpoint: step needs `model` for its second evaluation")
    const h = tPrev - t
    return tf.tidy(() => x.add(model(x.add(v.mul(h / 2)), t + h / 2).mul(h)))
  },
}

// Names of the fused dense-layer kernels of pipe-native. Kept out of kernel-names.ts on purpose: that
// file is in the code version of every trained model (ops.ts imports it), and the model layer does not
// use these kernels yet (src/ml/nn/dense.ts, README "Fast compute": switching `linear` to them retrains
// every model, so it lands with the next recipe change that retrains anyway).
/** y = x W + b, then SiLU when attrs.silu (outputs [y, z] with z the pre-activation). Inputs {x [M,K], w [K,N], b [N]}. */
export const LINEAR = "PipeLinear"
/** Returns [dw, db] (+ dz = dy * silu'(z) with silu). Inputs {dy, x, z?}; attrs {silu}. */
export const LINEAR_GRAD = "PipeLinearGrad"

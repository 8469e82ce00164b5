// Names of the fused dense-layer kernels of pipe-native. Kept out of kernel-names.ts on purpose: that
// file is in the code version of every trained model (ops.ts imports it), and only the latent MLP
// uses these kernels (src/ml/nn/dense.ts): an edit here retrains latent MLPs, nothing else.
/** y = x W + b, then SiLU when attrs.silu (outputs [y, z] with z the pre-activation). Inputs {x [M,K], w [K,N], b [N]}. */
export const LINEAR = "PipeLinear"
/** Returns [dw, db] (+ dz = dy * silu'(z) with silu). Inputs {dy, x, z?}; attrs {silu}. */
export const LINEAR_GRAD = "PipeLinearGrad"

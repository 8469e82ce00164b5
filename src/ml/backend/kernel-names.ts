// Names of the fused kernels pipe registers on its own backends. Kept in a side-effect-free module so
// src/ml/nn can ask "is a fused kernel registered for the active backend?" without importing the
// backend (and its native addon) itself.

/** y = x * sigmoid(x). Inputs {x}. */
export const SILU = "PipeSilu"
/** dx = dy * s * (1 + x (1 - s)), s = sigmoid(x). Inputs {dy, x}. */
export const SILU_GRAD = "PipeSiluGrad"
/** GroupNorm (NHWC, eps, affine) optionally followed by SiLU. Inputs {x, gamma, beta}; attrs {groups, eps, silu}. */
export const GROUP_NORM = "PipeGroupNorm"
/** Returns [dx, dgamma, dbeta]. Inputs {dy, x, gamma, beta}; attrs as GROUP_NORM. */
export const GROUP_NORM_GRAD = "PipeGroupNormGrad"
/** Nearest-neighbour x2 upsampling, NHWC. Inputs {x}. */
export const UPSAMPLE2X = "PipeUpsample2x"
/** Its gradient: 2x2 block sums. Inputs {dy}. */
export const UPSAMPLE2X_GRAD = "PipeUpsample2xGrad"
/** One bias-corrected Adam update in place on float32 storage; see src/ml/nn/optim.ts. */
export const ADAM_UPDATE = "PipeAdamUpdate"

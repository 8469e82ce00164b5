// Public entry of pipe's neural-net building blocks. Importing it registers the "unet" and
// "latent-mlp" architectures for modelFromWeights.
export * from "./layers.ts"
export * from "./model.ts"
export * from "./ops.ts"
export * from "./optim.ts"
export * from "./params.ts"
export * from "./unet.ts"
export * from "./mlp.ts"

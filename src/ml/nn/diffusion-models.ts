// The architectures train-diffusion builds and the sampling nodes rebuild from Weights: the U-Net
// (pixel space) and the latent MLP. Imported only by the diffusion nodes, so a U-Net edit changes the
// code version of those nodes and of no other (not the VAE's, not the judge's).
import type { Weights } from "../../artifacts/types.ts"
import { invalidInput } from "../errors.ts"
import { latentMlpArchitecture } from "./mlp.ts"
import { fromWeights, type Model } from "./model.ts"
import { type UNet, unetArchitecture } from "./unet.ts"

/** A U-Net or latent MLP from a train-diffusion Weights artifact. */
export const diffusionModelFromWeights = (w: Weights): Model => {
  if (w.architecture === unetArchitecture.name) return fromWeights(unetArchitecture, w)
  if (w.architecture === latentMlpArchitecture.name) return fromWeights(latentMlpArchitecture, w)
  throw invalidInput(`weights of architecture "${w.architecture}" are not a diffusion model (expected "unet" or "latent-mlp")`)
}

/** The U-Net of a pixel-space model (typed: its stages are reachable for DeepCache and ControlNet). */
export const unetFromWeights = (w: Weights): UNet => {
  if (w.architecture !== unetArchitecture.name) throw invalidInput(`weights of architecture "${w.architecture}" are not a U-Net`)
  return fromWeights(unetArchitecture, w)
}

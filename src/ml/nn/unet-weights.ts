// The pixel-space diffusion model rebuilt from Weights: the U-Net that train-diffusion trains. One loader
// per architecture (the latent MLP's is mlp-weights.ts), so a sampling node imports exactly the
// architecture it runs and a latent-MLP edit leaves the U-Net nodes' code versions (and keys) alone.
import type { Weights } from "../../artifacts/types.ts"
import { invalidInput } from "../errors.ts"
import { fromWeights } from "./model.ts"
import { type UNet, unetArchitecture } from "./unet.ts"

/** The U-Net of a pixel-space model (typed: its stages are reachable for DeepCache and ControlNet); throws MlError on other weights. */
export const unetFromWeights = (w: Weights): UNet => {
  if (w.architecture !== unetArchitecture.name) throw invalidInput(`weights of architecture "${w.architecture}" are not a U-Net (expected "${unetArchitecture.name}")`)
  return fromWeights(unetArchitecture, w)
}

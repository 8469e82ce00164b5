// The latent-space diffusion model rebuilt from Weights: the MLP that train-latent-diffusion trains. One
// loader per architecture (the U-Net's is unet-weights.ts), so a sampling node imports exactly the
// architecture it runs and a U-Net edit leaves the latent nodes' code versions (and keys) alone.
import type { Weights } from "../../artifacts/types.ts"
import { invalidInput } from "../errors.ts"
import { latentMlpArchitecture } from "./mlp.ts"
import { fromWeights, type Model } from "./model.ts"

/** The latent MLP of a latent-space model; throws MlError on other weights. */
export const latentMlpFromWeights = (w: Weights): Model => {
  if (w.architecture !== latentMlpArchitecture.name)
    throw invalidInput(`weights of architecture "${w.architecture}" are not a latent MLP (expected "${latentMlpArchitecture.name}")`)
  return fromWeights(latentMlpArchitecture, w)
}

// Value types of the artifact kinds that cross node boundaries. Each has exactly one Arrow codec,
// in the file of the same name beside this one (dataset.ts, tensor.ts, ...), exported as an
// ArtifactType. Layouts: images are row-major [N, H, W, C] (NHWC, C = 1 for MNIST).

/** Labelled uint8 images, e.g. MNIST: pixels [N, H, W, C] in 0..255, labels [N]. */
export interface Dataset {
  readonly count: number
  readonly height: number
  readonly width: number
  readonly channels: number
  readonly images: Uint8Array
  readonly labels: Uint8Array
}

/** A float32 tensor with its shape and string metadata (e.g. what produced it). */
export interface Tensor {
  readonly shape: readonly number[]
  readonly data: Float32Array
  readonly meta: Readonly<Record<string, string>>
}

/**
 * Standardised VAE latents [N, D]: z_std = (z - mean) / std per dimension. mean/std travel with
 * the latents (as LDM's scale factor does) so `decode` can undo the standardisation.
 */
export interface Latents {
  readonly count: number
  readonly dim: number
  readonly values: Float32Array // [N, D], standardised
  readonly mean: Float32Array // [D]
  readonly std: Float32Array // [D]
  readonly labels: Uint8Array | null // [N] when known
}

/** One named variable of a model. */
export interface WeightVariable {
  readonly name: string
  readonly shape: readonly number[]
  readonly values: Float32Array
}
/** Model weights plus the architecture config needed to rebuild the model from the artifact alone. */
export interface Weights {
  readonly architecture: string // e.g. "unet", "latent-mlp", "vae", "lenet"
  readonly config: Readonly<Record<string, unknown>> // JSON-serialisable
  readonly variables: readonly WeightVariable[]
}

/** Named scalars plus small tables (loss curves, timing tables). */
export interface MetricsTable {
  readonly columns: readonly string[]
  readonly rows: readonly (readonly (number | string)[])[]
}
export interface Metrics {
  readonly scalars: Readonly<Record<string, number>>
  readonly tables: Readonly<Record<string, MetricsTable>>
}

/**
 * A batch of generated or decoded images, float32 [N, H, W, C] with values in [0, 1], optional
 * requested labels, and metadata such as the sampler used and seconds per image.
 */
export interface ImageBatch {
  readonly count: number
  readonly height: number
  readonly width: number
  readonly channels: number
  readonly pixels: Float32Array
  readonly labels: Uint8Array | null
  readonly meta: Readonly<Record<string, string | number>>
}

/** An opaque file (PNG grid, CSV...) a node produced; copied into runs/<id>/ and shown in reports. */
export interface FileArtifact {
  readonly name: string // e.g. "grid.png"
  readonly mediaType: string // e.g. "image/png"
  readonly bytes: Uint8Array
}

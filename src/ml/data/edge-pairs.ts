// Images and their edge maps (the canny node keeps order and labels) travel as two datasets; a trainer
// that pairs them item by item checks first that they describe the same images.

/** The fields of a labelled image set that pairing looks at. */
export interface LabelledImages {
  readonly count: number
  readonly height: number
  readonly width: number
  readonly labels: Uint8Array
}

/** Why `edges` are not the edge maps of `images` item by item (undefined: they can be). */
export const edgePairProblem = (images: LabelledImages, edges: LabelledImages): string | undefined => {
  if (edges.count !== images.count) return `edges has ${edges.count} maps but dataset ${images.count} images: connect the canny node of the same dataset`
  if (edges.height !== images.height || edges.width !== images.width) return `edges are ${edges.height}x${edges.width}, the images ${images.height}x${images.width}`
  if (edges.labels.some((l, i) => l !== images.labels[i])) return "edges and dataset have different labels: the edge maps are not of these images (connect the canny node of the same dataset)"
  return undefined
}

// Sample grids: rows x cols items, each item one image or several side by side (e.g. a digit beside its
// Canny edges, or an original beside its VAE reconstruction), scaled up by pixel replication, separated
// by `padding` pixels of background, with an optional label strip under each item and a title on top.
//
// Layout (all sizes in output pixels; s = scale, L = text line height = 7 s):
//   width  = cols * itemW + (cols + 1) * padding,            itemW = k * W * s (k images per item)
//   height = titleH + rows * itemH + (rows + 1) * padding,   itemH = H * s + (labels ? L : 0)
import { GLYPH_ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyphPixel, textWidth } from "./font.ts"
import { makeRaster, type Raster } from "./raster.ts"

export interface GridItem {
  /** Images drawn left to right inside the item; all images of a grid share one height and width. */
  readonly images: readonly Raster[]
  readonly label?: string
}

export interface GridOptions {
  readonly rows: number
  readonly cols: number
  /** Integer nearest-neighbour upscaling factor (also the text scale). */
  readonly scale: number
  readonly padding: number
  /** Draw each item's label under it. */
  readonly labels: boolean
  readonly title: string
  readonly background: number
  readonly ink: number
}

export const defaultGridOptions: GridOptions = {
  rows: 4,
  cols: 8,
  scale: 2,
  padding: 2,
  labels: false,
  title: "",
  background: 96,
  ink: 255,
}

/** Text line: the 5-pixel glyph with one blank pixel row above and below, at `scale`. */
const lineHeight = (scale: number): number => (GLYPH_HEIGHT + 2) * scale

/** Composes the first rows x cols items (missing items stay background). Throws on mixed image sizes. */
export const composeGrid = (items: readonly GridItem[], o: GridOptions): Raster => {
  const shown = items.slice(0, o.rows * o.cols)
  const first = shown.find((it) => it.images.length > 0)?.images[0]
  const h = first?.height ?? 1
  const w = first?.width ?? 1
  for (const it of shown)
    for (const im of it.images)
      if (im.height !== h || im.width !== w) throw new RangeError(`composeGrid: image ${im.height}x${im.width} among ${h}x${w} images`)
  const perItem = Math.max(1, ...shown.map((it) => it.images.length))
  const channels: 1 | 3 = shown.some((it) => it.images.some((im) => im.channels === 3)) ? 3 : 1
  const s = o.scale
  const itemW = perItem * w * s
  const itemH = h * s + (o.labels ? lineHeight(s) : 0)
  const titleH = o.title.length > 0 ? lineHeight(s) : 0
  const out = makeRaster(
    titleH + o.rows * itemH + (o.rows + 1) * o.padding,
    o.cols * itemW + (o.cols + 1) * o.padding,
    channels,
    o.background,
  )
  if (titleH > 0) drawText(out, o.title, Math.floor((out.width - textWidth(o.title, s)) / 2), s, s, o.ink)
  shown.forEach((it, n) => {
    const top = titleH + o.padding + Math.floor(n / o.cols) * (itemH + o.padding)
    const left = o.padding + (n % o.cols) * (itemW + o.padding)
    it.images.forEach((im, k) => blitScaled(out, im, top, left + k * w * s, s))
    if (o.labels && it.label !== undefined)
      drawText(out, it.label, left + Math.floor((itemW - textWidth(it.label, s)) / 2), top + h * s + s, s, o.ink)
  })
  return out
}

/** Nearest-neighbour upscale of `src` into `dst` at (top, left); gray sources fill all RGB channels. */
const blitScaled = (dst: Raster, src: Raster, top: number, left: number, s: number): void => {
  for (let y = 0; y < src.height * s; y++)
    for (let x = 0; x < src.width * s; x++) {
      const from = (Math.floor(y / s) * src.width + Math.floor(x / s)) * src.channels
      const to = ((top + y) * dst.width + left + x) * dst.channels
      for (let c = 0; c < dst.channels; c++) dst.pixels[to + c] = src.pixels[from + (src.channels === 1 ? 0 : c)]!
    }
}

/** Draws `text` with its top-left glyph pixel at (top, left), clipped to the raster. */
export const drawText = (dst: Raster, text: string, left: number, top: number, s: number, ink: number): void => {
  Array.from(text).forEach((ch, i) => {
    for (let r = 0; r < GLYPH_HEIGHT * s; r++)
      for (let c = 0; c < GLYPH_WIDTH * s; c++) {
        if (!glyphPixel(ch, Math.floor(r / s), Math.floor(c / s))) continue
        const y = top + r
        const x = left + i * GLYPH_ADVANCE * s + c
        if (y < 0 || y >= dst.height || x < 0 || x >= dst.width) continue
        dst.pixels.fill(ink, (y * dst.width + x) * dst.channels, (y * dst.width + x + 1) * dst.channels)
      }
  })
}

/**
 * One row per class: item indices of the first `cols` items of each label (classes ascending, at most
 * `maxRows` of them), row-major, null where a class has fewer than `cols` items (an empty cell). The
 * layout of class-conditional samples (e.g. labels each-class), whose items come grouped by class.
 */
export const labelRows = (labels: ArrayLike<number>, cols: number, maxRows: number): (number | null)[] => {
  const byClass = new Map<number, number[]>()
  for (let i = 0; i < labels.length; i++) {
    const row = byClass.get(labels[i]!) ?? []
    if (row.length < cols) row.push(i)
    byClass.set(labels[i]!, row)
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b).slice(0, maxRows)
  return classes.flatMap((k) => Array.from({ length: cols }, (_, j) => byClass.get(k)![j] ?? null))
}

// The Canny settings shared by `canny` (which makes edge maps) and `score-control` (which must detect
// the edges of generated images exactly as the condition's were made): one schema, one edge function.
import { Type } from "@sinclair/typebox"
import { canny, gaussianBlur } from "../src/ml/data/canny.ts"

export const cannyParams = {
  low: Type.Number({ minimum: 0, default: 100, description: "Hysteresis low threshold (cv2.Canny threshold1)." }),
  high: Type.Number({ minimum: 0, default: 200, description: "Hysteresis high threshold (cv2.Canny threshold2)." }),
  l2gradient: Type.Boolean({ default: false, description: "Use sqrt(dx^2 + dy^2) instead of |dx| + |dy|." }),
  blur: Type.Union([Type.Literal(0), Type.Literal(3), Type.Literal(5), Type.Literal(7)], {
    default: 0,
    description: "Gaussian pre-blur kernel size as cv2.GaussianBlur(img, (k, k), 0); 0 = off (as in cv2.Canny).",
  }),
}
const CannySettings = Type.Object(cannyParams)
export type CannySettings = typeof CannySettings.static

/** Edges (0/255) of one single-channel uint8 image [H, W] with these settings. */
export const cannyEdges = (img: Uint8Array, height: number, width: number, p: CannySettings): Uint8Array =>
  canny(p.blur === 0 ? img : gaussianBlur(img, height, width, p.blur), height, width, { low: p.low, high: p.high, l2: p.l2gradient })

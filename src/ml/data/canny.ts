// Canny edge detector (Canny, "A Computational Approach to Edge Detection", IEEE TPAMI 1986) with the
// exact integer semantics of OpenCV 4.x `cv2.Canny(img, low, high, apertureSize=3, L2gradient)`,
// following modules/imgproc/src/canny.cpp step by step:
//   1. dx, dy: 3x3 Sobel, BORDER_REPLICATE, int16 range (|d| <= 4 * 255).
//   2. magnitude m = |dx| + |dy| (L1) or dx^2 + dy^2 (L2: thresholds are squared instead of taking sqrt).
//      Pixels outside the image have m = 0.
//   3. non-maximum suppression in 4 sectors, decided with OpenCV's fixed-point tan(22.5deg) test
//      (TG22 = round(0.41421356 * 2^15) = 13573, CANNY_SHIFT = 15) and its asymmetric comparisons:
//      horizontal/vertical sectors need m > first neighbour and m >= second; diagonals need > both.
//   4. pixels passing NMS with m > low are candidates; candidates with m > high seed edges; hysteresis
//      grows edges through 8-connected candidates. Output 0 / 255.
// OpenCV's row ring buffer, stripe parallelism and `prev_flag` shortcut change only the order in which
// pixels are visited, never the result (the final set is the closure of seeds over candidates).
// Images are single-channel uint8, row-major [H, W].

export interface CannyOptions {
  readonly low: number
  readonly high: number
  /** L2 magnitude sqrt(dx^2 + dy^2) instead of L1 |dx| + |dy| (cv2.Canny's `L2gradient`). */
  readonly l2: boolean
}

const CANNY_SHIFT = 15
const TG22 = Math.floor(0.4142135623730950488016887242097 * (1 << CANNY_SHIFT) + 0.5) // 13573

/** 3x3 Sobel derivatives with replicated borders (cv2.Sobel(src, CV_16S, 1, 0 | 0, 1, 3, BORDER_REPLICATE)). */
export const sobel3 = (
  src: Uint8Array,
  height: number,
  width: number,
): { readonly dx: Int16Array; readonly dy: Int16Array } => {
  const dx = new Int16Array(height * width)
  const dy = new Int16Array(height * width)
  for (let r = 0; r < height; r++) {
    const up = Math.max(r - 1, 0) * width
    const mid = r * width
    const down = Math.min(r + 1, height - 1) * width
    for (let c = 0; c < width; c++) {
      const l = Math.max(c - 1, 0)
      const rt = Math.min(c + 1, width - 1)
      const a = src[up + l]!, b = src[up + c]!, cc = src[up + rt]!
      const d = src[mid + l]!, f = src[mid + rt]!
      const g = src[down + l]!, h = src[down + c]!, i = src[down + rt]!
      dx[mid + c] = cc - a + 2 * (f - d) + (i - g)
      dy[mid + c] = g - a + 2 * (h - b) + (i - cc)
    }
  }
  return { dx, dy }
}

/** OpenCV's integer thresholds: swapped if low > high; squared (capped at 32767 first) for L2; floored. */
export const cannyThresholds = (o: CannyOptions): { readonly low: number; readonly high: number } => {
  let low = Math.min(o.low, o.high)
  let high = Math.max(o.low, o.high)
  if (o.l2) {
    low = Math.min(32767, low)
    high = Math.min(32767, high)
    if (low > 0) low *= low
    if (high > 0) high *= high
  }
  return { low: Math.floor(low), high: Math.floor(high) }
}

// Map states, as in OpenCV: 0 = candidate (might be an edge), 1 = not an edge, 2 = edge.
const CANDIDATE = 0
const NOT_EDGE = 1
const EDGE = 2

/** Edge map of a single-channel uint8 image: 255 on edges, 0 elsewhere. */
export const canny = (src: Uint8Array, height: number, width: number, o: CannyOptions): Uint8Array => {
  if (src.length !== height * width) throw new RangeError(`canny: ${src.length} pixels for ${height}x${width}`)
  const { dx, dy } = sobel3(src, height, width)
  const { low, high } = cannyThresholds(o)

  // Magnitudes and the state map carry a 1-pixel frame (m = 0, state NOT_EDGE) so neighbours need no checks.
  const step = width + 2
  const mag = new Int32Array((height + 2) * step)
  for (let r = 0; r < height; r++)
    for (let c = 0; c < width; c++) {
      const x = dx[r * width + c]!, y = dy[r * width + c]!
      mag[(r + 1) * step + c + 1] = o.l2 ? x * x + y * y : Math.abs(x) + Math.abs(y)
    }

  const map = new Uint8Array((height + 2) * step).fill(NOT_EDGE)
  const stack: number[] = []
  for (let r = 0; r < height; r++)
    for (let c = 0; c < width; c++) {
      const k = (r + 1) * step + c + 1
      const m = mag[k]!
      if (m <= low || !isLocalMax(mag, k, step, m, dx[r * width + c]!, dy[r * width + c]!)) continue
      if (m > high) {
        map[k] = EDGE
        stack.push(k)
      } else map[k] = CANDIDATE
    }

  // Hysteresis: 8-connected growth from the strong pixels through candidates.
  const nbrs = [-1, 1, -step - 1, -step, -step + 1, step - 1, step, step + 1]
  while (stack.length > 0) {
    const k = stack.pop()!
    for (const o of nbrs)
      if (map[k + o] === CANDIDATE) {
        map[k + o] = EDGE
        stack.push(k + o)
      }
  }

  const out = new Uint8Array(height * width)
  for (let r = 0; r < height; r++)
    for (let c = 0; c < width; c++) if (map[(r + 1) * step + c + 1] === EDGE) out[r * width + c] = 255
  return out
}

/**
 * The NMS sector of a gradient, decided as canny.cpp does with fixed-point slopes:
 * "horizontal" when |dy|/|dx| < tan 22.5deg, "vertical" when |dy|/|dx| > tan 67.5deg (= 2 + tan 22.5deg),
 * else "diagonal". Over all int16 Sobel outputs this is symmetric under swapping dx and dy (a test
 * enumerates it), which is why the whole detector commutes with transposition.
 */
export const nmsSector = (xs: number, ys: number): "horizontal" | "vertical" | "diagonal" => {
  const x = Math.abs(xs)
  const y = Math.abs(ys) << CANNY_SHIFT
  const tg22x = x * TG22
  if (y < tg22x) return "horizontal"
  const tg67x = tg22x + (x << (CANNY_SHIFT + 1))
  return y > tg67x ? "vertical" : "diagonal"
}

/** Non-maximum suppression at framed index k, with canny.cpp's asymmetric comparisons. */
const isLocalMax = (mag: Int32Array, k: number, step: number, m: number, xs: number, ys: number): boolean => {
  switch (nmsSector(xs, ys)) {
    case "horizontal": // gradient across columns: compare left (>) and right (>=)
      return m > mag[k - 1]! && m >= mag[k + 1]!
    case "vertical": // compare up (>) and down (>=)
      return m > mag[k - step]! && m >= mag[k + step]!
    case "diagonal": {
      const s = (xs ^ ys) < 0 ? -1 : 1 // up-left/down-right when dx, dy share a sign, else up-right/down-left
      return m > mag[k - step - s]! && m > mag[k + step + s]!
    }
  }
}

/**
 * Gaussian pre-blur as cv2.GaussianBlur(img, (k, k), 0) for k in 3, 5, 7: OpenCV then uses its fixed
 * small_gaussian_tab kernels, which are exact in its 8-bit fixed point, so the result is
 * round-half-up(sum w_i w_j p / (sum w)^2), with BORDER_REFLECT_101 (OpenCV's default border).
 * Not checked against an OpenCV fixture (the shipped fixtures use no blur).
 */
export const gaussianBlur = (src: Uint8Array, height: number, width: number, ksize: 3 | 5 | 7): Uint8Array => {
  const w = SMALL_GAUSSIAN[ksize]
  const half = (ksize - 1) / 2
  const total = w.reduce((a, b) => a + b, 0) ** 2
  const reflect = (i: number, n: number): number => {
    if (n === 1) return 0
    // BORDER_REFLECT_101: gfedcb|abcdefgh|gfedcba
    while (i < 0 || i >= n) i = i < 0 ? -i : 2 * n - 2 - i
    return i
  }
  const rows = new Int32Array(height * width) // horizontal pass, exact integers
  for (let r = 0; r < height; r++)
    for (let c = 0; c < width; c++) {
      let s = 0
      for (let t = -half; t <= half; t++) s += w[t + half]! * src[r * width + reflect(c + t, width)]!
      rows[r * width + c] = s
    }
  const out = new Uint8Array(height * width)
  for (let r = 0; r < height; r++)
    for (let c = 0; c < width; c++) {
      let s = 0
      for (let t = -half; t <= half; t++) s += w[t + half]! * rows[reflect(r + t, height) * width + c]!
      out[r * width + c] = Math.floor((s + total / 2) / total)
    }
  return out
}

const SMALL_GAUSSIAN: Readonly<Record<3 | 5 | 7, readonly number[]>> = {
  3: [1, 2, 1],
  5: [1, 4, 6, 4, 1],
  7: [2, 7, 14, 18, 14, 7, 2], // not binomial: OpenCV's table, 0.03125 0.109375 0.21875 0.28125 ... x 64
}

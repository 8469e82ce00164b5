// A deliberately tiny bitmap font for grid labels and titles: 3x5 pixel glyphs for digits, A-Z (lower
// case is drawn as upper case) and a little punctuation; anything else draws as "?". Each glyph is five
// octal digits, one per row from the top; a row's bits 4, 2, 1 are its left, middle and right pixels.
// Example: "0" = 7 5 5 5 7 = ###, #.#, #.#, #.#, ###.

export const GLYPH_WIDTH = 3
export const GLYPH_HEIGHT = 5
/** Horizontal advance per character: the glyph plus one blank column. */
export const GLYPH_ADVANCE = GLYPH_WIDTH + 1

const GLYPHS: Readonly<Record<string, string>> = {
  "0": "75557", "1": "26227", "2": "71747", "3": "71717", "4": "55711",
  "5": "74717", "6": "74757", "7": "71111", "8": "75757", "9": "75717",
  A: "25755", B: "65656", C: "34443", D: "65556", E: "74647", F: "74644", G: "34553",
  H: "55755", I: "72227", J: "11152", K: "55655", L: "44447", M: "57755", N: "65555",
  O: "25552", P: "65644", Q: "25563", R: "65655", S: "34216", T: "72222", U: "55557",
  V: "55552", W: "55775", X: "55255", Y: "55222", Z: "71247",
  " ": "00000", "-": "00700", ".": "00002", ":": "02020", "/": "11244", "=": "07070",
  "?": "71202",
}

/** Whether pixel (row, col) of the glyph for `ch` is ink; unknown characters use "?". */
export const glyphPixel = (ch: string, row: number, col: number): boolean => {
  const rows = GLYPHS[ch.toUpperCase()] ?? GLYPHS["?"]!
  return ((Number(rows[row]) >> (GLYPH_WIDTH - 1 - col)) & 1) === 1
}

/** Width in pixels of `text` drawn at `scale` (no trailing blank column). */
export const textWidth = (text: string, scale: number): number =>
  text.length === 0 ? 0 : (text.length * GLYPH_ADVANCE - 1) * scale

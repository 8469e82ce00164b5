// Number, size and duration formatting shared by the report, `pipe compare` and the Markdown tables.

/** Numbers for humans: 4 significant digits, exponent outside [1e-3, 1e5), integers verbatim. */
export const fmtNum = (v: number): string => {
  if (Number.isNaN(v)) return "NaN"
  if (!Number.isFinite(v)) return v > 0 ? "∞" : "−∞"
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v)
  const a = Math.abs(v)
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(3)
  return String(Number(v.toPrecision(4)))
}

export const fmtBytes = (n: number): string =>
  n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(2)} GiB`

export const fmtSeconds = (s: number): string => (s < 60 ? `${s.toFixed(2)} s` : s < 3600 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${(s / 3600).toFixed(2)} h`)

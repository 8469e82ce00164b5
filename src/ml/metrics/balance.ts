// Class balance of a histogram of predicted classes. Its own module (not classes.ts) because the judge's
// training imports classes.ts, and a change there would change the judge's cache key and retrain it.

/**
 * Class balance: max_k |n_k / N - 1/K| for counts n [K], N = Σ n (0 for a perfectly even histogram,
 * 1 - 1/K when every item is one class).
 */
export const classShareMaxDeviation = (counts: ArrayLike<number>): number => {
  const k = counts.length
  let total = 0
  for (let i = 0; i < k; i++) total += counts[i]!
  if (k === 0 || !(total > 0)) throw new RangeError(`class shares of ${k} classes with ${total} items: need at least one of each`)
  let worst = 0
  for (let i = 0; i < k; i++) worst = Math.max(worst, Math.abs(counts[i]! / total - 1 / k))
  return worst
}

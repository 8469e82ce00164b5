// src/ml/metrics/classes.ts: class histograms and accuracy from label arrays (e.g. a judge classifier's
// predictions on generated digits vs the labels that were requested). Labels are integers in [0, K).

/** counts[k] = #{i : labels[i] = k}. */
export const classHistogram = (labels: ArrayLike<number>, numClasses: number): Int32Array => {
  const counts = new Int32Array(numClasses)
  for (let i = 0; i < labels.length; i++) {
    const k = labels[i]!
    if (!Number.isInteger(k) || k < 0 || k >= numClasses) throw new RangeError(`label[${i}] = ${k}: not in [0, ${numClasses})`)
    counts[k] = counts[k]! + 1
  }
  return counts
}

/** Row-wise argmax of logits/probabilities [N, K] (first maximum wins): predicted labels. */
export const argmaxRows = (scores: ArrayLike<number>, count: number, numClasses: number): Int32Array => {
  if (scores.length !== count * numClasses) throw new RangeError(`${scores.length} scores for ${count} rows of ${numClasses}`)
  const out = new Int32Array(count)
  for (let r = 0; r < count; r++) {
    let best = 0
    for (let k = 1; k < numClasses; k++) if (scores[r * numClasses + k]! > scores[r * numClasses + best]!) best = k
    out[r] = best
  }
  return out
}

const checkPair = (predicted: ArrayLike<number>, expected: ArrayLike<number>): void => {
  if (predicted.length !== expected.length || predicted.length === 0) throw new RangeError(`label arrays differ or are empty: ${predicted.length} vs ${expected.length}`)
}

/** Fraction of positions where predicted = expected. */
export const accuracy = (predicted: ArrayLike<number>, expected: ArrayLike<number>): number => {
  checkPair(predicted, expected)
  let hits = 0
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === expected[i]) hits++
  return hits / predicted.length
}

/** Accuracy among the examples whose expected label is k; NaN for a class that never occurs. */
export const perClassAccuracy = (predicted: ArrayLike<number>, expected: ArrayLike<number>, numClasses: number): Float64Array => {
  checkPair(predicted, expected)
  const totals = classHistogram(expected, numClasses)
  const hits = new Int32Array(numClasses)
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === expected[i]) hits[expected[i]!] = hits[expected[i]!]! + 1
  return Float64Array.from(hits, (h, k) => (totals[k] === 0 ? NaN : h / totals[k]!))
}

// The one way src/ml fails: a thrown MlError whose `reason` says what kind of failure it is. Code in
// src/ml throws it (bad input found before work, a stop requested between steps, a non-finite loss);
// nodes turn it into a typed failure in the Effect channel with one helper (nodes/_ml.ts), so no
// result type carries ok/status flags and no caller checks strings. Any other exception is a bug.
export type MlFailure =
  /** The inputs or params cannot work (wrong shapes, a sampler that does not fit the model, ...). */
  | "invalid-input"
  /** hooks.interrupted() turned true: the loop stopped between two steps. */
  | "interrupted"
  /** A training loss became NaN or infinite. */
  | "non-finite"

export class MlError extends Error {
  readonly _tag = "MlError"
  constructor(readonly reason: MlFailure, message: string) {
    super(message)
    this.name = "MlError"
  }
}

export const invalidInput = (message: string): MlError => new MlError("invalid-input", message)
export const interruptedAt = (what: string): MlError => new MlError("interrupted", `interrupted ${what}`)
export const isMlError = (e: unknown): e is MlError => e instanceof MlError

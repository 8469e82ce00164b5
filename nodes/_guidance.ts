// The classifier-free guidance params of the sampling nodes (sample, sample-latent): their schema (spread
// into samplingParams), their checks against the model, made before any work, and what the sampling
// record says about them. The guidance itself is src/ml/sampling/guidance.ts.
import { type Static, Type } from "@sinclair/typebox"
import type { DiffusionMeta } from "../src/ml/diffusion-meta.ts"
import { invalidInput } from "../src/ml/errors.ts"
import type { GuidanceOptions } from "../src/ml/sampling/guidance.ts"

export const guidanceParams = {
  guidance: Type.Optional(Type.Number({
    minimum: 0,
    description: "Classifier-free guidance scale s (Ho & Salimans 2022): eps_u + s (eps_c - eps_u); 0 = unconditional, 1 = conditional, > 1 guided (2 evaluations per step, one call of batch 2B). Absent = no guidance. Needs `labels` and a class-conditional model.",
  })),
  labels: Type.Optional(Type.Union([
    Type.Array(Type.Integer({ minimum: 0 }), { minItems: 1 }),
    Type.Literal("each-class"),
  ], {
    description: "Requested classes of a class-conditional model: a list of class ids (cycled to count) or each-class (count / numClasses samples of every class, in class order). Absent = the null class (unconditional samples).",
  })),
}
const GuidanceSettings = Type.Object(guidanceParams)
type GuidanceSettings = Static<typeof GuidanceSettings> & { readonly count: number }

/** Class ids of items 0..count-1: the list cycled, or each class count/numClasses times in order. */
export const requestedLabels = (labels: NonNullable<GuidanceSettings["labels"]>, count: number, numClasses: number): Int32Array =>
  labels === "each-class"
    ? Int32Array.from({ length: count }, (_, i) => Math.floor(i / (count / numClasses)))
    : Int32Array.from({ length: count }, (_, i) => labels[i % labels.length]!)

/**
 * The guidance of a run, checked against the model (throws MlError "invalid-input" saying what to
 * change); undefined when neither guidance nor labels are asked for.
 */
export const guidancePlan = (p: GuidanceSettings, meta: DiffusionMeta): GuidanceOptions | undefined => {
  if (p.guidance === undefined && p.labels === undefined) return undefined
  const K = meta.numClasses
  const asked = [...(p.guidance === undefined ? [] : ["guidance"]), ...(p.labels === undefined ? [] : ["labels"])].join(" and ")
  if (K === undefined) throw invalidInput(`${asked} need a class-conditional model; this one is unconditional (train it with conditioning embedding, channel or cross-attention)`)
  if (p.labels === undefined) throw invalidInput("guidance needs labels: a list of class ids or each-class")
  if (p.labels === "each-class" && p.count % K !== 0) throw invalidInput(`labels each-class: count ${p.count} is not a multiple of the model's ${K} classes`)
  const bad = p.labels === "each-class" ? undefined : p.labels.find((l) => l >= K)
  if (bad !== undefined) throw invalidInput(`label ${bad} is outside 0..${K - 1} (the model has ${K} classes; ${K} is its null class)`)
  if (K > 256) throw invalidInput(`the model has ${K} classes; sample artifacts store labels as 0..255`)
  return { labels: requestedLabels(p.labels, p.count, K), numClasses: K, ...(p.guidance === undefined ? {} : { scale: p.guidance }) }
}

/** The labels a sample artifact carries (uint8, as datasets do), null when none were requested. */
export const artifactLabels = (plan: GuidanceOptions | undefined): Uint8Array | null => (plan === undefined ? null : Uint8Array.from(plan.labels))

/** What the sampling record says about guidance: the scale and the labels mode, when given. */
export const guidanceRecord = (p: Static<typeof GuidanceSettings>): Record<string, string | number> => ({
  ...(p.guidance === undefined ? {} : { guidance: p.guidance }),
  ...(p.labels === undefined ? {} : { labels: p.labels === "each-class" ? "each-class" : "list" }),
})

/** The grid title's suffix for a guided run: " S=3" (the grid font has digits, A-Z and "= ."). */
export const guidanceTitle = (p: Static<typeof GuidanceSettings>): string => (p.guidance === undefined ? "" : ` S=${p.guidance}`)

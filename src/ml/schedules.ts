// src/ml/schedules.ts: noise schedules for discrete-time diffusion (DDPM, Ho et al. 2020, arXiv:2006.11239).
// Notation: t = 0..T-1 (0-based, as diffusers; the paper's t = 1..T), β_t betas, α_t = 1 - β_t,
// ᾱ_t = Π_{s<=t} α_s (abar), ᾱ_{t-1} with ᾱ_{-1} = 1 (abarPrev), β~_t posterior variance (eq. 7).
// Every array is Float64Array computed in float64: ᾱ_t is a running product of 1000 factors and
// 1 - ᾱ_t near t = 0 is a difference of nearly equal numbers, so float32 would lose digits that
// the exact-value tests (and DDIM's ratios ᾱ_prev / ᾱ_t) rely on. Cast to float32 at the tensor edge.

export type ScheduleConfig =
  | { readonly kind: "linear"; readonly T: number; readonly betaStart: number; readonly betaEnd: number }
  | { readonly kind: "cosine"; readonly T: number; readonly s: number; readonly maxBeta: number }

/** DDPM's schedule (Ho et al. 2020, sec. 4): β from 1e-4 to 0.02 over T = 1000. */
export const linearDefaults = { kind: "linear", T: 1000, betaStart: 1e-4, betaEnd: 0.02 } as const
/** Improved DDPM's schedule (Nichol & Dhariwal 2021, arXiv:2102.09672, eq. 17): s = 0.008, β <= 0.999. */
export const cosineDefaults = { kind: "cosine", T: 1000, s: 0.008, maxBeta: 0.999 } as const

export interface Schedule {
  readonly T: number
  readonly betas: Float64Array // β_t
  readonly alphas: Float64Array // α_t = 1 - β_t
  readonly abar: Float64Array // ᾱ_t = Π_{s<=t} α_s
  readonly abarPrev: Float64Array // ᾱ_{t-1}, with ᾱ_{-1} = 1
  readonly sqrtAbar: Float64Array // √ᾱ_t: signal scale of q(x_t | x_0), eq. (4)
  readonly sqrtOneMinusAbar: Float64Array // √(1 - ᾱ_t): noise scale of q(x_t | x_0)
  readonly posteriorVariance: Float64Array // β~_t = (1 - ᾱ_{t-1}) / (1 - ᾱ_t) β_t, eq. (7)
  readonly posteriorMeanX0: Float64Array // √ᾱ_{t-1} β_t / (1 - ᾱ_t): weight of x_0 in μ~_t, eq. (7)
  readonly posteriorMeanXt: Float64Array // √α_t (1 - ᾱ_{t-1}) / (1 - ᾱ_t): weight of x_t in μ~_t, eq. (7)
}

/** β_t = β_start (1 - f) + β_end f with f = t / (T - 1): both endpoints are exact (np.linspace's values). */
export const linearBetas = (T: number, betaStart: number, betaEnd: number): Float64Array => {
  checkT(T)
  const betas = new Float64Array(T)
  for (let t = 0; t < T; t++) {
    const f = T === 1 ? 0 : t / (T - 1)
    betas[t] = betaStart * (1 - f) + betaEnd * f
  }
  return betas
}

/** ᾱ(u) = f(u) / f(0), f(u) = cos²(((u + s) / (1 + s)) π/2) for u in [0, 1]: eq. (17), arXiv:2102.09672. */
export const cosineAbar = (u: number, s: number): number => {
  const f = (v: number) => Math.cos(((v + s) / (1 + s)) * (Math.PI / 2)) ** 2
  return f(u) / f(0)
}

/**
 * β_t = min(1 - ᾱ((t+1)/T) / ᾱ(t/T), maxBeta), as in Improved DDPM (and diffusers' betas_for_alpha_bar).
 * The cap matters only at the last few steps, where ᾱ(1) = 0 would make β = 1 and x_T pure noise with
 * a singular posterior; before the cap, the running product of α telescopes to ᾱ((t+1)/T).
 */
export const cosineBetas = (T: number, s: number, maxBeta: number): Float64Array => {
  checkT(T)
  const betas = new Float64Array(T)
  for (let t = 0; t < T; t++) betas[t] = Math.min(1 - cosineAbar((t + 1) / T, s) / cosineAbar(t / T, s), maxBeta)
  return betas
}

/** Every derived quantity from the betas alone. */
export const scheduleFromBetas = (betas: Float64Array): Schedule => {
  const T = betas.length
  checkT(T)
  const alphas = new Float64Array(T)
  const abar = new Float64Array(T)
  const abarPrev = new Float64Array(T)
  const sqrtAbar = new Float64Array(T)
  const sqrtOneMinusAbar = new Float64Array(T)
  const posteriorVariance = new Float64Array(T)
  const posteriorMeanX0 = new Float64Array(T)
  const posteriorMeanXt = new Float64Array(T)
  let running = 1
  for (let t = 0; t < T; t++) {
    const beta = betas[t]!
    if (!(beta > 0 && beta < 1)) throw new RangeError(`beta[${t}] = ${beta}: every beta must lie in (0, 1)`)
    alphas[t] = 1 - beta
    abarPrev[t] = running
    running *= 1 - beta
    abar[t] = running
    sqrtAbar[t] = Math.sqrt(running)
    sqrtOneMinusAbar[t] = Math.sqrt(1 - running)
    const prev = abarPrev[t]!
    posteriorVariance[t] = ((1 - prev) / (1 - running)) * beta
    posteriorMeanX0[t] = (Math.sqrt(prev) * beta) / (1 - running)
    posteriorMeanXt[t] = (Math.sqrt(1 - beta) * (1 - prev)) / (1 - running)
  }
  return { T, betas, alphas, abar, abarPrev, sqrtAbar, sqrtOneMinusAbar, posteriorVariance, posteriorMeanX0, posteriorMeanXt }
}

export const makeSchedule = (config: ScheduleConfig): Schedule =>
  scheduleFromBetas(
    config.kind === "linear"
      ? linearBetas(config.T, config.betaStart, config.betaEnd)
      : cosineBetas(config.T, config.s, config.maxBeta),
  )

const checkT = (T: number): void => {
  if (!Number.isInteger(T) || T < 1) throw new RangeError(`T = ${T}: the number of diffusion steps must be a positive integer`)
}

/** ᾱ at a plan time: ᾱ_{-1} = 1 ("clean data") after the last step, as DDIM's set_alpha_to_one. */
export const abarAt = (schedule: Schedule, t: number): number => {
  if (t === -1) return 1
  if (!Number.isInteger(t) || t < 0 || t >= schedule.T) throw new RangeError(`t = ${t}: timesteps are -1 or integers in [0, ${schedule.T})`)
  return schedule.abar[t]!
}

// The one source of randomness in pipe: a small seeded generator, identical on every backend and
// platform (plain 32-bit integer arithmetic), so "same seed, same numbers" holds everywhere.
// Generator: SplitMix32-style seeding into xoshiro128** (Blackman & Vigna). Normals: Box-Muller.

const mix32 = (x: number): number => {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}

/** FNV-1a over a label, to derive independent streams: rng.fork("init"), rng.fork("noise"). */
const hashLabel = (label: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193)
  return h >>> 0
}

export class Rng {
  private s0: number
  private s1: number
  private s2: number
  private s3: number
  private spareNormal: number | null = null

  constructor(seed: number) {
    // Seeds may be any safe integer: fold the high bits in too.
    const lo = seed >>> 0
    const hi = Math.floor(seed / 0x100000000) >>> 0
    let x = mix32(lo ^ mix32(hi + 0x9e3779b9))
    this.s0 = x = mix32(x + 0x9e3779b9)
    this.s1 = x = mix32(x + 0x9e3779b9)
    this.s2 = x = mix32(x + 0x9e3779b9)
    this.s3 = mix32(x + 0x9e3779b9) | 1
  }

  /** An independent stream named by a label; the parent stream is not advanced. */
  fork(label: string): Rng {
    return new Rng((mix32(this.s0 ^ hashLabel(label)) ^ this.s2) >>> 0)
  }

  /** Uniform 32-bit unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0
    const t = this.s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextUint32() / 0x100000000
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n)
  }

  /** Standard normal (Box-Muller, both values used). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal
      this.spareNormal = null
      return v
    }
    const u1 = 1 - this.uniform() // (0, 1]: log is finite
    const u2 = this.uniform()
    const r = Math.sqrt(-2 * Math.log(u1))
    this.spareNormal = r * Math.sin(2 * Math.PI * u2)
    return r * Math.cos(2 * Math.PI * u2)
  }

  normals(n: number, std = 1): Float32Array {
    const out = new Float32Array(n)
    for (let i = 0; i < n; i++) out[i] = this.normal() * std
    return out
  }

  uniforms(n: number, low = 0, high = 1): Float32Array {
    const out = new Float32Array(n)
    for (let i = 0; i < n; i++) out[i] = low + (high - low) * this.uniform()
    return out
  }

  /** Fisher-Yates permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n)
    for (let i = 0; i < n; i++) p[i] = i
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const tmp = p[i]!
      p[i] = p[j]!
      p[j] = tmp
    }
    return p
  }
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0

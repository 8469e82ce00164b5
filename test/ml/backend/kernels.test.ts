// Every kernel pipe-native supplies, checked against tfjs `cpu` on random shapes (fast-check):
// relative error max|native - cpu| / max|cpu| <= 1e-4, forward and gradients, batch sizes 1..65,
// strides 1-2, paddings 0-2, odd channel counts (tails of every ISA's micro-kernel). Each case is
// computed once on cpu and then on pipe-native with every instruction set this CPU runs (avx512,
// avx2, portable on x86-64 with AVX-512), switching the addon's kernel table per call.
import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import { NATIVE_BACKEND, NATIVE_ISAS, nativeAddon, registerNativeBackend } from "../../../src/ml/backend/native.ts"
import { groupNorm, silu, upsampleNearest2x } from "../../../src/ml/nn/ops.ts"
import { dense } from "../../../src/ml/nn/dense.ts"
import { Rng } from "../../../src/ml/random.ts"
import * as K from "../../../src/ml/backend/kernel-names.ts"

const reg = registerNativeBackend()
if (!reg.ok) {
  // CI builds the addon and sets PIPE_REQUIRE_NATIVE=1: there a missing addon is a failure.
  if (process.env.PIPE_REQUIRE_NATIVE === "1") t.fail(`pipe-native unavailable: ${reg.reason}`)
  else t.pass(`skipped: pipe-native unavailable: ${reg.reason}`)
  process.exit(0)
}
const addon = nativeAddon()!
const defaultIsa = reg.isa.isa
/** Every ISA this build contains and this CPU executes. */
const ISAS = NATIVE_ISAS.filter((isa) => addon.chooseIsa(addon.cpuFeatures(), isa) === isa)
t.comment(`kernel ISAs under test: ${ISAS.join(", ")} (built: ${addon.isas.join(", ")})`)
/** Runs f with each ISA's kernels (restoring the default afterwards). */
const eachIsa = <T>(f: (isa: string) => T): T[] => {
  try {
    return ISAS.map((isa) => {
      if (!addon.setIsa(isa)) throw new Error(`setIsa(${isa}) refused`)
      return f(isa)
    })
  } finally {
    addon.setIsa(defaultIsa)
  }
}
await tf.setBackend("cpu")
// Every case runs once on cpu and once per ISA: ~30 s on a quiet 2-core machine, but well past tap's
// 300 s per-file timeout (package.json) when the machine is shared (measured: 470 s at load 34).
t.setTimeout(900_000)

/** Runs f on a backend; returns every output flattened (f builds its inputs from plain arrays). */
const on = (backend: string, f: () => tf.Tensor | tf.Tensor[]): Float32Array[] => {
  tf.setBackend(backend)
  const r = tf.tidy(() => {
    const o = f()
    return (Array.isArray(o) ? o : [o]).map((x) => x.dataSync().slice() as Float32Array)
  })
  tf.setBackend("cpu")
  return r
}
export const relErr = (a: Float32Array, b: Float32Array): number => {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY
  let d = 0, s = 0
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!))
    s = Math.max(s, Math.abs(b[i]!))
  }
  return s === 0 ? d : d / s
}
/** True when every ISA's outputs match cpu's; throws naming the ISA and output otherwise (fast-check reports it). */
const agree = (f: () => tf.Tensor | tf.Tensor[], tol = 1e-4): boolean => {
  const ref = on("cpu", f)
  eachIsa((isa) => {
    const got = on(NATIVE_BACKEND, f)
    if (got.length !== ref.length) throw new Error(`${isa}: ${got.length} outputs, cpu ${ref.length}`)
    ref.forEach((r, i) => {
      const e = relErr(got[i]!, r)
      if (!(e <= tol)) throw new Error(`${isa}: output ${i} relative error ${e} > ${tol}`)
    })
  })
  return true
}
const normals = (seed: number, n: number) => new Rng(seed).normals(n)

const convArb = fc.record({
  b: fc.integer({ min: 1, max: 65 }), h: fc.integer({ min: 1, max: 9 }), w: fc.integer({ min: 1, max: 9 }),
  cin: fc.integer({ min: 1, max: 20 }), cout: fc.integer({ min: 1, max: 40 }), k: fc.constantFrom(1, 2, 3),
  stride: fc.constantFrom(1, 2), pad: fc.constantFrom(0, 1, 2), seed: fc.nat(),
}).filter((c) => c.h + 2 * c.pad >= c.k && c.w + 2 * c.pad >= c.k && c.b * c.h * c.w <= 1200)

type ConvCase = typeof convArb extends fc.Arbitrary<infer C> ? C : never
const biasKindArb = fc.constantFrom("none" as const, "channel" as const, "sample" as const)

/** conv2d, fused conv2d (with the bias kind) and both gradients agree with cpu on every ISA. */
const convAgrees = (c: ConvCase, biasKind: "none" | "channel" | "sample"): boolean => {
  const xs = [c.b, c.h, c.w, c.cin] as [number, number, number, number]
  const ws = [c.k, c.k, c.cin, c.cout] as [number, number, number, number]
  const xv = normals(c.seed, c.b * c.h * c.w * c.cin), wv = normals(c.seed + 1, c.k * c.k * c.cin * c.cout)
  const bv = normals(c.seed + 2, biasKind === "sample" ? c.b * c.cout : c.cout)
  return agree(() => {
    const x = tf.tensor4d(xv, xs), w = tf.tensor4d(wv, ws)
    const bias = biasKind === "none" ? undefined : biasKind === "channel" ? tf.tensor1d(bv) : tf.tensor4d(bv, [c.b, 1, 1, c.cout])
    const f = (xx: tf.Tensor, ww: tf.Tensor) => {
      const y = tf.fused.conv2d({ x: xx as tf.Tensor4D, filter: ww as tf.Tensor4D, strides: c.stride, pad: c.pad, ...(bias === undefined ? {} : { bias }) })
      return y.mul(tf.sin(y)).sum() as tf.Scalar // non-trivial upstream gradient
    }
    const [gx, gw] = tf.grads(f)([x, w])
    return [tf.conv2d(x, w, c.stride, c.pad), tf.fused.conv2d({ x, filter: w, strides: c.stride, pad: c.pad, ...(bias === undefined ? {} : { bias }) }), gx!, gw!]
  })
}

t.test("Conv2D / FusedConv2D (bias [C] and [B,1,1,C]) and both gradients match cpu", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(convArb, biasKindArb, convAgrees), { numRuns: 25 }))
  t.end()
})

// The U-Net's edge shapes, which the random shapes above reach only rarely: few input channels
// (conv_in) and few output channels with cin a multiple of every ISA's vector width (conv_out: the
// direct convolution of native/gemm.cc).
t.test("conv_in- and conv_out-like shapes (the direct narrow convolution) and their gradients match cpu", (t) => {
  const arb = fc.record({
    b: fc.integer({ min: 1, max: 6 }), hw: fc.integer({ min: 1, max: 9 }), k: fc.constantFrom(1, 2, 3),
    stride: fc.constantFrom(1, 2), pad: fc.constantFrom(0, 1, 2), seed: fc.nat(),
    shape: fc.oneof(
      fc.record({ cin: fc.integer({ min: 1, max: 3 }), cout: fc.integer({ min: 8, max: 40 }) }), // conv_in
      fc.record({ cin: fc.constantFrom(16, 32, 48), cout: fc.integer({ min: 1, max: 7 }) }), // conv_out
    ),
  }).filter((c) => c.hw + 2 * c.pad >= c.k)
  const asCase = ({ hw, shape, ...c }: typeof arb extends fc.Arbitrary<infer C> ? C : never): ConvCase => ({ ...c, h: hw, w: hw, ...shape })
  t.doesNotThrow(() => fc.assert(fc.property(arb, biasKindArb, (c, biasKind) => convAgrees(asCase(c), biasKind)), { numRuns: 40 }))
  t.end()
})

t.test("'same' padding with stride 2 (asymmetric pads) matches cpu", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 10 }), fc.nat(), (b, hw, seed) => {
    const xv = normals(seed, b * hw * hw * 3), wv = normals(seed + 1, 9 * 3 * 5)
    return agree(() => {
      const x = tf.tensor4d(xv, [b, hw, hw, 3]), w = tf.tensor4d(wv, [3, 3, 3, 5])
      const [gx, gw] = tf.grads((xx: tf.Tensor, ww: tf.Tensor) => tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 2, "same").square().sum() as tf.Scalar)([x, w])
      return [tf.conv2d(x, w, 2, "same"), gx!, gw!]
    })
  }), { numRuns: 15 }))
  t.end()
})

t.test("MatMul / BatchMatMul / _FusedMatMul with transposes, batches and bias match cpu", (t) => {
  const arb = fc.record({
    batch: fc.integer({ min: 1, max: 3 }), m: fc.integer({ min: 1, max: 70 }), n: fc.integer({ min: 1, max: 70 }),
    k: fc.integer({ min: 1, max: 300 }), ta: fc.boolean(), tb: fc.boolean(), seed: fc.nat(), bcast: fc.boolean(),
  })
  t.doesNotThrow(() => fc.assert(fc.property(arb, (c) => {
    const av = normals(c.seed, c.batch * c.m * c.k), bv = normals(c.seed + 1, c.batch * c.k * c.n), biasv = normals(c.seed + 2, c.n)
    return agree(() => {
      const a2 = tf.tensor2d(av.subarray(0, c.m * c.k), c.ta ? [c.k, c.m] : [c.m, c.k])
      const b2 = tf.tensor2d(bv.subarray(0, c.k * c.n), c.tb ? [c.n, c.k] : [c.k, c.n])
      const a3 = tf.tensor3d(av, c.ta ? [c.batch, c.k, c.m] : [c.batch, c.m, c.k])
      const b3 = c.bcast ? tf.tensor3d(bv.subarray(0, c.k * c.n), c.tb ? [1, c.n, c.k] : [1, c.k, c.n]) : tf.tensor3d(bv, c.tb ? [c.batch, c.n, c.k] : [c.batch, c.k, c.n])
      const fused = tf.fused.matMul({ a: a2, b: b2, transposeA: c.ta, transposeB: c.tb, bias: tf.tensor1d(biasv) })
      const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.fused.matMul({ a: x as tf.Tensor2D, b: y as tf.Tensor2D, transposeA: c.ta, transposeB: c.tb, bias: tf.tensor1d(biasv) }).square().sum() as tf.Scalar)([a2, b2])
      return [tf.matMul(a2, b2, c.ta, c.tb), tf.matMul(a3, b3, c.ta, c.tb), fused, ga!, gb!]
    })
  }), { numRuns: 25 }))
  t.end()
})

t.test("fused GroupNorm(+SiLU), SiLU and nearest x2 upsampling: values and gradients match the plain-tfjs path", (t) => {
  const arb = fc.record({
    b: fc.integer({ min: 1, max: 65 }), hw: fc.integer({ min: 1, max: 6 }), g: fc.integer({ min: 1, max: 4 }),
    cg: fc.integer({ min: 1, max: 9 }), fuse: fc.boolean(), seed: fc.nat(), scale: fc.constantFrom(0.1, 1, 30),
  }).filter((c) => c.hw * c.hw * c.cg >= 8) // tinier groups make dx pure cancellation noise (it is ~0 for 2 elements)
  t.doesNotThrow(() => fc.assert(fc.property(arb, (c) => {
    const ch = c.g * c.cg
    const n = c.b * c.hw * c.hw * ch
    const xv = normals(c.seed, n).map((v) => v * c.scale + 2), gv = normals(c.seed + 1, ch), bv = normals(c.seed + 2, ch)
    const dyv = normals(c.seed + 3, 4 * n)
    // The cpu run takes the plain-tfjs path (no fused kernel registered there): this compares the two.
    return agree(() => {
      const x = tf.tensor4d(xv, [c.b, c.hw, c.hw, ch]), gamma = tf.tensor1d(gv), beta = tf.tensor1d(bv)
      const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
        groupNorm(xx as tf.Tensor4D, gg as tf.Tensor1D, bb as tf.Tensor1D, { groups: c.g, silu: c.fuse }).mul(tf.tensor4d(dyv.subarray(0, n), x.shape)).sum() as tf.Scalar
      const gs = tf.grads(f)([x, gamma, beta])
      const up = (xx: tf.Tensor) => upsampleNearest2x(xx as tf.Tensor4D).mul(tf.tensor4d(dyv, [c.b, 2 * c.hw, 2 * c.hw, ch])).sum() as tf.Scalar
      const sl = (xx: tf.Tensor) => silu(xx).mul(tf.tensor4d(dyv.subarray(0, n), x.shape)).sum() as tf.Scalar
      return [groupNorm(x, gamma, beta, { groups: c.g, silu: c.fuse }), ...gs, upsampleNearest2x(x), tf.grad(up)(x), silu(x), tf.grad(sl)(x)]
    }, 1e-4)
  }), { numRuns: 25 }))
  t.end()
})

t.test("Sum over contiguous axes, broadcasting Add/Sub/Mul, Concat, SplitV and Slice match cpu", (t) => {
  const arb = fc.record({ b: fc.integer({ min: 1, max: 65 }), h: fc.integer({ min: 1, max: 8 }), c1: fc.integer({ min: 1, max: 40 }), c2: fc.integer({ min: 1, max: 40 }), seed: fc.nat() })
  t.doesNotThrow(() => fc.assert(fc.property(arb, (c) => {
    const n1 = c.b * c.h * c.h * c.c1
    const av = normals(c.seed, n1), bv = normals(c.seed + 1, c.b * c.h * c.h * c.c2), rv = normals(c.seed + 2, c.c1)
    return agree(() => {
      const a = tf.tensor4d(av, [c.b, c.h, c.h, c.c1]), b = tf.tensor4d(bv, [c.b, c.h, c.h, c.c2]), r = tf.tensor1d(rv)
      const cat = tf.concat([a, b], 3)
      const [s1, s2] = tf.split(cat, [c.c1, c.c2], 3)
      return [
        a.sum([0, 1, 2]), a.sum([1, 2], true), a.sum(3), a.add(r), r.add(a), a.sub(r), a.mul(r), a.add(a), a.mul(a),
        cat, s1!, s2!, cat.slice([0, 0, 0, 1], [-1, -1, -1, c.c1]), a.slice([0, 0, 0, 0], [Math.max(1, c.b - 1), -1, -1, -1]),
      ]
    }, 1e-5)
  }), { numRuns: 25 }))
  t.end()
})

t.test("RealDiv and ClipByValue (a DDIM step's x̂0 and its clamp) equal cpu to the bit", (t) => {
  // Divisors scalar, channel-wise and same-shape; clamp bounds that cut inside the data.
  const divClipAgrees = (shape: [number, number, number, number], seed: number, lo: number, span: number): boolean => {
    const n = shape.reduce((p, q) => p * q, 1)
    const av = normals(seed, n), bv = normals(seed + 1, n), rv = normals(seed + 2, shape[3])
    return agree(() => {
      const a = tf.tensor4d(av, shape), b = tf.tensor4d(bv, shape), r = tf.tensor1d(rv)
      return [a.div(b), a.div(r), a.div(tf.scalar(0.7)), a.div(Math.sqrt(0.3)), a.clipByValue(lo, lo + span), a.mul(3).clipByValue(-1, 1)]
    }, 0)
  }
  const arb = fc.record({ b: fc.integer({ min: 1, max: 40 }), hw: fc.constantFrom(3, 28, 45), c: fc.integer({ min: 1, max: 5 }), lo: fc.double({ min: -2, max: 0, noNaN: true }), span: fc.double({ min: 0, max: 3, noNaN: true }), seed: fc.nat() })
  t.doesNotThrow(() => fc.assert(fc.property(arb, (c) => divClipAgrees([c.b, c.hw, c.hw, c.c], c.seed, c.lo, c.span)), { numRuns: 20 }))
  // Past the kernels' threading threshold (262,144 floats: native/gemm.cc's THREADS_MIN_ELEMS),
  // which the random sizes above reach only sometimes.
  t.doesNotThrow(() => divClipAgrees([3, 100, 100, 10], 7, -0.5, 1.25), "300,000 floats, both threads")
  // NaN and infinities pass through as in cpu (x > hi and x < lo are both false for NaN).
  const special = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0, 1, -1, 2]
  const want = on("cpu", () => tf.tensor1d(special).clipByValue(-1, 1))[0]!
  t.same([...want].map(String), ["NaN", "1", "-1", "0", "0", "1", "-1", "1"], "cpu")
  eachIsa((isa) => t.same([...on(NATIVE_BACKEND, () => tf.tensor1d(special).clipByValue(-1, 1))[0]!].map(String), [...want].map(String), isa))
  t.end()
})

t.test("fused dense layer (+SiLU), its gradients, and Sin / Cos match the plain-tfjs path", (t) => {
  const arb = fc.record({ m: fc.integer({ min: 1, max: 300 }), k: fc.integer({ min: 1, max: 90 }), n: fc.integer({ min: 1, max: 70 }), act: fc.boolean(), seed: fc.nat() })
  t.doesNotThrow(() => fc.assert(fc.property(arb, (c) => {
    const xv = normals(c.seed, c.m * c.k), wv = normals(c.seed + 1, c.k * c.n), bv = normals(c.seed + 2, c.n), dyv = normals(c.seed + 3, c.m * c.n)
    // The cpu run takes ops.ts's fallback (tf.fused.matMul, then silu): this compares the two.
    return agree(() => {
      const x = tf.tensor2d(xv, [c.m, c.k]), w = tf.tensor2d(wv, [c.k, c.n]), b = tf.tensor1d(bv), dy = tf.tensor2d(dyv, [c.m, c.n])
      const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => dense(xx as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D, { silu: c.act }).mul(dy).sum() as tf.Scalar
      const arg = x.mul(3)
      return [dense(x, w, b, { silu: c.act }), ...tf.grads(f)([x, w, b]), tf.sin(arg), tf.cos(arg), tf.grad((a: tf.Tensor) => tf.sin(a).mul(dy.slice([0, 0], [c.m, 1]).reshape([c.m, 1])).sum() as tf.Scalar)(x)]
    })
  }), { numRuns: 25 }))
  t.end()
})

t.test("2x2 MaxPool, Equal and bool -> float32 Cast (the judge's pooling and its gradient mask) match cpu", (t) => {
  const arb = fc.record({ b: fc.integer({ min: 1, max: 9 }), h: fc.integer({ min: 1, max: 9 }), w: fc.integer({ min: 1, max: 9 }), c: fc.integer({ min: 1, max: 40 }), seed: fc.nat() })
  t.doesNotThrow(() => fc.assert(fc.property(arb, (c) => {
    const xv = normals(c.seed, c.b * c.h * c.w * c.c)
    // quantised copies make exact ties (Equal's true case) frequent
    const qv = xv.map((v) => Math.round(v * 2) / 2)
    return agree(() => {
      const x = tf.tensor4d(xv, [c.b, c.h, c.w, c.c]), q = tf.tensor4d(qv, [c.b, c.h, c.w, c.c])
      const eq = tf.equal(q, q.round())
      return [
        tf.maxPool(x, 2, 2, "valid"), tf.maxPool(x, 3, 1, "same"), tf.maxPool(x, 2, 2, "same"),
        eq.cast("float32"), eq.cast("float32").mul(x), tf.equal(x, x.mul(1)).cast("float32"), tf.equal(q, q.reverse(3)).cast("int32"),
      ]
    }, 0)
  }), { numRuns: 40 }))
  t.end()
})

t.test("multi-threaded reductions are reproducible to the bit (filter gradient, GroupNorm gradient)", (t) => {
  // Big enough that both kernels split the work across threads; with a dynamic schedule the float
  // summation order (and the bits) depended on thread timing, so trained weights differed run to run.
  const [b, h, cin, cout] = [32, 28, 8, 32]
  const xv = normals(1, b * h * h * cin), dyv = normals(2, b * h * h * cout)
  const grads = (): Uint8Array[] => {
    tf.setBackend(NATIVE_BACKEND)
    const r = tf.tidy(() => {
      const x = tf.tensor4d(xv, [b, h, h, cin]), dy = tf.tensor4d(dyv, [b, h, h, cout])
      const w = tf.variable(tf.zeros([3, 3, cin, cout]))
      const g1 = tf.grad((wt: tf.Tensor) => tf.conv2d(x, wt as tf.Tensor4D, 1, "same").mul(dy).sum() as tf.Scalar)(w)
      const gamma = tf.ones([cout]), beta = tf.zeros([cout])
      const g2 = tf.grads((gm: tf.Tensor, bt: tf.Tensor) => groupNorm(dy, gm as tf.Tensor1D, bt as tf.Tensor1D, { groups: 8 }).mul(dy).sum() as tf.Scalar)([gamma, beta])
      w.dispose()
      return [g1, ...g2].map((g) => new Uint8Array(g.dataSync().slice().buffer))
    })
    tf.setBackend("cpu")
    return r
  }
  eachIsa((isa) => {
    const first = grads()
    for (let i = 0; i < 4; i++) t.same(grads(), first, `${isa}, repeat ${i + 1}: identical bytes`)
  })
  t.end()
})

t.test("PipeAdamUpdate equals the plain-tfjs Adam formula", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 50 }), fc.nat(), (n, step, seed) => {
    const r = new Rng(seed)
    const p = r.normals(n), m = r.normals(n, 0.1), v = r.uniforms(n, 0, 0.01), g = r.normals(n)
    const o = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, c1: 1 - 0.9 ** step, c2: 1 - 0.999 ** step }
    const m1 = m.map((mi, i) => 0.9 * mi + 0.1 * g[i]!), v1 = v.map((vi, i) => 0.999 * vi + 0.001 * g[i]! ** 2)
    const p1 = p.map((pi, i) => pi - (1e-3 * (m1[i]! / o.c1)) / (Math.sqrt(v1[i]! / o.c2) + 1e-8))
    return eachIsa(() => {
      tf.setBackend(NATIVE_BACKEND)
      const outs = tf.engine().runKernel(K.ADAM_UPDATE, { p: tf.tensor1d(p), m: tf.tensor1d(m), v: tf.tensor1d(v), g: tf.tensor1d(g) }, o as unknown as tf.NamedAttrMap) as tf.Tensor[]
      const got = outs.map((x) => x.dataSync() as Float32Array)
      tf.setBackend("cpu")
      return relErr(got[0]!, p1) <= 1e-4 && relErr(got[1]!, m1) <= 1e-4 && relErr(got[2]!, v1) <= 1e-4
    }).every((ok) => ok)
  }), { numRuns: 20 }))
  t.end()
})

t.test("recycled output buffers never alias data a caller has read", (t) => {
  tf.setBackend(NATIVE_BACKEND)
  const x = tf.tensor4d(normals(1, 2 * 16 * 16 * 32), [2, 16, 16, 32])
  const w1 = tf.tensor4d(normals(2, 9 * 32 * 32), [3, 3, 32, 32]), w2 = tf.tensor4d(normals(3, 9 * 32 * 32), [3, 3, 32, 32])
  const y1 = tf.conv2d(x, w1, 1, 1)
  const seen = y1.dataSync()
  const before = seen.slice()
  y1.dispose() // its buffer goes back to the pool ...
  const y2 = tf.conv2d(x, w2, 1, 1) // ... and is reused here
  t.ok(seen.every((v, i) => v === before[i]), "the array dataSync returned is unchanged")
  t.ok(y2.dataSync().some((v, i) => v !== before[i]), "the new result differs")
  tf.dispose([x, w1, w2, y2])
  tf.setBackend("cpu")
  t.end()
})

t.test("trainStep on pipe-native (fused Adam, recycled buffers) leaks no tensors and matches cpu", async (t) => {
  const { Adam, trainStep } = await import("../../../src/ml/nn/optim.ts")
  const { createLatentMlp } = await import("../../../src/ml/nn/mlp.ts")
  const { disposeModel } = await import("../../../src/ml/nn/model.ts")
  const run = (backend: string): { losses: number[]; leak: number } => {
    tf.setBackend(backend)
    const model = createLatentMlp({ inDim: 4, timeEmbedDim: 8, hidden: [64, 64] }, 3)
    const rng = new Rng(4)
    const x = tf.tensor2d(rng.normals(300 * 4), [300, 4]), eps = tf.tensor2d(rng.normals(300 * 4), [300, 4])
    const ts = tf.tensor1d(rng.uniforms(300, 0, 1000))
    const opt = new Adam({ lr: 1e-3 })
    const lossFn = (m: typeof model) => tf.losses.meanSquaredError(eps, m.apply(x, ts)) as tf.Scalar
    const losses = [trainStep(model, lossFn, opt, { clipNorm: 1 }).loss]
    const n0 = tf.memory().numTensors
    for (let i = 0; i < 10; i++) losses.push(trainStep(model, lossFn, opt, { clipNorm: 1 }).loss)
    const leak = tf.memory().numTensors - n0
    opt.dispose()
    disposeModel(model)
    tf.dispose([x, eps, ts])
    tf.setBackend("cpu")
    return { losses, leak }
  }
  const b = run("cpu")
  eachIsa((isa) => {
    const a = run(NATIVE_BACKEND)
    t.equal(a.leak, 0, `${isa}: numTensors stable across steps`)
    t.ok(a.losses.every((l, i) => Math.abs(l - b.losses[i]!) <= 1e-4 * Math.abs(b.losses[i]!)), `${isa}: losses ${a.losses.at(-1)} vs ${b.losses.at(-1)}`)
  })
})

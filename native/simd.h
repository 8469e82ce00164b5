// One float vector type per instruction set, so the kernels are written once and compiled once per
// ISA. scripts/build-native.mjs compiles every kernel source several times, each with one of
// -DPIPE_ISA_AVX512 (-mavx512f -mfma), -DPIPE_ISA_AVX2 (-mavx2 -mfma), -DPIPE_ISA_NEON (arm64) or
// -DPIPE_ISA_PORTABLE (no ISA flags: GCC/clang vector extensions that the compiler lowers to the
// architecture's baseline SIMD, SSE2 on x86-64 and NEON on arm64, or to scalars elsewhere).
//
// Everything a kernel source defines lives in namespace pipe::PIPE_ISA (pipe::avx2, ...), and the
// sources use no C++ library templates (std::vector, std::min, ...): an inline function or template
// instantiated in two copies compiled with different flags would be one weak symbol, and the linker
// keeps one of the two, so portable code could end up calling an AVX-512 copy (SIGILL on a CPU
// without it). The build checks the objects for such symbols (see build-native.mjs, isaObjectLeaks).
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(PIPE_ISA_AVX512)
#define PIPE_ISA avx512
#include <immintrin.h>
#elif defined(PIPE_ISA_AVX2)
#define PIPE_ISA avx2
#include <immintrin.h>
#elif defined(PIPE_ISA_NEON)
#define PIPE_ISA neon
#include <arm_neon.h>
#elif defined(PIPE_ISA_PORTABLE)
#define PIPE_ISA portable
#else
#error "compile with one of -DPIPE_ISA_AVX512, -DPIPE_ISA_AVX2, -DPIPE_ISA_NEON, -DPIPE_ISA_PORTABLE"
#endif

#define PIPE_INLINE inline __attribute__((always_inline))

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pipe {
namespace PIPE_ISA {

// F: W floats per vector V; M: a "first n lanes" mask for row tails (loads read nothing past it).
// MR x NV vectors is the GEMM micro-tile, sized to the register file (accumulators + NV B vectors
// + one broadcast A value must fit).
#if defined(PIPE_ISA_AVX512)
struct F {
  using V = __m512;
  using M = __mmask16;
  static constexpr int W = 16, MR = 12, NV = 2;  // 24 of 32 zmm accumulate
  static PIPE_INLINE V zero() { return _mm512_setzero_ps(); }
  static PIPE_INLINE V set1(float x) { return _mm512_set1_ps(x); }
  static PIPE_INLINE V load(const float* p) { return _mm512_loadu_ps(p); }
  static PIPE_INLINE void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static PIPE_INLINE M mask(int64_t n) { return n >= 16 ? (M)0xFFFF : n <= 0 ? (M)0 : (M)((1u << n) - 1u); }
  static PIPE_INLINE V load(const float* p, M m) { return _mm512_maskz_loadu_ps(m, p); }
  static PIPE_INLINE void store(float* p, V v, M m) { _mm512_mask_storeu_ps(p, m, v); }
  static PIPE_INLINE V add(V a, V b) { return _mm512_add_ps(a, b); }
  static PIPE_INLINE V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static PIPE_INLINE V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static PIPE_INLINE V div(V a, V b) { return _mm512_div_ps(a, b); }
  static PIPE_INLINE V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }  // a * b + c
  static PIPE_INLINE V min(V a, V b) { return _mm512_min_ps(a, b); }
  static PIPE_INLINE V max(V a, V b) { return _mm512_max_ps(a, b); }
  static PIPE_INLINE float sum(V v) { return _mm512_reduce_add_ps(v); }
  static PIPE_INLINE V round(V v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static PIPE_INLINE V scale2(V p, V n) { return _mm512_scalef_ps(p, n); }  // p * 2^n, n integral
};
#elif defined(PIPE_ISA_AVX2)
alignas(64) static const int32_t kTailMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
struct F {
  using V = __m256;
  // The lane mask plus whether it is full: vmaskmovps is slow on AMD CPUs (the masked store is
  // microcoded; GroupNorm ran 2.5x slower than AVX-512), so full vectors take plain loads/stores.
  struct M {
    __m256i v;
    bool full;
  };
  static constexpr int W = 8, MR = 6, NV = 2;  // 12 of 16 ymm accumulate
  static PIPE_INLINE V zero() { return _mm256_setzero_ps(); }
  static PIPE_INLINE V set1(float x) { return _mm256_set1_ps(x); }
  static PIPE_INLINE V load(const float* p) { return _mm256_loadu_ps(p); }
  static PIPE_INLINE void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static PIPE_INLINE M mask(int64_t n) {
    const int k = n >= 8 ? 8 : n <= 0 ? 0 : (int)n;
    return M{_mm256_loadu_si256((const __m256i*)(kTailMask + 8 - k)), k == 8};
  }
  static PIPE_INLINE V load(const float* p, M m) { return m.full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, m.v); }
  static PIPE_INLINE void store(float* p, V v, M m) {
    if (m.full) {
      _mm256_storeu_ps(p, v);
    } else {
      _mm256_maskstore_ps(p, m.v, v);
    }
  }
  static PIPE_INLINE V add(V a, V b) { return _mm256_add_ps(a, b); }
  static PIPE_INLINE V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static PIPE_INLINE V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static PIPE_INLINE V div(V a, V b) { return _mm256_div_ps(a, b); }
  static PIPE_INLINE V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static PIPE_INLINE V min(V a, V b) { return _mm256_min_ps(a, b); }
  static PIPE_INLINE V max(V a, V b) { return _mm256_max_ps(a, b); }
  static PIPE_INLINE float sum(V v) {
    const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(t, _mm_shuffle_ps(t, t, 1)));
  }
  static PIPE_INLINE V round(V v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static PIPE_INLINE V scale2(V p, V n) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
  }
};
#elif defined(PIPE_ISA_NEON)
struct F {
  using V = float32x4_t;
  struct M {
    int n;
  };
  static constexpr int W = 4, MR = 8, NV = 3;  // 24 of 32 q registers accumulate
  static PIPE_INLINE V zero() { return vdupq_n_f32(0.0f); }
  static PIPE_INLINE V set1(float x) { return vdupq_n_f32(x); }
  static PIPE_INLINE V load(const float* p) { return vld1q_f32(p); }
  static PIPE_INLINE void store(float* p, V v) { vst1q_f32(p, v); }
  static PIPE_INLINE M mask(int64_t n) { return M{n >= 4 ? 4 : n <= 0 ? 0 : (int)n}; }
  static PIPE_INLINE V load(const float* p, M m) {
    if (m.n == 4) return vld1q_f32(p);
    float t[4] = {0, 0, 0, 0};
    for (int i = 0; i < m.n; i++) t[i] = p[i];
    return vld1q_f32(t);
  }
  static PIPE_INLINE void store(float* p, V v, M m) {
    if (m.n == 4) return vst1q_f32(p, v);
    float t[4];
    vst1q_f32(t, v);
    for (int i = 0; i < m.n; i++) p[i] = t[i];
  }
  static PIPE_INLINE V add(V a, V b) { return vaddq_f32(a, b); }
  static PIPE_INLINE V sub(V a, V b) { return vsubq_f32(a, b); }
  static PIPE_INLINE V mul(V a, V b) { return vmulq_f32(a, b); }
  static PIPE_INLINE V div(V a, V b) { return vdivq_f32(a, b); }
  static PIPE_INLINE V fma(V a, V b, V c) { return vfmaq_f32(c, a, b); }
  static PIPE_INLINE V min(V a, V b) { return vminq_f32(a, b); }
  static PIPE_INLINE V max(V a, V b) { return vmaxq_f32(a, b); }
  static PIPE_INLINE float sum(V v) { return vaddvq_f32(v); }
  static PIPE_INLINE V round(V v) { return vrndnq_f32(v); }
  static PIPE_INLINE V scale2(V p, V n) {
    const int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23);
    return vmulq_f32(p, vreinterpretq_f32_s32(e));
  }
};
#else  // PIPE_ISA_PORTABLE
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
struct F {
  using V = v4f;
  struct M {
    int n;
  };
  static constexpr int W = 4, MR = 6, NV = 2;  // 12 accumulators: fits SSE2's 16 xmm registers
  static PIPE_INLINE V zero() { return V{0, 0, 0, 0}; }
  static PIPE_INLINE V set1(float x) { return V{x, x, x, x}; }
  static PIPE_INLINE V load(const float* p) {
    V v;
    memcpy(&v, p, sizeof v);
    return v;
  }
  static PIPE_INLINE void store(float* p, V v) { memcpy(p, &v, sizeof v); }
  static PIPE_INLINE M mask(int64_t n) { return M{n >= 4 ? 4 : n <= 0 ? 0 : (int)n}; }
  static PIPE_INLINE V load(const float* p, M m) {
    if (m.n == 4) return load(p);
    V v = zero();
    for (int i = 0; i < m.n; i++) v[i] = p[i];
    return v;
  }
  static PIPE_INLINE void store(float* p, V v, M m) {
    if (m.n == 4) return store(p, v);
    for (int i = 0; i < m.n; i++) p[i] = v[i];
  }
  static PIPE_INLINE V add(V a, V b) { return a + b; }
  static PIPE_INLINE V sub(V a, V b) { return a - b; }
  static PIPE_INLINE V mul(V a, V b) { return a * b; }
  static PIPE_INLINE V div(V a, V b) { return a / b; }
  static PIPE_INLINE V fma(V a, V b, V c) { return a * b + c; }
  static PIPE_INLINE V min(V a, V b) {
    V r;
    for (int i = 0; i < 4; i++) r[i] = a[i] < b[i] ? a[i] : b[i];
    return r;
  }
  static PIPE_INLINE V max(V a, V b) {
    V r;
    for (int i = 0; i < 4; i++) r[i] = a[i] > b[i] ? a[i] : b[i];
    return r;
  }
  static PIPE_INLINE float sum(V v) { return (v[0] + v[1]) + (v[2] + v[3]); }
  // floor(v + 0.5) for |v| < 128 (all exp() needs): shift to positive, truncate, shift back.
  static PIPE_INLINE V round(V v) {
    return __builtin_convertvector(__builtin_convertvector(v + 128.5f, v4i) - 128, v4f);
  }
  static PIPE_INLINE V scale2(V p, V n) {
    const v4i e = (__builtin_convertvector(n, v4i) + 127) << 23;
    V s;
    memcpy(&s, &e, sizeof s);
    return p * s;
  }
};
#endif

// ---- shared helpers (namespaced per ISA like everything else) -------------------------------------
// Builds without OpenMP (Apple clang without libomp) ignore the pragmas and run on one thread.
// Code that splits work by hand uses team_size(), never the requested count: without OpenMP (or
// when the runtime grants fewer threads) one thread must do all of it.
PIPE_INLINE int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}
PIPE_INLINE int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

template <class T>
PIPE_INLINE T min_of(T a, T b) { return b < a ? b : a; }
template <class T>
PIPE_INLINE T max_of(T a, T b) { return a < b ? b : a; }

// exp(x) for W floats: 2^(x log2 e) = 2^n * 2^f, f in [-0.5, 0.5], degree-6 Taylor polynomial of
// e^(f ln 2) (relative error ~2e-7). x is clamped to [-87, 88] so that 2^n stays a normal float
// on every ISA (sigmoid and SiLU saturate long before that).
PIPE_INLINE F::V exp_v(F::V x) {
  x = F::max(F::min(x, F::set1(88.0f)), F::set1(-87.0f));
  const F::V t = F::mul(x, F::set1(1.44269504088896341f));
  const F::V n = F::round(t);
  const F::V y = F::mul(F::sub(t, n), F::set1(0.693147180559945309f));
  F::V p = F::set1(1.0f / 720.0f);
  p = F::fma(p, y, F::set1(1.0f / 120.0f));
  p = F::fma(p, y, F::set1(1.0f / 24.0f));
  p = F::fma(p, y, F::set1(1.0f / 6.0f));
  p = F::fma(p, y, F::set1(0.5f));
  p = F::fma(p, y, F::set1(1.0f));
  p = F::fma(p, y, F::set1(1.0f));
  return F::scale2(p, n);
}

PIPE_INLINE F::V sigmoid_v(F::V x) {
  const F::V one = F::set1(1.0f);
  return F::div(one, F::add(one, exp_v(F::sub(F::zero(), x))));
}

// d/dz silu(z) = s (1 + z (1 - s)), s = sigmoid(z)
PIPE_INLINE F::V silu_slope_v(F::V z) {
  const F::V s = sigmoid_v(z), one = F::set1(1.0f);
  return F::mul(s, F::fma(z, F::sub(one, s), one));
}

// A heap array (malloc: nothing from the C++ library, see the top of this file). Zeroed when asked.
template <class T>
struct Buf {
  T* p = nullptr;
  int64_t n = 0;
  Buf() = default;
  explicit Buf(int64_t count, bool zeroed = false) { reset(count, zeroed); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf() { free(p); }
  void reset(int64_t count, bool zeroed = false) {
    if (count > n) {
      free(p);
      p = (T*)malloc(sizeof(T) * (size_t)(count > 0 ? count : 1));
      if (p == nullptr) abort();  // out of memory: nothing sensible to return to JavaScript
      n = count;
    }
    if (zeroed && count > 0) memset(p, 0, sizeof(T) * (size_t)count);
  }
  T* data() { return p; }
  const T* data() const { return p; }
  T& operator[](int64_t i) { return p[i]; }
  const T& operator[](int64_t i) const { return p[i]; }
};

}  // namespace PIPE_ISA
}  // namespace pipe

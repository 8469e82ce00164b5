// Fused elementwise / normalisation kernels for pipe-native (NHWC, float32).
// GroupNorm: Wu & He, arXiv:1803.08494. SiLU: Elfwing et al., arXiv:1702.03118.
// Adam: Kingma & Ba, arXiv:1412.6980, Algorithm 1 with torch.optim.Adam's eps placement.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"

namespace pipe {

namespace {

// exp(x) for 16 floats: 2^(x log2 e) = 2^n * 2^f, f in [-0.5, 0.5], degree-6 polynomial for 2^f
// (relative error ~2e-7), scaled with vscalefps (handles overflow to inf and underflow to 0).
inline __m512 exp16(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.0f)), _mm512_set1_ps(-100.0f));
  const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f));
  const __m512 n = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(t, n);
  // 2^f = e^(f ln2): Taylor coefficients of e^(y), y = f ln 2
  const __m512 y = _mm512_mul_ps(f, _mm512_set1_ps(0.693147180559945309f));
  __m512 p = _mm512_set1_ps(1.0f / 720.0f);
  p = _mm512_fmadd_ps(p, y, _mm512_set1_ps(1.0f / 120.0f));
  p = _mm512_fmadd_ps(p, y, _mm512_set1_ps(1.0f / 24.0f));
  p = _mm512_fmadd_ps(p, y, _mm512_set1_ps(1.0f / 6.0f));
  p = _mm512_fmadd_ps(p, y, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, y, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, y, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

inline __m512 sigmoid16(__m512 x) {
  const __m512 one = _mm512_set1_ps(1.0f);
  return _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

inline __mmask16 tail_mask(int64_t rem) { return rem >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << rem) - 1u); }

inline float sigmoid1(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

void silu(const float* x, float* y, int64_t n) {
  const int nt = n < 65536 ? 1 : get_threads();
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(v, sigmoid16(v)));
  }
}

void silu_grad(const float* dy, const float* x, float* dx, int64_t n) {
  const int nt = n < 65536 ? 1 : get_threads();
  const __m512 one = _mm512_set1_ps(1.0f);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = tail_mask(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    const __m512 s = sigmoid16(v);
    // d/dx x s(x) = s (1 + x (1 - s))
    const __m512 g = _mm512_mul_ps(s, _mm512_fmadd_ps(v, _mm512_sub_ps(one, s), one));
    _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(g, _mm512_maskz_loadu_ps(m, dy + i)));
  }
}

// Per (sample, group) mean and 1/std. Two passes (mean, then centred squares) in double for the
// group sums, so large-mean activations keep full float precision.
static void gn_stats(const float* xb, int hw, int c, int g, float eps, double* sum_c, double* mean, float* rstd) {
  const int cg = c / g;
  std::fill(sum_c, sum_c + c, 0.0);
  std::vector<float> acc(c);
  // per-channel sums in float blocks of 64 pixels, folded into double
  for (int p0 = 0; p0 < hw; p0 += 64) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    const int p1 = std::min(hw, p0 + 64);
    for (int p = p0; p < p1; p++) {
      const float* xr = xb + (int64_t)p * c;
#pragma omp simd
      for (int ci = 0; ci < c; ci++) acc[ci] += xr[ci];
    }
    for (int ci = 0; ci < c; ci++) sum_c[ci] += acc[ci];
  }
  for (int gi = 0; gi < g; gi++) {
    double s = 0;
    for (int j = 0; j < cg; j++) s += sum_c[gi * cg + j];
    mean[gi] = s / ((double)hw * cg);
  }
  std::vector<float> meanc(c);
  for (int ci = 0; ci < c; ci++) meanc[ci] = (float)mean[ci / cg];
  std::fill(sum_c, sum_c + c, 0.0);
  for (int p0 = 0; p0 < hw; p0 += 64) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    const int p1 = std::min(hw, p0 + 64);
    for (int p = p0; p < p1; p++) {
      const float* xr = xb + (int64_t)p * c;
#pragma omp simd
      for (int ci = 0; ci < c; ci++) {
        const float d = xr[ci] - meanc[ci];
        acc[ci] += d * d;
      }
    }
    for (int ci = 0; ci < c; ci++) sum_c[ci] += acc[ci];
  }
  for (int gi = 0; gi < g; gi++) {
    double s = 0;
    for (int j = 0; j < cg; j++) s += sum_c[gi * cg + j];
    rstd[gi] = (float)(1.0 / std::sqrt(s / ((double)hw * cg) + eps));
  }
}

void group_norm(const float* x, const float* gamma, const float* beta, float* y, int b, int hw, int c, int g,
                float eps, bool silu_after) {
  const int cg = c / g;
#pragma omp parallel num_threads(std::min(b, get_threads()))
  {
    std::vector<double> sum_c(c), mean(g);
    std::vector<float> rstd(g), scale(c + 16), shift(c + 16);
#pragma omp for schedule(dynamic, 2)
    for (int bi = 0; bi < b; bi++) {
      const float* xb = x + (int64_t)bi * hw * c;
      float* yb = y + (int64_t)bi * hw * c;
      gn_stats(xb, hw, c, g, eps, sum_c.data(), mean.data(), rstd.data());
      // y = (x - mean) * scale + beta with scale = gamma * rstd. Not x * scale + (beta - mean * scale):
      // that cancels catastrophically when |mean| >> std.
      for (int ci = 0; ci < c; ci++) {
        scale[ci] = gamma[ci] * rstd[ci / cg];
        shift[ci] = (float)mean[ci / cg];
      }
      for (int p = 0; p < hw; p++) {
        const float* xr = xb + (int64_t)p * c;
        float* yr = yb + (int64_t)p * c;
        for (int ci = 0; ci < c; ci += 16) {
          const __mmask16 m = tail_mask(c - ci);
          __m512 v = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + ci), _mm512_maskz_loadu_ps(m, &shift[ci])),
                                     _mm512_maskz_loadu_ps(m, &scale[ci]), _mm512_maskz_loadu_ps(m, beta + ci));
          if (silu_after) v = _mm512_mul_ps(v, sigmoid16(v));
          _mm512_mask_storeu_ps(yr + ci, m, v);
        }
      }
    }
  }
}

void group_norm_grad(const float* dy, const float* x, const float* gamma, const float* beta, float* dx, float* dgamma,
                     float* dbeta, int b, int hw, int c, int g, float eps, bool silu_after) {
  const int cg = c / g;
  const int nt = std::min(b, get_threads());
  std::vector<double> dgam_t((size_t)nt * c, 0.0), dbet_t((size_t)nt * c, 0.0);
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    std::vector<double> sum_c(c), mean(g);
    std::vector<float> rstd(g), scale(c + 16), shift(c + 16), meanc(c + 16), rstdc(c + 16);
    std::vector<float> s_dn(c + 16), s_dnx(c + 16);  // per-channel sums of dn = dy_gn and dn * xhat
    std::vector<float> gy((size_t)hw * c);           // dL/d(GN output) for this sample
    double* dgam = dgam_t.data() + (size_t)tid * c;
    double* dbet = dbet_t.data() + (size_t)tid * c;
#pragma omp for schedule(static)  // fixed samples per thread: dgamma/dbeta sum in a reproducible order
    for (int bi = 0; bi < b; bi++) {
      const float* xb = x + (int64_t)bi * hw * c;
      const float* dyb = dy + (int64_t)bi * hw * c;
      float* dxb = dx + (int64_t)bi * hw * c;
      gn_stats(xb, hw, c, g, eps, sum_c.data(), mean.data(), rstd.data());
      for (int ci = 0; ci < c; ci++) {
        meanc[ci] = (float)mean[ci / cg];
        rstdc[ci] = rstd[ci / cg];
        scale[ci] = gamma[ci] * rstdc[ci];
      }
      std::fill(s_dn.begin(), s_dn.end(), 0.0f);
      std::fill(s_dnx.begin(), s_dnx.end(), 0.0f);
      // Pass 1: gy = dy (through SiLU), accumulate sum gy and sum gy * xhat per channel.
      for (int p = 0; p < hw; p++) {
        const float* xr = xb + (int64_t)p * c;
        const float* dr = dyb + (int64_t)p * c;
        float* gr = gy.data() + (int64_t)p * c;
        for (int ci = 0; ci < c; ci += 16) {
          const __mmask16 m = tail_mask(c - ci);
          const __m512 xv = _mm512_maskz_loadu_ps(m, xr + ci);
          __m512 gv = _mm512_maskz_loadu_ps(m, dr + ci);
          if (silu_after) {
            const __m512 yv = _mm512_fmadd_ps(_mm512_sub_ps(xv, _mm512_maskz_loadu_ps(m, &meanc[ci])),
                                              _mm512_maskz_loadu_ps(m, &scale[ci]), _mm512_maskz_loadu_ps(m, beta + ci));
            const __m512 s = sigmoid16(yv);
            const __m512 one = _mm512_set1_ps(1.0f);
            gv = _mm512_mul_ps(gv, _mm512_mul_ps(s, _mm512_fmadd_ps(yv, _mm512_sub_ps(one, s), one)));
          }
          _mm512_mask_storeu_ps(gr + ci, m, gv);
          const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(xv, _mm512_maskz_loadu_ps(m, &meanc[ci])), _mm512_maskz_loadu_ps(m, &rstdc[ci]));
          _mm512_mask_storeu_ps(&s_dn[ci], m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, &s_dn[ci]), gv));
          _mm512_mask_storeu_ps(&s_dnx[ci], m, _mm512_fmadd_ps(gv, xh, _mm512_maskz_loadu_ps(m, &s_dnx[ci])));
        }
      }
      // dbeta_c = sum gy, dgamma_c = sum gy xhat; dxhat = gy * gamma.
      // dx = rstd * (dxhat - mean_g(dxhat) - xhat * mean_g(dxhat * xhat)).
      std::vector<float> k1(c + 16), k2(c + 16);
      for (int gi = 0; gi < g; gi++) {
        double a = 0, bsum = 0;
        for (int j = 0; j < cg; j++) {
          const int ci = gi * cg + j;
          a += (double)s_dn[ci] * gamma[ci];
          bsum += (double)s_dnx[ci] * gamma[ci];
        }
        const double n = (double)hw * cg;
        for (int j = 0; j < cg; j++) {
          k1[gi * cg + j] = (float)(a / n);
          k2[gi * cg + j] = (float)(bsum / n);
        }
      }
      for (int ci = 0; ci < c; ci++) {
        dbet[ci] += s_dn[ci];
        dgam[ci] += s_dnx[ci];
      }
      for (int p = 0; p < hw; p++) {
        const float* xr = xb + (int64_t)p * c;
        const float* gr = gy.data() + (int64_t)p * c;
        float* dxr = dxb + (int64_t)p * c;
        for (int ci = 0; ci < c; ci += 16) {
          const __mmask16 m = tail_mask(c - ci);
          const __m512 rs = _mm512_maskz_loadu_ps(m, &rstdc[ci]);
          const __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xr + ci), _mm512_maskz_loadu_ps(m, &meanc[ci])), rs);
          const __m512 dxh = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, gr + ci), _mm512_maskz_loadu_ps(m, gamma + ci));
          const __m512 t = _mm512_sub_ps(_mm512_sub_ps(dxh, _mm512_maskz_loadu_ps(m, &k1[ci])),
                                         _mm512_mul_ps(xh, _mm512_maskz_loadu_ps(m, &k2[ci])));
          _mm512_mask_storeu_ps(dxr + ci, m, _mm512_mul_ps(rs, t));
        }
      }
    }
  }
  for (int ci = 0; ci < c; ci++) {
    double sg = 0, sb = 0;
    for (int t = 0; t < nt; t++) {
      sg += dgam_t[(size_t)t * c + ci];
      sb += dbet_t[(size_t)t * c + ci];
    }
    dgamma[ci] = (float)sg;
    dbeta[ci] = (float)sb;
  }
}

void upsample2x(const float* x, float* y, int b, int h, int w, int c) {
#pragma omp parallel for num_threads(get_threads()) schedule(static)
  for (int64_t r = 0; r < (int64_t)b * h; r++) {
    const float* xr = x + r * w * c;
    float* y0 = y + r * 2 * (2 * w) * c;
    float* y1 = y0 + (int64_t)2 * w * c;
    for (int j = 0; j < w; j++) {
      const float* px = xr + (int64_t)j * c;
      std::copy(px, px + c, y0 + (int64_t)(2 * j) * c);
      std::copy(px, px + c, y0 + (int64_t)(2 * j + 1) * c);
    }
    std::copy(y0, y0 + (int64_t)2 * w * c, y1);
  }
}

void upsample2x_grad(const float* dy, float* dx, int b, int h, int w, int c) {
#pragma omp parallel for num_threads(get_threads()) schedule(static)
  for (int64_t r = 0; r < (int64_t)b * h; r++) {
    const float* d0 = dy + r * 2 * (2 * w) * c;
    const float* d1 = d0 + (int64_t)2 * w * c;
    float* o = dx + r * w * c;
    for (int j = 0; j < w; j++) {
      const int64_t a = (int64_t)(2 * j) * c, bb = (int64_t)(2 * j + 1) * c;
#pragma omp simd
      for (int ci = 0; ci < c; ci++) o[(int64_t)j * c + ci] = (d0[a + ci] + d0[bb + ci]) + (d1[a + ci] + d1[bb + ci]);
    }
  }
}

void adam(const float* p, const float* m, const float* v, const float* g, float* po, float* mo, float* vo, int64_t n,
          float lr, float b1, float b2, float eps, float c1, float c2) {
  // Same operation order as torch: denom = sqrt(v) / sqrt(c2) + eps; p -= (lr / c1) * m / denom.
  const float step = lr / c1, sc2 = std::sqrt(c2);
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const float mi = b1 * m[i] + (1.0f - b1) * g[i];
    const float vi = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    mo[i] = mi;
    vo[i] = vi;
    po[i] = p[i] - step * mi / (std::sqrt(vi) / sc2 + eps);
  }
}

void sum_middle(const float* x, float* out, int64_t outer, int64_t mid, int64_t inner) {
  const int nt = outer * mid * inner < 65536 ? 1 : get_threads();
  if (outer >= nt && outer > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t o = 0; o < outer; o++) {
      float* dst = out + o * inner;
      std::fill(dst, dst + inner, 0.0f);
      for (int64_t j = 0; j < mid; j++) {
        const float* src = x + (o * mid + j) * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; i++) dst[i] += src[i];
      }
    }
    return;
  }
  // outer == 1: split the middle dimension across threads, then add the partial rows.
  std::vector<float> part((size_t)nt * inner, 0.0f);
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    const int64_t per = (mid + nt - 1) / nt;
    const int64_t j0 = std::min(mid, tid * per), j1 = std::min(mid, j0 + per);
    float* dst = part.data() + (size_t)tid * inner;
    for (int64_t j = j0; j < j1; j++) {
      const float* src = x + j * inner;
#pragma omp simd
      for (int64_t i = 0; i < inner; i++) dst[i] += src[i];
    }
  }
  for (int64_t i = 0; i < inner; i++) {
    float s = 0;
    for (int t = 0; t < nt; t++) s += part[(size_t)t * inner + i];
    out[i] = s;
  }
}

void copy_strided(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows, int64_t cols) {
  const int nt = rows * cols < 65536 ? 1 : get_threads();
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; r++) std::copy(src + r * src_stride, src + r * src_stride + cols, dst + r * dst_stride);
}

void binary_bcast(const float* a, const float* b, float* out, int64_t n, int64_t nb, int op) {
  const int nt = n < 65536 ? 1 : get_threads();
  const int64_t rows = n / nb;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* ar = a + r * nb;
    float* orow = out + r * nb;
    if (op == 0) {
#pragma omp simd
      for (int64_t i = 0; i < nb; i++) orow[i] = ar[i] + b[i];
    } else if (op == 1) {
#pragma omp simd
      for (int64_t i = 0; i < nb; i++) orow[i] = ar[i] - b[i];
    } else {
#pragma omp simd
      for (int64_t i = 0; i < nb; i++) orow[i] = ar[i] * b[i];
    }
  }
}

}  // namespace pipe

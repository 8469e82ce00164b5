// Fused elementwise / normalisation kernels for pipe-native (NHWC, float32), compiled once per ISA.
// GroupNorm: Wu & He, arXiv:1803.08494. SiLU: Elfwing et al., arXiv:1702.03118.
// Adam: Kingma & Ba, arXiv:1412.6980, Algorithm 1 with torch.optim.Adam's eps placement.
#include "isa.h"

namespace pipe {
namespace PIPE_ISA {

void silu(const float* x, float* y, int64_t n) {
  const int nt = threads_for_elems(n);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < n; i += F::W) {
    const F::M m = F::mask(n - i);
    const F::V v = F::load(x + i, m);
    F::store(y + i, F::mul(v, sigmoid_v(v)), m);
  }
}

void silu_grad(const float* dy, const float* x, float* dx, int64_t n) {
  const int nt = threads_for_elems(n);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < n; i += F::W) {
    const F::M m = F::mask(n - i);
    F::store(dx + i, F::mul(silu_slope_v(F::load(x + i, m)), F::load(dy + i, m)), m);
  }
}

// Per (sample, group) mean and 1/std. Two passes (mean, then centred squares) in double for the
// group sums, so large-mean activations keep full float precision.
static void gn_stats(const float* xb, int hw, int c, int g, float eps, double* sum_c, double* mean, float* rstd) {
  const int cg = c / g;
  Buf<float> acc(c), meanc(c);
  for (int ci = 0; ci < c; ci++) sum_c[ci] = 0.0;
  // per-channel sums in float blocks of 64 pixels, folded into double
  for (int p0 = 0; p0 < hw; p0 += 64) {
    for (int ci = 0; ci < c; ci++) acc[ci] = 0.0f;
    const int p1 = min_of(hw, p0 + 64);
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
  for (int ci = 0; ci < c; ci++) meanc[ci] = (float)mean[ci / cg];
  for (int ci = 0; ci < c; ci++) sum_c[ci] = 0.0;
  for (int p0 = 0; p0 < hw; p0 += 64) {
    for (int ci = 0; ci < c; ci++) acc[ci] = 0.0f;
    const int p1 = min_of(hw, p0 + 64);
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
    rstd[gi] = (float)(1.0 / sqrt(s / ((double)hw * cg) + eps));
  }
}

void group_norm(const float* x, const float* gamma, const float* beta, float* y, int b, int hw, int c, int g,
                float eps, bool silu_after) {
  const int cg = c / g;
#pragma omp parallel num_threads(min_of(b, get_threads()))
  {
    Buf<double> sum_c(c), mean(g);
    Buf<float> rstd(g), scale(c), shift(c);
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
        for (int ci = 0; ci < c; ci += F::W) {
          const F::M m = F::mask(c - ci);
          F::V v = F::fma(F::sub(F::load(xr + ci, m), F::load(&shift[ci], m)), F::load(&scale[ci], m), F::load(beta + ci, m));
          if (silu_after) v = F::mul(v, sigmoid_v(v));
          F::store(yr + ci, v, m);
        }
      }
    }
  }
}

void group_norm_grad(const float* dy, const float* x, const float* gamma, const float* beta, float* dx, float* dgamma,
                     float* dbeta, int b, int hw, int c, int g, float eps, bool silu_after) {
  const int cg = c / g;
  const int nt = min_of(b, get_threads());
  Buf<double> dgam_t((int64_t)nt * c, true), dbet_t((int64_t)nt * c, true);
#pragma omp parallel num_threads(nt)
  {
    const int tid = thread_id();
    Buf<double> sum_c(c), mean(g);
    Buf<float> rstd(g), scale(c), meanc(c), rstdc(c), k1(c), k2(c);
    Buf<float> s_dn(c), s_dnx(c);      // per-channel sums of dn = dy_gn and dn * xhat
    Buf<float> gy((int64_t)hw * c);    // dL/d(GN output) for this sample
    double* dgam = dgam_t.data() + (int64_t)tid * c;
    double* dbet = dbet_t.data() + (int64_t)tid * c;
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
        s_dn[ci] = 0.0f;
        s_dnx[ci] = 0.0f;
      }
      // Pass 1: gy = dy (through SiLU), accumulate sum gy and sum gy * xhat per channel.
      for (int p = 0; p < hw; p++) {
        const float* xr = xb + (int64_t)p * c;
        const float* dr = dyb + (int64_t)p * c;
        float* gr = gy.data() + (int64_t)p * c;
        for (int ci = 0; ci < c; ci += F::W) {
          const F::M m = F::mask(c - ci);
          const F::V xv = F::load(xr + ci, m), mc = F::load(&meanc[ci], m);
          F::V gv = F::load(dr + ci, m);
          if (silu_after) {
            const F::V yv = F::fma(F::sub(xv, mc), F::load(&scale[ci], m), F::load(beta + ci, m));
            gv = F::mul(gv, silu_slope_v(yv));
          }
          F::store(gr + ci, gv, m);
          const F::V xh = F::mul(F::sub(xv, mc), F::load(&rstdc[ci], m));
          F::store(&s_dn[ci], F::add(F::load(&s_dn[ci], m), gv), m);
          F::store(&s_dnx[ci], F::fma(gv, xh, F::load(&s_dnx[ci], m)), m);
        }
      }
      // dbeta_c = sum gy, dgamma_c = sum gy xhat; dxhat = gy * gamma.
      // dx = rstd * (dxhat - mean_g(dxhat) - xhat * mean_g(dxhat * xhat)).
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
        for (int ci = 0; ci < c; ci += F::W) {
          const F::M m = F::mask(c - ci);
          const F::V rs = F::load(&rstdc[ci], m);
          const F::V xh = F::mul(F::sub(F::load(xr + ci, m), F::load(&meanc[ci], m)), rs);
          const F::V dxh = F::mul(F::load(gr + ci, m), F::load(gamma + ci, m));
          const F::V t = F::sub(F::sub(dxh, F::load(&k1[ci], m)), F::mul(xh, F::load(&k2[ci], m)));
          F::store(dxr + ci, F::mul(rs, t), m);
        }
      }
    }
  }
  for (int ci = 0; ci < c; ci++) {
    double sg = 0, sb = 0;
    for (int t = 0; t < nt; t++) {
      sg += dgam_t[(int64_t)t * c + ci];
      sb += dbet_t[(int64_t)t * c + ci];
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
      memcpy(y0 + (int64_t)(2 * j) * c, px, sizeof(float) * c);
      memcpy(y0 + (int64_t)(2 * j + 1) * c, px, sizeof(float) * c);
    }
    memcpy(y1, y0, sizeof(float) * 2 * w * c);
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
  const float step = lr / c1, sc2 = sqrtf(c2);
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const float mi = b1 * m[i] + (1.0f - b1) * g[i];
    const float vi = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    mo[i] = mi;
    vo[i] = vi;
    po[i] = p[i] - step * mi / (sqrtf(vi) / sc2 + eps);
  }
}

void sum_middle(const float* x, float* out, int64_t outer, int64_t mid, int64_t inner) {
  // Not threads_for_elems: with outer == 1 the partial sums depend on the thread count, so this
  // threshold is part of the results (bias gradients) and stays where the cached models had it.
  const int nt = outer * mid * inner < 65536 ? 1 : get_threads();
  if (outer >= nt && outer > 1) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t o = 0; o < outer; o++) {
      float* dst = out + o * inner;
      for (int64_t i = 0; i < inner; i++) dst[i] = 0.0f;
      for (int64_t j = 0; j < mid; j++) {
        const float* src = x + (o * mid + j) * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; i++) dst[i] += src[i];
      }
    }
    return;
  }
  // outer == 1: split the middle dimension across threads, then add the partial rows.
  Buf<float> part((int64_t)nt * inner, true);
#pragma omp parallel num_threads(nt)
  {
    const int team = team_size(), tid = thread_id();
    const int64_t per = (mid + team - 1) / team;
    const int64_t j0 = min_of<int64_t>(mid, tid * per), j1 = min_of<int64_t>(mid, j0 + per);
    float* dst = part.data() + (int64_t)tid * inner;
    for (int64_t j = j0; j < j1; j++) {
      const float* src = x + j * inner;
#pragma omp simd
      for (int64_t i = 0; i < inner; i++) dst[i] += src[i];
    }
  }
  for (int64_t i = 0; i < inner; i++) {
    float s = 0;
    for (int t = 0; t < nt; t++) s += part[(int64_t)t * inner + i];
    out[i] = s;
  }
}

void copy_strided(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows, int64_t cols) {
  const int nt = threads_for_elems(rows * cols);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; r++) memcpy(dst + r * dst_stride, src + r * src_stride, sizeof(float) * cols);
}

// o[e] = a[e] op b(e) for e < len, op 0-3: + - * / (IEEE single precision, so equal to tfjs-cpu's
// float64 arithmetic rounded to float32: double rounding is innocuous for these four). B reads the
// right operand: a scalar, or a run of the broadcast row.
template <class B>
inline void binary_run(int op, const float* a, B b, float* o, int64_t len) {
  if (op == 0) {
#pragma omp simd
    for (int64_t e = 0; e < len; e++) o[e] = a[e] + b(e);
  } else if (op == 1) {
#pragma omp simd
    for (int64_t e = 0; e < len; e++) o[e] = a[e] - b(e);
  } else if (op == 2) {
#pragma omp simd
    for (int64_t e = 0; e < len; e++) o[e] = a[e] * b(e);
  } else {
#pragma omp simd
    for (int64_t e = 0; e < len; e++) o[e] = a[e] / b(e);
  }
}

// out[i] = a[i] op b[i % nb]. Split over fixed chunks of the flat index, not over rows of nb: a
// same-shape add (the U-Net's residual adds) is a single row, and ran on one thread.
void binary_bcast(const float* a, const float* b, float* out, int64_t n, int64_t nb, int op) {
  const int nt = threads_for_elems(n);
  constexpr int64_t CHUNK = 16384;
  const int64_t chunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t q = 0; q < chunks; q++) {
    const int64_t end = min_of(n, (q + 1) * CHUNK);
    if (nb == 1) {  // a scalar operand: the whole chunk in one run
      const float bs = b[0];
      binary_run(op, a + q * CHUNK, [bs](int64_t) { return bs; }, out + q * CHUNK, end - q * CHUNK);
      continue;
    }
    for (int64_t i = q * CHUNK; i < end;) {
      const int64_t j = i % nb, len = min_of(end - i, nb - j);
      const float* br = b + j;
      binary_run(op, a + i, [br](int64_t e) { return br[e]; }, out + i, len);
      i += len;
    }
  }
}

void trig(const float* x, float* y, int64_t n, int op) {
  // libm's sinf/cosf (correctly rounded in practice): the timestep embedding feeds every layer, and
  // tfjs-cpu's generic unary loop took longer than the MLP layers it feeds.
  if (op == 0) {
    for (int64_t i = 0; i < n; i++) y[i] = sinf(x[i]);
  } else {
    for (int64_t i = 0; i < n; i++) y[i] = cosf(x[i]);
  }
}

// The clamp of a DDIM step's x̂0 (100,352 floats at batch 128) took 1.1 ms in tfjs-cpu's generic
// unary loop and ~0.9 in a JavaScript one (branch mispredictions); this blends. Comparisons with NaN
// are false, so NaN passes through as in tfjs, and -0 stays -0.
void clip(const float* x, float* y, int64_t n, float lo, float hi) {
  const int nt = threads_for_elems(n);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    y[i] = v > hi ? hi : (v < lo ? lo : v);
  }
}

}  // namespace PIPE_ISA
}  // namespace pipe

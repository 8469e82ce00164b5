// Fused dense layer for pipe-native: y = act(x W + b) and its parameter gradient, one kernel call
// (one thread fork) each. The latent MLP's steps are small (batch 256, widths <= 256), so separate
// matmul, bias, SiLU and reduction kernels spent more time waking threads and walking tfjs's kernel
// plumbing than multiplying.
#include "isa.h"

namespace pipe {
namespace PIPE_ISA {

namespace {

// Row range [r0, r1) of thread tid when `total` rows are split in MR-multiples over nt threads.
inline void row_range(int total, int nt, int tid, int* r0, int* r1) {
  const int chunk = ((total + nt - 1) / nt + F::MR - 1) / F::MR * F::MR;
  *r0 = min_of(total, tid * chunk);
  *r1 = min_of(total, *r0 + chunk);
}

}  // namespace

void linear(const float* x, const float* w, const float* b, float* y, float* z, int m, int n, int k, bool silu) {
  const int nt = threads_for_row_split(2.0 * m * n * k);
  float* pre = silu ? z : y;  // the GEMM writes the pre-activation here
  Buf<float> wp(packed_b_size(k, n));
#pragma omp parallel num_threads(nt)
  {
#pragma omp for schedule(static)
    for (int p = 0; p < b_panels(n); p++) pack_b(w, n, 1, k, n, wp.data(), p, p + 1);
    int r0, r1;
    row_range(m, team_size(), thread_id(), &r0, &r1);
    constexpr int RB = 4 * F::MR;  // rows per block: the bias/SiLU epilogue reads them from cache
    const float* rows[RB];
    Buf<float> zero(k + KC_PAD, true);
    for (int i0 = r0; i0 < r1; i0 += RB) {
      const int nr = min_of(RB, r1 - i0);
      for (int r = 0; r < nr; r++) rows[r] = x + (int64_t)(i0 + r) * k;
      float* pb = pre + (int64_t)i0 * n;
      if (k > 0) {
        gemm_rows(rows, nr, n, k, PackedB{wp.data(), k}, pb, n, false, zero.data());
      } else {
        for (int64_t i = 0; i < (int64_t)nr * n; i++) pb[i] = 0.0f;
      }
      for (int r = 0; r < nr; r++) {
        float* pr = pb + (int64_t)r * n;
        float* yr = y + (int64_t)(i0 + r) * n;
        for (int j = 0; j < n; j += F::W) {
          const F::M msk = F::mask(n - j);
          const F::V v = F::add(F::load(pr + j, msk), F::load(b + j, msk));
          if (silu) {
            F::store(pr + j, v, msk);
            F::store(yr + j, F::mul(v, sigmoid_v(v)), msk);
          } else {
            F::store(yr + j, v, msk);
          }
        }
      }
    }
  }
}

void linear_grad(const float* dy, const float* x, const float* z, float* dz, float* dw, float* db, int m, int n, int k,
                 bool silu) {
  const int nt = threads_for_row_split(4.0 * m * n * k);
  const float* g = silu ? dz : dy;  // dL/d(pre-activation)
  // x^T as a k-major GEMM operand reads up to MR - 1 floats past each row of x, which is in bounds
  // except after the last row: that row is multiplied separately from a zero-padded copy.
  Buf<float> last(k + F::MR, true), gp(packed_b_size(m, n));
  if (m > 0) memcpy(last.data(), x + (int64_t)(m - 1) * k, sizeof(float) * k);
#pragma omp parallel num_threads(nt)
  {
    const int team = team_size(), tid = thread_id();
    int r0, r1;
    if (silu) {  // phase 1: dz = dy * silu'(z), rows split across threads
      row_range(m, team, tid, &r0, &r1);
      const int64_t e0 = (int64_t)r0 * n, e1 = (int64_t)r1 * n;
      for (int64_t i = e0; i < e1; i += F::W) {
        const F::M msk = F::mask(e1 - i);
        F::store(dz + i, F::mul(F::load(dy + i, msk), silu_slope_v(F::load(z + i, msk))), msk);
      }
#pragma omp barrier
    }
    // phase 2: dw[k, n] = x^T g, rows of dw split across threads (no cross-thread sums: reproducible)
#pragma omp for schedule(static)
    for (int p = 0; p < b_panels(n); p++) pack_b(g, n, 1, m, n, gp.data(), p, p + 1);
    row_range(k, team, tid, &r0, &r1);
    if (r1 > r0) {
      float* dwr = dw + (int64_t)r0 * n;
      if (m > 1) gemm_kmajor(x + r0, k, r1 - r0, n, m - 1, PackedB{gp.data(), m}, dwr, n, false);
      if (m > 0) gemm_kmajor(last.data() + r0, k, r1 - r0, n, 1, PackedB{gp.data() + (int64_t)(m - 1) * F::NV * F::W, m}, dwr, n, m > 1);
      if (m == 0)
        for (int64_t i = 0; i < (int64_t)(r1 - r0) * n; i++) dwr[i] = 0.0f;
    }
    // phase 3: db = column sums of g, columns split across threads, rows summed in order
    const int per = (n + team - 1) / team;
    const int c0 = min_of(n, tid * per), c1 = min_of(n, c0 + per);
    for (int j = c0; j < c1; j++) db[j] = 0.0f;
    for (int i = 0; i < m; i++) {
      const float* gr = g + (int64_t)i * n;
#pragma omp simd
      for (int j = c0; j < c1; j++) db[j] += gr[j];
    }
  }
}

}  // namespace PIPE_ISA
}  // namespace pipe

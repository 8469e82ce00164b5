// Internal to the per-ISA kernel sources: their functions, declared in namespace pipe::<isa>
// (simd.h). table.cc collects them into that ISA's Kernels table.
#pragma once
#include "kernels.h"
#include "simd.h"

namespace pipe {
namespace PIPE_ISA {

void matmul(const float* a, const float* b, float* c, const float* bias, int batch, int m, int n, int k, bool trans_a,
            bool trans_b, int64_t stride_a, int64_t stride_b);
void conv2d(const float* x, const float* w, const float* bias, int bias_mode, float* y, const ConvShape& s);
void conv2d_backprop_input(const float* dy, const float* w, float* dx, const ConvShape& s);
void conv2d_backprop_filter(const float* x, const float* dy, float* dw, const ConvShape& s);
void group_norm(const float* x, const float* gamma, const float* beta, float* y, int b, int hw, int c, int g, float eps,
                bool silu);
void group_norm_grad(const float* dy, const float* x, const float* gamma, const float* beta, float* dx, float* dgamma,
                     float* dbeta, int b, int hw, int c, int g, float eps, bool silu);
void silu(const float* x, float* y, int64_t n);
void silu_grad(const float* dy, const float* x, float* dx, int64_t n);
void upsample2x(const float* x, float* y, int b, int h, int w, int c);
void upsample2x_grad(const float* dy, float* dx, int b, int h, int w, int c);
void adam(const float* p, const float* m, const float* v, const float* g, float* po, float* mo, float* vo, int64_t n,
          float lr, float b1, float b2, float eps, float c1, float c2);
void sum_middle(const float* x, float* out, int64_t outer, int64_t mid, int64_t inner);
void binary_bcast(const float* a, const float* b, float* out, int64_t n, int64_t nb, int op);
void copy_strided(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows, int64_t cols);
void linear(const float* x, const float* w, const float* b, float* y, float* z, int m, int n, int k, bool silu);
void linear_grad(const float* dy, const float* x, const float* z, float* dz, float* dw, float* db, int m, int n, int k,
                 bool silu);
void trig(const float* x, float* y, int64_t n, int op);
void clip(const float* x, float* y, int64_t n, float lo, float hi);

// GEMM building blocks (gemm.cc), shared with linear.cc. B is packed first: NR-column panels, each
// a contiguous [k][NR] block, zero-padded past n. The micro-kernel then streams B sequentially;
// read in place, B's rows sit ldb floats apart, and power-of-two ldb (32..256 channels) mapped a
// panel's k rows onto a few L1 sets, which evicted it between row tiles.
struct PackedB {
  const float* p;
  int64_t k_stride;  // rows per panel: panel j / NR starts at p + (j / NR) * k_stride * NR
};
int64_t packed_b_size(int k, int n);  // floats
// Packs panels [p0, p1) of B(kk, j) = b[kk * rs + j * cs], kk < k, j < n (rs = ldb, cs = 1 for
// row-major B; rs = 1, cs = k for B stored transposed). p1 < 0: to the last panel.
void pack_b(const float* b, int64_t rs, int64_t cs, int k, int n, float* bp, int p0 = 0, int p1 = -1);
int b_panels(int n);
// Rows of C[mrows x n] (+)= Arows * B, A given as row pointers (length k each).
// zero_row: k + KC_PAD zeros, read for rows past mrows.
void gemm_rows(const float* const* arows, int mrows, int n, int k, PackedB b, float* c, int64_t ldc, bool accumulate,
               const float* zero_row);
// C[m x n] (+)= A * B with A k-major (A(r, kk) = a[kk * lda + r]); a must be readable for F::MR
// rows past m.
void gemm_kmajor(const float* a, int64_t lda, int m, int n, int k, PackedB b, float* c, int64_t ldc, bool accumulate);
constexpr int KC_PAD = 384;  // a zero row must be this much longer than k
// Threads worth using for a job of this many flops (1 below ~4 MFLOP: waking a thread costs more).
int threads_for(double flops);
// The same for a job whose threads split the output's rows, so its bits do not depend on the thread
// count (1 below ~32 MFLOP).
int threads_for_row_split(double flops);
// Threads for an elementwise pass over n floats: one below THREADS_MIN_ELEMS, where waking the
// second thread costs more than it saves (the latent MLP's 256 x 256 layers trained faster on one).
int threads_for_elems(int64_t n);

extern const Kernels table;

}  // namespace PIPE_ISA
}  // namespace pipe

// pipe-native compute kernels: float32, NHWC, row-major. Pure functions over raw buffers; the N-API
// glue (addon.cc) only unpacks arguments. Threads: OpenMP, count set by set_threads().
#pragma once
#include <cstdint>

namespace pipe {

void set_threads(int n);
int get_threads();

// C[M,N] (+)= op(A)[M,K] * op(B)[K,N] (+ bias[N]), batched with element strides between matrices.
// transA: A stored [K,M]; transB: B stored [N,K].
void matmul(const float* a, const float* b, float* c, const float* bias, int batch, int m, int n, int k,
            bool trans_a, bool trans_b, int64_t stride_a, int64_t stride_b);

struct ConvShape {
  int batch, ih, iw, cin;  // input
  int oh, ow, cout;        // output
  int kh, kw;              // filter
  int sh, sw;              // strides
  int pt, pl;              // top / left padding (bottom/right implied by oh/ow)
};

// y[B,OH,OW,Cout] = conv(x, w[KH,KW,Cin,Cout]) + bias. bias_mode 0: none, 1: [Cout], 2: [B,Cout].
void conv2d(const float* x, const float* w, const float* bias, int bias_mode, float* y, const ConvShape& s);
// dx[B,IH,IW,Cin] from dy[B,OH,OW,Cout] and w.
void conv2d_backprop_input(const float* dy, const float* w, float* dx, const ConvShape& s);
// dw[KH,KW,Cin,Cout] from x and dy.
void conv2d_backprop_filter(const float* x, const float* dy, float* dw, const ConvShape& s);

// GroupNorm over x[B, HW, C] with G groups, affine, optional SiLU after it.
void group_norm(const float* x, const float* gamma, const float* beta, float* y, int b, int hw, int c, int g,
                float eps, bool silu);
void group_norm_grad(const float* dy, const float* x, const float* gamma, const float* beta, float* dx,
                     float* dgamma, float* dbeta, int b, int hw, int c, int g, float eps, bool silu);

void silu(const float* x, float* y, int64_t n);
void silu_grad(const float* dy, const float* x, float* dx, int64_t n);
void upsample2x(const float* x, float* y, int b, int h, int w, int c);
void upsample2x_grad(const float* dy, float* dx, int b, int h, int w, int c);  // h, w of dx
void adam(const float* p, const float* m, const float* v, const float* g, float* po, float* mo, float* vo,
          int64_t n, float lr, float b1, float b2, float eps, float c1, float c2);
// out[o, i] = sum_j x[o, j, i]
void sum_middle(const float* x, float* out, int64_t outer, int64_t mid, int64_t inner);
// Elementwise binary op with b broadcast over a's leading dims: out[i] = a[i] op b[i % nb]. op: 0 add, 1 sub, 2 mul.
void binary_bcast(const float* a, const float* b, float* out, int64_t n, int64_t nb, int op);

// dst[r * dst_stride + c] = src[r * src_stride + c] for r < rows, c < cols (concat / split / slice).
void copy_strided(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows, int64_t cols);

}  // namespace pipe

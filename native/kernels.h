// pipe-native compute kernels: float32, NHWC, row-major. Pure functions over raw buffers; the N-API
// glue (addon.cc) only unpacks arguments. Threads: OpenMP, count set by set_threads().
//
// The kernel sources (gemm.cc, elementwise.cc, linear.cc, table.cc) are compiled once per
// instruction set into namespace pipe::<isa> (see simd.h); each copy exports one Kernels table.
// dispatch.cc (compiled for the baseline CPU) detects the CPU's features and picks a table, so one
// build runs on every CPU of its architecture and never executes an instruction the CPU lacks.
#pragma once
#include <stdint.h>

namespace pipe {

// Bumped whenever an exported function or its arguments change; the loader refuses other values.
constexpr int kAbiVersion = 3;

void set_threads(int n);
int get_threads();

struct ConvShape {
  int batch, ih, iw, cin;  // input
  int oh, ow, cout;        // output
  int kh, kw;              // filter
  int sh, sw;              // strides
  int pt, pl;              // top / left padding (bottom/right implied by oh/ow)
};

struct Kernels {
  const char* name;
  // C[M,N] = op(A)[M,K] * op(B)[K,N] (+ bias[N]), batched with element strides between matrices.
  // trans_a: A stored [K,M]; trans_b: B stored [N,K].
  void (*matmul)(const float* a, const float* b, float* c, const float* bias, int batch, int m, int n, int k,
                 bool trans_a, bool trans_b, int64_t stride_a, int64_t stride_b);
  // y[B,OH,OW,Cout] = conv(x, w[KH,KW,Cin,Cout]) + bias. bias_mode 0: none, 1: [Cout], 2: [B,Cout].
  void (*conv2d)(const float* x, const float* w, const float* bias, int bias_mode, float* y, const ConvShape& s);
  // dx[B,IH,IW,Cin] from dy[B,OH,OW,Cout] and w.
  void (*conv2d_backprop_input)(const float* dy, const float* w, float* dx, const ConvShape& s);
  // dw[KH,KW,Cin,Cout] from x and dy.
  void (*conv2d_backprop_filter)(const float* x, const float* dy, float* dw, const ConvShape& s);
  // GroupNorm over x[B, HW, C] with G groups, affine, optional SiLU after it.
  void (*group_norm)(const float* x, const float* gamma, const float* beta, float* y, int b, int hw, int c, int g,
                     float eps, bool silu);
  void (*group_norm_grad)(const float* dy, const float* x, const float* gamma, const float* beta, float* dx,
                          float* dgamma, float* dbeta, int b, int hw, int c, int g, float eps, bool silu);
  void (*silu)(const float* x, float* y, int64_t n);
  void (*silu_grad)(const float* dy, const float* x, float* dx, int64_t n);
  void (*upsample2x)(const float* x, float* y, int b, int h, int w, int c);
  void (*upsample2x_grad)(const float* dy, float* dx, int b, int h, int w, int c);  // h, w of dx
  void (*adam)(const float* p, const float* m, const float* v, const float* g, float* po, float* mo, float* vo,
               int64_t n, float lr, float b1, float b2, float eps, float c1, float c2);
  // out[o, i] = sum_j x[o, j, i]
  void (*sum_middle)(const float* x, float* out, int64_t outer, int64_t mid, int64_t inner);
  // out[i] = a[i] op b[i % nb]. op: 0 add, 1 sub, 2 mul, 3 div.
  void (*binary_bcast)(const float* a, const float* b, float* out, int64_t n, int64_t nb, int op);
  // dst[r * dst_stride + c] = src[r * src_stride + c] for r < rows, c < cols (concat / split / slice).
  void (*copy_strided)(const float* src, int64_t src_stride, float* dst, int64_t dst_stride, int64_t rows,
                       int64_t cols);
  // y = x[M,K] w[K,N] + b, then SiLU when silu (z keeps the pre-activation for the gradient; may be
  // null without silu). One pass: the bias and SiLU run while each output tile is in cache.
  void (*linear)(const float* x, const float* w, const float* b, float* y, float* z, int m, int n, int k, bool silu);
  // dz = dy * silu'(z) (or dy), dw = x^T dz, db = column sums of dz. dz may alias nothing; z unused without silu.
  void (*linear_grad)(const float* dy, const float* x, const float* z, float* dz, float* dw, float* db, int m, int n,
                      int k, bool silu);
  // y = sin(x) (op 0) or cos(x) (op 1), libm precision.
  void (*trig)(const float* x, float* y, int64_t n, int op);
  // y = x > hi ? hi : x < lo ? lo : x (tfjs's ClipByValue: NaN passes through).
  void (*clip)(const float* x, float* y, int64_t n, float lo, float hi);
};

// ---- instruction sets --------------------------------------------------------------------------
enum Isa { kAvx512 = 0, kAvx2 = 1, kNeon = 2, kPortable = 3, kIsaCount = 4 };
// CPU feature bits an ISA needs (kFeat*), as reported by cpu_features().
enum Feature : uint32_t { kFeatAvx512f = 1u << 0, kFeatAvx2 = 1u << 1, kFeatFma = 1u << 2, kFeatNeon = 1u << 3 };

const char* isa_name(int isa);               // "avx512", ..., nullptr out of range
int isa_from_name(const char* name);         // -1 if unknown
const char* feature_name(int bit);           // bit index -> "avx512f", ...; nullptr out of range
uint32_t isa_requirements(int isa);          // features the ISA's code may use
uint32_t cpu_features();                     // what this CPU (and its OS) supports
const Kernels* compiled_kernels(int isa);    // nullptr if this build does not contain the ISA
// Best compiled ISA whose requirements are all in `features` (portable needs none); with
// `requested` >= 0, that ISA or -1 when it is not compiled or not supported.
int choose_isa(uint32_t features, int requested);

}  // namespace pipe

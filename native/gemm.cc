// SGEMM and GEMM-based convolutions for pipe-native, compiled once per ISA (simd.h).
//
// One register-blocked micro-kernel computes an MR x NR tile of C (NR = NV vectors; AVX-512 12 x 32,
// AVX2 6 x 16, NEON 8 x 12, portable 6 x 8) from
//   - A given either as MR row pointers (row-major rows, e.g. im2col rows built on the fly) or
//     "k-major" (A(r, k) = a[k * lda + r], e.g. transposed operands, im2col columns), and
//   - B read directly as rows b[k * ldb + j] with masked loads for the right edge (no packing
//     needed unless B is transposed).
// Convolutions never materialise the full im2col matrix: they build it block by block (a few
// hundred pixels at a time) into a per-thread buffer that stays in L2.
// Reference for the blocking scheme: Goto & van de Geijn, "Anatomy of high-performance matrix
// multiplication", ACM TOMS 34(3), 2008.
#include "isa.h"

namespace pipe {
namespace PIPE_ISA {

namespace {

constexpr double THREADS_MIN_FLOPS = 4e6;
// GEMMs that split the rows of their output (matmul, linear, linear_grad) give the same bits at any
// thread count, so their threshold is free to follow speed alone: below ~32 MFLOP (the latent MLP's
// 256 x 256 x 256 layers) the second thread's wake-up cost more than its half of the work. The
// filter gradient splits its sum across threads, so its threshold (THREADS_MIN_FLOPS) is part of
// the trained models' bits and stays where they were trained.
constexpr double THREADS_MIN_FLOPS_ROW_SPLIT = 3.2e7;
constexpr int64_t THREADS_MIN_ELEMS = 262144;
constexpr int MR = F::MR;
constexpr int NV = F::NV;
constexpr int NR = NV * F::W;

// K-block length: at most KC_MAX (the B panel kc x NR floats stays near L1), equal-sized blocks so
// that K = 288 runs as 1 x 288 rather than 256 + 32.
constexpr int KC_MAX = KC_PAD;
inline int split_k(int k) {
  const int nb = (k + KC_MAX - 1) / KC_MAX;
  return (k + nb - 1) / nb;
}

// C tile [mr x nr] (+)= A[mr x kc] * B[kc x NR], B a packed panel (NR floats per k, zero-padded
// past nr). A_KMAJOR selects the A addressing mode. In row mode the kc steps may come in nseg
// segments (seglen[s] steps each, summing to kc) with their own row pointers arows[s * MR + r]: an
// implicit-GEMM convolution reads each filter tap's channels in place instead of copying them into
// an im2col row (plain GEMM: one segment). The k order, and so every sum, is the same either way.
template <bool A_KMAJOR>
inline void micro_kernel(int kc, const float* const* arows, const float* a, int64_t lda, const float* b, float* c,
                         int64_t ldc, int mr, int nr, bool accumulate, int nseg = 1, const int* seglen = nullptr) {
  F::V acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = F::zero();
  if (A_KMAJOR) nseg = 1;
  for (int sg = 0; sg < nseg; sg++) {
    const float* const* ar = arows + sg * MR;
    const int len = seglen ? seglen[sg] : kc;
    for (int k = 0; k < len; k++) {
      F::V bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) bv[v] = F::load(b + k * NR + v * F::W);
#pragma GCC unroll 16
      for (int r = 0; r < MR; r++) {
        const F::V av = F::set1(A_KMAJOR ? a[k * lda + r] : ar[r][k]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[r][v] = F::fma(av, bv[v], acc[r][v]);
      }
    }
    b += (int64_t)len * NR;
  }
  F::M m[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; v++) m[v] = F::mask(nr - v * F::W);
  // Compile-time row indices only (unrolled, `r < mr` as a guard): a runtime-indexed acc[] would
  // force the compiler to keep the accumulators in memory and store them every k step.
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++) {
    if (r < mr) {
      float* cr = c + r * ldc;
      if (nr == NR) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
          F::V o = acc[r][v];
          if (accumulate) o = F::add(o, F::load(cr + v * F::W));
          F::store(cr + v * F::W, o);
        }
      } else {
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
          F::V o = acc[r][v];
          if (accumulate) o = F::add(o, F::load(cr + v * F::W, m[v]));
          F::store(cr + v * F::W, o, m[v]);
        }
      }
    }
  }
}

// y[r, n] = dot(rows[r][0:k], wt[n][0:k]) for n < nout (small output widths).
void small_n_rows(const float* const* rows, int nrows, int k, const float* wt, int nout, float* y) {
  for (int r = 0; r < nrows; r++) {
    const float* a = rows[r];
    for (int n = 0; n < nout; n++) {
      const float* b = wt + (int64_t)n * k;
      F::V acc = F::zero();
      int kk = 0;
      for (; kk + F::W <= k; kk += F::W) acc = F::fma(F::load(a + kk), F::load(b + kk), acc);
      if (kk < k) {
        const F::M m = F::mask(k - kk);
        acc = F::fma(F::load(a + kk, m), F::load(b + kk, m), acc);
      }
      y[(int64_t)r * nout + n] = F::sum(acc);
    }
  }
}

// Output pixel p = (image bi, row oh, column ow), stepped through in order: dividing per pixel (and
// per tap) cost more than the whole GEMM for conv_in (cin = 1, K = 9) and a sizeable part of a
// 32-channel pixel's 9 x 32 x 32 multiply-adds.
struct PixelWalk {
  int ow, oh;
  int64_t bi;
  const ConvShape& s;
  PixelWalk(const ConvShape& shape, int64_t p0)
      : ow((int)(p0 % shape.ow)), oh((int)((p0 / shape.ow) % shape.oh)), bi(p0 / ((int64_t)shape.ow * shape.oh)), s(shape) {}
  void next() {
    if (++ow == s.ow) {
      ow = 0;
      if (++oh == s.oh) oh = 0, bi++;
    }
  }
};

// Builds im2col rows for output pixels [p0, p0 + np) into buf (row length kk = kh*kw*cin), for an
// input that is conceptually dilated by `dil` (backprop-input uses dil = forward stride); divides
// by the dilation only when there is one, and copies a window row inside the input as one run.
void im2col_rows(const float* x, float* buf, const ConvShape& s, int dh, int dwl, int64_t p0, int np) {
  const int kk = s.kh * s.kw * s.cin;
  const int ihd = (s.ih - 1) * dh + 1, iwd = (s.iw - 1) * dwl + 1;
  const bool dilated = dh != 1 || dwl != 1;
  PixelWalk px(s, p0);
  for (int q = 0; q < np; q++, px.next()) {
    float* row = buf + (int64_t)q * kk;
    const float* img = x + px.bi * s.ih * s.iw * s.cin;
    for (int fh = 0; fh < s.kh; fh++) {
      const int yd = px.oh * s.sh - s.pt + fh;
      const bool yok = yd >= 0 && yd < ihd && (!dilated || yd % dh == 0);
      const int yi = dilated ? yd / dh : yd;
      const int x0 = px.ow * s.sw - s.pl;
      float* drow = row + fh * s.kw * s.cin;
      const int run = s.kw * s.cin;
      if (!yok) {  // a padding row of the filter window
        for (int i = 0; i < run; i++) drow[i] = 0.0f;
        continue;
      }
      if (!dilated && x0 >= 0 && x0 + s.kw <= s.iw) {  // the window's row lies inside: one run
        const float* src = img + ((int64_t)yi * s.iw + x0) * s.cin;
        for (int i = 0; i < run; i++) drow[i] = src[i];
        continue;
      }
      for (int fw = 0; fw < s.kw; fw++) {  // tap by tap: the row is partly padding, or dilated
        float* dst = drow + fw * s.cin;
        const int xd = x0 + fw;
        if (xd >= 0 && xd < iwd && (!dilated || xd % dwl == 0)) {
          const float* src = img + ((int64_t)yi * s.iw + (dilated ? xd / dwl : xd)) * s.cin;
          if (s.cin < 8) {
            for (int ci = 0; ci < s.cin; ci++) dst[ci] = src[ci];  // avoid a memcpy call per tiny run
          } else {
            memcpy(dst, src, sizeof(float) * s.cin);
          }
        } else {
          for (int ci = 0; ci < s.cin; ci++) dst[ci] = 0.0f;
        }
      }
    }
  }
}

// Direct convolution for few output channels (conv_out, 32 -> 1) with cin a multiple of the vector
// width: im2col would copy every tap's cin floats for a dot product that can read them in place
// (2x faster at the U-Net's conv_out, batch 128). Bit-identical to the GEMM path's narrow case: the
// same products summed in the same lane order, padding taps skipped where that path adds 0 * w.
// (A direct kernel for few *input* channels, conv_in, was tried and was slower than im2col + GEMM:
// its accumulators, indexed by runtime loop counts, do not stay in registers.)
// (For the narrow case of conv_core, cout < 8: an undilated input, whole vectors per tap.)
bool narrow_direct_fits(const ConvShape& s, int dh, int dwl) {
  return dh == 1 && dwl == 1 && s.cin % F::W == 0;
}

// wt: the filter transposed to [cout][kh][kw][cin] (as the GEMM path's narrow case holds it).
void conv_narrow_direct(const float* x, const float* wt, float* y, const ConvShape& s, const float* bias, int bias_mode) {
  const int kk = s.kh * s.kw * s.cin;
  const int64_t rows = (int64_t)s.batch * s.oh;
  const int nt = threads_for(2.0 * rows * s.ow * kk * s.cout);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t row = 0; row < rows; row++) {
    const int bi = (int)(row / s.oh), oh = (int)(row % s.oh);
    for (int ow = 0; ow < s.ow; ow++) {
      float* yr = y + (row * s.ow + ow) * s.cout;
      const float* bb = bias_mode == 2 ? bias + (int64_t)bi * s.cout : bias;
      for (int n = 0; n < s.cout; n++) {
        const float* wn = wt + (int64_t)n * kk;
        F::V acc = F::zero();
        for (int fh = 0; fh < s.kh; fh++) {
          const int yi = oh * s.sh - s.pt + fh;
          if (yi < 0 || yi >= s.ih) continue;
          for (int fw = 0; fw < s.kw; fw++) {
            const int xi = ow * s.sw - s.pl + fw;
            if (xi < 0 || xi >= s.iw) continue;
            const float* src = x + (((int64_t)bi * s.ih + yi) * s.iw + xi) * s.cin;
            const float* wk = wn + (fh * s.kw + fw) * s.cin;
            for (int ci = 0; ci < s.cin; ci += F::W) acc = F::fma(F::load(src + ci), F::load(wk + ci), acc);
          }
        }
        yr[n] = F::sum(acc);
        if (bias_mode != 0) yr[n] += bb[n];
      }
    }
  }
}

// The blocking every GEMM here shares: K blocks of split_k(k) steps (block(k0, kc) runs first in
// each), NR-wide panels of the packed B, MR-row tiles of C; tile(...) makes one micro-kernel call.
// Accumulation into C starts at the second K block (or at once with `accumulate`).
template <class Block, class Tile>
inline void for_each_tile(int m, int n, int k, PackedB b, bool accumulate, Block&& block, Tile&& tile) {
  const int kb = split_k(k);
  for (int k0 = 0; k0 < k; k0 += kb) {
    const int kc = min_of(kb, k - k0);
    block(k0, kc);
    const bool acc = accumulate || k0 > 0;
    for (int j0 = 0; j0 < n; j0 += NR) {
      const int nr = min_of(NR, n - j0);
      const float* bp = b.p + ((int64_t)(j0 / NR) * b.k_stride + k0) * NR;
      for (int i0 = 0; i0 < m; i0 += MR) tile(k0, kc, i0, min_of(MR, m - i0), j0, nr, bp, acc);
    }
  }
}

// C[np x n] (+)= A * B where row q of A is ntaps pieces of cin floats, piece t read in place at
// taps[q * ntaps + t]. A convolution passes each output pixel's filter taps (channels contiguous in
// NHWC; a zero row for padding) and so never copies im2col rows: the 3x3 convolutions at 28x28 ran
// 3-8% faster for it. Plain row-pointer GEMM is the one-piece case (gemm_rows). The K blocks, panels,
// tiles and k order do not depend on the pieces, so the sums are the same bits either way.
void gemm_taps(const float* const* taps, int ntaps, int cin, int np, int n, PackedB b, float* c, int64_t ldc,
               bool accumulate, const float* zero_row) {
  // A K block of kc <= KC_MAX steps spans at most kc / cin + 2 pieces; conv_core uses pieces for
  // cin >= 8 only (taps_fit), gemm_rows one piece per block.
  constexpr int MAX_SEG = KC_MAX / 8 + 2;
  if (ntaps > 1 && cin < 8) abort();  // a caller bug: the segment arrays would overflow
  const float* arows[MAX_SEG * MR];
  int seglen[MAX_SEG];
  int nseg = 0, segtap[MAX_SEG], segoff[MAX_SEG];
  for_each_tile(
      np, n, ntaps * cin, b, accumulate,
      [&](int k0, int kc) {  // the pieces of [k0, k0 + kc)
        nseg = 0;
        for (int kk = k0; kk < k0 + kc; nseg++) {
          segtap[nseg] = kk / cin, segoff[nseg] = kk % cin;
          seglen[nseg] = min_of(cin - segoff[nseg], k0 + kc - kk);
          kk += seglen[nseg];
        }
      },
      [&](int, int kc, int i0, int mr, int j0, int nr, const float* bp, bool acc) {
        for (int sg = 0; sg < nseg; sg++)
          for (int r = 0; r < MR; r++)
            arows[sg * MR + r] = (r < mr ? taps[(int64_t)(i0 + r) * ntaps + segtap[sg]] : zero_row) + segoff[sg];
        micro_kernel<false>(kc, arows, nullptr, 0, bp, c + (int64_t)i0 * ldc + j0, ldc, mr, nr, acc, nseg, seglen);
      });
}

// Tap pointers of output pixels [p0, p0 + np) of an undilated convolution: taps[q * kh * kw + t].
void tap_pointers(const float* x, const float* zero_row, const ConvShape& s, int64_t p0, int np, const float** taps) {
  const int ntaps = s.kh * s.kw;
  PixelWalk px(s, p0);
  for (int q = 0; q < np; q++, px.next()) {
    const float** tq = taps + (int64_t)q * ntaps;
    const int y0 = px.oh * s.sh - s.pt, x0 = px.ow * s.sw - s.pl;
    const float* img = x + px.bi * s.ih * s.iw * s.cin;
    for (int fh = 0; fh < s.kh; fh++) {
      const int yi = y0 + fh;
      const bool yok = yi >= 0 && yi < s.ih;
      for (int fw = 0; fw < s.kw; fw++) {
        const int xi = x0 + fw;
        tq[fh * s.kw + fw] = yok && xi >= 0 && xi < s.iw ? img + ((int64_t)yi * s.iw + xi) * s.cin : zero_row;
      }
    }
  }
}

// Tap segments pay off when each is long enough to amortise its row pointers (cin >= 8); a dilated
// input (backprop through a stride) keeps the im2col copy, which skips the holes.
bool taps_fit(const ConvShape& s, int dh, int dwl) { return dh == 1 && dwl == 1 && s.cin >= 8; }

// Core implicit-GEMM convolution: y[P, cout] = im2col(x)[P, kk] * w[kk, cout], P = batch*oh*ow.
// The im2col operand is never whole: per block of PB pixels it is read in place (1x1 convolutions:
// rows of x; cin >= 8: tap segments of x) or, for few input channels or a dilated input, copied.
void conv_core(const float* x, const float* w, float* y, const ConvShape& s, int dh, int dwl,
               const float* bias = nullptr, int bias_mode = 0) {
  const int64_t P = (int64_t)s.batch * s.oh * s.ow;
  const int kk = s.kh * s.kw * s.cin;
  // Few output channels (e.g. conv_out, 32 -> 1): a full-width GEMM tile would waste most of its
  // lanes, so use dot products along k against the transposed filter instead.
  const bool narrow = s.cout < 8;
  Buf<float> wt(narrow ? (int64_t)s.cout * kk : 0);
  for (int n = 0; n < (narrow ? s.cout : 0); n++)
    for (int k = 0; k < kk; k++) wt[(int64_t)n * kk + k] = w[(int64_t)k * s.cout + n];
  if (narrow && narrow_direct_fits(s, dh, dwl)) {
    conv_narrow_direct(x, wt.data(), y, s, bias, bias_mode);
    return;
  }
  const bool direct = s.kh == 1 && s.kw == 1 && s.sh == 1 && s.sw == 1 && s.pt == 0 && s.pl == 0 && dh == 1 && dwl == 1;
  const bool taps = !narrow && !direct && taps_fit(s, dh, dwl);
  constexpr int PB = 96;  // pixels per block: PB * kk floats stay in L2
  const int64_t nblocks = (P + PB - 1) / PB;
  const int nt = threads_for(2.0 * P * kk * s.cout);
  Buf<float> wp(narrow ? 0 : packed_b_size(kk, s.cout));
  const PackedB wb{wp.data(), kk};
#pragma omp parallel num_threads(nt)
  {
    if (!narrow) {
#pragma omp for schedule(static)
      for (int p = 0; p < b_panels(s.cout); p++) pack_b(w, s.cout, 1, kk, s.cout, wp.data(), p, p + 1);
    }
    Buf<float> buf(direct || taps ? 0 : (int64_t)PB * kk);
    Buf<float> zero(kk + KC_PAD, true);
    const float* rows[PB];
    Buf<const float*> tap(taps ? (int64_t)PB * s.kh * s.kw : 0);
#pragma omp for schedule(dynamic, 4)
    for (int64_t blk = 0; blk < nblocks; blk++) {
      const int64_t p0 = blk * PB;
      const int np = (int)min_of<int64_t>(PB, P - p0);
      float* yb = y + p0 * s.cout;
      if (taps) {
        tap_pointers(x, zero.data(), s, p0, np, tap.data());
        gemm_taps(tap.data(), s.kh * s.kw, s.cin, np, s.cout, wb, yb, s.cout, false, zero.data());
      } else {
        if (direct) {
          for (int q = 0; q < np; q++) rows[q] = x + (p0 + q) * kk;
        } else {
          im2col_rows(x, buf.data(), s, dh, dwl, p0, np);
          for (int q = 0; q < np; q++) rows[q] = buf.data() + (int64_t)q * kk;
        }
        if (narrow) {
          small_n_rows(rows, np, kk, wt.data(), s.cout, yb);
        } else {
          gemm_rows(rows, np, s.cout, kk, wb, yb, s.cout, false, zero.data());
        }
      }
      if (bias_mode != 0) {  // while the block is still in cache
        const int64_t per = (int64_t)s.oh * s.ow;
        for (int q = 0; q < np; q++) {
          const int64_t p = p0 + q;
          const float* bb = bias_mode == 2 ? bias + (p / per) * s.cout : bias;
          float* yr = y + p * s.cout;
#pragma omp simd
          for (int c = 0; c < s.cout; c++) yr[c] += bb[c];
        }
      }
    }
  }
}

}  // namespace

int threads_for(double flops) { return flops < THREADS_MIN_FLOPS ? 1 : get_threads(); }
int threads_for_row_split(double flops) { return flops < THREADS_MIN_FLOPS_ROW_SPLIT ? 1 : get_threads(); }
int threads_for_elems(int64_t n) { return n < THREADS_MIN_ELEMS ? 1 : get_threads(); }

int b_panels(int n) { return (n + NR - 1) / NR; }
int64_t packed_b_size(int k, int n) { return (int64_t)b_panels(n) * NR * k; }

void pack_b(const float* b, int64_t rs, int64_t cs, int k, int n, float* bp, int p0, int p1) {
  if (p1 < 0) p1 = b_panels(n);
  for (int p = p0; p < p1; p++) {
    const int j0 = p * NR, nr = min_of(NR, n - j0);
    float* dst = bp + (int64_t)p * k * NR;
    for (int kk = 0; kk < k; kk++, dst += NR) {
      const float* src = b + kk * rs + j0 * cs;
      if (cs == 1) {
        memcpy(dst, src, sizeof(float) * nr);
      } else {
        for (int j = 0; j < nr; j++) dst[j] = src[j * cs];
      }
      for (int j = nr; j < NR; j++) dst[j] = 0.0f;
    }
  }
}

void gemm_rows(const float* const* arows, int mrows, int n, int k, PackedB b, float* c, int64_t ldc, bool accumulate,
               const float* zero_row) {
  gemm_taps(arows, 1, k, mrows, n, b, c, ldc, accumulate, zero_row);
}

void gemm_kmajor(const float* a, int64_t lda, int m, int n, int k, PackedB b, float* c, int64_t ldc, bool accumulate) {
  for_each_tile(
      m, n, k, b, accumulate, [](int, int) {},
      [&](int k0, int kc, int i0, int mr, int j0, int nr, const float* bp, bool acc) {
        micro_kernel<true>(kc, nullptr, a + k0 * lda + i0, lda, bp, c + (int64_t)i0 * ldc + j0, ldc, mr, nr, acc);
      });
}

void conv2d(const float* x, const float* w, const float* bias, int bias_mode, float* y, const ConvShape& s) {
  conv_core(x, w, y, s, 1, 1, bias, bias_mode);
}

void conv2d_backprop_input(const float* dy, const float* w, float* dx, const ConvShape& s) {
  // dx = correlation of dy dilated by the stride with the flipped filter, channels swapped:
  // wf[fh', fw', cout, cin] = w[KH-1-fh', KW-1-fw', cin, cout]; padding KH-1-pt.
  Buf<float> wf((int64_t)s.kh * s.kw * s.cin * s.cout);
  for (int fh = 0; fh < s.kh; fh++)
    for (int fw = 0; fw < s.kw; fw++)
      for (int ci = 0; ci < s.cin; ci++)
        for (int co = 0; co < s.cout; co++)
          wf[(((int64_t)(s.kh - 1 - fh) * s.kw + (s.kw - 1 - fw)) * s.cout + co) * s.cin + ci] =
              w[(((int64_t)fh * s.kw + fw) * s.cin + ci) * s.cout + co];
  ConvShape t{};
  t.batch = s.batch;
  t.ih = s.oh; t.iw = s.ow; t.cin = s.cout;
  t.oh = s.ih; t.ow = s.iw; t.cout = s.cin;
  t.kh = s.kh; t.kw = s.kw; t.sh = 1; t.sw = 1;
  t.pt = s.kh - 1 - s.pt; t.pl = s.kw - 1 - s.pl;
  // Stride > 1: dy is dilated by the stride; im2col_rows skips the holes.
  conv_core(dy, wf.data(), dx, t, s.sh, s.sw);
}

void conv2d_backprop_filter(const float* x, const float* dy, float* dw, const ConvShape& s) {
  // dw[kk, cout] = sum_p im2col(x)[p, kk] * dy[p, cout]: a GEMM over the pixel dimension with A =
  // im2col^T (k-major in the im2col buffer). Threads split the pixels; partial sums are added.
  const int64_t P = (int64_t)s.batch * s.oh * s.ow;
  const int kk = s.kh * s.kw * s.cin;
  const int64_t n_out = (int64_t)kk * s.cout;
  constexpr int PB = 128;
  const int nt = threads_for(2.0 * P * kk * s.cout);
  Buf<float> partial((int64_t)nt * n_out, true);
  const int64_t nblocks = (P + PB - 1) / PB;
  // Each thread sums a fixed, contiguous range of pixel blocks into its own partial dw (static
  // schedule): the float summation order, and so dw to the last bit, must not depend on which thread
  // ran faster, or training would not be reproducible. (A dynamic schedule was ~5% faster on a
  // shared machine and made every trained model differ run to run.)
#pragma omp parallel num_threads(nt)
  {
    const int tid = thread_id();
    Buf<float> buf((int64_t)PB * kk + MR);  // +MR: k-major reads may run past the last row
    Buf<float> dyp(s.cout < 8 ? 0 : packed_b_size(PB, s.cout));
    float* acc = partial.data() + (int64_t)tid * n_out;
    bool first = true;
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < nblocks; blk++) {
      const int64_t p0 = blk * PB;
      const int np = (int)min_of<int64_t>(PB, P - p0);
      im2col_rows(x, buf.data(), s, 1, 1, p0, np);
      if (s.cout < 8) {
        // Few output channels: dw[:, n] += dy[p, n] * col[p, :] (axpy along k; acc is [cout][kk] here).
        for (int q = 0; q < np; q++) {
          const float* row = buf.data() + (int64_t)q * kk;
          for (int n = 0; n < s.cout; n++) {
            const float g = dy[(p0 + q) * s.cout + n];
            float* d = acc + (int64_t)n * kk;
#pragma omp simd
            for (int k = 0; k < kk; k++) d[k] += g * row[k];
          }
        }
      } else {
        pack_b(dy + p0 * s.cout, s.cout, 1, np, s.cout, dyp.data());
        gemm_kmajor(buf.data(), kk, kk, s.cout, np, PackedB{dyp.data(), np}, acc, s.cout, !first);
      }
      first = false;
    }
  }
  for (int t = 1; t < nt; t++) {
    const float* q = partial.data() + (int64_t)t * n_out;
    float* p0 = partial.data();
    for (int64_t i = 0; i < n_out; i++) p0[i] += q[i];
  }
  if (s.cout < 8) {  // partials are [cout][kk]: transpose into [kk][cout]
    for (int n = 0; n < s.cout; n++)
      for (int k = 0; k < kk; k++) dw[(int64_t)k * s.cout + n] = partial[(int64_t)n * kk + k];
  } else {
    memcpy(dw, partial.data(), sizeof(float) * n_out);
  }
}

void matmul(const float* a, const float* b, float* c, const float* bias, int batch, int m, int n, int k, bool trans_a,
            bool trans_b, int64_t stride_a, int64_t stride_b) {
  const int nt = threads_for_row_split(2.0 * batch * m * n * k);
  // B packed once per distinct B (once in all for a broadcast B), straight from its transposed
  // storage when trans_b (B stored [n, k]).
  Buf<float> bp(packed_b_size(k, n));
  const PackedB pb{bp.data(), k};
  for (int bi = 0; bi < batch; bi++) {
    const float* ab = a + bi * stride_a;
    const float* bb = b + bi * stride_b;
    float* cb = c + (int64_t)bi * m * n;
    if (k == 0) {
      for (int64_t i = 0; i < (int64_t)m * n; i++) cb[i] = 0.0f;
      continue;
    }
    const bool pack = bi == 0 || stride_b != 0;
#pragma omp parallel num_threads(nt)
    {
      if (pack) {
#pragma omp for schedule(static)
        for (int p = 0; p < b_panels(n); p++) pack_b(bb, trans_b ? 1 : n, trans_b ? k : 1, k, n, bp.data(), p, p + 1);
      }
      // Split rows of C across threads in MR-multiples.
      const int team = team_size(), tid = thread_id();
      const int chunk = ((m + team - 1) / team + MR - 1) / MR * MR;
      const int r0 = min_of(m, tid * chunk), r1 = min_of(m, r0 + chunk);
      if (r1 > r0) {
        if (trans_a) {
          // A stored [k, m]: k-major already; rows past m read into the next k-row (in bounds but for
          // the last k-row), so copy that panel with padding when it would overrun.
          if (r1 == m && (m - r0) % MR != 0) {
            const int mm = r1 - r0;
            Buf<float> ap((int64_t)k * (mm + MR), true);
            for (int kk = 0; kk < k; kk++) memcpy(&ap[(int64_t)kk * (mm + MR)], ab + (int64_t)kk * m + r0, sizeof(float) * mm);
            gemm_kmajor(ap.data(), mm + MR, mm, n, k, pb, cb + (int64_t)r0 * n, n, false);
          } else {
            gemm_kmajor(ab + r0, m, r1 - r0, n, k, pb, cb + (int64_t)r0 * n, n, false);
          }
        } else {
          Buf<const float*> rows(r1 - r0);
          for (int r = r0; r < r1; r++) rows[r - r0] = ab + (int64_t)r * k;
          Buf<float> zero(k + KC_PAD, true);
          gemm_rows(rows.data(), r1 - r0, n, k, pb, cb + (int64_t)r0 * n, n, false, zero.data());
        }
      }
    }
    if (bias != nullptr) {
      for (int r = 0; r < m; r++) {
        float* cr = cb + (int64_t)r * n;
#pragma omp simd
        for (int j = 0; j < n; j++) cr[j] += bias[j];
      }
    }
  }
}

}  // namespace PIPE_ISA
}  // namespace pipe

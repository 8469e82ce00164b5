// C++ test harness for pipe-native's kernels, no Node needed: every kernel of every ISA this build
// contains and this CPU runs is compared with a plain scalar reference (double accumulation) on
// random shapes that hit the vector tails, at 1 and 2 threads; plus the dispatch rule (an ISA is
// only ever chosen for a CPU that has all its features). Cross-compiled for arm64 it runs under
// qemu-aarch64 (test/ml/backend/harness.test.ts). Prints TAP; exits 1 on any failure.
//   node scripts/build-native.mjs --harness [--target aarch64]  -> native/build/harness-*/harness
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <functional>
#include <string>
#include <vector>

#include "../kernels.h"

using pipe::ConvShape;
using pipe::Kernels;
using Vec = std::vector<float>;

namespace {

int g_test = 0, g_failed = 0;
uint64_t g_rng = 0x9E3779B97F4A7C15ull;

void check(bool ok, const std::string& what) {
  g_test++;
  if (!ok) g_failed++;
  printf("%s %d - %s\n", ok ? "ok" : "not ok", g_test, what.c_str());
}

uint32_t next_u32() {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (uint32_t)(g_rng >> 16);
}
int rint_(int lo, int hi) { return lo + (int)(next_u32() % (uint32_t)(hi - lo + 1)); }
Vec randn(size_t n, float scale = 1.0f, float shift = 0.0f) {
  Vec v(n);
  for (auto& x : v) {
    const double u1 = (next_u32() + 1.0) / 4294967297.0, u2 = next_u32() / 4294967296.0;
    x = (float)(sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2)) * scale + shift;
  }
  return v;
}

// max |got - ref| / max |ref| (absolute when ref is all zero)
double rel_err(const Vec& got, const std::vector<double>& ref) {
  if (got.size() != ref.size()) return INFINITY;
  double d = 0, s = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    d = fmax(d, fabs(got[i] - ref[i]));
    s = fmax(s, fabs(ref[i]));
    if (isnan(got[i])) return INFINITY;
  }
  return s == 0 ? d : d / s;
}

double sigm(double x) { return 1 / (1 + exp(-x)); }

// ---- scalar references ---------------------------------------------------------------------------
std::vector<double> ref_matmul(const Vec& a, const Vec& b, const Vec* bias, int m, int n, int k, bool ta, bool tb) {
  std::vector<double> c((size_t)m * n);
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double s = bias ? (*bias)[j] : 0;
      for (int q = 0; q < k; q++) s += (double)(ta ? a[(size_t)q * m + i] : a[(size_t)i * k + q]) * (tb ? b[(size_t)j * k + q] : b[(size_t)q * n + j]);
      c[(size_t)i * n + j] = s;
    }
  return c;
}

// Visits every (output pixel, filter tap) pair with an in-bounds input pixel.
void conv_taps(const ConvShape& s, const std::function<void(size_t xi, size_t yi, size_t wi0)>& f) {
  for (int b = 0; b < s.batch; b++)
    for (int oh = 0; oh < s.oh; oh++)
      for (int ow = 0; ow < s.ow; ow++)
        for (int fh = 0; fh < s.kh; fh++)
          for (int fw = 0; fw < s.kw; fw++) {
            const int ih = oh * s.sh - s.pt + fh, iw = ow * s.sw - s.pl + fw;
            if (ih < 0 || ih >= s.ih || iw < 0 || iw >= s.iw) continue;
            f((((size_t)b * s.ih + ih) * s.iw + iw) * s.cin, (((size_t)b * s.oh + oh) * s.ow + ow) * s.cout,
              ((size_t)fh * s.kw + fw) * s.cin * s.cout);
          }
}

ConvShape random_conv() {
  ConvShape s{};
  for (;;) {
    s.batch = rint_(1, 5); s.ih = rint_(1, 9); s.iw = rint_(1, 9); s.cin = rint_(1, 20); s.cout = rint_(1, 40);
    s.kh = s.kw = rint_(1, 3); s.sh = s.sw = rint_(1, 2); s.pt = s.pl = rint_(0, 2);
    s.oh = (s.ih + 2 * s.pt - s.kh) / s.sh + 1;
    s.ow = (s.iw + 2 * s.pl - s.kw) / s.sw + 1;
    if (s.ih + 2 * s.pt >= s.kh && s.iw + 2 * s.pl >= s.kw) return s;
  }
}

// A 3x3 convolution with padding 1 on a batch of 2.
ConvShape conv3x3(int ih, int iw, int cin, int cout, int stride) {
  ConvShape s{};
  s.batch = 2; s.ih = ih; s.iw = iw; s.cin = cin; s.cout = cout;
  s.kh = s.kw = 3; s.sh = s.sw = stride; s.pt = s.pl = 1;
  s.oh = (s.ih + 2 * s.pt - s.kh) / s.sh + 1;
  s.ow = (s.iw + 2 * s.pl - s.kw) / s.sw + 1;
  return s;
}

// conv_out-like: few output channels, cin a multiple of every vector width (the direct narrow path).
ConvShape narrow_conv(int cout, int stride) { return conv3x3(7, 7, 16, cout, stride); }

// Many input channels: K = 9 * cin exceeds one K block, so a block boundary falls inside a filter
// tap (the tap-segment GEMM's split case); a 14-wide image puts tiles across rows and padding.
ConvShape wide_conv(int cin, int stride) { return conv3x3(5, 14, cin, 37, stride); }

std::string shape_str(const ConvShape& s) {
  char b[160];
  snprintf(b, sizeof b, "b%d %dx%dx%d -> %dx%dx%d k%d s%d p%d", s.batch, s.ih, s.iw, s.cin, s.oh, s.ow, s.cout, s.kh, s.sh, s.pt);
  return b;
}

// GroupNorm(+SiLU) forward and gradient in double. x [b, hw, c].
void ref_group_norm(const Vec& x, const Vec& gm, const Vec& bt, const Vec& dy, int b, int hw, int c, int g, double eps,
                    bool silu, std::vector<double>& y, std::vector<double>& dx, std::vector<double>& dg,
                    std::vector<double>& db) {
  const int cg = c / g;
  const size_t n = (size_t)b * hw * c;
  y.assign(n, 0); dx.assign(n, 0); dg.assign(c, 0); db.assign(c, 0);
  for (int bi = 0; bi < b; bi++)
    for (int gi = 0; gi < g; gi++) {
      auto at = [&](int p, int j) { return ((size_t)bi * hw + p) * c + gi * cg + j; };
      double mean = 0, var = 0;
      for (int p = 0; p < hw; p++)
        for (int j = 0; j < cg; j++) mean += x[at(p, j)];
      mean /= (double)hw * cg;
      for (int p = 0; p < hw; p++)
        for (int j = 0; j < cg; j++) var += (x[at(p, j)] - mean) * (x[at(p, j)] - mean);
      const double rstd = 1 / sqrt(var / ((double)hw * cg) + eps);
      double s1 = 0, s2 = 0;  // mean of dxhat and of dxhat * xhat, over the group
      std::vector<double> dxh((size_t)hw * cg), xh((size_t)hw * cg);
      for (int p = 0; p < hw; p++)
        for (int j = 0; j < cg; j++) {
          const size_t i = at(p, j);
          const int ch = gi * cg + j;
          const double h = (x[i] - mean) * rstd, u = gm[ch] * h + bt[ch];
          y[i] = silu ? u * sigm(u) : u;
          const double du = silu ? dy[i] * sigm(u) * (1 + u * (1 - sigm(u))) : dy[i];
          dg[ch] += du * h;
          db[ch] += du;
          xh[(size_t)p * cg + j] = h;
          dxh[(size_t)p * cg + j] = du * gm[ch];
          s1 += du * gm[ch];
          s2 += du * gm[ch] * h;
        }
      s1 /= (double)hw * cg;
      s2 /= (double)hw * cg;
      for (int p = 0; p < hw; p++)
        for (int j = 0; j < cg; j++) dx[at(p, j)] = rstd * (dxh[(size_t)p * cg + j] - s1 - xh[(size_t)p * cg + j] * s2);
    }
}

// ---- per-ISA checks --------------------------------------------------------------------------------
void test_isa(const Kernels& K, int threads) {
  pipe::set_threads(threads);
  const std::string tag = std::string(K.name) + " t" + std::to_string(threads) + ": ";
  const double tol = 1e-4;

  for (int rep = 0; rep < 12; rep++) {  // matmul: transposes, bias, batch with a broadcast B
    const int batch = rint_(1, 3), m = rint_(1, 70), n = rint_(1, 70), k = rint_(1, 300);
    const bool ta = rint_(0, 1), tb = rint_(0, 1), bcast = rint_(0, 1), with_bias = rint_(0, 1);
    const Vec a = randn((size_t)batch * m * k), b = randn((size_t)batch * k * n), bias = randn(n);
    Vec c((size_t)batch * m * n);
    K.matmul(a.data(), b.data(), c.data(), with_bias ? bias.data() : nullptr, batch, m, n, k, ta, tb, (int64_t)m * k,
             bcast ? 0 : (int64_t)k * n);
    double err = 0;
    for (int bi = 0; bi < batch; bi++) {
      const Vec ab(a.begin() + (size_t)bi * m * k, a.begin() + (size_t)(bi + 1) * m * k);
      const size_t bo = bcast ? 0 : (size_t)bi * k * n;
      const Vec bb(b.begin() + bo, b.begin() + bo + (size_t)k * n);
      const Vec cb(c.begin() + (size_t)bi * m * n, c.begin() + (size_t)(bi + 1) * m * n);
      err = fmax(err, rel_err(cb, ref_matmul(ab, bb, with_bias ? &bias : nullptr, m, n, k, ta, tb)));
    }
    char d[96];
    snprintf(d, sizeof d, "matmul b%d %dx%dx%d ta%d tb%d (err %.1e)", batch, m, n, k, ta, tb, err);
    check(err <= tol, tag + d);
  }

  for (int rep = 0; rep < 15; rep++) {  // conv2d (+ bias modes) and both gradients
    const ConvShape s = rep < 10   ? random_conv()
                        : rep < 13 ? narrow_conv(rep == 10 ? 1 : 3, rep == 12 ? 2 : 1)
                                   : wide_conv(rep == 13 ? 70 : 48, rep == 13 ? 1 : 2);
    const Vec x = randn((size_t)s.batch * s.ih * s.iw * s.cin), w = randn((size_t)s.kh * s.kw * s.cin * s.cout);
    const Vec dy = randn((size_t)s.batch * s.oh * s.ow * s.cout), bias = randn((size_t)s.batch * s.cout);
    const int mode = rep % 3;
    std::vector<double> ry(dy.size()), rdx(x.size()), rdw(w.size());
    for (size_t i = 0; i < ry.size(); i++) {
      const size_t co = i % s.cout, bi = i / ((size_t)s.oh * s.ow * s.cout);
      ry[i] = mode == 0 ? 0 : mode == 1 ? bias[co] : bias[bi * s.cout + co];
    }
    conv_taps(s, [&](size_t xi, size_t yi, size_t wi0) {
      for (int ci = 0; ci < s.cin; ci++)
        for (int co = 0; co < s.cout; co++) {
          const size_t wi = wi0 + (size_t)ci * s.cout + co;
          ry[yi + co] += (double)x[xi + ci] * w[wi];
          rdx[xi + ci] += (double)dy[yi + co] * w[wi];
          rdw[wi] += (double)x[xi + ci] * dy[yi + co];
        }
    });
    Vec y(dy.size()), dx(x.size()), dw(w.size()), dw2(w.size());
    K.conv2d(x.data(), w.data(), mode == 0 ? nullptr : bias.data(), mode, y.data(), s);
    K.conv2d_backprop_input(dy.data(), w.data(), dx.data(), s);
    K.conv2d_backprop_filter(x.data(), dy.data(), dw.data(), s);
    K.conv2d_backprop_filter(x.data(), dy.data(), dw2.data(), s);
    check(rel_err(y, ry) <= tol, tag + "conv2d " + shape_str(s) + " bias mode " + std::to_string(mode));
    check(rel_err(dx, rdx) <= tol, tag + "conv2d_backprop_input " + shape_str(s));
    check(rel_err(dw, rdw) <= tol, tag + "conv2d_backprop_filter " + shape_str(s));
    check(memcmp(dw.data(), dw2.data(), dw.size() * sizeof(float)) == 0, tag + "conv2d_backprop_filter reproducible to the bit");
  }

  for (int rep = 0; rep < 8; rep++) {  // GroupNorm(+SiLU) and its gradient
    const int b = rint_(1, 5), hw = rint_(2, 36), g = rint_(1, 4), cg = rint_(2, 9), c = g * cg;
    const bool silu = rep % 2;
    const float scale = rep % 4 < 2 ? 1.0f : 30.0f;
    const size_t n = (size_t)b * hw * c;
    const Vec x = randn(n, scale, 2.0f), gm = randn(c), bt = randn(c), dy = randn(n);
    std::vector<double> ry, rdx, rdg, rdb;
    ref_group_norm(x, gm, bt, dy, b, hw, c, g, 1e-5, silu, ry, rdx, rdg, rdb);
    Vec y(n), dx(n), dg(c), db(c);
    K.group_norm(x.data(), gm.data(), bt.data(), y.data(), b, hw, c, g, 1e-5f, silu);
    K.group_norm_grad(dy.data(), x.data(), gm.data(), bt.data(), dx.data(), dg.data(), db.data(), b, hw, c, g, 1e-5f, silu);
    const std::string d = "group_norm b" + std::to_string(b) + " hw" + std::to_string(hw) + " c" + std::to_string(c) +
                          " g" + std::to_string(g) + (silu ? " +silu" : "");
    check(rel_err(y, ry) <= tol, tag + d);
    check(rel_err(dx, rdx) <= 1e-3 && rel_err(dg, rdg) <= tol && rel_err(db, rdb) <= tol, tag + d + " gradient");
  }

  {  // SiLU, its gradient, sin / cos, clip (lengths straddling the vector width and the threading threshold)
    for (int n : {1, 3, 17, 100, 270001}) {
      const Vec x = randn(n, 8.0f), dy = randn(n);
      std::vector<double> rs(n), rg(n), rsin(n), rcos(n);
      for (int i = 0; i < n; i++) {
        rs[i] = x[i] * sigm(x[i]);
        rg[i] = dy[i] * sigm(x[i]) * (1 + x[i] * (1 - sigm(x[i])));
        rsin[i] = sin((double)x[i]);
        rcos[i] = cos((double)x[i]);
      }
      Vec y(n), g(n), ys(n), yc(n);
      K.silu(x.data(), y.data(), n);
      K.silu_grad(dy.data(), x.data(), g.data(), n);
      K.trig(x.data(), ys.data(), n, 0);
      K.trig(x.data(), yc.data(), n, 1);
      check(rel_err(y, rs) <= tol && rel_err(g, rg) <= tol, tag + "silu / silu_grad n=" + std::to_string(n));
      check(rel_err(ys, rsin) <= 1e-6 && rel_err(yc, rcos) <= 1e-6, tag + "sin / cos n=" + std::to_string(n));
      Vec yk(n);
      K.clip(x.data(), yk.data(), n, -0.5f, 0.75f);
      bool exact = true;
      for (int i = 0; i < n; i++) exact = exact && yk[i] == (x[i] > 0.75f ? 0.75f : x[i] < -0.5f ? -0.5f : x[i]);
      check(exact, tag + "clip n=" + std::to_string(n));
    }
  }

  {  // clip: NaN passes through, -0 stays -0, infinities clamp; past the threading threshold
    // (262,144 floats: gemm.cc's THREADS_MIN_ELEMS)
    const int n = 270001;
    const float nan = NAN, inf = INFINITY;
    Vec x = randn(n);
    x[0] = nan, x[1] = -0.0f, x[2] = inf, x[3] = -inf, x[n - 1] = nan;
    Vec y(x.size());
    K.clip(x.data(), y.data(), (int64_t)x.size(), -1.0f, 1.0f);
    bool ok = isnan(y[0]) && y[1] == 0.0f && signbit(y[1]) && y[2] == 1.0f && y[3] == -1.0f && isnan(y[n - 1]);
    for (int i = 4; i < n - 1; i++) ok = ok && y[i] == (x[i] > 1.0f ? 1.0f : x[i] < -1.0f ? -1.0f : x[i]);
    check(ok, tag + "clip special values, n=" + std::to_string(n));
  }

  {  // upsample x2 and its gradient; sum_middle; binary_bcast; copy_strided; adam
    const int b = 3, h = 5, w = 4, c = 7;
    const Vec x = randn((size_t)b * h * w * c), dy = randn((size_t)b * 4 * h * w * c);
    Vec y(dy.size()), dx(x.size());
    K.upsample2x(x.data(), y.data(), b, h, w, c);
    K.upsample2x_grad(dy.data(), dx.data(), b, h, w, c);
    std::vector<double> ry(y.size()), rdx(x.size(), 0);
    for (int bi = 0; bi < b; bi++)
      for (int i = 0; i < 2 * h; i++)
        for (int j = 0; j < 2 * w; j++)
          for (int ci = 0; ci < c; ci++) {
            const size_t o = (((size_t)bi * 2 * h + i) * 2 * w + j) * c + ci, s = (((size_t)bi * h + i / 2) * w + j / 2) * c + ci;
            ry[o] = x[s];
            rdx[s] += dy[o];
          }
    check(rel_err(y, ry) == 0 && rel_err(dx, rdx) <= 1e-6, tag + "upsample2x / grad");

    for (auto dims : {std::vector<int>{1, 300, 7}, std::vector<int>{5, 40, 33}, std::vector<int>{2, 1, 1}}) {
      const int outer = dims[0], mid = dims[1], inner = dims[2];
      const Vec v = randn((size_t)outer * mid * inner);
      Vec o((size_t)outer * inner);
      std::vector<double> ro(o.size(), 0);
      for (int a = 0; a < outer; a++)
        for (int j = 0; j < mid; j++)
          for (int i = 0; i < inner; i++) ro[(size_t)a * inner + i] += v[((size_t)a * mid + j) * inner + i];
      K.sum_middle(v.data(), o.data(), outer, mid, inner);
      check(rel_err(o, ro) <= 1e-5, tag + "sum_middle " + std::to_string(outer) + "x" + std::to_string(mid) + "x" + std::to_string(inner));
    }

    // b of 37 (rows split across work chunks), a scalar b, and b as large as a (one row): the large
    // ones past the threading threshold (262,144 floats: gemm.cc's THREADS_MIN_ELEMS).
    for (const auto& [nb, rows] : std::vector<std::pair<int, int>>{{37, 9}, {37, 7301}, {1, 270001}, {270001, 1}}) {
      const Vec a = randn((size_t)nb * rows), bb = randn(nb);
      for (int op = 0; op < 4; op++) {
        Vec o(a.size());
        K.binary_bcast(a.data(), bb.data(), o.data(), (int64_t)a.size(), nb, op);
        std::vector<double> ro(a.size());
        for (size_t i = 0; i < a.size(); i++) {
          const float p = a[i], q = bb[i % nb];  // float arithmetic: the kernel must be exact
          ro[i] = op == 0 ? p + q : op == 1 ? p - q : op == 2 ? p * q : p / q;
        }
        check(rel_err(o, ro) == 0, tag + "binary_bcast b of " + std::to_string(nb) + " x" + std::to_string(rows) + " op " + std::to_string(op));
      }
    }

    Vec dst(5 * 11, -1.0f);
    const Vec src = randn(5 * 13);
    K.copy_strided(src.data() + 2, 13, dst.data() + 1, 11, 5, 7);
    bool same = true;
    for (int r = 0; r < 5; r++)
      for (int cc = 0; cc < 11; cc++) {
        const float want = cc >= 1 && cc < 8 ? src[(size_t)r * 13 + 2 + cc - 1] : -1.0f;
        same = same && dst[(size_t)r * 11 + cc] == want;
      }
    check(same, tag + "copy_strided");

    const int n = 1001;
    const Vec p = randn(n), m = randn(n, 0.1f), g = randn(n);
    Vec v = randn(n);
    for (auto& e : v) e = e * e * 0.01f;
    Vec po(n), mo(n), vo(n);
    const double c1 = 1 - pow(0.9, 7), c2 = 1 - pow(0.999, 7);
    K.adam(p.data(), m.data(), v.data(), g.data(), po.data(), mo.data(), vo.data(), n, 1e-3f, 0.9f, 0.999f, 1e-8f, (float)c1, (float)c2);
    std::vector<double> rp(n), rm(n), rv(n);
    for (int i = 0; i < n; i++) {
      rm[i] = 0.9 * m[i] + 0.1 * g[i];
      rv[i] = 0.999 * v[i] + 0.001 * (double)g[i] * g[i];
      rp[i] = p[i] - 1e-3 * (rm[i] / c1) / (sqrt(rv[i] / c2) + 1e-8);
    }
    check(rel_err(po, rp) <= tol && rel_err(mo, rm) <= tol && rel_err(vo, rv) <= tol, tag + "adam");
  }

  for (int rep = 0; rep < 8; rep++) {  // fused linear(+SiLU) and its parameter gradient
    const int m = rint_(1, 300), n = rint_(1, 70), k = rint_(1, 90);
    const bool silu = rep % 2;
    const Vec x = randn((size_t)m * k), w = randn((size_t)k * n), b = randn(n), dy = randn((size_t)m * n);
    const std::vector<double> rz = ref_matmul(x, w, &b, m, n, k, false, false);
    std::vector<double> ry(rz.size()), rdz(rz.size()), rdw((size_t)k * n, 0), rdb(n, 0);
    for (size_t i = 0; i < rz.size(); i++) {
      ry[i] = silu ? rz[i] * sigm(rz[i]) : rz[i];
      rdz[i] = silu ? dy[i] * sigm(rz[i]) * (1 + rz[i] * (1 - sigm(rz[i]))) : dy[i];
    }
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) {
        rdb[j] += rdz[(size_t)i * n + j];
        for (int q = 0; q < k; q++) rdw[(size_t)q * n + j] += (double)x[(size_t)i * k + q] * rdz[(size_t)i * n + j];
      }
    Vec y((size_t)m * n), z((size_t)m * n), dz((size_t)m * n), dw((size_t)k * n), db(n);
    K.linear(x.data(), w.data(), b.data(), y.data(), silu ? z.data() : nullptr, m, n, k, silu);
    // the gradient takes z as the kernel stored it (float), so compare dz against the reference's
    Vec zin(z.size());
    for (size_t i = 0; i < z.size(); i++) zin[i] = silu ? z[i] : 0.0f;
    K.linear_grad(dy.data(), x.data(), silu ? zin.data() : nullptr, silu ? dz.data() : nullptr, dw.data(), db.data(), m, n, k, silu);
    char d[96];
    snprintf(d, sizeof d, "linear %dx%dx%d%s", m, n, k, silu ? " +silu" : "");
    check(rel_err(y, ry) <= tol && (!silu || rel_err(z, rz) <= tol), tag + d);
    check(rel_err(dw, rdw) <= tol && rel_err(db, rdb) <= tol && (!silu || rel_err(dz, rdz) <= tol), tag + d + " gradient");
  }
}

void test_dispatch() {
  // For every feature set and every request: a chosen ISA is compiled and needs nothing the CPU lacks.
  bool sound = true, portable_always = true;
  for (uint32_t f = 0; f < 16; f++) {
    for (int req = -1; req < pipe::kIsaCount; req++) {
      const int got = pipe::choose_isa(f, req);
      if (got < 0) continue;
      sound = sound && pipe::compiled_kernels(got) != nullptr && (pipe::isa_requirements(got) & ~f) == 0 &&
              (req < 0 || got == req);
    }
    portable_always = portable_always && pipe::choose_isa(f, -1) >= 0;
  }
  check(sound, "dispatch: never an ISA the (faked) CPU lacks or the build does not contain");
  check(portable_always, "dispatch: some ISA is always usable (portable needs no feature)");
  check(pipe::choose_isa(pipe::kFeatAvx2 | pipe::kFeatFma, pipe::kAvx512) == -1, "dispatch: avx512 refused without avx512f");
  check(pipe::choose_isa(0, pipe::kNeon) == -1, "dispatch: neon refused without neon");
}

}  // namespace

// ---- thread-count invariance -------------------------------------------------------------------
// The row-split GEMMs (matmul, linear, linear_grad) may use any thread count (gemm.cc picks it by
// speed alone) only because every output element is summed by one thread in the same k order: the
// bits at 1 and 2 threads must be equal. Sizes past the row-split threshold (32 MFLOP), with tails.
void test_thread_invariance(const Kernels& K) {
  const std::string tag = std::string(K.name) + ": ";
  const int m = 301, n = 259, k = 263;  // 2 m n k = 41 MFLOP
  const Vec a = randn((size_t)m * k), b = randn((size_t)k * n), bias = randn(n), dy = randn((size_t)m * n);
  Vec c[2], y[2], z[2], dz[2], dw[2], db[2];
  for (int t = 0; t < 2; t++) {
    pipe::set_threads(t + 1);
    c[t].resize((size_t)m * n), y[t].resize((size_t)m * n), z[t].resize((size_t)m * n), dz[t].resize((size_t)m * n);
    dw[t].resize((size_t)k * n), db[t].resize(n);
    K.matmul(a.data(), b.data(), c[t].data(), bias.data(), 1, m, n, k, false, false, 0, 0);
    K.linear(a.data(), b.data(), bias.data(), y[t].data(), z[t].data(), m, n, k, true);
    K.linear_grad(dy.data(), a.data(), z[0].data(), dz[t].data(), dw[t].data(), db[t].data(), m, n, k, true);
  }
  const auto same = [](const Vec& p, const Vec& q) { return p.size() == q.size() && memcmp(p.data(), q.data(), sizeof(float) * p.size()) == 0; };
  check(same(c[0], c[1]), tag + "matmul 301x259x263: same bits at 1 and 2 threads");
  check(same(y[0], y[1]) && same(z[0], z[1]), tag + "linear +silu 301x259x263: same bits at 1 and 2 threads");
  check(same(dz[0], dz[1]) && same(dw[0], dw[1]) && same(db[0], db[1]), tag + "linear_grad 301x259x263: same bits at 1 and 2 threads");
  const double err = rel_err(c[1], ref_matmul(a, b, &bias, m, n, k, false, false));
  check(err <= 1e-4, tag + "matmul 301x259x263 at 2 threads against the reference");
}

int main() {
  printf("TAP version 13\n");
  const uint32_t cpu = pipe::cpu_features();
  test_dispatch();
  for (int isa = 0; isa < pipe::kIsaCount; isa++) {
    const Kernels* k = pipe::compiled_kernels(isa);
    if (k == nullptr) continue;
    if ((pipe::isa_requirements(isa) & ~cpu) != 0) {
      printf("# %s: compiled, but this CPU lacks it: skipped\n", pipe::isa_name(isa));
      continue;
    }
    for (int threads : {1, 2}) test_isa(*k, threads);
    test_thread_invariance(*k);
  }
  printf("1..%d\n# %d passed, %d failed\n", g_test, g_test - g_failed, g_failed);
  return g_failed == 0 ? 0 : 1;
}

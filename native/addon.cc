// N-API glue for pipe-native: unpacks Float32Array / number arguments and calls kernels.h.
// Plain C N-API (node_api.h, ABI-stable), so no extra npm dependency is needed to build.
// Every function is synchronous: tfjs kernels are synchronous on the JS thread, and the kernels
// parallelise internally with OpenMP.
#include <malloc.h>
#include <node_api.h>

#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace {

struct Args {
  napi_env env;
  napi_value argv[16];
  size_t argc = 16;
  bool ok = true;

  Args(napi_env e, napi_callback_info info) : env(e) {
    if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) fail("bad call");
  }
  void fail(const char* msg) {
    if (ok) napi_throw_error(env, "PIPE_NATIVE", msg);
    ok = false;
  }
  // Float32Array (or null/undefined -> nullptr when allow_null).
  float* f32(size_t i, bool allow_null = false) {
    if (!ok) return nullptr;
    if (i >= argc) {
      fail("missing argument");
      return nullptr;
    }
    napi_valuetype t;
    napi_typeof(env, argv[i], &t);
    if (allow_null && (t == napi_null || t == napi_undefined)) return nullptr;
    bool is_ta = false;
    napi_is_typedarray(env, argv[i], &is_ta);
    if (!is_ta) {
      fail("expected a Float32Array");
      return nullptr;
    }
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value ab;
    size_t offset;
    napi_get_typedarray_info(env, argv[i], &type, &length, &data, &ab, &offset);
    if (type != napi_float32_array) {
      fail("expected a Float32Array");
      return nullptr;
    }
    return static_cast<float*>(data);
  }
  int32_t* i32(size_t i) {
    if (!ok) return nullptr;
    bool is_ta = false;
    if (i < argc) napi_is_typedarray(env, argv[i], &is_ta);
    if (!is_ta) {
      fail("expected an Int32Array");
      return nullptr;
    }
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_value ab;
    size_t offset;
    napi_get_typedarray_info(env, argv[i], &type, &length, &data, &ab, &offset);
    if (type != napi_int32_array) {
      fail("expected an Int32Array");
      return nullptr;
    }
    return static_cast<int32_t*>(data);
  }
  double num(size_t i) {
    double v = 0;
    if (ok && (i >= argc || napi_get_value_double(env, argv[i], &v) != napi_ok)) fail("expected a number");
    return v;
  }
};

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

pipe::ConvShape conv_shape(const int32_t* p) {
  pipe::ConvShape s{};
  s.batch = p[0]; s.ih = p[1]; s.iw = p[2]; s.cin = p[3];
  s.oh = p[4]; s.ow = p[5]; s.cout = p[6];
  s.kh = p[7]; s.kw = p[8]; s.sh = p[9]; s.sw = p[10]; s.pt = p[11]; s.pl = p[12];
  return s;
}

// conv2d(x, w, bias|null, y, shape: Int32Array[13], biasMode)
napi_value Conv2d(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *w = a.f32(1), *bias = a.f32(2, true), *y = a.f32(3);
  const int32_t* p = a.i32(4);
  const int mode = (int)a.num(5);
  if (a.ok) pipe::conv2d(x, w, bias, bias == nullptr ? 0 : mode, y, conv_shape(p));
  return undefined(env);
}

// conv2dBackpropInput(dy, w, dx, shape)
napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *dy = a.f32(0), *w = a.f32(1), *dx = a.f32(2);
  const int32_t* p = a.i32(3);
  if (a.ok) pipe::conv2d_backprop_input(dy, w, dx, conv_shape(p));
  return undefined(env);
}

// conv2dBackpropFilter(x, dy, dw, shape)
napi_value Conv2dBackpropFilter(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *dy = a.f32(1), *dw = a.f32(2);
  const int32_t* p = a.i32(3);
  if (a.ok) pipe::conv2d_backprop_filter(x, dy, dw, conv_shape(p));
  return undefined(env);
}

// matmul(a, b, c, bias|null, dims: Int32Array[batch, m, n, k, transA, transB, strideA, strideB])
napi_value Matmul(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *A = a.f32(0), *B = a.f32(1), *C = a.f32(2), *bias = a.f32(3, true);
  const int32_t* p = a.i32(4);
  if (a.ok) pipe::matmul(A, B, C, bias, p[0], p[1], p[2], p[3], p[4] != 0, p[5] != 0, p[6], p[7]);
  return undefined(env);
}

// groupNorm(x, gamma, beta, y, b, hw, c, g, eps, silu)
napi_value GroupNorm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *gm = a.f32(1), *bt = a.f32(2), *y = a.f32(3);
  const int b = (int)a.num(4), hw = (int)a.num(5), c = (int)a.num(6), g = (int)a.num(7);
  const float eps = (float)a.num(8);
  const bool s = a.num(9) != 0;
  if (a.ok) pipe::group_norm(x, gm, bt, y, b, hw, c, g, eps, s);
  return undefined(env);
}

// groupNormGrad(dy, x, gamma, beta, dx, dgamma, dbeta, b, hw, c, g, eps, silu)
napi_value GroupNormGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *dy = a.f32(0), *x = a.f32(1), *gm = a.f32(2), *bt = a.f32(3), *dx = a.f32(4), *dg = a.f32(5), *db = a.f32(6);
  const int b = (int)a.num(7), hw = (int)a.num(8), c = (int)a.num(9), g = (int)a.num(10);
  const float eps = (float)a.num(11);
  const bool s = a.num(12) != 0;
  if (a.ok) pipe::group_norm_grad(dy, x, gm, bt, dx, dg, db, b, hw, c, g, eps, s);
  return undefined(env);
}

napi_value Silu(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *y = a.f32(1);
  const double n = a.num(2);
  if (a.ok) pipe::silu(x, y, (int64_t)n);
  return undefined(env);
}

napi_value SiluGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *dy = a.f32(0), *x = a.f32(1), *dx = a.f32(2);
  const double n = a.num(3);
  if (a.ok) pipe::silu_grad(dy, x, dx, (int64_t)n);
  return undefined(env);
}

// upsample2x(x, y, b, h, w, c) / upsample2xGrad(dy, dx, b, h, w, c): h, w of the small side.
napi_value Upsample2x(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *y = a.f32(1);
  const int b = (int)a.num(2), h = (int)a.num(3), w = (int)a.num(4), c = (int)a.num(5);
  if (a.ok) pipe::upsample2x(x, y, b, h, w, c);
  return undefined(env);
}
napi_value Upsample2xGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *dy = a.f32(0), *dx = a.f32(1);
  const int b = (int)a.num(2), h = (int)a.num(3), w = (int)a.num(4), c = (int)a.num(5);
  if (a.ok) pipe::upsample2x_grad(dy, dx, b, h, w, c);
  return undefined(env);
}

// adam(p, m, v, g, pOut, mOut, vOut, lr, b1, b2, eps, c1, c2)
napi_value Adam(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *p = a.f32(0), *m = a.f32(1), *v = a.f32(2), *g = a.f32(3), *po = a.f32(4), *mo = a.f32(5), *vo = a.f32(6);
  const double lr = a.num(7), b1 = a.num(8), b2 = a.num(9), eps = a.num(10), c1 = a.num(11), c2 = a.num(12);
  size_t n = 0;
  if (a.ok) {
    napi_typedarray_type type;
    void* data;
    napi_value ab;
    size_t off;
    napi_get_typedarray_info(env, a.argv[0], &type, &n, &data, &ab, &off);
    pipe::adam(p, m, v, g, po, mo, vo, (int64_t)n, (float)lr, (float)b1, (float)b2, (float)eps, (float)c1, (float)c2);
  }
  return undefined(env);
}

// sumMiddle(x, out, outer, mid, inner)
napi_value SumMiddle(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *o = a.f32(1);
  const double outer = a.num(2), mid = a.num(3), inner = a.num(4);
  if (a.ok) pipe::sum_middle(x, o, (int64_t)outer, (int64_t)mid, (int64_t)inner);
  return undefined(env);
}

// binaryBcast(a, b, out, n, nb, op)
napi_value BinaryBcast(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *y = a.f32(1), *o = a.f32(2);
  const double n = a.num(3), nb = a.num(4), op = a.num(5);
  if (a.ok) pipe::binary_bcast(x, y, o, (int64_t)n, (int64_t)nb, (int)op);
  return undefined(env);
}

// copyStrided(src, srcOffset, srcStride, dst, dstOffset, dstStride, rows, cols)
napi_value CopyStrided(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *src = a.f32(0);
  const double so = a.num(1), ss = a.num(2);
  float* dst = a.f32(3);
  const double d_o = a.num(4), ds = a.num(5), rows = a.num(6), cols = a.num(7);
  if (a.ok) pipe::copy_strided(src + (int64_t)so, (int64_t)ss, dst + (int64_t)d_o, (int64_t)ds, (int64_t)rows, (int64_t)cols);
  return undefined(env);
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const double n = a.num(0);
  if (a.ok) pipe::set_threads((int)n);
  return undefined(env);
}

// Ctrl-C while JavaScript is busy: native/interrupts.cc (its own file: <signal.h> declares a
// function named pipe(), which clashes with the kernels' namespace).
extern "C" int pipe_watch_interrupts();
extern "C" int pipe_interrupt_count();

napi_value WatchInterrupts(napi_env env, napi_callback_info) {
  napi_value v;
  napi_get_boolean(env, pipe_watch_interrupts() != 0, &v);
  return v;
}

napi_value Interrupts(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, pipe_interrupt_count(), &v);
  return v;
}

napi_value Init(napi_env env, napi_value exports) {
  // tfjs allocates a fresh Float32Array for every kernel output (MBs each). With glibc's defaults
  // those come from fresh mmap()ed pages and each page faults on first write: measured 13-25 ms of
  // CPU per 6.4 MB output on the target VM, more than the kernel itself. Serving them from a heap
  // that is never trimmed reuses already-faulted pages (0.6 ms). Process-wide, set once at load.
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 * 1024 * 1024);
  const struct {
    const char* name;
    napi_callback fn;
  } fns[] = {
      {"conv2d", Conv2d}, {"conv2dBackpropInput", Conv2dBackpropInput}, {"conv2dBackpropFilter", Conv2dBackpropFilter},
      {"matmul", Matmul}, {"groupNorm", GroupNorm}, {"groupNormGrad", GroupNormGrad}, {"silu", Silu},
      {"siluGrad", SiluGrad}, {"upsample2x", Upsample2x}, {"upsample2xGrad", Upsample2xGrad}, {"adam", Adam},
      {"sumMiddle", SumMiddle}, {"binaryBcast", BinaryBcast}, {"setThreads", SetThreads}, {"copyStrided", CopyStrided},
      {"watchInterrupts", WatchInterrupts}, {"interrupts", Interrupts},
  };
  for (const auto& f : fns) {
    napi_value v;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &v);
    napi_set_named_property(env, exports, f.name, v);
  }
  napi_value abi;
  napi_create_int32(env, 1, &abi);
  napi_set_named_property(env, exports, "abiVersion", abi);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)

// N-API glue for pipe-native: unpacks Float32Array / number arguments and calls the active ISA's
// kernel table (kernels.h). Plain C N-API (node_api.h, ABI-stable), so no extra npm dependency is
// needed to build. Every function is synchronous: tfjs kernels are synchronous on the JS thread,
// and the kernels parallelise internally with OpenMP. Compiled for the baseline CPU: nothing here
// may use an instruction the weakest supported CPU of the architecture lacks.
#include <node_api.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace {

// The kernel table in use: the widest the CPU supports until setIsa() picks another.
const pipe::Kernels* g_k = nullptr;

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
    if (g_k == nullptr) fail("pipe-native: no kernel table usable on this CPU");
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
  if (a.ok) g_k->conv2d(x, w, bias, bias == nullptr ? 0 : mode, y, conv_shape(p));
  return undefined(env);
}

// conv2dBackpropInput(dy, w, dx, shape)
napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *dy = a.f32(0), *w = a.f32(1), *dx = a.f32(2);
  const int32_t* p = a.i32(3);
  if (a.ok) g_k->conv2d_backprop_input(dy, w, dx, conv_shape(p));
  return undefined(env);
}

// conv2dBackpropFilter(x, dy, dw, shape)
napi_value Conv2dBackpropFilter(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *dy = a.f32(1), *dw = a.f32(2);
  const int32_t* p = a.i32(3);
  if (a.ok) g_k->conv2d_backprop_filter(x, dy, dw, conv_shape(p));
  return undefined(env);
}

// matmul(a, b, c, bias|null, dims: Int32Array[batch, m, n, k, transA, transB, strideA, strideB])
napi_value Matmul(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *A = a.f32(0), *B = a.f32(1), *C = a.f32(2), *bias = a.f32(3, true);
  const int32_t* p = a.i32(4);
  if (a.ok) g_k->matmul(A, B, C, bias, p[0], p[1], p[2], p[3], p[4] != 0, p[5] != 0, p[6], p[7]);
  return undefined(env);
}

// groupNorm(x, gamma, beta, y, b, hw, c, g, eps, silu)
napi_value GroupNorm(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *gm = a.f32(1), *bt = a.f32(2), *y = a.f32(3);
  const int b = (int)a.num(4), hw = (int)a.num(5), c = (int)a.num(6), g = (int)a.num(7);
  const float eps = (float)a.num(8);
  const bool s = a.num(9) != 0;
  if (a.ok) g_k->group_norm(x, gm, bt, y, b, hw, c, g, eps, s);
  return undefined(env);
}

// groupNormGrad(dy, x, gamma, beta, dx, dgamma, dbeta, b, hw, c, g, eps, silu)
napi_value GroupNormGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *dy = a.f32(0), *x = a.f32(1), *gm = a.f32(2), *bt = a.f32(3), *dx = a.f32(4), *dg = a.f32(5), *db = a.f32(6);
  const int b = (int)a.num(7), hw = (int)a.num(8), c = (int)a.num(9), g = (int)a.num(10);
  const float eps = (float)a.num(11);
  const bool s = a.num(12) != 0;
  if (a.ok) g_k->group_norm_grad(dy, x, gm, bt, dx, dg, db, b, hw, c, g, eps, s);
  return undefined(env);
}

napi_value Silu(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *y = a.f32(1);
  const double n = a.num(2);
  if (a.ok) g_k->silu(x, y, (int64_t)n);
  return undefined(env);
}

napi_value SiluGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *dy = a.f32(0), *x = a.f32(1), *dx = a.f32(2);
  const double n = a.num(3);
  if (a.ok) g_k->silu_grad(dy, x, dx, (int64_t)n);
  return undefined(env);
}

// upsample2x(x, y, b, h, w, c) / upsample2xGrad(dy, dx, b, h, w, c): h, w of the small side.
napi_value Upsample2x(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *y = a.f32(1);
  const int b = (int)a.num(2), h = (int)a.num(3), w = (int)a.num(4), c = (int)a.num(5);
  if (a.ok) g_k->upsample2x(x, y, b, h, w, c);
  return undefined(env);
}
napi_value Upsample2xGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *dy = a.f32(0), *dx = a.f32(1);
  const int b = (int)a.num(2), h = (int)a.num(3), w = (int)a.num(4), c = (int)a.num(5);
  if (a.ok) g_k->upsample2x_grad(dy, dx, b, h, w, c);
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
    g_k->adam(p, m, v, g, po, mo, vo, (int64_t)n, (float)lr, (float)b1, (float)b2, (float)eps, (float)c1, (float)c2);
  }
  return undefined(env);
}

// sumMiddle(x, out, outer, mid, inner)
napi_value SumMiddle(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *o = a.f32(1);
  const double outer = a.num(2), mid = a.num(3), inner = a.num(4);
  if (a.ok) g_k->sum_middle(x, o, (int64_t)outer, (int64_t)mid, (int64_t)inner);
  return undefined(env);
}

// binaryBcast(a, b, out, n, nb, op)
napi_value BinaryBcast(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *y = a.f32(1), *o = a.f32(2);
  const double n = a.num(3), nb = a.num(4), op = a.num(5);
  if (a.ok) g_k->binary_bcast(x, y, o, (int64_t)n, (int64_t)nb, (int)op);
  return undefined(env);
}

// copyStrided(src, srcOffset, srcStride, dst, dstOffset, dstStride, rows, cols)
napi_value CopyStrided(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *src = a.f32(0);
  const double so = a.num(1), ss = a.num(2);
  float* dst = a.f32(3);
  const double d_o = a.num(4), ds = a.num(5), rows = a.num(6), cols = a.num(7);
  if (a.ok) g_k->copy_strided(src + (int64_t)so, (int64_t)ss, dst + (int64_t)d_o, (int64_t)ds, (int64_t)rows, (int64_t)cols);
  return undefined(env);
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a(env, info);
  const double n = a.num(0);
  if (a.ok) pipe::set_threads((int)n);
  return undefined(env);
}

// linear(x, w, b, y, z|null, m, n, k, silu)
napi_value Linear(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *w = a.f32(1), *b = a.f32(2), *y = a.f32(3), *z = a.f32(4, true);
  const int m = (int)a.num(5), n = (int)a.num(6), k = (int)a.num(7);
  const bool s = a.num(8) != 0;
  if (a.ok && s && z == nullptr) a.fail("linear: silu needs z");
  if (a.ok) g_k->linear(x, w, b, y, z, m, n, k, s);
  return undefined(env);
}

// linearGrad(dy, x, z|null, dz|null, dw, db, m, n, k, silu)
napi_value LinearGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *dy = a.f32(0), *x = a.f32(1), *z = a.f32(2, true), *dz = a.f32(3, true), *dw = a.f32(4), *db = a.f32(5);
  const int m = (int)a.num(6), n = (int)a.num(7), k = (int)a.num(8);
  const bool s = a.num(9) != 0;
  if (a.ok && s && (z == nullptr || dz == nullptr)) a.fail("linearGrad: silu needs z and dz");
  if (a.ok) g_k->linear_grad(dy, x, z, dz, dw, db, m, n, k, s);
  return undefined(env);
}

// trig(x, y, n, op): op 0 sin, 1 cos
napi_value Trig(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *y = a.f32(1);
  const double n = a.num(2), op = a.num(3);
  if (a.ok) g_k->trig(x, y, (int64_t)n, (int)op);
  return undefined(env);
}

// clip(x, y, n, lo, hi)
napi_value Clip(napi_env env, napi_callback_info info) {
  Args a(env, info);
  float *x = a.f32(0), *y = a.f32(1);
  const double n = a.num(2), lo = a.num(3), hi = a.num(4);
  if (a.ok) g_k->clip(x, y, (int64_t)n, (float)lo, (float)hi);
  return undefined(env);
}

// ---- instruction sets ----------------------------------------------------------------------------
napi_value str(napi_env env, const char* s) {
  napi_value v;
  if (s == nullptr) {
    napi_get_null(env, &v);
  } else {
    napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  }
  return v;
}

napi_value names_of(napi_env env, uint32_t features) {
  napi_value arr;
  napi_create_array(env, &arr);
  uint32_t i = 0;
  for (int bit = 0; pipe::feature_name(bit) != nullptr; bit++)
    if (features & (1u << bit)) napi_set_element(env, arr, i++, str(env, pipe::feature_name(bit)));
  return arr;
}

// Reads a JS string argument into buf (truncated); false when it is not a string.
bool string_arg(napi_env env, napi_value v, char* buf, size_t len) {
  size_t n = 0;
  return napi_get_value_string_utf8(env, v, buf, len, &n) == napi_ok;
}

// cpuFeatures(): what this CPU supports, e.g. ["avx512f", "avx2", "fma"]
napi_value CpuFeatures(napi_env env, napi_callback_info) { return names_of(env, pipe::cpu_features()); }

// chooseIsa(features: string[], requested?: string): the ISA dispatch would pick for a CPU with these
// features (the same pipe::choose_isa the addon runs on the real cpuid answer), or null. Pure: lets
// tests fake any CPU.
napi_value ChooseIsa(napi_env env, napi_callback_info info) {
  Args a(env, info);
  if (!a.ok || a.argc < 1) return str(env, nullptr);
  uint32_t features = 0, len = 0;
  bool is_array = false;
  napi_is_array(env, a.argv[0], &is_array);
  if (!is_array) {
    a.fail("chooseIsa: expected an array of feature names");
    return undefined(env);
  }
  napi_get_array_length(env, a.argv[0], &len);
  for (uint32_t i = 0; i < len; i++) {
    napi_value e;
    char name[32];
    napi_get_element(env, a.argv[0], i, &e);
    if (!string_arg(env, e, name, sizeof name)) continue;
    for (int bit = 0; pipe::feature_name(bit) != nullptr; bit++)
      if (strcmp(name, pipe::feature_name(bit)) == 0) features |= 1u << bit;
  }
  int requested = -1;
  napi_valuetype t = napi_undefined;
  if (a.argc >= 2) napi_typeof(env, a.argv[1], &t);
  if (t == napi_string) {
    char name[32];
    string_arg(env, a.argv[1], name, sizeof name);
    requested = pipe::isa_from_name(name);
    if (requested < 0) return str(env, nullptr);
  }
  return str(env, pipe::isa_name(pipe::choose_isa(features, requested)));
}

// setIsa(name): switches the kernel table if this build has it and the real CPU supports it (the
// cpuid answer, not anything JavaScript says); returns whether it did. Used per call by tests.
napi_value SetIsa(napi_env env, napi_callback_info info) {
  Args a(env, info);
  char name[32] = "";
  bool ok = false;
  if (a.ok && a.argc >= 1 && string_arg(env, a.argv[0], name, sizeof name)) {
    const int want = pipe::isa_from_name(name);
    if (want >= 0 && pipe::choose_isa(pipe::cpu_features(), want) == want) {
      g_k = pipe::compiled_kernels(want);
      ok = true;
    }
  }
  napi_value v;
  napi_get_boolean(env, ok, &v);
  return v;
}

napi_value ActiveIsa(napi_env env, napi_callback_info) { return str(env, g_k == nullptr ? nullptr : g_k->name); }

napi_value Init(napi_env env, napi_value exports) {
#ifdef __GLIBC__
  // tfjs allocates a fresh Float32Array for every kernel output (MBs each). With glibc's defaults
  // those come from fresh mmap()ed pages and each page faults on first write: measured 13-25 ms of
  // CPU per 6.4 MB output on the target VM, more than the kernel itself. Serving them from a heap
  // that is never trimmed reuses already-faulted pages (0.6 ms). Process-wide, set once at load.
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 64 * 1024 * 1024);
#endif
  g_k = pipe::compiled_kernels(pipe::choose_isa(pipe::cpu_features(), -1));
  const struct {
    const char* name;
    napi_callback fn;
  } fns[] = {
      {"conv2d", Conv2d}, {"conv2dBackpropInput", Conv2dBackpropInput}, {"conv2dBackpropFilter", Conv2dBackpropFilter},
      {"matmul", Matmul}, {"groupNorm", GroupNorm}, {"groupNormGrad", GroupNormGrad}, {"silu", Silu},
      {"siluGrad", SiluGrad}, {"upsample2x", Upsample2x}, {"upsample2xGrad", Upsample2xGrad}, {"adam", Adam},
      {"sumMiddle", SumMiddle}, {"binaryBcast", BinaryBcast}, {"setThreads", SetThreads}, {"copyStrided", CopyStrided},
      {"linear", Linear}, {"linearGrad", LinearGrad}, {"trig", Trig}, {"clip", Clip},
      {"cpuFeatures", CpuFeatures}, {"chooseIsa", ChooseIsa}, {"setIsa", SetIsa}, {"isa", ActiveIsa},
  };
  for (const auto& f : fns) {
    napi_value v;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &v);
    napi_set_named_property(env, exports, f.name, v);
  }
  napi_value abi, isas;
  napi_create_int32(env, pipe::kAbiVersion, &abi);
  napi_set_named_property(env, exports, "abiVersion", abi);
  napi_create_array(env, &isas);  // compiled into this build, widest first
  uint32_t n = 0;
  for (int i = 0; i < pipe::kIsaCount; i++)
    if (pipe::compiled_kernels(i) != nullptr) napi_set_element(env, isas, n++, str(env, pipe::isa_name(i)));
  napi_set_named_property(env, exports, "isas", isas);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)

// Instruction-set dispatch for pipe-native, compiled for the baseline CPU of the architecture (no
// -m flags): reads the CPU's features (cpuid + xgetbv on x86-64, so an OS that does not save AVX
// registers counts as lacking them) and picks among the kernel tables this build contains. Which
// tables exist is decided by the build (-DPIPE_WITH_AVX512 etc.).
#include <stdint.h>
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

namespace pipe {

#define PIPE_DECLARE_TABLE(ns) \
  namespace ns {               \
  extern const Kernels table;  \
  }
#ifdef PIPE_WITH_AVX512
PIPE_DECLARE_TABLE(avx512)
#endif
#ifdef PIPE_WITH_AVX2
PIPE_DECLARE_TABLE(avx2)
#endif
#ifdef PIPE_WITH_NEON
PIPE_DECLARE_TABLE(neon)
#endif
#ifdef PIPE_WITH_PORTABLE
PIPE_DECLARE_TABLE(portable)
#endif

namespace {

int g_threads = 2;

const char* const kIsaNames[kIsaCount] = {"avx512", "avx2", "neon", "portable"};
const char* const kFeatureNames[] = {"avx512f", "avx2", "fma", "neon"};
// What each ISA's code may execute: avx512 copies are compiled with -mavx512f -mavx2 -mfma.
const uint32_t kRequires[kIsaCount] = {kFeatAvx512f | kFeatAvx2 | kFeatFma, kFeatAvx2 | kFeatFma, kFeatNeon, 0};

#if defined(__x86_64__) || defined(_M_X64)
uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}
#endif

}  // namespace

void set_threads(int n) { g_threads = n < 1 ? 1 : n; }
int get_threads() { return g_threads; }

const char* isa_name(int isa) { return isa >= 0 && isa < kIsaCount ? kIsaNames[isa] : nullptr; }

int isa_from_name(const char* name) {
  for (int i = 0; i < kIsaCount; i++)
    if (strcmp(name, kIsaNames[i]) == 0) return i;
  return -1;
}

const char* feature_name(int bit) {
  return bit >= 0 && bit < (int)(sizeof kFeatureNames / sizeof kFeatureNames[0]) ? kFeatureNames[bit] : nullptr;
}

uint32_t isa_requirements(int isa) { return isa >= 0 && isa < kIsaCount ? kRequires[isa] : ~0u; }

uint32_t cpu_features() {
  uint32_t f = 0;
#if defined(__x86_64__) || defined(_M_X64)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  const bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
  if (!osxsave || !avx) return 0;
  const uint64_t xcr0 = xgetbv0();
  const bool ymm_saved = (xcr0 & 0x6) == 0x6;     // SSE + AVX state
  const bool zmm_saved = (xcr0 & 0xe6) == 0xe6;   // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!ymm_saved) return 0;
  if (fma) f |= kFeatFma;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    if ((b >> 5) & 1) f |= kFeatAvx2;
    if (((b >> 16) & 1) && zmm_saved) f |= kFeatAvx512f;
  }
#elif defined(__aarch64__)
  f |= kFeatNeon;  // Advanced SIMD is mandatory in ARMv8-A (Linux, macOS)
#endif
  return f;
}

const Kernels* compiled_kernels(int isa) {
  switch (isa) {
#ifdef PIPE_WITH_AVX512
    case kAvx512: return &avx512::table;
#endif
#ifdef PIPE_WITH_AVX2
    case kAvx2: return &avx2::table;
#endif
#ifdef PIPE_WITH_NEON
    case kNeon: return &neon::table;
#endif
#ifdef PIPE_WITH_PORTABLE
    case kPortable: return &portable::table;
#endif
    default: return nullptr;
  }
}

int choose_isa(uint32_t features, int requested) {
  const auto usable = [&](int isa) {
    return compiled_kernels(isa) != nullptr && (kRequires[isa] & ~features) == 0;
  };
  if (requested >= 0) return requested < kIsaCount && usable(requested) ? requested : -1;
  for (int isa = 0; isa < kIsaCount; isa++)  // enum order is widest first
    if (usable(isa)) return isa;
  return -1;
}

}  // namespace pipe

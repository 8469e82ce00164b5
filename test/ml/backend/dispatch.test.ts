// pipe-native's instruction-set dispatch never picks kernels the CPU cannot run: the addon's own
// choice function is fed faked cpuid answers; the loader skips stale or foreign builds without
// loading them; and the per-ISA objects share no symbol through which portable code could reach
// AVX-512 code.
import { spawnSync } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import t from "tap"
import fc from "fast-check"
import { NATIVE_ABI, NATIVE_ISAS, addonPath, loadAddon, nativeAddon, registerNativeBackend } from "../../../src/ml/backend/native.ts"

const REPO = resolve(import.meta.dirname, "../../..")
const reg = registerNativeBackend()
if (!reg.ok) {
  if (process.env.PIPE_REQUIRE_NATIVE === "1") t.fail(`pipe-native unavailable: ${reg.reason}`)
  else t.pass(`skipped: pipe-native unavailable: ${reg.reason}`)
  process.exit(0)
}
const addon = nativeAddon()!
const realIsa = addon.isa()!

/** What each ISA's code may execute (native/dispatch.cc kRequires, restated as the spec). */
const REQUIRES: Record<string, readonly string[]> = {
  avx512: ["avx512f", "avx2", "fma"], avx2: ["avx2", "fma"], neon: ["neon"], portable: [],
}
const FEATURES = ["avx512f", "avx2", "fma", "neon", "sse4.2"] // the last one is unknown to the addon
const usable = (isa: string, features: readonly string[]) => addon.isas.includes(isa) && REQUIRES[isa]!.every((f) => features.includes(f))

t.test("faked cpuid answers: the chosen ISA is built and needs nothing the CPU lacks; the widest such wins", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(
    fc.subarray(FEATURES), fc.option(fc.constantFrom(...NATIVE_ISAS, "sse"), { nil: undefined }),
    (features, requested) => {
      const got = addon.chooseIsa(features, requested)
      if (requested !== undefined) return got === (usable(requested, features) ? requested : null)
      return got === (addon.isas.find((isa) => usable(isa, features)) ?? null)
    },
  ), { numRuns: 200 }))
  t.equal(addon.chooseIsa(["avx2", "fma"], "avx512"), null, "AVX-512 kernels are refused to an AVX2 CPU")
  t.equal(addon.chooseIsa(["avx2"]), "portable", "AVX2 without FMA gets the portable kernels")
  t.equal(addon.chooseIsa([]), "portable", "a CPU with no known feature gets the portable kernels")
  t.end()
})

t.test("registerNativeBackend with a faked CPU picks what that CPU could run, and a forced ISA it lacks is an explained failure", (t) => {
  const noAvx512 = ["avx2", "fma"]
  if (addon.isas.includes("avx2") && addon.chooseIsa(addon.cpuFeatures(), "avx2") === "avx2") {
    const r = registerNativeBackend({ cpuFeatures: noAvx512 })
    t.ok(r.ok && r.isa.isa === "avx2" && addon.isa() === "avx2", "an AVX2-only CPU runs the avx2 kernels")
  }
  const forced = registerNativeBackend({ cpuFeatures: noAvx512, isa: "avx512" })
  t.ok(!forced.ok && /PIPE_NATIVE_ISA=avx512 unusable here/.test(forced.reason), !forced.ok ? forced.reason : "chose avx512")
  const bogus = registerNativeBackend({ isa: "avx9000" })
  t.ok(!bogus.ok && /not one of avx512, avx2, neon, portable/.test(bogus.reason))
  const none = registerNativeBackend({ cpuFeatures: [] })
  t.ok(none.ok && none.isa.isa === "portable" && addon.isa() === "portable", "no features: portable")
  t.ok(registerNativeBackend().ok && addon.isa() === realIsa, "back to the real CPU's choice")
  t.end()
})

t.test("setIsa trusts only the real cpuid answer: an ISA the CPU or the build lacks is refused and nothing changes", (t) => {
  for (const isa of NATIVE_ISAS) {
    const runnable = addon.chooseIsa(addon.cpuFeatures(), isa) === isa
    const before = addon.isa()
    t.equal(addon.setIsa(isa), runnable, `${isa}: ${runnable ? "accepted" : "refused"}`)
    if (!runnable) t.equal(addon.isa(), before, `${isa}: kernels unchanged`)
  }
  t.notOk(addon.setIsa("avx9000"))
  addon.setIsa(realIsa)
  t.end()
})

t.test("stale or foreign builds are skipped with a note, never loaded", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "pipe-stale-"))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // Not an ELF file: were it require()d, the reason would be a dlopen error instead.
  const fake = join(dir, "pipe_native.node")
  writeFileSync(fake, "not an addon")
  const manifest = (m: object) => writeFileSync(join(dir, "pipe_native.json"), JSON.stringify(m))
  const reason = () => {
    const r = loadAddon(fake)
    return r.ok ? "loaded" : r.reason
  }
  t.match(reason(), /no manifest .* skipped; run `node scripts\/build-native.mjs`/, "a pre-manifest (ABI 1, -march=native) build")
  manifest({ abi: NATIVE_ABI - 1, platform: process.platform, arch: process.arch })
  t.match(reason(), new RegExp(`stale \\(ABI ${NATIVE_ABI - 1}, expected ${NATIVE_ABI}\\): skipped`))
  manifest({ abi: NATIVE_ABI, platform: process.platform, arch: process.arch === "x64" ? "arm64" : "x64" })
  t.match(reason(), /was built for .*: skipped/)
  manifest({ abi: NATIVE_ABI, platform: process.platform, arch: process.arch })
  t.match(reason(), /failed to load/, "a matching manifest does let it load (and fail, here)")
  // The real build with its manifest copied beside it loads.
  copyFileSync(addonPath, fake)
  t.equal(reason(), "loaded")
  t.end()
})

t.test("per-ISA objects define no symbol outside their ISA namespace (the check also catches a leaking one)", (t) => {
  const check = (dir: string) => spawnSync(process.execPath, [join(REPO, "scripts/build-native.mjs"), "--check-objects", dir], { encoding: "utf8" })
  const real = check(join(REPO, "native/build/obj"))
  if (real.status === 2) {
    t.pass("skipped: nm not installed")
    t.end()
    return
  }
  t.equal(real.status, 0, real.stdout.trim())
  // An ISA copy that instantiates std::vector<float> would share _M_default_append with the others.
  const dir = mkdtempSync(join(tmpdir(), "pipe-leak-"))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(join(dir, "avx2"))
  writeFileSync(join(dir, "leak.cc"), "#include <vector>\nnamespace pipe { namespace avx2 { float f(int n) { std::vector<float> v(n); v.resize(2 * n); return v[0]; } } }\n")
  const cc = spawnSync(process.env.CXX ?? "c++", ["-O2", "-c", join(dir, "leak.cc"), "-o", join(dir, "avx2", "leak.o")], { encoding: "utf8" })
  if (cc.status !== 0) {
    t.pass("skipped the leak case: no C++ compiler")
    t.end()
    return
  }
  const leaky = check(dir)
  t.equal(leaky.status, 1)
  t.match(leaky.stdout, /avx2\/leak\.o: .*_ZNSt6vector/)
  t.end()
})

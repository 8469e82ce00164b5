// ARM64: the kernels cross-compiled with Debian's aarch64-linux-gnu-g++ and their C++ test harness
// (native/test/harness.cc: NEON and portable kernels against a scalar reference, the dispatch rule)
// run under qemu-aarch64. .ci/run installs both packages; without them locally this test skips.
import { spawnSync } from "node:child_process"
import { join, resolve } from "node:path"
import t from "tap"

const REPO = resolve(import.meta.dirname, "../../..")
const has = (cmd: string): boolean => spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0
const missing = ["aarch64-linux-gnu-g++", "qemu-aarch64"].filter((c) => !has(c))
// A cross build plus two emulated runs: about a minute on a quiet 2-core machine, but measured at
// load 42 here: 5.3 min for the build and 2 min per qemu run, past tap's 300 s per-file timeout.
t.setTimeout(1_200_000)

t.test("arm64 NEON and portable kernels match the scalar reference under qemu-aarch64", {
  skip: missing.length > 0 ? `cross toolchain absent (${missing.join(", ")}): apt-get install g++-aarch64-linux-gnu qemu-user` : false,
}, (t) => {
  const build = spawnSync(process.execPath, [join(REPO, "scripts/build-native.mjs"), "--harness", "--target", "aarch64"], { encoding: "utf8" })
  t.equal(build.status, 0, `cross build: ${build.stderr.trim() || "ok"}`)
  const bin = build.stdout.trim().split("\n").pop()!
  // Second run: OpenMP grants one thread where two are asked for (as a build without OpenMP does);
  // loops that split work by hand must still cover all of it.
  for (const env of [{}, { OMP_THREAD_LIMIT: "1" }]) {
    const what = Object.keys(env).length === 0 ? "" : " (OMP_THREAD_LIMIT=1)"
    const r = spawnSync("qemu-aarch64", ["-L", "/usr/aarch64-linux-gnu", bin], { encoding: "utf8", timeout: 600_000, env: { ...process.env, ...env } })
    const failures = r.stdout.split("\n").filter((l) => l.startsWith("not ok"))
    t.equal(r.status, 0, failures.length > 0 ? failures.slice(0, 5).join("; ") : `exit ${r.status}${what} ${r.stderr.trim()}`)
    t.same(failures, [], `no failing kernel check${what}`)
    for (const isa of ["neon", "portable"]) {
      const n = r.stdout.split("\n").filter((l) => l.startsWith(`ok `) && l.includes(` - ${isa} t`)).length
      t.ok(n >= 100, `${isa}: ${n} checks passed (1 and 2 threads)${what}`)
    }
    t.match(r.stdout, /ok \d+ - dispatch: never an ISA the \(faked\) CPU lacks/)
  }
  t.end()
})

import t from "tap"
import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../../../src/ml/backend/index.ts"
import { prepare } from "../../../nodes/_runtime.ts"

t.test("selectBackend picks the best available backend and explains the better ones it skipped", async (t) => {
  const c = await selectBackend()
  t.equal(tf.getBackend(), c.backend)
  t.ok(["tensorflow", "pipe-native", "wasm", "cpu"].includes(c.backend), c.backend)
  if (c.backend !== "tensorflow") t.ok(c.notes.some((n) => n.startsWith("tfjs-node")), "says why tfjs-node was not used")
  if (c.backend === "wasm" || c.backend === "cpu") t.ok(c.notes.some((n) => n.startsWith("native")), "says why pipe-native was not used")
})

t.test("a forced backend is used, or fails loudly; prepare accepts tfjs names and rejects unknown ones", async (t) => {
  t.same((await selectBackend("cpu")).backend, "cpu")
  t.same((await prepare({ backend: "cpu" })).backend, "cpu")
  await t.rejects(prepare({ backend: "tpu" }), /unknown backend "tpu"/)
  const native = await prepare({ backend: "pipe-native" }).catch((e: Error) => e)
  t.ok(native instanceof Error ? /unavailable/.test(native.message) : native.backend === "pipe-native")
})

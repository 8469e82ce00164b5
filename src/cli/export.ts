// `pipe export FILE NODE.OUTPUT --out PATH [--format arrow|npy|png]`.
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, extname, resolve } from "node:path"
import { portOf } from "../node.ts"
import { planPipeline, select } from "../exec/plan.ts"
import { toNpy, toPngGrid } from "../export/export.ts"
import { SelectionError } from "../errors.ts"
import { str, strs, UsageError, type Values } from "./args.ts"
import { loadFor } from "./context.ts"
import { type Io, setup } from "./run.ts"

type Format = "arrow" | "npy" | "png" | "file"
const FORMATS: readonly Format[] = ["arrow", "npy", "png", "file"]
/** What a file name promises: writing Arrow bytes into `x.png` is refused, not done. */
const EXTENSIONS: Readonly<Record<string, Format>> = { ".arrow": "arrow", ".ipc": "arrow", ".feather": "arrow", ".npy": "npy", ".png": "png" }
const MEDIA: Readonly<Partial<Record<Format, string>>> = { png: "image/png" }

export const exportCommand = async (v: Values, [file, target]: string[], io: Io): Promise<number> => {
  const out = str(v, "out")
  if (out === undefined) throw new UsageError("--out PATH is required")
  const asked = str(v, "format")
  if (asked !== undefined && !FORMATS.includes(asked as Format)) throw new UsageError(`--format must be ${FORMATS.join(", ")}, got "${asked}"`)
  const implied = EXTENSIONS[extname(out).toLowerCase()]
  if (asked !== undefined && implied !== undefined && asked !== implied && !(asked === "file" && implied === "png"))
    throw new UsageError(`--out ${out} names a .${implied} file but --format ${asked} was asked: use a matching extension, or leave --format out`)
  const [id, port] = (target as string).split(".")
  const project = await setup(v, file, io)
  const p = loadFor(project, file as string, { profile: str(v, "profile"), sets: strs(v, "set") }, io.cwd)
  const node = id === undefined ? undefined : p.nodes.get(id)
  if (node === undefined || port === undefined) throw new SelectionError({ message: `${target}: expected NODE.OUTPUT with NODE in ${p.order.join(", ")}` })
  const planned = planPipeline(p, project.store, project.paths, select(p, {})).find((n) => n.id === id)
  project.paths.flush()
  if (planned?.manifest == null || !planned.cached) throw new SelectionError({ message: `${id} is not computed for this configuration; run \`pipe run ${file}\` first` })
  const rec = planned.manifest.outputs[port]
  if (rec === undefined) throw new SelectionError({ message: `${id} has no output "${port}" (outputs: ${Object.keys(planned.manifest.outputs).join(", ")})` })
  // A file artifact (a PNG grid...) exports as its own bytes unless Arrow is asked for (by flag or name).
  const format: Format = (asked as Format | undefined) ?? implied ?? (rec.file !== undefined ? "file" : "arrow")
  let data: Uint8Array
  if (rec.file !== undefined && (format === "file" || format === "png")) {
    const media = MEDIA[implied ?? format]
    if (media !== undefined && rec.file.mediaType !== media)
      throw new UsageError(`${id}.${port} is the file ${rec.file.name} (${rec.file.mediaType}), not ${media}: name --out after it (e.g. ${rec.file.name})`)
    data = project.store.readBlob(rec.file.sha256)
  } else if (format === "file") {
    throw new UsageError(`${id}.${port} is "${rec.type}", not a file artifact: use --format arrow, npy or png`)
  } else {
    const bytes = project.store.readObject(rec.digest)
    if (format === "arrow") data = bytes
    else {
      const def = await project.registry.load(node.kind)
      const spec = def.outputs[port]
      if (spec === undefined) throw new SelectionError({ message: `${node.kind} has no output "${port}"` })
      const { tableFromIPC } = await import("apache-arrow")
      const value = portOf(spec).type.decode(tableFromIPC(bytes))
      const converted = format === "npy" ? toNpy(value) : toPngGrid(value)
      if (typeof converted === "string") throw new UsageError(`${id}.${port} is "${rec.type}": ${converted}`)
      data = converted
    }
  }
  const dest = resolve(io.cwd, out)
  mkdirSync(dirname(dest), { recursive: true })
  writeFileSync(dest, data)
  io.out(`wrote ${dest} (${data.byteLength} bytes, ${format})\n`)
  return 0
}

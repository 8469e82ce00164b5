// `pipe export FILE NODE.OUTPUT --out PATH [--format arrow|npy|png]`.
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { portOf } from "../node.ts"
import { planPipeline, select } from "../exec/plan.ts"
import { toNpy, toPngGrid } from "../export/export.ts"
import { SelectionError } from "../errors.ts"
import { str, strs, UsageError, type Values } from "./args.ts"
import { loadFor } from "./context.ts"
import { type Io, setup } from "./run.ts"

export const exportCommand = async (v: Values, [file, target]: string[], io: Io): Promise<number> => {
  const out = str(v, "out")
  if (out === undefined) throw new UsageError("--out PATH is required")
  const format = str(v, "format") ?? "arrow"
  if (!["arrow", "npy", "png"].includes(format)) throw new UsageError(`--format must be arrow, npy or png, got "${format}"`)
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
  const bytes = project.store.readObject(rec.digest)
  let data: Uint8Array
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
  const dest = resolve(io.cwd, out)
  mkdirSync(dirname(dest), { recursive: true })
  writeFileSync(dest, data)
  io.out(`wrote ${dest} (${data.byteLength} bytes, ${format})\n`)
  return 0
}

// Where the shared reference fixtures live: ../shared/fixtures beside the repository root (CI clones
// the repo with shared/ next to it).
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { join } from "node:path"

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
export const fixturesDir = join(repoRoot, "..", "shared", "fixtures")
export const readFixture = (name: string): Uint8Array => new Uint8Array(readFileSync(join(fixturesDir, name)))

export interface CannyFixture {
  readonly file: string
  readonly low: number
  readonly high: number
  readonly L2gradient: boolean
  readonly apertureSize: number
  readonly edge_fraction: number
}
export const cannyFixtures = (): { readonly inputs: string; readonly outputs: readonly CannyFixture[] } =>
  JSON.parse(new TextDecoder().decode(readFixture("canny-opencv.json")))

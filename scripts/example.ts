/**
 * Runs one example of examples/ by name, on the Node that runs this script
 * (through `npm run`, the Node 24 in node_modules, also on a machine whose
 * own Node is older).
 *
 *   npm run example -- basic
 *   npm run example                  (lists the examples)
 */
import { spawnSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const names = readdirSync(join(root, "examples"))
  .filter((file) => file.endsWith(".ts"))
  .map((file) => file.slice(0, -".ts".length))
  .sort()

const [name, ...rest] = process.argv.slice(2)
const wanted = name?.replace(/^examples\//, "").replace(/\.ts$/, "")
if (wanted === undefined || !names.includes(wanted)) {
  if (wanted !== undefined) console.error(`no example named "${name}"`)
  console.error(`usage: npm run example -- <name>\nexamples: ${names.join(", ")}`)
  process.exit(wanted === undefined ? 0 : 1)
}
// `effect-circuit` resolves to src/ through the package's own
// `effect-circuit-source` export condition (set for npm scripts in .npmrc; set
// here too, so that the script works when started otherwise).
const result = spawnSync(
  process.execPath,
  ["--conditions=effect-circuit-source", join(root, "examples", `${wanted}.ts`), ...rest],
  { cwd: root, stdio: "inherit" }
)
process.exit(result.status ?? 1)

/**
 * Builds the published package: `dist/` with ES modules, declarations,
 * declaration maps and source maps, compiled from `src/` by `tsc`
 * (tsconfig.build.json). The repository itself runs `src/` directly.
 *
 * tsc rewrites the `.ts` of relative imports to `.js` in the JavaScript it
 * emits (`rewriteRelativeImportExtensions`) but leaves them as written in
 * declaration files. TypeScript 5.9 and 7 resolve such a `./x.ts` to the
 * `./x.d.ts` beside it (tried on the packed package), but it names a file
 * that is not there, and other readers of declarations (API extractors,
 * older compilers) need not be as forgiving: this script rewrites them to
 * `.js`, the module each declaration file describes. The two spellings have
 * the same length, so the declaration maps stay exact.
 *
 *   node scripts/build.ts        (npm run build; npm pack runs it first)
 */
import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..")
const dist = join(root, "dist")

const filesUnder = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    return statSync(path).isDirectory() ? filesUnder(path) : [path]
  })

// `from "./x.ts"`, `import("../y.ts")`, `export * from "./z.ts"`: relative specifiers only.
const relativeTsSpecifier = /((?:from|import)\s*\(?\s*)(["'])(\.{1,2}\/[^"'\n]*?)\.ts\2/g

rmSync(dist, { recursive: true, force: true })
const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
try {
  execFileSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { cwd: root, stdio: "pipe" })
} catch (error) {
  const out = error as { stdout?: unknown; stderr?: unknown }
  process.stderr.write(`${String(out.stdout ?? "")}${String(out.stderr ?? "")}`)
  process.stderr.write("build: tsc failed\n")
  process.exit(1)
}

let rewritten = 0
const left: Array<string> = []
for (const file of filesUnder(dist)) {
  if (!file.endsWith(".d.ts")) continue
  const text = readFileSync(file, "utf8")
  const next = text.replace(relativeTsSpecifier, (_, lead: string, quote: string, path: string) => {
    rewritten++
    return `${lead}${quote}${path}.js${quote}`
  })
  if (next !== text) writeFileSync(file, next)
  // Whatever still names a relative `.ts` module would break a consumer: stop.
  for (const line of next.split("\n")) {
    if (/(["'])\.{1,2}\/[^"'\n]*\.ts\1/.test(line) && !line.trimStart().startsWith("*")) {
      left.push(`${relative(root, file)}: ${line.trim()}`)
    }
  }
}
if (left.length > 0) {
  process.stderr.write(`build: relative .ts specifiers left in declarations:\n${left.join("\n")}\n`)
  process.exit(1)
}
const files = filesUnder(dist)
console.log(
  `build: dist/ has ${files.filter((f) => f.endsWith(".js")).length} modules, ` +
    `${files.filter((f) => f.endsWith(".d.ts")).length} declaration files ` +
    `(${rewritten} import specifiers rewritten to .js)`
)

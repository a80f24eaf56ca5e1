import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const tsc = join(root, "node_modules", "typescript", "bin", "tsc")

// The guides whose ```ts blocks must compile (docs owned by other parts of
// the project are checked by their own tests, if any).
const guides = [
  "README.md",
  "docs/getting-started.md",
  "docs/configuration.md",
  "docs/migrating-from-hystrix-go.md",
  "docs/migrating-from-opossum.md",
  "docs/migrating-from-cockatiel.md",
  "docs/promise.md",
  "docs/testing.md",
  "docs/persistence-circuit-breaker.md",
  "docs/fleet.md"
]

const sourceFiles = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry)
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith(".ts") ? [path] : []
  })

interface Snippet {
  /** Where it comes from: `src/Circuit.ts:27`. */
  readonly origin: string
  readonly code: string
}

// Every ```ts block of every doc comment of a source file.
const fromDocComments = (file: string): Array<Snippet> => {
  const lines = readFileSync(file, "utf8").split("\n")
  const snippets: Array<Snippet> = []
  let inComment = false
  let block: Array<string> | undefined
  let start = 0
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const trimmed = line.trim()
    if (!inComment) {
      if (trimmed.startsWith("/**")) inComment = !trimmed.includes("*/")
      continue
    }
    if (trimmed.includes("*/")) {
      inComment = false
      block = undefined
      continue
    }
    const text = line.replace(/^\s*\* ?/, "")
    if (block === undefined) {
      if (/^```(ts|typescript)\b/.test(text.trim())) {
        block = []
        start = i + 1
      }
    } else if (text.trim() === "```") {
      snippets.push({ origin: `${relative(root, file)}:${start}`, code: block.join("\n") })
      block = undefined
    } else {
      block.push(text)
    }
  }
  return snippets
}

// Every ```ts block of a markdown file.
const fromMarkdown = (file: string): Array<Snippet> => {
  const lines = readFileSync(file, "utf8").split("\n")
  const snippets: Array<Snippet> = []
  let block: Array<string> | undefined
  let start = 0
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    if (block === undefined) {
      if (/^```(ts|typescript)\s*$/.test(line.trim())) {
        block = []
        start = i + 1
      }
    } else if (line.trim() === "```") {
      snippets.push({ origin: `${relative(root, file)}:${start}`, code: block.join("\n") })
      block = undefined
    } else {
      block.push(line)
    }
  }
  return snippets
}

// Type-checks snippets as modules of their own, importing "effect-circuit"
// (mapped to src/) like a user would. Returns tsc's errors, by snippet.
const typeCheck = (name: string, snippets: ReadonlyArray<Snippet>): Array<string> => {
  const dir = join(root, "node_modules", ".cache", "effect-circuit-doc-snippets", name)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const files = snippets.map((snippet, i) => {
    const file = `snippet_${String(i).padStart(3, "0")}.ts`
    writeFileSync(join(dir, file), `// ${snippet.origin}\n${snippet.code}\n`)
    return { file, snippet }
  })
  const up = relative(dir, root)
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      extends: join(up, "tsconfig.json"),
      compilerOptions: {
        noEmit: true,
        // Examples declare values to show them, not always to use them.
        noUnusedLocals: false,
        noUnusedParameters: false,
        paths: {
          "effect-circuit": [join(up, "src/index.ts")],
          "effect-circuit/testing": [join(up, "src/testing/index.ts")],
          "effect-circuit/http": [join(up, "src/http/index.ts")],
          "effect-circuit/core": [join(up, "src/core/index.ts")],
          "effect-circuit/promise": [join(up, "src/promise/index.ts")],
          "effect-circuit/store": [join(up, "src/store/index.ts")]
        }
      },
      include: ["*.ts"]
    })
  )
  let output = ""
  try {
    execFileSync(process.execPath, [tsc, "-p", join(dir, "tsconfig.json")], { cwd: root, encoding: "utf8", stdio: "pipe" })
  } catch (error) {
    output = String((error as { stdout?: unknown }).stdout ?? "") + String((error as { stderr?: unknown }).stderr ?? "")
  }
  const errors: Array<string> = []
  for (const line of output.split("\n")) {
    const match = /snippet_(\d+)\.ts\((\d+),(\d+)\): (.*)$/.exec(line)
    if (match === null) {
      if (line.trim() !== "" && !line.startsWith(" ")) errors.push(line)
      continue
    }
    const { snippet } = files[Number(match[1])]!
    const [path, first] = snippet.origin.split(":")
    // Line 1 of the file is the origin comment; line 2 is the block's first line.
    errors.push(`${path}:${Number(first) + Number(match[2]) - 1}: ${match[4]}`)
  }
  return errors
}

describe("docs", () => {
  // scripts/ is outside tsconfig.json's `include`: check it here, as the examples are.
  it("scripts/*.ts type-check", () => {
    const scripts = readdirSync(join(root, "scripts")).filter((file) => file.endsWith(".ts"))
    const snippets = scripts.map((file) => ({
      origin: `scripts/${file}:1`,
      code: readFileSync(join(root, "scripts", file), "utf8")
    }))
    const errors = typeCheck("scripts", snippets)
    assert.deepStrictEqual(errors, [], `scripts that do not compile:\n${errors.join("\n")}`)
  }, 60_000)

  it("docs/api.md is what `npm run docs` generates", () => {
    let output = ""
    let failed = false
    try {
      output = execFileSync(process.execPath, [join(root, "scripts", "docs.ts"), "--check"], {
        cwd: root,
        encoding: "utf8",
        stdio: "pipe"
      })
    } catch (error) {
      failed = true
      output = String((error as { stderr?: unknown }).stderr ?? "")
    }
    assert.isFalse(failed, output)
  }, 60_000)

  it("every ```ts example in the doc comments of src/ type-checks", () => {
    const snippets = sourceFiles(join(root, "src")).flatMap(fromDocComments)
    assert.isAbove(snippets.length, 20)
    const errors = typeCheck("src", snippets)
    assert.deepStrictEqual(errors, [], `doc examples that do not compile:\n${errors.join("\n")}`)
  }, 60_000)

  it("every ```ts block of the guides type-checks", () => {
    const present = guides.filter((guide) => existsSync(join(root, guide)))
    const snippets = present.flatMap((guide) => fromMarkdown(join(root, guide)))
    assert.isAbove(snippets.length, 10)
    const errors = typeCheck("guides", snippets)
    assert.deepStrictEqual(errors, [], `guide code blocks that do not compile:\n${errors.join("\n")}`)
  }, 60_000)
})

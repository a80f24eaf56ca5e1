import { assert, describe, it } from "@effect/vitest"
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const readme = readFileSync(`${root}README.md`, "utf8")

describe("README", () => {
  it("the examples table lists every example in examples/, and nothing else", () => {
    const files = readdirSync(`${root}examples`).filter((file) => file.endsWith(".ts")).sort()
    const listed = Array.from(readme.matchAll(/^\| \[`([\w.-]+\.ts)`\]\(examples\/([\w.-]+\.ts)\) \|/gm), (match) => {
      assert.strictEqual(match[1], match[2], `the link text names the file it links to: ${match[0]}`)
      return match[2]!
    }).sort()
    assert.deepStrictEqual(listed, files)
  })

  it("starts with installing from the registry, before the development commands", () => {
    const install = readme.indexOf("npm install effect-circuit effect")
    const develop = readme.indexOf("\nnpm install\n")
    assert.isAbove(install, -1)
    assert.isAbove(develop, install)
    assert.isBelow(readme.indexOf("## Install"), readme.indexOf("## Develop"))
  })
})

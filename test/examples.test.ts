import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { fileURLToPath } from "node:url"

// Every example runs as it is, with Node's own TypeScript support, as a user would run it.
const root = fileURLToPath(new URL("..", import.meta.url))
const run = (file: string): string =>
  execFileSync(process.execPath, [`examples/${file}`], { cwd: root, encoding: "utf8", timeout: 60_000 })

// What each example must print, so that an example that runs but does the wrong thing fails.
const expected: Record<string, ReadonlyArray<string>> = {
  "basic.ts": ["call 4: PaymentsDown -> open", "short-circuited: Circuit \"payments\" is open", "probe: charged #5 -> closed", "done"],
  "retry.ts": ["result: [\"result\"]", "circuit: closed"]
}

describe("examples", () => {
  const files = readdirSync(new URL("../examples", import.meta.url)).filter((f) => f.endsWith(".ts"))

  it("every example has expectations", () => {
    for (const file of files) assert.isDefined(expected[file], `add expectations for examples/${file}`)
  })

  for (const file of files) {
    it(`examples/${file} runs`, () => {
      const out = run(file)
      for (const line of expected[file] ?? []) assert.include(out, line)
    })
  }
})

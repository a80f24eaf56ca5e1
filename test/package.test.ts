/**
 * The package as a consumer gets it: `npm pack` (which builds dist/), then,
 * in a fresh folder outside the repository, `npm install` of the tarball and
 * the peers from the registry, and:
 *
 * 1. a plain `.mjs` program that imports every subpath of `exports` and
 *    guards a call, trips a circuit and reads a snapshot, on the toolchain's
 *    Node and on the machine's own Node when `engines` admits it;
 * 2. a TypeScript consumer type-checked under `nodenext` and under `bundler`
 *    (`strict`, `exactOptionalPropertyTypes`, `skipLibCheck: false`, no
 *    `allowImportingTsExtensions`, no `@types/node`);
 * 3. a `withCircuit`-only program bundled by esbuild: it runs, and holds none
 *    of the dashboard page, the Hystrix stream or the HTTP code;
 * 4. publint and @arethetypeswrong/cli (profile `esm-only`) on the tarball.
 *
 * Everything is read from package.json: a subpath added to `exports` is
 * imported and type-checked here with no change to this file, and every peer
 * dependency (optional ones too) is installed at its devDependencies version.
 */
import { assert, describe, it } from "@effect/vitest"
import * as esbuild from "esbuild"
import { execFileSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { fileURLToPath } from "node:url"
import { gzipSync } from "node:zlib"
import { publint } from "publint"
import { formatMessage } from "publint/utils"
import { afterAll, beforeAll } from "vitest"

const root = fileURLToPath(new URL("..", import.meta.url))
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  readonly name: string
  readonly engines: { readonly node: string }
  readonly exports: Readonly<Record<string, unknown>>
  readonly peerDependencies: Readonly<Record<string, string>>
  readonly devDependencies: Readonly<Record<string, string>>
}
const tsc = join(root, "node_modules", "typescript", "bin", "tsc")

// The subpaths that are modules ("./package.json" is not), as specifiers.
const specifiers = Object.entries(manifest.exports)
  .filter(([, target]) => typeof target === "object" && target !== null && "default" in target)
  .map(([subpath]) => subpath === "." ? manifest.name : `${manifest.name}/${subpath.slice(2)}`)

// The consumer's processes must not see the repository's npm settings: the
// `effect-circuit-source` condition (.npmrc's node-options) would send them
// to src/, and npm's own variables to this project.
const consumerEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key === "NODE_OPTIONS" || key === "INIT_CWD") continue
    if (/^npm_/i.test(key) && !/^npm_config_(registry|cache|userconfig|globalconfig)$/i.test(key)) continue
    env[key] = value
  }
  return env
}

const run = (file: string, args: ReadonlyArray<string>, cwd: string, env = consumerEnv()): string => {
  try {
    return execFileSync(file, args, { cwd, env, encoding: "utf8", stdio: "pipe", timeout: 120_000 })
  } catch (error) {
    const failure = error as { status?: unknown; stdout?: unknown; stderr?: unknown }
    throw new Error(
      `${file} ${args.join(" ")} (in ${cwd}) failed with ${String(failure.status)}:\n` +
        `${String(failure.stdout ?? "")}${String(failure.stderr ?? "")}`
    )
  }
}

// `engines.node` as this check understands it: ">=MAJOR[.MINOR[.PATCH]]".
const oldestNode = (range: string): ReadonlyArray<number> => {
  const match = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim())
  if (match === null) throw new Error(`engines.node "${range}" is not ">=x.y.z": teach test/package.test.ts to read it`)
  return [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)]
}
const versionOf = (node: string): ReadonlyArray<number> =>
  run(node, ["--version"], root).trim().replace(/^v/, "").split(".").map(Number)
const admits = (oldest: ReadonlyArray<number>, version: ReadonlyArray<number>): boolean => {
  for (let i = 0; i < 3; i++) {
    if (version[i]! !== oldest[i]!) return version[i]! > oldest[i]!
  }
  return true
}

// The machine's own Node: the first `node` on PATH outside the repository
// (npm scripts put node_modules/.bin first), else /usr/bin/node.
const systemNode = (): string | undefined => {
  const toolchain = realpathSync(process.execPath)
  const dirs = (process.env["PATH"] ?? "").split(delimiter).filter((dir) => dir !== "" && !dir.startsWith(root))
  for (const candidate of [...dirs.map((dir) => join(dir, "node")), "/usr/bin/node"]) {
    if (!existsSync(candidate) || statSync(candidate).isDirectory()) continue
    if (realpathSync(candidate) !== toolchain) return candidate
  }
  return undefined
}

// What the .mjs consumer does; it throws (exit 1) on anything unexpected.
const programMjs = (): string => `${
  specifiers.map((specifier, i) => `import * as m${i} from ${JSON.stringify(specifier)}`).join("\n")
}
import { Effect } from "effect"

const modules = { ${specifiers.map((specifier, i) => `${JSON.stringify(specifier)}: m${i}`).join(", ")} }
for (const [specifier, module] of Object.entries(modules)) {
  if (Object.keys(module).length === 0) throw new Error(specifier + " exports nothing")
}
const { Circuit, CircuitRegistry, withCircuit } = m0

const program = Effect.gen(function*() {
  const guarded = yield* Effect.succeed("charged").pipe(withCircuit("payments"))
  for (let i = 0; i < 20; i++) yield* Effect.exit(Effect.fail(new Error("down")).pipe(withCircuit("payments")))
  const error = yield* Effect.flip(Effect.succeed("never runs").pipe(withCircuit("payments")))
  const snapshot = yield* Circuit.snapshot("payments")
  return { guarded, error: error._tag, state: snapshot.state, requests: snapshot.window.total, frozen: Object.isFrozen(snapshot) }
})
const result = await Effect.runPromise(program.pipe(Effect.provide(CircuitRegistry.layer())))

// Promise code guards a call with effect-circuit/promise, without Effect.
const { CircuitPromise, CircuitOpenError } = modules["effect-circuit/promise"]
const circuits = CircuitPromise.make({ circuits: { quotes: { requestVolumeThreshold: 1 } } })
const mine = new Error("quotes down")
const promise = {
  value: await circuits.fire("quotes", async (signal) => signal instanceof AbortSignal ? "quoted" : "no signal"),
  own: await circuits.fire("quotes", () => Promise.reject(mine)).catch((error) => error === mine),
  refused: await circuits.fire("quotes", async () => "never runs").catch((error) => error instanceof CircuitOpenError)
}
circuits.close()
console.log(JSON.stringify({ node: process.version, subpaths: Object.keys(modules).length, ...result, promise }))
`

// A typed consumer: every subpath, and a program whose types are checked exactly.
const consumerTs = (): string => `${
  specifiers.map((specifier, i) => `import * as m${i} from ${JSON.stringify(specifier)}`).join("\n")
}
import { Data, Effect } from "effect"
import {
  Circuit,
  type CircuitCell,
  type CircuitError,
  CircuitRegistry,
  type CircuitRegistryOptions,
  withCircuit
} from "effect-circuit"

export const modules = [${specifiers.map((_, i) => `m${i}`).join(", ")}] as const

class PaymentsDown extends Data.TaggedError("PaymentsDown")<{ readonly status: number }> {}

const charge: Effect.Effect<string, PaymentsDown | CircuitError, CircuitRegistry> = Effect.fail(
  new PaymentsDown({ status: 503 })
).pipe(Effect.as("charged"), withCircuit("payments"))

const withFallback: Effect.Effect<string, never, CircuitRegistry> = charge.pipe(
  Effect.catch((error) => Effect.succeed(error._tag))
)

const options: CircuitRegistryOptions = {
  defaults: { timeout: "2 seconds" },
  circuits: { payments: { errorPercentThreshold: 25, sleepWindow: "10 seconds" } }
}

export const program = Effect.gen(function*() {
  const registry = yield* CircuitRegistry
  const names: Array<string> = []
  registry.observe({ event: (cell: CircuitCell) => names.push(cell.name) })
  const outcome = yield* withFallback
  const snapshot = yield* Circuit.snapshot("payments")
  return { outcome, state: snapshot.state, names }
}).pipe(Effect.provide(CircuitRegistry.layer(options)))
`

// A program that uses withCircuit and nothing else of the package.
const withCircuitOnlyMjs = `import { Effect } from "effect"
import { CircuitRegistry, withCircuit } from "effect-circuit"

const result = await Effect.runPromise(
  Effect.succeed("charged").pipe(withCircuit("payments"), Effect.provide(CircuitRegistry.layer()))
)
console.log(result)
`
// The same, keeping every export: the markers below must be found in it, so
// that their absence from the first bundle means something.
const everythingMjs = `import * as EffectCircuit from "effect-circuit"
console.log(Object.keys(EffectCircuit).length)
`
// Distinctive strings of the code a withCircuit-only program must not carry.
// (effect's Schema, which the settings' decoding uses, brings its own small
// http/Headers and http/Cookies modules; the server and client do not come with it.)
const markers: Readonly<Record<string, string>> = {
  "the dashboard page": "<!doctype html>",
  "the Hystrix stream (its thread-pool frames)": "HystrixThreadPool",
  "the Hystrix stream (its response)": "text/event-stream",
  "the HTTP middleware (its Retry-After header)": "retry-after",
  "the HTTP client (its per-host circuit names)": "`http:${",
  "effect's HTTP router": "\"~effect/http/HttpRouter\"",
  "effect's HTTP server response": "\"~effect/http/HttpServerResponse\"",
  "effect's HTTP client": "\"~effect/http/HttpClient\""
}

describe("the packed package, as a consumer uses it", () => {
  const work = mkdtempSync(join(tmpdir(), "effect-circuit-consumer-"))
  let tarball = ""
  let packed: { readonly size: number; readonly unpackedSize: number; readonly entryCount: number } | undefined

  beforeAll(() => {
    // `npm pack` runs prepack, which builds dist/.
    const out = run("npm", ["pack", "--json", "--pack-destination", work], root, process.env)
    const json = JSON.parse(out.slice(out.indexOf("\n[") + 1 || 0)) as ReadonlyArray<{
      readonly filename: string
      readonly size: number
      readonly unpackedSize: number
      readonly entryCount: number
    }>
    const info = json[0]!
    tarball = join(work, info.filename)
    packed = info
    console.log(
      `packed: ${info.filename}, ${(info.size / 1000).toFixed(1)} kB, unpacked ${
        (info.unpackedSize / 1000).toFixed(1)
      } kB, ${info.entryCount} files`
    )

    const app = join(work, "app")
    mkdirSync(app)
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }))
    const peers = Object.keys(manifest.peerDependencies).map((name) =>
      `${name}@${manifest.devDependencies[name] ?? manifest.peerDependencies[name]}`
    )
    run("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", "--no-package-lock", tarball, ...peers], app)
  }, 240_000)

  afterAll(() => {
    rmSync(work, { recursive: true, force: true })
  }, 60_000)

  const app = join(work, "app")

  it("installs from the tarball, outside the repository, with dist/ and no .ts module in exports", () => {
    assert.isFalse(realpathSync(work).startsWith(realpathSync(root)), "the consumer folder is outside the repository")
    const installed = JSON.parse(readFileSync(join(app, "node_modules", manifest.name, "package.json"), "utf8"))
    for (const [subpath, target] of Object.entries(installed.exports as Record<string, unknown>)) {
      if (typeof target !== "object" || target === null || !("default" in target)) continue
      const { default: js, types } = target as { default: string; types: string }
      assert.match(js, /^\.\/dist\/.*\.js$/, `${subpath}: default`)
      assert.match(types, /^\.\/dist\/.*\.d\.ts$/, `${subpath}: types`)
      assert.isTrue(existsSync(join(app, "node_modules", manifest.name, js)), `${subpath}: ${js} is in the package`)
      assert.isTrue(existsSync(join(app, "node_modules", manifest.name, types)), `${subpath}: ${types} is in the package`)
    }
    assert.isAbove(packed!.size, 0)
  })

  it("runs a plain .mjs program importing every subpath, on the toolchain's Node and the system's", () => {
    writeFileSync(join(app, "program.mjs"), programMjs())
    const nodes = [process.execPath]
    const system = systemNode()
    const oldest = oldestNode(manifest.engines.node)
    if (system !== undefined && admits(oldest, versionOf(system))) nodes.push(system)
    const ran: Array<string> = []
    for (const node of nodes) {
      const result = JSON.parse(run(node, ["program.mjs"], app).trim().split("\n").pop()!)
      assert.deepInclude(result, {
        subpaths: specifiers.length,
        guarded: "charged",
        error: "CircuitOpenError",
        state: "open",
        frozen: true,
        promise: { value: "quoted", own: true, refused: true }
      })
      assert.isAtLeast(result.requests, 20)
      ran.push(result.node)
    }
    console.log(`the tarball ran on Node ${ran.join(" and ")} (engines: ${manifest.engines.node})`)
    // The toolchain's Node is the newest; the system's (20 on these machines) the oldest tested.
    assert.isAtLeast(ran.length, 1)
  }, 60_000)

  for (const [label, compilerOptions] of [
    ["nodenext", { module: "nodenext", moduleResolution: "nodenext" }],
    ["bundler", { module: "preserve", moduleResolution: "bundler" }]
  ] as const) {
    it(`type-checks a TypeScript consumer under moduleResolution ${label}, skipLibCheck false, no @types/node`, () => {
      writeFileSync(join(app, "consumer.ts"), consumerTs())
      writeFileSync(
        join(app, `tsconfig.${label}.json`),
        JSON.stringify({
          compilerOptions: {
            target: "es2022",
            ...compilerOptions,
            strict: true,
            exactOptionalPropertyTypes: true,
            noUncheckedIndexedAccess: true,
            skipLibCheck: false,
            types: [],
            noEmit: true
          },
          files: ["consumer.ts"]
        })
      )
      assert.isFalse(existsSync(join(app, "node_modules", "@types", "node")), "no @types/node in the consumer")
      run(process.execPath, [tsc, "-p", `tsconfig.${label}.json`], app)
    }, 60_000)
  }

  it("bundles a withCircuit-only program with esbuild: it runs, and leaves out the dashboard, stream and HTTP", async () => {
    writeFileSync(join(app, "only.mjs"), withCircuitOnlyMjs)
    writeFileSync(join(app, "everything.mjs"), everythingMjs)
    const bundle = async (entry: string) =>
      esbuild.build({
        absWorkingDir: app,
        entryPoints: [entry],
        outfile: join(app, "out", entry),
        bundle: true,
        minify: true,
        format: "esm",
        platform: "node",
        target: "node20",
        logLevel: "silent",
        metafile: true
      })
    const { metafile } = await bundle("only.mjs")
    await bundle("everything.mjs")
    // The package's own share of the bundle; the rest is effect.
    const own = Object.entries(metafile.outputs[join("out", "only.mjs")]!.inputs)
      .filter(([input]) => input.includes(`node_modules/${manifest.name}/`))
      .reduce((sum, [, input]) => sum + input.bytesInOutput, 0)
    const only = readFileSync(join(app, "out", "only.mjs"), "utf8")
    const everything = readFileSync(join(app, "out", "everything.mjs"), "utf8")
    for (const [what, marker] of Object.entries(markers)) {
      assert.include(everything, marker, `the marker of ${what} is in the bundle of everything`)
      assert.notInclude(only, marker, `the withCircuit-only bundle holds ${what}`)
    }
    assert.strictEqual(run(process.execPath, [join("out", "only.mjs")], app).trim(), "charged")
    const bytes = Buffer.byteLength(only)
    const gzip = gzipSync(only).length
    console.log(
      `esbuild, withCircuit only (minified, effect included): ${(bytes / 1000).toFixed(1)} kB, ${
        (gzip / 1000).toFixed(1)
      } kB gzipped, of which effect-circuit ${(own / 1000).toFixed(1)} kB; everything: ${
        (Buffer.byteLength(everything) / 1000).toFixed(1)
      } kB`
    )
    assert.isAbove(own, 0)
  }, 60_000)

  it("publint finds nothing, not even a suggestion", async () => {
    const tgz = readFileSync(tarball)
    const { messages, pkg } = await publint({
      pack: { tarball: tgz.buffer.slice(tgz.byteOffset, tgz.byteOffset + tgz.byteLength) as ArrayBuffer },
      level: "suggestion",
      strict: true
    })
    assert.deepStrictEqual(messages.map((message) => formatMessage(message, pkg) ?? message.code), [])
  }, 60_000)

  it("@arethetypeswrong/cli finds no problem (profile esm-only: the package has no CommonJS entry)", () => {
    const attw = join(root, "node_modules", "@arethetypeswrong", "cli", "dist", "index.js")
    run(process.execPath, [attw, tarball, "--profile", "esm-only", "--format", "table-flipped"], app)
  }, 60_000)
})

describe("the docs that ship", () => {
  // What `npm pack` would put in the tarball (without building: no link points into dist/).
  const shipped = (): ReadonlyArray<string> => {
    const out = run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], root, process.env)
    const [info] = JSON.parse(out.slice(out.indexOf("["))) as ReadonlyArray<{
      readonly files: ReadonlyArray<{ readonly path: string }>
    }>
    return info!.files.map((file) => file.path)
  }

  it("link only to files that are in the package, and never to a spec the user does not have", () => {
    const files = shipped()
    const inPackage = (path: string) => files.includes(path) || files.some((file) => file.startsWith(`${path}/`))
    const problems: Array<string> = []
    for (const file of files) {
      if (!/\.(md|ts)$/.test(file) || file.startsWith("dist/")) continue
      const text = readFileSync(join(root, file), "utf8")
      text.split("\n").forEach((line, i) => {
        if (/\bSPEC\b|SPEC\.md|shared\//.test(line)) problems.push(`${file}:${i + 1}: refers to the spec: ${line.trim()}`)
      })
      if (!file.endsWith(".md")) continue
      for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1]!.replace(/#.*$/, "")
        if (target === "" || /^[a-z]+:/i.test(target)) continue
        const resolved = join(file, "..", target).split("\\").join("/").replace(/\/$/, "")
        if (!inPackage(resolved)) problems.push(`${file}: links to ${match[1]}, which is not in the package`)
      }
    }
    assert.deepStrictEqual(problems, [])
  }, 60_000)
})

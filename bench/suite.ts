/**
 * The benchmark suite: effect-circuit side by side with what users would pick
 * instead, in one process, cases alternated within each round, medians and
 * ratios reported. Run with `npm run bench` (never part of `npm test`).
 *
 * Writes `bench/results/latest.json` and the tables of `docs/performance.md`
 * (between the BENCH markers).
 *
 * Flags: `--quick` (fewer rounds and calls, for a smoke run), `--no-write`.
 */
import { Context, Effect, Layer } from "effect"
import { execFileSync, execSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import { createRequire } from "node:module"
import { Circuit, CircuitRegistry, withCircuit } from "effect-circuit"
import { promiseShellCases, promiseShellTargets } from "./promise.ts"

const require = createRequire(import.meta.url)
// opossum and cockatiel are CommonJS; load them the way their users do.
const CircuitBreaker = require("opossum") as typeof import("opossum")
const cockatiel = require("cockatiel") as typeof import("cockatiel")

const args = new Set(process.argv.slice(2))
const quick = args.has("--quick")
const ROUNDS = quick ? 3 : 9
const FIBER_CALLS = quick ? 50_000 : 200_000
const PROMISE_CALLS = quick ? 10_000 : 50_000

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

// ---------------------------------------------------------------------------
// The registry every Effect case runs with. Hystrix defaults, as the SPEC sets.
// ---------------------------------------------------------------------------

const registryLayer = CircuitRegistry.layer({
  circuits: {
    "timeout-off": { timeout: "infinity" },
    "buckets-10": { rollingWindow: { buckets: 10, bucketDuration: "1 second" } },
    "buckets-1000": { rollingWindow: { buckets: 1000, bucketDuration: "10 millis" } }
  }
})
const context = await Effect.runPromise(Layer.build(registryLayer).pipe(Effect.scoped)) as Context.Context<
  CircuitRegistry
>
const runPromise = Effect.runPromiseWith(context)
await runPromise(Circuit.forceOpen("open"))

const one = Effect.succeed(1)
const fallbackOne = { fallback: () => Effect.succeed(0) }

const effectCases = {
  "Effect.succeed": one,
  "Effect.timeout(1 s)": Effect.timeout(one, "1 second"),
  "withCircuit (defaults, timeout on)": one.pipe(withCircuit("default")),
  "withCircuit (timeout off)": one.pipe(withCircuit("timeout-off")),
  "withCircuit open + fallback": one.pipe(withCircuit("open", fallbackOne)),
  "withCircuit 10 buckets": one.pipe(withCircuit("buckets-10")),
  "withCircuit 1,000 buckets": one.pipe(withCircuit("buckets-1000"))
} satisfies Record<string, Effect.Effect<number, unknown, CircuitRegistry>>

// ---------------------------------------------------------------------------
// The peers, with settings equivalent to the defaults above.
// ---------------------------------------------------------------------------

const opossumOptions = {
  timeout: 1000,
  capacity: 10,
  errorThresholdPercentage: 50,
  volumeThreshold: 20,
  resetTimeout: 5000,
  rollingCountTimeout: 10_000,
  rollingCountBuckets: 10
}
const asyncOne = async () => 1
const opossum = new CircuitBreaker(asyncOne, opossumOptions)
// Kept open for the whole run, as our forced-open circuit is: opossum would
// otherwise go half-open after resetTimeout, probe, and close mid-run.
const opossumOpen = new CircuitBreaker(asyncOne, { ...opossumOptions, resetTimeout: 2_000_000_000 })
opossumOpen.fallback(() => 0)
opossumOpen.open()

const sampling = () =>
  cockatiel.circuitBreaker(cockatiel.handleAll, {
    halfOpenAfter: 5000,
    breaker: new cockatiel.SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 2 })
  })
const cockatielBreaker = sampling()
const cockatielFull = cockatiel.wrap(
  cockatiel.bulkhead(10),
  cockatiel.timeout(1000, cockatiel.TimeoutStrategy.Cooperative),
  sampling()
)

const promiseCases: Record<string, () => Promise<unknown>> = {
  "await async () => 1": asyncOne,
  "runPromise(Effect.succeed)": () => runPromise(one),
  "runPromise(Effect.timeout(1 s))": () => runPromise(effectCases["Effect.timeout(1 s)"]),
  "runPromise(withCircuit, defaults)": () => runPromise(effectCases["withCircuit (defaults, timeout on)"]),
  "opossum fire()": () => opossum.fire(),
  "runPromise(withCircuit open + fallback)": () => runPromise(effectCases["withCircuit open + fallback"]),
  "opossum fire(), open + fallback": () => {
    if (!opossumOpen.opened) throw new Error("the opossum circuit closed during the run")
    return opossumOpen.fire()
  },
  "cockatiel breaker": () => cockatielBreaker.execute(asyncOne),
  "cockatiel bulkhead+timeout+breaker": () => cockatielFull.execute(asyncOne),
  ...promiseShellCases
}

// ---------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------

const timeInFiber = (effect: Effect.Effect<unknown, unknown, CircuitRegistry>, n: number) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) yield* effect
    return ((performance.now() - t0) * 1e6) / n
  })

const timePromises = async (call: () => Promise<unknown>, n: number): Promise<number> => {
  const t0 = performance.now()
  for (let i = 0; i < n; i++) await call()
  return ((performance.now() - t0) * 1e6) / n
}

const fiberSamples: Record<string, Array<number>> = {}
const promiseSamples: Record<string, Array<number>> = {}

// One warm-up round, then ROUNDS rounds, each running every case once, in an
// order rotated per round so no case always follows the same neighbour.
const fiberNames = Object.keys(effectCases) as Array<keyof typeof effectCases>
const promiseNames = Object.keys(promiseCases)
for (let round = -1; round < ROUNDS; round++) {
  for (let k = 0; k < fiberNames.length; k++) {
    const name = fiberNames[(k + Math.max(round, 0)) % fiberNames.length]!
    const ns = await runPromise(timeInFiber(effectCases[name], FIBER_CALLS))
    if (round >= 0) (fiberSamples[name] ??= []).push(ns)
  }
  for (let k = 0; k < promiseNames.length; k++) {
    const name = promiseNames[(k + Math.max(round, 0)) % promiseNames.length]!
    const ns = await timePromises(promiseCases[name]!, PROMISE_CALLS)
    if (round >= 0) (promiseSamples[name] ??= []).push(ns)
  }
  process.stderr.write(round < 0 ? "warm-up done\n" : `round ${round + 1}/${ROUNDS}\n`)
}

const fiber = Object.fromEntries(fiberNames.map((n) => [n, median(fiberSamples[n]!)]))
const promise = Object.fromEntries(promiseNames.map((n) => [n, median(promiseSamples[n]!)]))

// ---------------------------------------------------------------------------
// Memory and background work of 100,000 idle circuits
// ---------------------------------------------------------------------------

// Each case in a fresh process (bench/idle.ts), so no other measurement's garbage is counted.
const idle = ["used-metrics-off", "unused-defaults", "used-defaults"].map((c) =>
  JSON.parse(
    execFileSync(process.execPath, ["--expose-gc", fileURLToPath(new URL("./idle.ts", import.meta.url)), c], {
      encoding: "utf8"
    }).trim().split("\n").pop()!
  ) as { label: string; circuits: number; bytesPerCircuit: number; activeResourcesAdded: number }
)

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

const r = (a: number, b: number) => Math.round((a / b) * 100) / 100
const targets = [
  {
    target: "withCircuit (defaults) ≤ 0.6 × Effect.timeout, one fiber",
    value: r(fiber["withCircuit (defaults, timeout on)"]!, fiber["Effect.timeout(1 s)"]!),
    met: (v: number) => v <= 0.6
  },
  {
    target: "runPromise(withCircuit) calls/s ≥ 2 × opossum fire()",
    value: r(promise["opossum fire()"]!, promise["runPromise(withCircuit, defaults)"]!),
    met: (v: number) => v >= 2
  },
  {
    target: "open + fallback ≤ 2 × bare Effect.succeed, one fiber",
    value: r(fiber["withCircuit open + fallback"]!, fiber["Effect.succeed"]!),
    met: (v: number) => v <= 2
  },
  {
    target: "open + fallback ≥ 20 × faster than opossum open + fallback",
    value: r(promise["opossum fire(), open + fallback"]!, fiber["withCircuit open + fallback"]!),
    met: (v: number) => v >= 20
  },
  {
    target: "open + fallback via runPromise vs opossum open + fallback (per-call promise)",
    value: r(promise["opossum fire(), open + fallback"]!, promise["runPromise(withCircuit open + fallback)"]!),
    met: (v: number) => v >= 1
  },
  ...promiseShellTargets(promise),
  ...idle.map((c) => ({
    target: `idle circuit ≤ 1 KB heap (bytes), ${c.label}`,
    value: Math.round(c.bytesPerCircuit),
    met: (v: number) => v <= 1024
  })),
  {
    target: "idle circuits hold no timers or handles (resources added)",
    value: Math.max(...idle.map((c) => c.activeResourcesAdded)),
    met: (v: number) => v <= 0
  },
  {
    target: "1,000 buckets within 10 % of 10 buckets",
    value: r(fiber["withCircuit 1,000 buckets"]!, fiber["withCircuit 10 buckets"]!),
    met: (v: number) => v <= 1.1
  }
]

const version = (pkg: string) => {
  try {
    return (JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), "utf8")) as {
      version: string
    }).version
  } catch {
    return "?"
  }
}
const machine = {
  cpu: os.cpus()[0]?.model ?? "?",
  cores: os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  os: `${os.type()} ${os.release()}`,
  versions: Object.fromEntries(["effect", "opossum", "cockatiel"].map((p) => [p, version(p)])),
  commit: (() => {
    try {
      return execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim()
    } catch {
      return "?"
    }
  })(),
  date: new Date().toISOString(),
  rounds: ROUNDS,
  fiberCalls: FIBER_CALLS,
  promiseCalls: PROMISE_CALLS
}

const ns = (x: number) => x.toFixed(0)
const table = (rows: Record<string, number>, base: string) =>
  [
    `| case | ns per call (median of ${ROUNDS}) | ratio to ${base} |`,
    "| --- | ---: | ---: |",
    ...Object.entries(rows).map(([k, v]) => `| ${k} | ${ns(v)} | ${r(v, rows[base]!)} |`)
  ].join("\n")

const report = [
  `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB; Node ${machine.node}; ${machine.os}.`,
  `Versions: effect ${machine.versions.effect}, opossum ${machine.versions.opossum}, cockatiel ${machine.versions.cockatiel}; commit ${machine.commit}; ${machine.date}.`,
  "",
  "### Many calls inside one fiber",
  "",
  table(fiber, "Effect.timeout(1 s)"),
  "",
  "### One promise per call",
  "",
  table(promise, "await async () => 1"),
  "",
  "### 100,000 idle circuits",
  "",
  "| circuits | heap bytes each | timers/handles added |",
  "| --- | ---: | ---: |",
  ...idle.map((c) => `| ${c.circuits.toLocaleString("en")} ${c.label} | ${Math.round(c.bytesPerCircuit)} | ${c.activeResourcesAdded} |`),
  "",
  "### Targets",
  "",
  "| target | value | met |",
  "| --- | ---: | :---: |",
  ...targets.map((t) => `| ${t.target} | ${t.value} | ${t.met(t.value) ? "yes" : "**no**"} |`)
].join("\n")

console.log(report)

if (!args.has("--no-write")) {
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true })
  writeFileSync(
    new URL("./results/latest.json", import.meta.url),
    JSON.stringify({ machine, fiber, promise, idle, targets: targets.map(({ met, ...t }) => ({ ...t, met: met(t.value) })) }, null, 2)
  )
  const docUrl = new URL("../docs/performance.md", import.meta.url)
  const doc = readFileSync(docUrl, "utf8")
  const begin = "<!-- BENCH:BEGIN -->"
  const end = "<!-- BENCH:END -->"
  const i = doc.indexOf(begin)
  const j = doc.indexOf(end)
  if (i >= 0 && j > i) {
    writeFileSync(docUrl, `${doc.slice(0, i + begin.length)}\n${report}\n${doc.slice(j)}`)
  }
}
process.exit(0)

/**
 * Adaptive concurrency on the real clock: a simulated dependency (capacity
 * C = 20 calls at once, 50 ms each; a call that starts with n > C calls in it
 * takes 50 ms · n / C) under an open-loop load of 1.5 × C per 50 ms, behind a
 * circuit whose limit is fixed too high (4 × C), right (C), too low (C / 4),
 * AIMD, or gradient. Reports, per limit, the goodput, the p99 latency of the
 * calls let through, timeouts and rejections; then the per-call cost of an
 * adaptive limit against a fixed one (sequential calls in one fiber, rounds
 * alternated, medians). Writes the tables of docs/performance.md between the
 * ADAPTIVE markers. Run with `npm run bench:adaptive` (never part of `npm test`).
 *
 * Flags: `--quick` (shorter runs), `--no-write`.
 */
import { Effect, Exit } from "effect"
import { type CircuitConfigInput, CircuitRegistry, CircuitRejectedError, CircuitTimeoutError, withCircuit } from "effect-circuit"
import { readFileSync, writeFileSync } from "node:fs"
import * as os from "node:os"

const args = process.argv.slice(2)
const quick = args.includes("--quick")
const SECONDS = quick ? 2 : 6
const ROUNDS = quick ? 3 : 7
const CALLS = quick ? 50_000 : 200_000

const C = 20
const L = 50
const TIMEOUT = 3 * L

// ---------------------------------------------------------------------------
// The dependency under load
// ---------------------------------------------------------------------------

interface Result {
  readonly name: string
  readonly goodput: number
  readonly p99: number
  readonly timeouts: number
  readonly rejected: number
  readonly calls: number
  readonly limitAtEnd: number
}

const underLoad = (name: string, maxConcurrentRequests: CircuitConfigInput["maxConcurrentRequests"]) =>
  Effect.gen(function*() {
    const dependency = { inFlight: 0 }
    const work = Effect.suspend(() => {
      dependency.inFlight++
      const millis = Math.round(L * Math.max(1, dependency.inFlight / C))
      return Effect.ensuring(Effect.sleep(millis), Effect.sync(() => dependency.inFlight--))
    })
    const guarded = work.pipe(withCircuit("dependency"))
    const latencies: Array<number> = []
    let ok = 0
    let timeouts = 0
    let rejected = 0
    let calls = 0
    const warmUp = 2_000 // ms: the limit learns before anything is counted
    const t0 = performance.now()
    const call = Effect.suspend(() => {
      const start = performance.now()
      return Effect.map(Effect.exit(guarded), (exit) => {
        if (start - t0 < warmUp) return
        calls++
        if (Exit.isSuccess(exit)) {
          ok++
          latencies.push(performance.now() - start)
        } else {
          const error = exit.cause.reasons.find((r) => r._tag === "Fail")
          const e = error?._tag === "Fail" ? error.error : undefined
          if (e instanceof CircuitRejectedError) rejected++
          else if (e instanceof CircuitTimeoutError) {
            timeouts++
            latencies.push(performance.now() - start)
          }
        }
      })
    })
    // Open loop: 1.5 × C calls per L, sent every 5 ms whatever happened before.
    const tick = 5
    let owed = 0
    let next = t0
    while (performance.now() - t0 < warmUp + SECONDS * 1000) {
      owed += 1.5 * C * tick / L
      for (; owed >= 1; owed--) yield* Effect.forkDetach(call)
      next += tick
      yield* Effect.sleep(Math.max(0, next - performance.now()))
    }
    yield* Effect.sleep(TIMEOUT + 50)
    const registry = yield* CircuitRegistry
    latencies.sort((a, b) => a - b)
    return {
      name,
      goodput: ok / SECONDS / (C * 1000 / L),
      p99: latencies[Math.ceil(0.99 * latencies.length) - 1] ?? NaN,
      timeouts,
      rejected,
      calls,
      limitAtEnd: registry.lookup("dependency")?.maxConcurrent ?? NaN
    } satisfies Result
  }).pipe(
    Effect.provide(CircuitRegistry.layer({
      // The breaker stays out of it: this compares limits.
      defaults: { maxConcurrentRequests, timeout: TIMEOUT, requestVolumeThreshold: 1_000_000 }
    })),
    Effect.orDie
  )

const limits: ReadonlyArray<readonly [string, CircuitConfigInput["maxConcurrentRequests"]]> = [
  [`fixed ${4 * C} (4 × too high)`, 4 * C],
  [`fixed ${C} (right)`, C],
  [`fixed ${C / 4} (4 × too low)`, C / 4],
  ["aimd (latencyThreshold 1.25 L)", { adaptive: "aimd", min: 1, max: 200, initial: 10, latencyThreshold: 1.25 * L }],
  ["gradient (defaults)", { adaptive: "gradient", min: 1, max: 200, initial: 10 }]
]

const loadResults: Array<Result> = []
for (const [name, limit] of limits) {
  const result = await Effect.runPromise(underLoad(name, limit))
  loadResults.push(result)
  console.log(
    `${name.padEnd(32)} goodput ${(100 * result.goodput).toFixed(0).padStart(3)} % of C/L, p99 ${
      result.p99.toFixed(0).padStart(4)
    } ms, timeouts ${String(result.timeouts).padStart(5)}, rejected ${String(result.rejected).padStart(6)} of ${result.calls}, limit at the end ${result.limitAtEnd}`
  )
}

// ---------------------------------------------------------------------------
// Per-call cost: adaptive vs fixed, sequential calls in one fiber
// ---------------------------------------------------------------------------

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

const costCases: ReadonlyArray<readonly [string, CircuitConfigInput["maxConcurrentRequests"]]> = [
  ["fixed 10 (the default)", 10],
  ["aimd", { adaptive: "aimd", min: 1, max: 1000, initial: 10 }],
  ["gradient", { adaptive: "gradient", min: 1, max: 1000, initial: 10 }]
]

const timeCalls = (maxConcurrentRequests: CircuitConfigInput["maxConcurrentRequests"]) =>
  Effect.gen(function*() {
    const call = Effect.succeed(1).pipe(withCircuit("c"))
    for (let i = 0; i < 10_000; i++) yield* call
    const t0 = performance.now()
    for (let i = 0; i < CALLS; i++) yield* call
    return ((performance.now() - t0) * 1e6) / CALLS
  }).pipe(Effect.provide(CircuitRegistry.layer({ defaults: { maxConcurrentRequests } })), Effect.orDie)

const samples = new Map<string, Array<number>>(costCases.map(([name]) => [name, []]))
for (let round = 0; round < ROUNDS; round++) {
  const order = costCases.map((_, i) => costCases[(i + round) % costCases.length]!)
  for (const [name, limit] of order) samples.get(name)!.push(await Effect.runPromise(timeCalls(limit)))
}
const fixedNs = median(samples.get(costCases[0]![0])!)
const costRows = costCases.map(([name]) => {
  const ns = median(samples.get(name)!)
  return { name, ns, ratio: ns / fixedNs }
})
for (const row of costRows) console.log(`${row.name.padEnd(24)} ${row.ns.toFixed(0).padStart(5)} ns/call  ${row.ratio.toFixed(2)} × fixed`)

// ---------------------------------------------------------------------------
// docs/performance.md
// ---------------------------------------------------------------------------

if (!args.includes("--no-write")) {
  const file = new URL("../docs/performance.md", import.meta.url)
  const doc = readFileSync(file, "utf8")
  const table = [
    "<!-- ADAPTIVE:START (written by npm run bench:adaptive) -->",
    "",
    `Run ${new Date().toISOString().slice(0, 10)}: ${os.cpus()[0]?.model ?? "cpu"}, ${os.cpus().length} cores, Node ${process.version}; ${SECONDS} s per limit after a 2 s warm-up.`,
    `Dependency: C = ${C} calls at once, L = ${L} ms each (L · n / C with n > C in it); open-loop load 1.5 × C / L; timeout ${TIMEOUT} ms; breaker out of the way.`,
    "",
    "| limit | goodput (of C / L) | p99 latency | timeouts | rejected | limit at the end |",
    "| --- | --- | --- | --- | --- | --- |",
    ...loadResults.map((r) =>
      `| ${r.name} | ${(100 * r.goodput).toFixed(0)} % | ${r.p99.toFixed(0)} ms | ${r.timeouts} | ${r.rejected} of ${r.calls} | ${r.limitAtEnd} |`
    ),
    "",
    `Per call, sequential \`Effect.succeed(1)\` under \`withCircuit\` in one fiber (metrics on, ${CALLS.toLocaleString("en")} calls, median of ${ROUNDS} alternated rounds):`,
    "",
    "| limit | ns per call | × fixed |",
    "| --- | --- | --- |",
    ...costRows.map((r) => `| ${r.name} | ${r.ns.toFixed(0)} | ${r.ratio.toFixed(2)} |`),
    "",
    "<!-- ADAPTIVE:END -->"
  ].join("\n")
  const start = doc.indexOf("<!-- ADAPTIVE:START")
  const end = doc.indexOf("<!-- ADAPTIVE:END -->")
  const section = "\n## Adaptive concurrency\n\nCommand: `npm run bench:adaptive` (`bench/adaptive.ts`); what the algorithms do: [adaptive concurrency](adaptive-concurrency.md).\n\n"
  const next = start === -1 || end === -1
    ? `${doc.trimEnd()}\n${section}${table}\n`
    : `${doc.slice(0, start)}${table}${doc.slice(end + "<!-- ADAPTIVE:END -->".length)}`
  writeFileSync(file, next)
  console.log("wrote docs/performance.md")
}

/**
 * The Promise shell's cases of the benchmark suite (`bench/suite.ts` runs
 * them among its "one promise per call" cases): `CircuitPromise.fire()` with
 * the defaults users get (timeout, bulkhead and metrics on), and an open
 * circuit with a fallback, next to opossum's and cockatiel's.
 */
import { CircuitPromise } from "effect-circuit/promise"

const circuits = CircuitPromise.make()
circuits.forceOpen("open")
const asyncOne = async () => 1
const fallback = { fallback: () => 0 }

export const promiseShellCases: Record<string, () => Promise<unknown>> = {
  "CircuitPromise fire() (defaults)": () => circuits.fire("default", asyncOne),
  "CircuitPromise fire(), open + fallback": () => circuits.fire("open", asyncOne, fallback)
}

const r = (a: number, b: number) => Math.round((a / b) * 100) / 100

/** The targets, from the medians (ns per call) of one run. */
export const promiseShellTargets = (promise: Record<string, number>) => [
  {
    target: "CircuitPromise fire() calls/s ≥ 2 × opossum fire()",
    value: r(promise["opossum fire()"]!, promise["CircuitPromise fire() (defaults)"]!),
    met: (v: number) => v >= 2
  },
  {
    target: "CircuitPromise fire() calls/s ≥ cockatiel breaker alone",
    value: r(promise["cockatiel breaker"]!, promise["CircuitPromise fire() (defaults)"]!),
    met: (v: number) => v >= 1
  },
  {
    target: "CircuitPromise open + fallback ≥ 20 × faster than opossum open + fallback",
    value: r(promise["opossum fire(), open + fallback"]!, promise["CircuitPromise fire(), open + fallback"]!),
    met: (v: number) => v >= 20
  }
]

// `node bench/promise.ts`: these cases alone, next to the peers they are
// measured against (the same settings as bench/suite.ts), alternated per round.
if (import.meta.main) {
  const { createRequire } = await import("node:module")
  const require = createRequire(import.meta.url)
  const CircuitBreaker = require("opossum") as typeof import("opossum")
  const cockatiel = require("cockatiel") as typeof import("cockatiel")
  const options = {
    timeout: 1000,
    capacity: 10,
    errorThresholdPercentage: 50,
    volumeThreshold: 20,
    resetTimeout: 5000,
    rollingCountTimeout: 10_000,
    rollingCountBuckets: 10
  }
  const opossum = new CircuitBreaker(asyncOne, options)
  const opossumOpen = new CircuitBreaker(asyncOne, { ...options, resetTimeout: 2_000_000_000 })
  opossumOpen.fallback(() => 0)
  opossumOpen.open()
  const breaker = cockatiel.circuitBreaker(cockatiel.handleAll, {
    halfOpenAfter: 5000,
    breaker: new cockatiel.SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 2 })
  })
  const cases: Record<string, () => Promise<unknown>> = {
    "await async () => 1": asyncOne,
    "opossum fire()": () => opossum.fire(),
    "opossum fire(), open + fallback": () => opossumOpen.fire(),
    "cockatiel breaker": () => breaker.execute(asyncOne),
    ...promiseShellCases
  }
  const rounds = 9
  const calls = 50_000
  const samples: Record<string, Array<number>> = {}
  const names = Object.keys(cases)
  for (let round = -1; round < rounds; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + Math.max(round, 0)) % names.length]!
      const call = cases[name]!
      const t0 = performance.now()
      for (let i = 0; i < calls; i++) await call()
      if (round >= 0) (samples[name] ??= []).push(((performance.now() - t0) * 1e6) / calls)
    }
  }
  const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const result = Object.fromEntries(names.map((name) => [name, median(samples[name]!)]))
  console.log(`| case | ns per call (median of ${rounds}) |\n| --- | ---: |`)
  for (const name of names) console.log(`| ${name} | ${result[name]!.toFixed(0)} |`)
  console.log("\n| target | value | met |\n| --- | ---: | :---: |")
  for (const t of promiseShellTargets(result)) console.log(`| ${t.target} | ${t.value} | ${t.met(t.value) ? "yes" : "**no**"} |`)
  circuits.close()
  process.exit(0)
}

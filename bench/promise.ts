/**
 * `node bench/promise.ts`: the Promise shell's cases alone (on a registry of
 * `CircuitPromise.make()`, metrics on), beside the peers they are measured
 * against, alternated per round, with the targets. A quick look;
 * `npm run bench` runs the same cases among all the others
 * (`bench/cases/promise.ts`).
 */
import { CircuitPromise } from "effect-circuit/promise"
import { createRequire } from "node:module"
import * as Peers from "./cases/peers.ts"
import { names, targets } from "./cases/promise.ts"

const require = createRequire(import.meta.url)
const Opossum = require("opossum") as typeof import("opossum")
const cockatiel = require("cockatiel") as typeof import("cockatiel")

const asyncOne = async () => 1
const options = {
  timeout: 1000,
  capacity: 10,
  errorThresholdPercentage: 50,
  volumeThreshold: 20,
  resetTimeout: 5000,
  rollingCountTimeout: 10_000,
  rollingCountBuckets: 10
}
const opossum = new Opossum(asyncOne, options)
const opossumOpen = new Opossum(asyncOne, { ...options, resetTimeout: 2_000_000_000 })
opossumOpen.fallback(() => 0)
opossumOpen.open()
const breaker = cockatiel.circuitBreaker(cockatiel.handleAll, {
  halfOpenAfter: 5000,
  breaker: new cockatiel.SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 2 })
})
const circuits = CircuitPromise.make()
circuits.forceOpen("open")
const fallback = { fallback: () => 0 }

// The Promise mechanics of a guarded call without the circuit: two clock
// reads, an AbortController, a promise of its own answered from fn's. What
// `fire()` costs above this is admission, recording and metrics.
const skeleton = (): Promise<unknown> => {
  const start = performance.now()
  const controller = new AbortController()
  let resolve!: (value: unknown) => void
  const answer = new Promise((res) => (resolve = res))
  asyncOne().then((value) => {
    if (performance.now() - start < 0 || controller.signal.aborted) return
    resolve(value)
  })
  return answer
}

const cases: Record<string, () => Promise<unknown>> = {
  "await async () => 1": asyncOne,
  "skeleton: 2 clock reads + AbortController + own promise": skeleton,
  [Peers.names.opossum]: () => opossum.fire(),
  [Peers.names.opossumOpen]: () => opossumOpen.fire(),
  [Peers.names.cockatiel]: () => breaker.execute(asyncOne),
  [names.fire]: () => circuits.fire("default", asyncOne),
  [names.fireOpen]: () => circuits.fire("open", asyncOne, fallback)
}
const rounds = 9
const calls = 50_000
const samples: Record<string, Array<number>> = {}
const keys = Object.keys(cases)
for (let round = -1; round < rounds; round++) {
  for (let k = 0; k < keys.length; k++) {
    const name = keys[(k + Math.max(round, 0)) % keys.length]!
    const call = cases[name]!
    const t0 = performance.now()
    for (let i = 0; i < calls; i++) await call()
    if (round >= 0) (samples[name] ??= []).push(((performance.now() - t0) * 1e6) / calls)
  }
}
if (!opossumOpen.opened || circuits.state("open") !== "forced-open") throw new Error("an open circuit closed during the run")
const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const result = Object.fromEntries(keys.map((name) => [name, median(samples[name]!)]))
console.log(`| case | ns per call (median of ${rounds}) |\n| --- | ---: |`)
for (const name of keys) console.log(`| ${name} | ${result[name]!.toFixed(0)} |`)
console.log("\n| target | value | met |\n| --- | ---: | :---: |")
for (const t of targets(result)) console.log(`| ${t.target} | ${t.value} | ${t.met(t.value) ? "yes" : "**no**"} |`)
circuits.close()
process.exit(0)

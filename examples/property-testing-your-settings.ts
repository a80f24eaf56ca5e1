/**
 * Checking that your own circuit settings do what you want, with fast-check.
 * The requirement: "while the dependency is healthy the circuit stays
 * closed; when it has a 30 s outage, the circuit trips within 2 s; it is
 * closed again within 10 s after the outage ends", over hundreds of random
 * outages (10 to 100 calls per second, calls that fail or hang, latency up
 * to 200 ms, the outage starting anywhere).
 *
 * `simulate` plays each outage through the pure core in microseconds: no
 * fibers, no clock, no waiting. Requires fast-check (an optional peer
 * dependency of effect-circuit).
 *
 * Run: npm run example -- property-testing-your-settings
 */
import * as fc from "fast-check"
import type { CircuitConfigInput } from "effect-circuit"
import { type Outage, outageArbitrary, outageReport, outageTrace, simulate } from "effect-circuit/testing"

// The requirement, as a property of some settings.
const requirement = (settings: CircuitConfigInput, outages: fc.Arbitrary<Outage>) =>
  fc.property(outages, (outage) => {
    const report = outageReport(simulate(settings, outageTrace(outage)), outage)
    return report.openingsBeforeOutage === 0 &&
      report.trippedAfterMillis !== undefined && report.trippedAfterMillis <= 2_000 &&
      report.recoveredAfterMillis !== undefined && report.recoveredAfterMillis <= 10_000
  })

const outages = (failurePercent = 100) =>
  outageArbitrary({
    outageMillis: { min: 30_000, max: 30_000 },
    requestsPerSecond: { min: 10, max: 100 },
    latencyMillis: { min: 0, max: 200 },
    afterMillis: { min: 15_000, max: 15_000 },
    failurePercent: { min: failurePercent, max: 100 }
  })

const describe = (settings: CircuitConfigInput, outage: Outage): string => {
  const report = outageReport(simulate(settings, outageTrace(outage)), outage)
  const ms = (n: number | undefined) => n === undefined ? "never" : `${Math.round(n)} ms`
  return `${outage.requestsPerSecond} calls/s, ${outage.latencyMillis} ms latency, ${outage.mode}, ` +
    `${Math.round((outage.failureRate ?? 1) * 100)} % failing: opened ${report.openingsBeforeOutage} time(s) before the outage, ` +
    `tripped after ${ms(report.trippedAfterMillis)}, closed ${ms(report.recoveredAfterMillis)} after it`
}

const check = (label: string, settings: CircuitConfigInput, arbitrary: fc.Arbitrary<Outage>): void => {
  // A fixed seed makes the run reproducible; drop it to explore new cases on each run.
  const result = fc.check(requirement(settings, arbitrary), { seed: 42, numRuns: 300 })
  if (result.failed && result.counterexample !== null) {
    console.log(`${label}: FAILS (case ${result.numRuns}); shrunk counterexample:`)
    console.log(`  ${describe(settings, result.counterexample[0])}`)
  } else {
    console.log(`${label}: holds for ${result.numRuns} random outages`)
  }
}

// 1. Hystrix's defaults: 50 % of a 10 s window must be errors, which takes
//    about 5 s of failures after healthy traffic.
check("defaults", {}, outages())

// 2. A 2 s window (10 buckets of 200 ms), 10 requests to decide, a 500 ms
//    timeout so that hanging calls count quickly, a 2 s sleep window. But the
//    bulkhead stays at 10: at 80 calls/s with 170 ms latency, 14 calls are
//    in flight, the extra ones are rejected, and rejections are errors.
const firstTry: CircuitConfigInput = {
  timeout: "500 millis",
  requestVolumeThreshold: 10,
  rollingWindow: { buckets: 10, bucketDuration: "200 millis" },
  sleepWindow: "2 seconds"
}
check("first try", firstTry, outages())

// 3. The same with room for the traffic: 100 calls/s × 200 ms = 20 in flight.
const tuned: CircuitConfigInput = { ...firstTry, maxConcurrentRequests: 40 }
check("tuned", tuned, outages())

// 4. What the requirement does not cover: when only part of the calls fail,
//    barely 50 % errors must first outweigh a whole window of earlier successes.
check("tuned, partial outage", tuned, outages(50))

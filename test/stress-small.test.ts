/**
 * The stress run of `bench/stress.ts` (`npm run stress`), small enough for CI:
 * 20,000 calls by 200 fibers over 20 circuits on the real clock, with random
 * latencies, failures, defects, timeouts (some ignoring interruption),
 * fallbacks and interrupted callers. It asserts no timing, only that the
 * limits held, every permit came back, every call published exactly one
 * outcome of the kind its caller got, and the heap did not grow.
 */
import { assert, describe, it } from "@effect/vitest"
import { formatReport, runStress } from "../bench/stress.ts"

describe("stress (small)", () => {
  it("limits hold, permits come back, one outcome per call, no heap growth", async () => {
    const report = await runStress({
      calls: 20_000,
      fibers: 200,
      circuits: 20,
      timeLimitMillis: 20_000,
      warmupCalls: 5_000,
      heapNoiseBytes: 8 * 1024 * 1024,
      seed: 20_240_601,
      log: () => {}
    })
    const text = formatReport(report)
    assert.isTrue(report.ok, text)
    assert.isTrue(report.callsMade > 0)
  }, 60_000)
})

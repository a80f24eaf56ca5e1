/**
 * SPEC 7: outcomes of calls admitted before the latest state change are
 * counted in the window but never change the state.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Breaker } from "../src/core/index.ts"
import { defaultProfile, type Profile, scenarioArb } from "./arbitraries.ts"
import { runTrace } from "./harness.ts"

const numRuns = 1000

// Many calls in flight, completed in random order long after they started.
const inFlightProfile: Profile = {
  ...defaultProfile,
  advance: 30,
  call: 50,
  complete: 30,
  force: 5
}

const counted = { success: "success", failure: "failure", timeout: "timeout", rejected: "rejected" } as const

describe("Generations (SPEC 7)", () => {
  it("SPEC 7: an outcome from an older generation is counted but changes no state", () => {
    fc.assert(
      fc.property(scenarioArb(inFlightProfile, { maxVolume: 6, maxSteps: 150 }), (scenario) => {
        runTrace(scenario, ({ step, now, before, after, completed }) => {
          if (step._tag !== "Complete" || completed === undefined) return
          if (completed.generation === before.generation) return
          assert.deepStrictEqual(after.state, before.state, `old ${step.result} (gen ${completed.generation} < ${before.generation}) moved the state`)
          assert.strictEqual(after.generation, before.generation)
          assert.strictEqual(Breaker.sleepMillis(after), Breaker.sleepMillis(before))
          const s = Breaker.summaryAt(after, now)
          const p = Breaker.summaryAt(before, now)
          if (step.result === "interrupted" || step.result === "ignored") {
            assert.deepStrictEqual(s, p)
          } else {
            const kind = counted[step.result]
            assert.strictEqual(s[kind], p[kind] + 1, `old ${kind} not counted`)
            assert.strictEqual(s.total, p.total + 1)
          }
        })
      }),
      { numRuns }
    )
  })
})

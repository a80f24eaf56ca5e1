/**
 * SPEC 8: the n-th consecutive opening lasts sleepWindow(n); a close resets n.
 * The property counts openings itself from the states it sees.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Breaker } from "../src/core/index.ts"
import { defaultProfile, type Profile, scenarioArb, sleepFrom } from "./arbitraries.ts"
import { runTrace } from "./harness.ts"

const numRuns = 1000

// Fail often, so circuits trip, probe, fail again and open for longer.
const sleepProfile: Profile = {
  ...defaultProfile,
  advance: 35,
  call: 40,
  complete: 40,
  force: 2,
  results: { success: 2, failure: 5, timeout: 2, rejected: 1, interrupted: 1, ignored: 1 }
}

describe("Growing sleep window (SPEC 8)", () => {
  it("SPEC 8: the n-th consecutive opening lasts sleepWindow(n) and a close resets n", () => {
    fc.assert(
      fc.property(scenarioArb(sleepProfile, { maxVolume: 4, maxSteps: 150 }), (scenario) => {
        const sleep = sleepFrom(scenario.config.sleeps)
        let n = 0
        runTrace(scenario, ({ now, before, after }) => {
          const tag = after.state._tag
          if (tag === "Closed" || tag === "ForcedClosed" || tag === "ForcedOpen") n = 0
          const enteredOpen = tag === "Open" && (before.state._tag !== "Open" || before.state.openedAt !== after.state.openedAt)
          if (!enteredOpen || after.state._tag !== "Open") return
          n++
          const s = sleep(n)
          const openedAt = after.state.openedAt
          assert.strictEqual(openedAt, now)
          assert.strictEqual(Breaker.sleepMillis(after), s, `opening ${n}`)
          assert.strictEqual(Breaker.retryAfterMillis(after, openedAt), s, `opening ${n}: retry after`)
          if (s > 0) assert.strictEqual(Breaker.admit(after, openedAt + s - 1), "short-circuit", `opening ${n}: at S − 1`)
          assert.strictEqual(Breaker.admit(after, openedAt + s), "probe", `opening ${n}: at S`)
        })
      }),
      { numRuns }
    )
  })
})

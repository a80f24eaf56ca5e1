/**
 * The breaker against the reference model on random traces: full agreement
 * (state, admission, retry-after, window at now and at the next bucket and
 * window edges) after every step, plus SPEC 1, 2 and 3 checked step by step.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Breaker, Window } from "../src/core/index.ts"
import { defaultProfile, type Profile, scenarioArb } from "./arbitraries.ts"
import { runTrace } from "./harness.ts"

const numRuns = 1000

const requestResults = new Set(["success", "failure", "timeout", "rejected"])
const kindOf = { success: "success", failure: "failure", timeout: "timeout", rejected: "rejected" } as const

const tripProfile: Profile = {
  ...defaultProfile,
  advance: 15,
  call: 50,
  complete: 50,
  fallback: 4,
  force: 1
}

describe("Breaker vs the reference model", () => {
  it("agrees with the model on every step of any trace, Reconfigure included", () => {
    fc.assert(
      fc.property(scenarioArb({ ...defaultProfile, reconfigure: 2 }, { maxVolume: 8 }), (scenario) => {
        runTrace(scenario)
      }),
      { numRuns }
    )
  })

  it("SPEC 1: an outcome lands in the current bucket when it is reduced; memory stays O(buckets)", () => {
    fc.assert(
      fc.property(scenarioArb(defaultProfile, { maxVolume: 10 }), (scenario) => {
        runTrace(scenario, ({ step, now, before, after, completed }) => {
          // Every window the breaker holds has fewer closed buckets than `buckets`.
          assert.isBelow(Window.closedBuckets(after.window).length, after.config.buckets)
          if (step._tag !== "Complete" || completed === undefined) return
          if (step.result === "interrupted" || step.result === "ignored") return
          const wasProbe = before.state._tag === "HalfOpen" && completed.generation === before.generation
          if (wasProbe && step.result === "success") return // SPEC 6: the window starts afresh
          const kind = kindOf[step.result]
          const current = Breaker.windowAt(after, now)
          const previous = Breaker.windowAt(before, now)
          assert.strictEqual(current.currentIndex, Math.floor(now / after.config.bucketMillis))
          assert.strictEqual(current.current[kind], previous.current[kind] + 1, `the ${kind} at ${now} is in the bucket of ${now}`)
        })
      }),
      { numRuns }
    )
  })

  it("SPEC 2: total, errors and errorPercentage; short-circuits, interruptions and ignored failures are not requests", () => {
    fc.assert(
      fc.property(scenarioArb(defaultProfile, { maxVolume: 10 }), (scenario) => {
        runTrace(scenario, ({ step, now, before, after }) => {
          const s = Breaker.summaryAt(after, now)
          assert.strictEqual(s.total, s.success + s.failure + s.timeout + s.rejected)
          assert.strictEqual(s.errors, s.failure + s.timeout + s.rejected)
          assert.strictEqual(s.errorPercentage, s.total === 0 ? 0 : (s.errors * 100) / s.total)
          const p = Breaker.summaryAt(before, now)
          const notARequest = step._tag === "Fallback" ||
            (step._tag === "Call" && after.state._tag === before.state._tag && after.generation === before.generation) ||
            (step._tag === "Complete" && (step.result === "interrupted" || step.result === "ignored"))
          if (notARequest) {
            assert.strictEqual(s.total, p.total, `${step._tag} changed the request count`)
            assert.strictEqual(s.errors, p.errors, `${step._tag} changed the error count`)
          }
        })
      }),
      { numRuns }
    )
  })

  it("SPEC 3: a closed circuit opens exactly when total ≥ V and errors·100 ≥ P·total after an outcome, never below V", () => {
    fc.assert(
      fc.property(scenarioArb(tripProfile, { maxSteps: 200 }), (scenario) => {
        const { volume, percent } = scenario.config
        runTrace(scenario, ({ step, now, before, after, completed }) => {
          if (before.state._tag !== "Closed") return
          const opened = after.state._tag === "Open"
          if (opened) {
            assert.isAtLeast(Breaker.summaryAt(after, now).total, volume, "opened with fewer than V requests")
            assert.strictEqual(after.state.openedAt, now)
          }
          const currentOutcome = step._tag === "Complete" && completed !== undefined &&
            requestResults.has(step.result) && completed.generation === before.generation
          if (!currentOutcome) {
            if (step._tag !== "ForceOpen" && step._tag !== "ForceClosed" && step._tag !== "Reset") {
              assert.strictEqual(after.state._tag, "Closed", `${step._tag} moved a closed circuit`)
            }
            return
          }
          const s = Breaker.summaryAt(after, now)
          assert.strictEqual(opened, s.total >= volume && s.errors * 100 >= percent * s.total, `V=${volume} P=${percent} total=${s.total} errors=${s.errors}`)
        })
      }),
      { numRuns }
    )
  })
})

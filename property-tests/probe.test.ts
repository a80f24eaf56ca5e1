/**
 * SPEC 4, 5 and 6: short-circuits while open, a single probe once the sleep
 * window has passed, and what the probe's outcome does.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Breaker } from "../src/core/index.ts"
import { defaultProfile, type Profile, scenarioArb } from "./arbitraries.ts"
import { runTrace } from "./harness.ts"
import * as M from "./model.ts"

const numRuns = 1000

const probeProfile: Profile = {
  ...defaultProfile,
  advance: 35,
  call: 40,
  complete: 35,
  force: 1,
  results: { success: 3, failure: 4, timeout: 2, rejected: 1, interrupted: 2, ignored: 2 }
}

const scenarios = scenarioArb(probeProfile, { maxVolume: 5, maxSteps: 150 })

describe("Open and half-open (SPEC 4, 5, 6)", () => {
  it("SPEC 4: while open, before the sleep window ends, every call is short-circuited and changes nothing", () => {
    fc.assert(
      fc.property(scenarios, (scenario) => {
        runTrace(scenario, ({ step, now, before, after, modelBefore, admission, events }) => {
          if (before.state._tag === "ForcedOpen" && step._tag === "Call") {
            assert.strictEqual(admission, "short-circuit")
            assert.strictEqual(Breaker.retryAfterMillis(before, now), Infinity)
          }
          if (before.state._tag !== "Open") return
          const sleep = M.sleepOfCurrentOpening(modelBefore)
          const end = before.state.openedAt + sleep
          // At every moment before the end (its last millisecond and the opening one), admit says short-circuit.
          for (const t of [before.state.openedAt, end - 1, now]) {
            if (t < end) assert.strictEqual(Breaker.admit(before, t), "short-circuit", `admit at ${t}, sleep ends at ${end}`)
          }
          if (now < end) {
            assert.strictEqual(Breaker.retryAfterMillis(before, now), end - now)
            if (step._tag === "Call") {
              assert.strictEqual(admission, "short-circuit")
              assert.deepStrictEqual(events.map((e) => e._tag), ["ShortCircuited"])
              assert.deepStrictEqual(after.state, before.state)
              assert.strictEqual(after.generation, before.generation)
            }
          }
        })
      }),
      { numRuns }
    )
  })

  it("SPEC 5: once now − openedAt ≥ S exactly one call is the probe; others short-circuit while it runs", () => {
    fc.assert(
      fc.property(scenarios, (scenario) => {
        runTrace(scenario, ({ step, now, before, after, modelBefore, admission, inFlight }) => {
          const probes = inFlight.filter((c) => c.probe && c.generation === after.generation)
          assert.isAtMost(probes.length, 1, "more than one probe in flight")
          if (after.state._tag === "HalfOpen") {
            assert.strictEqual(after.state.probing, probes.length === 1, "probing iff the probe is in flight")
          }
          if (step._tag !== "Call") return
          if (before.state._tag === "Open" && now - before.state.openedAt >= M.sleepOfCurrentOpening(modelBefore)) {
            assert.strictEqual(admission, "probe")
            assert.strictEqual(after.state._tag, "HalfOpen")
            assert.strictEqual(Breaker.admit(after, now), "short-circuit", "a second call at once is not a probe")
          }
          if (before.state._tag === "HalfOpen") {
            assert.strictEqual(admission, before.state.probing ? "short-circuit" : "probe")
          }
          if (admission === "probe") assert.strictEqual(probes.length, 1)
        })
      }),
      { numRuns }
    )
  })

  it("SPEC 6: probe success closes with an empty window; failure reopens at now; interruption only frees the slot", () => {
    fc.assert(
      fc.property(scenarios, (scenario) => {
        runTrace(scenario, ({ step, now, before, after, completed }) => {
          if (step._tag !== "Complete" || completed === undefined) return
          if (before.state._tag !== "HalfOpen" || !completed.probe || completed.generation !== before.generation) return
          switch (step.result) {
            case "success": {
              assert.strictEqual(after.state._tag, "Closed")
              const d = after.config.bucketMillis
              for (const t of [now, now + 1, (Math.floor(now / d) + 1) * d]) {
                const s = Breaker.summaryAt(after, t)
                assert.deepStrictEqual(
                  [s.success, s.failure, s.timeout, s.rejected, s.shortCircuited, s.fallbackSuccess, s.fallbackFailure],
                  [0, 0, 0, 0, 0, 0, 0],
                  `window not empty at ${t} after a successful probe at ${now}`
                )
              }
              assert.strictEqual(Breaker.admit(after, now), "allow")
              break
            }
            case "failure":
            case "timeout":
            case "rejected":
              assert.deepStrictEqual(after.state, { _tag: "Open", openedAt: now })
              break
            case "interrupted":
            case "ignored":
              assert.deepStrictEqual(after.state, { ...before.state, probing: false })
              assert.deepStrictEqual(Breaker.summaryAt(after, now), Breaker.summaryAt(before, now))
              assert.strictEqual(Breaker.admit(after, now), "probe", "the slot is free again")
              break
          }
        })
      }),
      { numRuns }
    )
  })
})

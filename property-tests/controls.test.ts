/**
 * The controls of issue 12 (count window, consecutive failures, slow calls,
 * several half-open probes, Retry-After, a backoff that survives flapping)
 * and the drawn sleep windows of issue 11.5, in the pure core: full
 * agreement with the reference model on random traces with every control on
 * or off at random (and changed at run time), plus each rule checked step by
 * step on its own, and "off means off": a control at its off value changes
 * nothing.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Breaker, Window } from "../src/core/index.ts"
import { defaultProfile, type Profile, scenarioArb, type TestConfig } from "./arbitraries.ts"
import { runTrace } from "./harness.ts"

const numRuns = 1000

const controlsProfile: Profile = {
  ...defaultProfile,
  advance: 25,
  call: 45,
  complete: 40,
  retryAfter: 6,
  draw: 3,
  reconfigure: 2,
  controls: true,
  results: { success: 4, failure: 5, timeout: 2, rejected: 1, interrupted: 1, ignored: 1 }
}

const withControls = (overrides: Partial<Profile> = {}) =>
  scenarioArb({ ...controlsProfile, ...overrides }, { maxVolume: 8, controls: true, maxSteps: 150 })

const isRequest = (result: string): boolean =>
  result === "success" || result === "failure" || result === "timeout" || result === "rejected"

describe("Controls (issue 12) vs the reference model", () => {
  it("agrees with the model on every step of any trace, with every control on or off and changed at run time", () => {
    fc.assert(fc.property(withControls(), (scenario) => void runTrace(scenario)), { numRuns })
  })

  it("count window: it holds the last N requests, whatever the time, in fewer than N stored buckets", () => {
    fc.assert(
      fc.property(withControls({ reconfigure: 0 }), (scenario) => {
        const n = scenario.config.windowCalls
        if (n === undefined) return
        runTrace(scenario, ({ now, after }) => {
          assert.isTrue(Window.isCountWindow(after.window))
          assert.isBelow(Window.closedBuckets(after.window).length, n)
          const requests = Breaker.summaryAt(after, now + 10 ** 9).total
          assert.isAtMost(requests, n)
          assert.strictEqual(Breaker.summaryAt(after, now).total, requests, "time does not move a count window")
        })
      }),
      { numRuns }
    )
  })

  it("consecutive failures: N errors in a row of the current generation open a closed circuit, whatever the volume and percentage", () => {
    fc.assert(
      fc.property(withControls({ reconfigure: 0 }), (scenario) => {
        const n = scenario.config.consecutive
        if (n === undefined) return
        runTrace(scenario, ({ step, now, before, after, completed }) => {
          if (step._tag !== "Complete" || completed === undefined || !isRequest(step.result)) return
          assert.strictEqual(after.streak, step.result === "success" ? 0 : before.streak + 1)
          if (before.state._tag !== "Closed" || completed.generation !== before.generation) return
          if (after.streak >= n) assert.strictEqual(after.state._tag, "Open", `${after.streak} errors in a row at ${now}`)
          // Whichever rule comes first: the percentage rule trips as before.
          if (Breaker.exceedsThresholds(after.config, after.window)) assert.strictEqual(after.state._tag, "Open")
          if (after.state._tag === "Open") {
            assert.isTrue(after.streak >= n || Breaker.exceedsThresholds(after.config, after.window))
          }
        })
      }),
      { numRuns }
    )
  })

  it("slow calls: a request slower than the duration is counted slow (a slow failure also as a failure), and the slow percentage trips", () => {
    fc.assert(
      fc.property(withControls({ reconfigure: 0 }), (scenario) => {
        const slowMillis = scenario.config.slowMillis
        if (slowMillis === undefined) return
        runTrace(scenario, ({ step, now, before, after, completed }) => {
          if (step._tag !== "Complete" || completed === undefined || !isRequest(step.result)) return
          const emptied = after.generation !== before.generation && after.state._tag === "Closed"
          if (emptied) return
          const slow = step.result !== "rejected" && now - completed.admittedAt > slowMillis
          const b = Breaker.summaryAt(before, now)
          const a = Breaker.summaryAt(after, now)
          if (scenario.config.windowCalls === undefined) {
            assert.strictEqual(a.slow, (b.slow ?? 0) + (slow ? 1 : 0), "slow count")
            assert.strictEqual(a.errors, b.errors + (step.result === "success" ? 0 : 1), "error count")
          }
          const opened = before.state._tag === "Closed" && after.state._tag === "Open"
          const slowTrips = a.total >= after.config.requestVolumeThreshold &&
            (a.slow ?? 0) * 100 >= (after.config.slowCallPercentThreshold ?? 100) * a.total
          if (before.state._tag === "Closed" && completed.generation === before.generation && slowTrips) {
            assert.isTrue(opened, `slow ${a.slow} of ${a.total} at ${now} must open`)
          }
        })
      }),
      { numRuns }
    )
  })

  it("half-open probes: at most N probes per round, N successes close, any failure reopens", () => {
    fc.assert(
      fc.property(withControls({ reconfigure: 0, retryAfter: 0 }), (scenario) => {
        const n = scenario.config.probes ?? 1
        runTrace(scenario, ({ step, before, after, completed }) => {
          if (after.state._tag === "HalfOpen") {
            assert.isAtMost(after.episode.probesRunning + after.episode.probesSucceeded, n)
            assert.strictEqual(after.state.probing, after.episode.probesRunning + after.episode.probesSucceeded >= n)
          }
          if (step._tag !== "Complete" || completed === undefined || !completed.probe) return
          if (before.state._tag !== "HalfOpen" || completed.generation !== before.generation) return
          if (step.result === "success") {
            const closes = before.episode.probesSucceeded + 1 >= n
            assert.strictEqual(after.state._tag, closes ? "Closed" : "HalfOpen")
          } else if (isRequest(step.result)) {
            assert.strictEqual(after.state._tag, "Open")
          } else {
            assert.strictEqual(after.episode.probesRunning, before.episode.probesRunning - 1, "an interrupted probe frees its slot")
          }
        })
      }),
      { numRuns }
    )
  })

  it("Retry-After: the opening that a failure with Retry-After r caused lasts at least r", () => {
    fc.assert(
      fc.property(withControls({ retryAfter: 20, draw: 0 }), (scenario) => {
        runTrace(scenario, ({ step, now, before, after }) => {
          if (step._tag !== "Complete" || after.state._tag !== "Open" || after.generation === before.generation) return
          const r = step.retryAfter
          const base = after.config.sleepWindow(Math.max(1, after.openings))
          const expected = r !== undefined && Number.isFinite(r) && r > 0 ? Math.max(base, r) : base
          assert.strictEqual(Breaker.retryAfterMillis(after, now), expected)
          if (expected > 0) assert.strictEqual(Breaker.admit(after, now + expected - 1), "short-circuit")
          assert.strictEqual(Breaker.admit(after, now + expected), "probe")
        })
      }),
      { numRuns }
    )
  })

  it("backoff: with \"close\" every opening from closed is the first; with \"stable\" only one at least as long after the close as the circuit was open", () => {
    fc.assert(
      fc.property(withControls({ reconfigure: 0, results: { success: 3, failure: 6, timeout: 1, rejected: 1, interrupted: 1, ignored: 0 } }), (scenario) => {
        let lastClose: { at: number; openFor: number } | undefined
        runTrace(scenario, ({ now, before, after }) => {
          const tag = after.state._tag
          if (tag === "ForcedOpen" || tag === "ForcedClosed" || (tag === "Closed" && before.state._tag !== "HalfOpen")) {
            if (after.generation !== before.generation) lastClose = undefined
          }
          if (before.state._tag === "HalfOpen" && tag === "Closed") lastClose = { at: now, openFor: now - before.state.openedAt }
          if (before.state._tag === "Closed" && tag === "Open") {
            const survives = after.config.backoffReset === "stable" && lastClose !== undefined &&
              now - lastClose.at < lastClose.openFor
            assert.strictEqual(after.openings, survives ? before.openings + 1 : 1)
          }
          if (before.state._tag === "HalfOpen" && tag === "Open") assert.strictEqual(after.openings, before.openings + 1)
        })
      }),
      { numRuns }
    )
  })

  it("drawn sleep windows: a drawn delay sets the current opening's sleep window and nothing else", () => {
    fc.assert(
      fc.property(withControls({ draw: 15, retryAfter: 0 }), (scenario) => {
        runTrace(scenario, ({ step, now, before, after }) => {
          if (after.state._tag === "Open" && after.generation !== before.generation) {
            // A new opening starts from the configured sleep window, not an earlier draw.
            assert.strictEqual(Breaker.sleepMillis(after), after.config.sleepWindow(Math.max(1, after.openings)))
          }
          if (step._tag !== "Draw") return
          if (before.state._tag !== "Open") {
            assert.strictEqual(after, before)
            return
          }
          assert.strictEqual(after.state, before.state)
          assert.strictEqual(after.window, before.window)
          assert.strictEqual(Breaker.sleepMillis(after), step.millis)
          assert.strictEqual(Breaker.retryAfterMillis(after, now), Math.max(0, before.state.openedAt + step.millis - now))
        })
      }),
      { numRuns }
    )
  })

  it("off means off: every control at its off value gives the same breaker as no control at all", () => {
    const off = (c: TestConfig): TestConfig => {
      const { windowCalls: _w, consecutive: _c, slowMillis: _s, slowPercent: _p, probes: _h, backoffReset: _b, ...rest } = c
      return rest
    }
    fc.assert(
      fc.property(scenarioArb(defaultProfile, { maxVolume: 8 }), fc.integer({ min: 0, max: 100 }), (scenario, slowPercent) => {
        const plain = runTrace({ ...scenario, config: off(scenario.config) })
        const explicit = runTrace({
          ...scenario,
          config: { ...off(scenario.config), consecutive: Infinity, slowMillis: Infinity, slowPercent, probes: 1, backoffReset: "close" }
        })
        assert.deepStrictEqual(explicit.breaker.state, plain.breaker.state)
        assert.strictEqual(explicit.breaker.generation, plain.breaker.generation)
        assert.strictEqual(explicit.breaker.openings, plain.breaker.openings)
        assert.deepStrictEqual(Breaker.summaryAt(explicit.breaker, explicit.now), Breaker.summaryAt(plain.breaker, plain.now))
      }),
      { numRuns: 300 }
    )
  })
})

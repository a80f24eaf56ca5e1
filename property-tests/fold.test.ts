/**
 * The cell's counted events (issue 13): successes and failures that cannot
 * move the state, short-circuits and fallback outcomes are kept in plain counters of the
 * current bucket and folded into the immutable window by the core's
 * `countInCurrent`. Whatever the trace (every control of issue 12 on or off,
 * reconfigured on the way), and whenever the breaker is read, the cell holds
 * exactly what the core's `reduce` gives for the same events; and the core's
 * `successOnlyCounts` / `failureOnlyCounts` / `countsInCurrent` hold exactly
 * when `reduce` only counts the event.
 */
import { assert, describe, it } from "@effect/vitest"
import { Exit } from "effect"
import * as fc from "fast-check"
import { Breaker, Window } from "../src/core/index.ts"
import * as CircuitConfig from "../src/CircuitConfig.ts"
import { Cell, type Sink } from "../src/internal/cell.ts"
import { defaultProfile, type Profile, scenarioArb } from "./arbitraries.ts"
import { runTrace } from "./harness.ts"

const numRuns = 400

const sink: Sink = { event: () => {}, transition: () => {}, limitChange: () => {} }
const decoded = CircuitConfig.decode({})
if (!Exit.isSuccess(decoded)) throw new Error("the default settings decode")
const circuitConfig = decoded.value

// Mostly successes and fallbacks, so that long runs of counted events meet
// trips, streaks, slow calls, probes, roll-overs, forced states and new settings.
const countedProfile: Profile = {
  ...defaultProfile,
  fallback: 20,
  reconfigure: 1,
  controls: true,
  results: { success: 12, failure: 4, timeout: 1, rejected: 1, interrupted: 1, ignored: 1 }
}
const scenarios = fc.oneof(
  scenarioArb(countedProfile, { maxVolume: 12, maxSteps: 200 }),
  scenarioArb(countedProfile, { maxVolume: 12, maxSteps: 200, controls: true })
)

// The cell, fed as the call path feeds it: the kinds it may count through
// `success` and `happened`, every other event through `apply`.
const feed = (cell: Cell, event: Breaker.Event): void => {
  switch (event._tag) {
    case "Success":
      return cell.success(event.at, event.generation, event.durationMillis ?? 0)
    case "Failure":
      return cell.failure(event.at, event.generation, event.durationMillis ?? 0, event.retryAfterMillis)
    case "ShortCircuited":
    case "FallbackSuccess":
    case "FallbackFailure":
      return cell.happened(event._tag, event.at)
    default:
      cell.apply(event)
  }
}

describe("the cell's counted events", () => {
  it("the cell's breaker equals reduce over the same events, read at any step (or only at the end)", () => {
    fc.assert(
      fc.property(scenarios, fc.infiniteStream(fc.boolean()), (scenario, reads) => {
        let cell: Cell | undefined
        const result = runTrace(scenario, ({ after, before, events, index }) => {
          // Built with the harness's own settings object (its sleep window is a function).
          cell ??= new Cell("c", circuitConfig, before.config, sink, scenario.start)
          if (index === 0) assert.deepStrictEqual(cell.breaker, before)
          for (const event of events) feed(cell, event)
          // Admission, generation and settings read no fold, and agree at every step.
          assert.strictEqual(cell.generation, after.generation)
          assert.strictEqual(cell.breakerConfig, after.config)
          for (const at of [0, after.window.currentIndex * after.window.bucketMillis, Number.MAX_SAFE_INTEGER]) {
            assert.strictEqual(cell.admit(at), Breaker.admit(after, at))
          }
          if (reads.next().value) assert.deepStrictEqual(cell.breaker, after)
        })
        if (cell !== undefined) assert.deepStrictEqual(cell.breaker, result.breaker)
      }),
      { numRuns }
    )
  })

  it("successOnlyCounts holds exactly when reduce(Success) only counts it in the current bucket", () => {
    let counted = 0
    let moved = 0
    fc.assert(
      fc.property(
        scenarios,
        fc.nat({ max: 2 }),
        fc.nat(),
        fc.oneof(fc.nat({ max: 3 }), fc.nat({ max: 5000 })),
        fc.nat({ max: 3 }),
        (scenario, back, offset, durationMillis, pending) => {
          runTrace(scenario, ({ after }) => {
            const w = after.window
            const at = Window.isCountWindow(w)
              ? offset
              : w.currentIndex * w.bucketMillis + (offset % (2 * w.bucketMillis)) - (offset % 3 === 0 ? w.bucketMillis : 0)
            const generation = after.generation - back
            // `pending` successes already seen in this bucket, as the cell holds them.
            let b = after
            for (let i = 0; i < pending; i++) {
              if (!Breaker.successOnlyCounts(after, at, generation, durationMillis, i)) return
              b = Breaker.reduce(b, { _tag: "Success", at, generation, durationMillis })
            }
            const reduced = Breaker.reduce(b, { _tag: "Success", at, generation, durationMillis })
            const asCounted = Breaker.countInCurrent(after, { ...Window.emptyCounts, success: pending + 1 })
            const onlyCounts = Breaker.successOnlyCounts(after, at, generation, durationMillis, pending)
            if (onlyCounts) {
              counted++
              assert.deepStrictEqual(reduced, asCounted)
            } else if (
              reduced.generation !== b.generation || reduced.state !== b.state || reduced.streak !== b.streak
            ) moved++
            // Exactly: whenever reduce gives the counted breaker, the predicate says so,
            // unless the success lands outside the current bucket or is slow (then
            // the cell applies it, which is exact too, merely not free).
            if (!onlyCounts && Window.bucketIndex(w.bucketMillis, at) === w.currentIndex && !Window.isCountWindow(w)) {
              const slow = after.config.slowCallMillis !== undefined && durationMillis > after.config.slowCallMillis
              if (!slow) assert.notDeepEqual(reduced, asCounted)
            }
          })
        }
      ),
      { numRuns }
    )
    // Both sides of the rule were met.
    assert.isAbove(counted, 0)
    assert.isAbove(moved, 0)
  })

  it("failureOnlyCounts holds exactly when reduce(Failure) only counts it in the current bucket", () => {
    let counted = 0
    let moved = 0
    fc.assert(
      fc.property(
        scenarios,
        fc.nat({ max: 2 }),
        fc.nat(),
        fc.oneof(fc.nat({ max: 3 }), fc.nat({ max: 5000 })),
        fc.nat({ max: 3 }),
        fc.nat({ max: 3 }),
        fc.option(fc.nat({ max: 60_000 }), { nil: undefined }),
        (scenario, back, offset, durationMillis, successes, failures, retryAfterMillis) => {
          runTrace(scenario, ({ after }) => {
            const w = after.window
            const at = Window.isCountWindow(w)
              ? offset
              : w.currentIndex * w.bucketMillis + (offset % (2 * w.bucketMillis)) - (offset % 3 === 0 ? w.bucketMillis : 0)
            const generation = after.generation - back
            // Successes then failures already seen in this bucket, as the cell
            // holds them (a success never follows a pending failure).
            let b = after
            for (let i = 0; i < successes; i++) {
              if (!Breaker.successOnlyCounts(after, at, generation, durationMillis, i)) return
              b = Breaker.reduce(b, { _tag: "Success", at, generation, durationMillis })
            }
            for (let i = 0; i < failures; i++) {
              if (!Breaker.failureOnlyCounts(after, at, generation, durationMillis, successes + i, i)) return
              b = Breaker.reduce(b, { _tag: "Failure", at, generation, durationMillis })
            }
            const event: Breaker.Event = retryAfterMillis === undefined
              ? { _tag: "Failure", at, generation, durationMillis }
              : { _tag: "Failure", at, generation, durationMillis, retryAfterMillis }
            const reduced = Breaker.reduce(b, event)
            const asCounted = Breaker.countInCurrent(after, { ...Window.emptyCounts, success: successes, failure: failures + 1 })
            const onlyCounts = Breaker.failureOnlyCounts(after, at, generation, durationMillis, successes + failures, failures)
            if (onlyCounts) {
              counted++
              assert.deepStrictEqual(reduced, asCounted)
            } else if (reduced.generation !== b.generation || reduced.state !== b.state) moved++
            // Exactly: whenever reduce gives the counted breaker, the predicate says so
            // (outside the current bucket, or slow, the cell applies it: exact, merely not free).
            if (!onlyCounts && Window.bucketIndex(w.bucketMillis, at) === w.currentIndex && !Window.isCountWindow(w)) {
              const slow = after.config.slowCallMillis !== undefined && durationMillis > after.config.slowCallMillis
              if (!slow) assert.notDeepEqual(reduced, asCounted)
            }
          })
        }
      ),
      { numRuns }
    )
    // Both sides of the rule were met.
    assert.isAbove(counted, 0)
    assert.isAbove(moved, 0)
  })

  it("countsInCurrent holds exactly when a short-circuit or fallback outcome joins the current bucket", () => {
    const kinds = ["ShortCircuited", "FallbackSuccess", "FallbackFailure"] as const
    const counts = { ShortCircuited: "shortCircuited", FallbackSuccess: "fallbackSuccess", FallbackFailure: "fallbackFailure" } as const
    let counted = 0
    let rolled = 0
    fc.assert(
      fc.property(scenarios, fc.constantFrom(...kinds), fc.integer({ min: -3000, max: 3000 }), (scenario, kind, delta) => {
        runTrace(scenario, ({ after, now }) => {
          const at = Math.max(0, now + delta)
          const reduced = Breaker.reduce(after, { _tag: kind, at })
          const asCounted = Breaker.countInCurrent(after, { ...Window.emptyCounts, [counts[kind]]: 1 })
          if (Breaker.countsInCurrent(after, at)) {
            counted++
            assert.deepStrictEqual(reduced, asCounted)
          } else if (Window.bucketIndex(after.window.bucketMillis, at) > after.window.currentIndex) {
            // A later bucket: reduce rolls the window, which counters of the current bucket cannot.
            rolled++
            assert.notDeepEqual(reduced, asCounted)
          }
          // (An earlier bucket, time gone backwards, is applied by the cell: exact, merely not free.)
        })
      }),
      { numRuns: 200 }
    )
    assert.isAbove(counted, 0)
    assert.isAbove(rolled, 0)
  })

  it("addToCurrent equals recording each event at a time inside the current bucket", () => {
    const kindArb = fc.constantFrom(...Window.kinds)
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 2000 }),
        fc.nat({ max: 1_000_000 }),
        fc.array(fc.tuple(kindArb, fc.nat(), fc.boolean())),
        fc.array(kindArb, { minLength: 1 }),
        (buckets, bucketMillis, start, history, added) => {
          // A window with some history, then events counted in its current bucket.
          let w = Window.empty(buckets, bucketMillis, start)
          let t = start
          for (const [kind, gap, slow] of history) w = Window.record(w, (t += gap % (3 * bucketMillis)), kind, slow)
          let recorded = w
          let counts = Window.emptyCounts
          for (const kind of added) {
            recorded = Window.record(recorded, w.currentIndex * bucketMillis, kind)
            counts = Window.increment(counts, kind)
          }
          assert.deepStrictEqual(Window.addToCurrent(w, counts), recorded)
        }
      ),
      { numRuns }
    )
  })
})

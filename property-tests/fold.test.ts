/**
 * The cell's counters (issue 13): events that can only be counted (successes
 * that cannot move the state, short-circuits, fallback outcomes) are kept in
 * plain counters of the current bucket and folded into the immutable window by
 * the core's `countInCurrent`. Whatever the trace and whenever the breaker is
 * read, the cell holds exactly what the core's `reduce` gives for the same
 * events.
 */
import { assert, describe, it } from "@effect/vitest"
import { Exit } from "effect"
import * as fc from "fast-check"
import { Breaker, Window } from "../src/core/index.ts"
import * as CircuitConfig from "../src/CircuitConfig.ts"
import { Cell, type Sink } from "../src/internal/cell.ts"
import { defaultProfile, type Profile, scenarioArb } from "./arbitraries.ts"
import { runTrace } from "./harness.ts"

const numRuns = 500

const sink: Sink = { event: () => {}, transition: () => {}, limitChange: () => {} }
const decoded = CircuitConfig.decode({})
if (!Exit.isSuccess(decoded)) throw new Error("the default settings decode")
const circuitConfig = decoded.value

// Mostly successes and fallbacks, so that long runs of counted events meet
// trips, probes, roll-overs and forced states.
const countedProfile: Profile = {
  ...defaultProfile,
  fallback: 20,
  results: { success: 10, failure: 4, timeout: 1, rejected: 1, interrupted: 1, ignored: 1 }
}

// The cell, fed as the call path feeds it: counted kinds through its own
// methods, every other event through `apply`.
const feed = (cell: Cell, event: Breaker.Event): void => {
  switch (event._tag) {
    case "Success":
      return cell.success(event.at, event.generation)
    case "ShortCircuited":
      return cell.shortCircuited(event.at)
    case "FallbackSuccess":
      return cell.fallbackEnded(event.at, true)
    case "FallbackFailure":
      return cell.fallbackEnded(event.at, false)
    default:
      cell.apply(event)
  }
}

describe("the cell's counters", () => {
  it("the cell's breaker equals reduce over the same events, read at any step (or only at the end)", () => {
    fc.assert(
      fc.property(
        scenarioArb(countedProfile, { maxVolume: 12, maxSteps: 200 }),
        fc.infiniteStream(fc.boolean()),
        (scenario, reads) => {
          let cell: Cell | undefined
          runTrace(scenario, ({ events, after, before, index }) => {
            // Built with the harness's own settings object (its sleep window is a function).
            cell ??= new Cell("c", circuitConfig, before.config, sink, scenario.start)
            // The first step starts from the initial breaker the cell was built with.
            if (index === 0) assert.deepStrictEqual(cell.breaker, before)
            for (const event of events) feed(cell, event)
            // Admission and generation need no fold, and agree at every step.
            assert.strictEqual(cell.generation, after.generation)
            assert.strictEqual(cell.breakerConfig, after.config)
            assert.strictEqual(cell.admit(Number.MAX_SAFE_INTEGER), Breaker.admit(after, Number.MAX_SAFE_INTEGER))
            if (reads.next().value) assert.deepStrictEqual(cell.breaker, after)
          })
        }
      ),
      { numRuns }
    )
  })

  it("successOnlyCounts holds exactly when reduce(Success) only counts it (in the current bucket)", () => {
    fc.assert(
      fc.property(scenarioArb(countedProfile, { maxVolume: 12 }), fc.nat({ max: 1 }), fc.nat(), (scenario, back, offset) => {
        runTrace(scenario, ({ after }) => {
          const w = after.window
          const at = w.currentIndex * w.bucketMillis + (offset % w.bucketMillis)
          const generation = after.generation - back
          const reduced = Breaker.reduce(after, { _tag: "Success", at, generation })
          const counted = Breaker.countInCurrent(after, { ...Window.emptyCounts, success: 1 })
          const onlyCounts = reduced.generation === after.generation && reduced.state === after.state
          assert.strictEqual(Breaker.successOnlyCounts(after, generation, 0), onlyCounts)
          if (onlyCounts) assert.deepStrictEqual(reduced, counted)
        })
      }),
      { numRuns }
    )
  })

  it("addToCurrent equals recording each event at a time inside the current bucket", () => {
    const kindArb = fc.constantFrom(...Window.kinds)
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 2000 }),
        fc.nat({ max: 1_000_000 }),
        fc.array(fc.tuple(kindArb, fc.nat())),
        fc.array(kindArb),
        (buckets, bucketMillis, start, history, added) => {
          // A window with some history, then events counted in its current bucket.
          let w = Window.empty(buckets, bucketMillis, start)
          let t = start
          for (const [kind, gap] of history) w = Window.record(w, (t += gap % (3 * bucketMillis)), kind)
          let recorded = w
          let counts = Window.emptyCounts
          for (const kind of added) {
            recorded = Window.record(recorded, w.currentIndex * bucketMillis, kind)
            counts = Window.increment(counts, kind)
          }
          assert.deepStrictEqual(Window.totals(Window.addToCurrent(w, counts)), Window.totals(recorded))
          assert.deepStrictEqual(Window.closedBuckets(Window.addToCurrent(w, counts)), Window.closedBuckets(recorded))
        }
      ),
      { numRuns }
    )
  })
})

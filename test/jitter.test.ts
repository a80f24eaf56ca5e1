/**
 * Issue 11.5: each opening draws its own delay from a `Schedule` sleep
 * window, with the Random service of the fiber, so `Schedule.jittered`
 * jitters per circuit and per opening, and a seeded Random repeats the draws.
 */
import { assert, describe, it } from "@effect/vitest"
import { Data, Duration, Effect, Random, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitOpenError, CircuitRegistry, type CircuitConfigInput, withCircuit } from "../src/index.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}

const settings: CircuitConfigInput = {
  requestVolumeThreshold: 1,
  errorPercentThreshold: 50,
  timeout: "infinity",
  sleepWindow: Schedule.exponential("10 seconds").pipe(Schedule.jittered)
}

const fail = (name: string) => Effect.fail(new Boom()).pipe(withCircuit(name), Effect.flip)

// The sleep window of the current opening: retryAfter right after it opened.
const openFor = (name: string) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(Effect.succeed(1).pipe(withCircuit(name)))
    assert.instanceOf(error, CircuitOpenError)
    return Duration.toMillis((error as CircuitOpenError).retryAfter)
  })

// Two circuits, each opened, closed by a probe, and opened again: four
// openings, each the first of its run (so each a draw of the first delay).
const fourOpenings = () => Effect.gen(function*() {
  const delays: Array<number> = []
  for (const name of ["a", "b"]) {
    yield* fail(name)
    const first = yield* openFor(name)
    delays.push(first)
    yield* TestClock.adjust(Duration.millis(first))
    yield* Effect.succeed(1).pipe(withCircuit(name)) // the probe closes it
    assert.strictEqual((yield* Circuit.snapshot(name)).state, "closed")
    yield* fail(name)
    delays.push(yield* openFor(name))
  }
  return delays
}).pipe(Effect.provide(CircuitRegistry.layer({ defaults: settings }))) // a fresh registry per run

describe("jittered sleep windows (issue 11.5)", () => {
  it.effect("two circuits and two openings each get different delays, all within the jitter's range", () =>
    Effect.gen(function*() {
      const delays = yield* fourOpenings().pipe(Random.withSeed("circuits"))
      assert.strictEqual(new Set(delays).size, 4, `delays ${delays.join(", ")}`)
      for (const d of delays) assert.isTrue(d >= 8000 && d <= 12000, `${d} within 10 s ± 20 %`)
    }))

  it.effect("identical runs under the same seed draw identical delays; another seed draws others", () =>
    Effect.gen(function*() {
      const first = yield* fourOpenings().pipe(Random.withSeed(42))
      const again = yield* fourOpenings().pipe(Random.withSeed(42))
      const other = yield* fourOpenings().pipe(Random.withSeed(43))
      assert.deepStrictEqual(again, first)
      assert.notDeepEqual(other, first)
    }))

  it.effect("a growing schedule still grows per consecutive opening, each step jittered", () =>
    Effect.gen(function*() {
      yield* fail("c")
      const delays: Array<number> = []
      for (let n = 0; n < 3; n++) {
        const d = yield* openFor("c")
        delays.push(d)
        yield* TestClock.adjust(Duration.millis(d))
        yield* fail("c") // the probe fails: the next opening is the next step
      }
      const [d1, d2, d3] = delays as [number, number, number]
      assert.isTrue(d1 >= 8000 && d1 <= 12000, `${d1}`)
      assert.isTrue(d2 >= 16000 && d2 <= 24000, `${d2}`)
      assert.isTrue(d3 >= 32000 && d3 <= 48000, `${d3}`)
    }).pipe(Effect.provide(CircuitRegistry.layer({ defaults: settings })), Random.withSeed("grow")))
})

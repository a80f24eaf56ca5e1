/**
 * Testing code that uses circuits, without waiting: TestClock moves virtual
 * time, so a 1 second timeout or a 5 second sleep window takes no real time.
 * In a test suite, `it.effect` from @effect/vitest provides TestClock for
 * you; this example provides it by hand and checks with node:assert.
 *
 * Run: npm run example -- testing-with-testclock
 */
import { Data, Duration, Effect, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitOpenError, CircuitRegistry, CircuitTimeoutError, withCircuit } from "effect-circuit"
import * as assert from "node:assert/strict"

class RatesDown extends Data.TaggedError("RatesDown")<{}> {}

// The code under test: exchange rates behind a circuit.
let mode: "up" | "down" | "hang" = "up"
const fetchRate = Effect.suspend(() =>
  mode === "up" ? Effect.succeed(1.08) : mode === "down" ? Effect.fail(new RatesDown()) : Effect.never
).pipe(withCircuit("rates"))

const check = (name: string, test: Effect.Effect<void, unknown, CircuitRegistry>) =>
  test.pipe(
    Effect.provide(CircuitRegistry.layer({
      circuits: {
        rates: {
          timeout: "1 second",
          requestVolumeThreshold: 3,
          // A growing sleep window: 5 s, then 10 s, then 20 s... while it keeps failing.
          sleepWindow: Schedule.exponential("5 seconds")
        }
      }
    })),
    Effect.provide(TestClock.layer()),
    Effect.tap(() => Effect.sync(() => console.log(`ok - ${name}`)))
  )

const timesOutAtTheDeadline = Effect.gen(function*() {
  mode = "hang"
  const call = yield* Effect.forkChild(fetchRate)
  yield* TestClock.adjust("999 millis")
  assert.equal(call.pollUnsafe(), undefined) // still running
  yield* TestClock.adjust("1 millis")
  const error = yield* Effect.flip(Fiber.join(call))
  assert.ok(error instanceof CircuitTimeoutError)
  // The hanging effect was interrupted and its permit returned.
  assert.equal((yield* Circuit.snapshot("rates")).concurrency.active, 0)
})

const tripsAndRecovers = Effect.gen(function*() {
  mode = "down"
  for (let i = 0; i < 3; i++) yield* Effect.flip(fetchRate)
  assert.equal(yield* Circuit.state("rates"), "open")
  const error = yield* Effect.flip(fetchRate)
  assert.ok(error instanceof CircuitOpenError)
  assert.equal(Duration.toMillis(error.retryAfter), 5_000)

  // First opening: 5 s. The probe fails: the second opening lasts 10 s.
  yield* TestClock.adjust("5 seconds")
  yield* Effect.flip(fetchRate)
  yield* TestClock.adjust("9 seconds")
  assert.ok((yield* Effect.flip(fetchRate)) instanceof CircuitOpenError)
  yield* TestClock.adjust("1 second")

  // The downstream is back: the probe succeeds and closes the circuit.
  mode = "up"
  assert.equal(yield* fetchRate, 1.08)
  assert.equal(yield* Circuit.state("rates"), "closed")
})

const program = Effect.gen(function*() {
  yield* check("a hanging call fails with CircuitTimeoutError at exactly 1 s", timesOutAtTheDeadline)
  yield* check("trips after 3 failures, sleeps 5 s then 10 s, closes on a good probe", tripsAndRecovers)
})

Effect.runPromise(program).then(() => console.log("all checks passed"))

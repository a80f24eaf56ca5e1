/**
 * Issue 11, item 4 (SPEC 19): every duration is measured on monotonic time.
 *
 * The clock here is a `TestClock` whose wall time (`currentTimeMillis`,
 * `currentTimeNanos`) can be stepped by an hour either way while its
 * monotonic time (`monotonicTimeNanos`, and the sleeps) does not move, as
 * when an operator or NTP steps the system clock. No deadline, sleep window,
 * `retryAfter` or bucket placement may move with the step; the timestamps
 * shown in events and transitions do follow the wall clock.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitOpenError, CircuitRegistry, CircuitTimeoutError, withCircuit } from "../src/index.ts"

const HOUR = 3_600_000

// A clock whose wall time is the TestClock's plus `step.millis`; its
// monotonic time and sleeps are the TestClock's own.
const steppable = Effect.gen(function*() {
  const base = yield* Clock.clockWith(Effect.succeed)
  const step = { millis: 0 }
  const millis = () => base.currentTimeMillisUnsafe() + step.millis
  const nanos = () => base.currentTimeNanosUnsafe() + BigInt(step.millis) * 1_000_000n
  // The TestClock's own `adjust` stays reachable (TestClock.adjust reads the Clock service).
  const clock: Clock.Clock = {
    ...base,
    currentTimeMillisUnsafe: millis,
    currentTimeMillis: Effect.sync(millis),
    currentTimeNanosUnsafe: nanos,
    currentTimeNanos: Effect.sync(nanos),
    monotonicTimeNanosUnsafe: () => base.monotonicTimeNanosUnsafe(),
    monotonicTimeNanos: base.monotonicTimeNanos,
    sleep: (duration) => base.sleep(duration)
  }
  return { clock, step }
})

const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)
const fail = Effect.fail("boom").pipe(withCircuit("c"), Effect.ignore)

const withSteppable = <A, E>(f: (step: { millis: number }) => Effect.Effect<A, E, CircuitRegistry>) =>
  Effect.gen(function*() {
    const { clock, step } = yield* steppable
    return yield* f(step).pipe(Effect.provideService(Clock.Clock, clock))
  }).pipe(Effect.provide(CircuitRegistry.layer()))

describe("a step of the wall clock", () => {
  for (const direction of [-1, 1]) {
    const label = direction < 0 ? "back" : "forward"
    it.effect(`${label} by an hour changes neither retryAfter nor the sleep window`, () =>
      withSteppable((step) =>
        Effect.gen(function*() {
          for (let i = 0; i < 20; i++) yield* fail
          assert.strictEqual(yield* Circuit.state("c"), "open")
          yield* TestClock.adjust("2 seconds")
          step.millis = direction * HOUR
          const error = yield* Effect.succeed(1).pipe(withCircuit("c"), Effect.flip)
          assert.instanceOf(error, CircuitOpenError)
          assert.strictEqual(Duration.toMillis(error.retryAfter), 3000)
          // Still open 1 ms before the 5 s window ends; the probe runs at 5 s.
          yield* TestClock.adjust("2999 millis")
          assert.strictEqual(yield* Effect.succeed(1).pipe(withCircuit("c"), Effect.flip, Effect.map((e) => e._tag)), "CircuitOpenError")
          yield* TestClock.adjust("1 millis")
          assert.strictEqual(yield* Effect.succeed(1).pipe(withCircuit("c")), 1)
          assert.strictEqual(yield* Circuit.state("c"), "closed")
        })
      ))

    it.effect(`${label} by an hour moves no running call's deadline`, () =>
      withSteppable((step) =>
        Effect.gen(function*() {
          const call = yield* Effect.never.pipe(withCircuit("c"), Effect.flip, Effect.forkChild)
          yield* settle
          yield* TestClock.adjust("400 millis")
          step.millis = direction * HOUR
          // A second call after the step: its deadline is 1 s after its own start.
          const later = yield* Effect.never.pipe(withCircuit("c"), Effect.flip, Effect.forkChild)
          yield* settle
          yield* TestClock.adjust("599 millis")
          assert.isUndefined(call.pollUnsafe(), "not before its 1 s timeout")
          yield* TestClock.adjust("1 millis")
          assert.instanceOf(yield* Fiber.join(call), CircuitTimeoutError)
          yield* TestClock.adjust("399 millis")
          assert.isUndefined(later.pollUnsafe())
          yield* TestClock.adjust("1 millis")
          assert.instanceOf(yield* Fiber.join(later), CircuitTimeoutError)
        })
      ))

    it.effect(`${label} by an hour keeps outcomes in their buckets`, () =>
      withSteppable((step) =>
        Effect.gen(function*() {
          for (let i = 0; i < 10; i++) yield* fail
          step.millis = direction * HOUR
          assert.strictEqual((yield* Circuit.snapshot("c")).window.failure, 10)
          for (let i = 0; i < 10; i++) yield* fail
          assert.strictEqual(yield* Circuit.state("c"), "open", "20 failures in one window trip it")
          yield* TestClock.adjust("10 seconds")
          assert.strictEqual((yield* Circuit.snapshot("c")).window.total, 0, "and leave it after 10 s")
        })
      ))
  }

  it.effect("events and transitions show wall-clock timestamps", () =>
    withSteppable((step) =>
      Effect.gen(function*() {
        step.millis = HOUR
        const events = yield* Circuit.events.pipe(Stream.take(20), Stream.runCollect, Effect.forkChild)
        const transitions = yield* Circuit.transitions.pipe(Stream.take(1), Stream.runCollect, Effect.forkChild)
        yield* settle
        yield* TestClock.adjust("1 second")
        for (let i = 0; i < 20; i++) yield* fail
        for (const event of yield* Fiber.join(events)) assert.strictEqual(event.at, HOUR + 1000)
        const [transition] = yield* Fiber.join(transitions)
        assert.strictEqual(transition?.at, HOUR + 1000)
      })
    ))
})

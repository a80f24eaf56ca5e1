/**
 * The controls of issue 12 through the whole shell (withCircuit, the
 * registry, configure, environment variables), on the TestClock. The rules
 * themselves are checked against the reference model in
 * property-tests/controls.test.ts; here each setting is shown to reach them.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Data, Deferred, Duration, Effect, Exit, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import {
  Circuit,
  CircuitConfig,
  CircuitOpenError,
  CircuitRegistry,
  type CircuitConfigInput,
  withCircuit
} from "../src/index.ts"

class Boom extends Data.TaggedError("Boom")<{ readonly retryAfter?: Duration.Duration }> {}

const base: CircuitConfigInput = {
  requestVolumeThreshold: 100,
  errorPercentThreshold: 50,
  sleepWindow: "5 seconds",
  timeout: "infinity"
}
const withRegistry = (settings: CircuitConfigInput) => Effect.provide(CircuitRegistry.layer({ defaults: { ...base, ...settings } }))

const fail = (name = "c") => Effect.fail(new Boom({})).pipe(withCircuit(name), Effect.flip)
const succeed = (name = "c") => Effect.succeed("ok").pipe(withCircuit(name))
const state = (name = "c") => Effect.map(Circuit.snapshot(name), (s) => s.state)
const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)

describe("controls through withCircuit", () => {
  it.effect("count window: the last N requests, however far apart in time", () =>
    Effect.gen(function*() {
      yield* succeed()
      yield* TestClock.adjust("1 hour")
      yield* fail()
      yield* TestClock.adjust("1 hour")
      yield* succeed()
      assert.strictEqual((yield* Circuit.snapshot("c")).window.total, 3, "a time window would have forgotten them")
      assert.strictEqual(yield* state(), "closed")
      yield* fail()
      assert.strictEqual(yield* state(), "open", "2 errors of the last 4 requests: 50 %")
    }).pipe(withRegistry({ requestVolumeThreshold: 4, rollingWindow: { calls: 4 } })))

  it.effect("count window: old requests leave as new ones come", () =>
    Effect.gen(function*() {
      yield* fail()
      for (let i = 0; i < 3; i++) yield* succeed()
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.window.total, 3)
      assert.strictEqual(snap.window.failure, 0)
    }).pipe(withRegistry({ requestVolumeThreshold: 3, rollingWindow: { calls: 3 } })))

  it.effect("consecutive failures: N errors in a row open, below the volume; a success breaks the run", () =>
    Effect.gen(function*() {
      yield* fail()
      yield* fail()
      yield* succeed()
      yield* fail()
      yield* fail()
      assert.strictEqual(yield* state(), "closed")
      yield* fail()
      assert.strictEqual(yield* state(), "open")
    }).pipe(withRegistry({ consecutiveFailures: 3 })))

  it.effect("slow calls: calls slower than the duration count as slow and trip at the slow percentage", () =>
    Effect.gen(function*() {
      const slow = Effect.sleep("200 millis").pipe(withCircuit("c"), Effect.forkChild)
      const a = yield* slow
      yield* settle
      yield* TestClock.adjust("200 millis")
      yield* Fiber.join(a)
      yield* succeed() // fast
      assert.strictEqual(yield* state(), "closed", "1 slow of 2: below 100 %")
      assert.strictEqual((yield* Circuit.snapshot("c")).window.slow, 1)
      const b = yield* slow
      yield* settle
      yield* TestClock.adjust("200 millis")
      yield* Fiber.join(b)
      assert.strictEqual(yield* state(), "closed", "2 slow of 3: 66 % < 70 %")
      const c = yield* Effect.sleep("150 millis").pipe(Effect.andThen(Effect.fail(new Boom({}))), withCircuit("c"), Effect.forkChild)
      yield* settle
      yield* TestClock.adjust("150 millis")
      yield* Fiber.await(c)
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.state, "open", "3 slow of 4: 75 %")
      assert.strictEqual(snap.window.slow, 3)
      assert.strictEqual(snap.window.failure, 1, "the slow failure is also a failure")
    }).pipe(withRegistry({
      requestVolumeThreshold: 2,
      errorPercentThreshold: 100,
      slowCallDuration: "100 millis",
      slowCallPercentThreshold: 70
    })))

  it.effect("half-open probes: N probes at once, the next call short-circuited; all N succeed to close", () =>
    Effect.gen(function*() {
      yield* fail()
      yield* TestClock.adjust("5 seconds")
      const gates = [yield* Deferred.make<void>(), yield* Deferred.make<void>(), yield* Deferred.make<void>()]
      const probes = []
      for (const gate of gates) probes.push(yield* Deferred.await(gate).pipe(withCircuit("c"), Effect.forkChild))
      yield* settle
      assert.strictEqual((yield* Circuit.snapshot("c")).concurrency.active, 3)
      assert.instanceOf(yield* Effect.flip(succeed()), CircuitOpenError)
      yield* Deferred.succeed(gates[0]!, undefined)
      yield* Fiber.join(probes[0]!)
      assert.strictEqual(yield* state(), "half-open", "one success of three")
      assert.instanceOf(yield* Effect.flip(succeed()), CircuitOpenError, "a succeeded probe's slot is not given again")
      for (const gate of gates) yield* Deferred.succeed(gate, undefined)
      for (const probe of probes) yield* Fiber.join(probe)
      assert.strictEqual(yield* state(), "closed")
    }).pipe(withRegistry({ consecutiveFailures: 1, halfOpenProbes: 3 })))

  it.effect("half-open probes: one failing probe reopens", () =>
    Effect.gen(function*() {
      yield* fail()
      yield* TestClock.adjust("5 seconds")
      yield* succeed()
      assert.strictEqual(yield* state(), "half-open")
      yield* fail()
      assert.strictEqual(yield* state(), "open")
    }).pipe(withRegistry({ consecutiveFailures: 1, halfOpenProbes: 2 })))

  it.effect("Retry-After: the failure's hint lengthens the opening it causes, never shortens it", () =>
    Effect.gen(function*() {
      const hinted = (after: string) =>
        Effect.fail(new Boom({ retryAfter: Duration.fromInputUnsafe(after as Duration.Input) })).pipe(
          withCircuit("c", { retryAfter: (e) => e.retryAfter }),
          Effect.flip
        )
      yield* hinted("30 seconds")
      const error = yield* Effect.flip(succeed())
      assert.strictEqual(Duration.toMillis((error as CircuitOpenError).retryAfter), 30_000)
      yield* TestClock.adjust("29999 millis")
      assert.instanceOf(yield* Effect.flip(succeed()), CircuitOpenError)
      yield* TestClock.adjust("1 millis")
      yield* hinted("1 second") // the probe fails with a short hint
      const next = yield* Effect.flip(succeed())
      assert.strictEqual(Duration.toMillis((next as CircuitOpenError).retryAfter), 5000, "the sleep window wins")
    }).pipe(withRegistry({ consecutiveFailures: 1 })))

  it.effect("backoff: \"stable\" keeps counting openings across a short close; \"close\" restarts", () =>
    Effect.gen(function*() {
      const sleepOf = Effect.map(Effect.flip(succeed()), (e) => Duration.toMillis((e as CircuitOpenError).retryAfter))
      yield* fail()
      assert.strictEqual(yield* sleepOf, 1000)
      yield* TestClock.adjust("1 second")
      yield* succeed() // closes after 1 s open
      yield* fail() // at once: flapping
      assert.strictEqual(yield* sleepOf, 2000, "the second opening in a row")
      yield* TestClock.adjust("2 seconds")
      yield* succeed()
      yield* TestClock.adjust("2 seconds") // closed as long as it was open
      yield* fail()
      assert.strictEqual(yield* sleepOf, 1000, "stable long enough: counted from 1 again")
      yield* Circuit.configure("c", { backoffReset: "close" })
      yield* TestClock.adjust("1 second")
      yield* succeed()
      yield* fail()
      assert.strictEqual(yield* sleepOf, 1000, "reset at every close")
    }).pipe(withRegistry({ consecutiveFailures: 1, sleepWindow: Schedule.exponential("1 second"), backoffReset: "stable" })))

  it.effect("Circuit.configure turns a control on and off at run time", () =>
    Effect.gen(function*() {
      yield* fail()
      yield* fail()
      assert.strictEqual(yield* state(), "closed")
      const config = yield* Circuit.configure("c", { consecutiveFailures: 3 })
      assert.strictEqual(config.consecutiveFailures, 3)
      yield* fail()
      assert.strictEqual(yield* state(), "open", "the run so far counts")
      yield* Circuit.reset("c")
      yield* Circuit.configure("c", { consecutiveFailures: Infinity })
      for (let i = 0; i < 5; i++) yield* fail()
      assert.strictEqual(yield* state(), "closed")
    }).pipe(withRegistry({})))

  it.effect("every control reads from environment variables through layerConfig", () =>
    Effect.gen(function*() {
      yield* succeed("payments")
      const config = (yield* Circuit.snapshot("payments")).config
      assert.strictEqual(config.rollingWindow.calls, 50)
      assert.strictEqual(config.consecutiveFailures, 5)
      assert.strictEqual(Duration.toMillis(config.slowCallDuration), 2000)
      assert.strictEqual(config.slowCallPercentThreshold, 80)
      assert.strictEqual(config.halfOpenProbes, 3)
      assert.strictEqual(config.backoffReset, "stable")
    }).pipe(
      Effect.provide(CircuitRegistry.layerConfig({ circuits: ["payments"] })),
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({
        env: {
          CIRCUIT_PAYMENTS_ROLLING_WINDOW_CALLS: "50",
          CIRCUIT_PAYMENTS_CONSECUTIVE_FAILURES: "5",
          CIRCUIT_PAYMENTS_SLOW_CALL_DURATION: "2 seconds",
          CIRCUIT_PAYMENTS_SLOW_CALL_PERCENT_THRESHOLD: "80",
          CIRCUIT_DEFAULT_HALF_OPEN_PROBES: "3",
          CIRCUIT_DEFAULT_BACKOFF_RESET: "stable"
        }
      })))
    ))
})

describe("controls: settings", () => {
  const refused = (input: unknown) => {
    const exit = CircuitConfig.decode(input)
    if (Exit.isSuccess(exit)) return assert.fail("decoded")
    const error = exit.cause.reasons[0]
    return (error as unknown as { readonly error: { readonly field: string; readonly reason: string } }).error
  }

  it("the defaults leave every control off", () => {
    const config = CircuitConfig.defaults
    assert.strictEqual(config.rollingWindow.calls, undefined)
    assert.strictEqual(config.consecutiveFailures, Infinity)
    assert.isFalse(Duration.isFinite(config.slowCallDuration))
    assert.strictEqual(config.halfOpenProbes, 1)
    assert.strictEqual(config.backoffReset, "close")
    const breaker = CircuitConfig.toBreakerConfig(config)
    assert.deepStrictEqual(
      Object.keys(breaker).sort(),
      ["bucketMillis", "buckets", "errorPercentThreshold", "requestVolumeThreshold", "sleepWindow"],
      "the core gets no control at all"
    )
  })

  it("bad values are refused with the field named", () => {
    for (
      const [input, field] of [
        [{ rollingWindow: { calls: 0 } }, "rollingWindow.calls"],
        [{ rollingWindow: { calls: 5, buckets: 2 } }, "rollingWindow"],
        [{ consecutiveFailures: 0 }, "consecutiveFailures"],
        [{ consecutiveFailures: 1.5 }, "consecutiveFailures"],
        [{ slowCallDuration: 0 }, "slowCallDuration"],
        [{ slowCallPercentThreshold: 101 }, "slowCallPercentThreshold"],
        [{ halfOpenProbes: 0 }, "halfOpenProbes"],
        [{ backoffReset: "never" }, "backoffReset"]
      ] as const
    ) {
      assert.strictEqual(refused(input).field, field, JSON.stringify(input))
    }
  })

  it("calls and the time fields replace each other", () => {
    const count = Effect.runSync(CircuitConfig.decodeEffect({ rollingWindow: { calls: 10 } }))
    assert.strictEqual(count.rollingWindow.calls, 10)
    const kept = Effect.runSync(CircuitConfig.decodeEffect({ timeout: 5 }, { base: count }))
    assert.strictEqual(kept.rollingWindow.calls, 10)
    const time = Effect.runSync(CircuitConfig.decodeEffect({ rollingWindow: { buckets: 4 } }, { base: count }))
    assert.strictEqual(time.rollingWindow.calls, undefined)
    assert.strictEqual(time.rollingWindow.buckets, 4)
  })
})

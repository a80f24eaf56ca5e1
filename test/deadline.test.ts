import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitRegistry, CircuitTimeoutError, withCircuit } from "../src/index.ts"
import { deadlinesOf } from "../src/internal/deadline.ts"

const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)
const hang = (name = "c") => Effect.never.pipe(withCircuit(name), Effect.flip, Effect.forkChild)
// The registry's queue of calls in flight under the test's clock.
const watcher = () =>
  Effect.flatMap(Effect.service(CircuitRegistry), (registry) => Clock.clockWith((clock) => Effect.succeed(deadlinesOf(registry, clock))))

describe("the deadline queue", () => {
  it.effect("one watcher serves every pending call, and none is left when nothing is pending", () =>
    Effect.gen(function*() {
      const calls = yield* Effect.forEach([0, 1, 2], () => hang())
      yield* settle
      const deadlines = yield* watcher()
      assert.strictEqual(deadlines.size, 3)
      assert.isTrue(deadlines.armed)
      yield* TestClock.adjust("1 second")
      for (const call of calls) assert.instanceOf(yield* Fiber.join(call), CircuitTimeoutError)
      yield* settle
      assert.strictEqual(deadlines.size, 0)
      assert.isFalse(deadlines.armed, "no fiber or timer held by an idle circuit")
    }).pipe(Effect.provide(CircuitRegistry.layer({ defaults: { maxConcurrentRequests: 10 } }))))

  it.effect("calls that end first leave the queue; later deadlines still fire on time", () =>
    Effect.gen(function*() {
      const quick = yield* Effect.sleep("100 millis").pipe(withCircuit("c"), Effect.forkChild)
      yield* TestClock.adjust("500 millis")
      const slow = yield* hang()
      yield* settle
      yield* Fiber.join(quick)
      // The first deadline (t = 1 s) belonged to the quick call; the slow one's is t = 1.5 s.
      yield* TestClock.adjust("999 millis")
      assert.isUndefined(slow.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      assert.instanceOf(yield* Fiber.join(slow), CircuitTimeoutError)
    }).pipe(Effect.provide(CircuitRegistry.layer())))

  it.effect("a shorter timeout set at run time fires before the earlier, longer deadlines", () =>
    Effect.gen(function*() {
      yield* Circuit.configure("c", { timeout: "10 seconds" })
      const long = yield* hang()
      yield* settle
      yield* Circuit.configure("c", { timeout: "1 second" })
      const short = yield* hang()
      yield* settle
      yield* TestClock.adjust("1 second")
      assert.instanceOf(yield* Fiber.join(short), CircuitTimeoutError)
      assert.isUndefined(long.pollUnsafe(), "the 10 s call is still waiting")
      yield* TestClock.adjust("9 seconds")
      assert.instanceOf(yield* Fiber.join(long), CircuitTimeoutError)
    }).pipe(Effect.provide(CircuitRegistry.layer())))

  it.effect("closing the registry stops its watchers", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(CircuitRegistry.layer())
      const call = yield* Effect.never.pipe(withCircuit("c"), Effect.provide(context), Effect.forkChild)
      yield* settle
      const deadlines = yield* watcher().pipe(Effect.provide(context))
      assert.isTrue(deadlines.armed)
      yield* Fiber.interrupt(call)
      return deadlines
    }).pipe(
      Effect.scoped,
      Effect.map((deadlines) => assert.isFalse(deadlines.armed))
    ))
})

describe("a registry shared by tests with their own TestClock", () => {
  it("re-arms the watcher on the clock of the call, so deadlines fire under each", async () => {
    // The registry's scope stays open for the whole test (a closed registry refuses calls).
    const scope = Scope.makeUnsafe()
    const shared = await Effect.runPromise(Layer.buildWithScope(CircuitRegistry.layer(), scope))
    // Each run has a fresh TestClock, as each it.effect of a shared layer does.
    const inTest = <A, E>(effect: Effect.Effect<A, E, CircuitRegistry>) =>
      Effect.runPromise(effect.pipe(Effect.provide(shared), Effect.provide(TestClock.layer())))
    // The first test's call ends before its deadline: its watcher is left
    // sleeping until t = 1 s on a TestClock that nobody will move again.
    await inTest(Effect.gen(function*() {
      const call = yield* Effect.sleep("100 millis").pipe(withCircuit("c"), Effect.forkChild)
      yield* settle
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(call)
    }))
    const timedOut = await inTest(Effect.gen(function*() {
      const call = yield* Effect.never.pipe(withCircuit("c"), Effect.flip, Effect.forkChild)
      yield* settle
      yield* TestClock.adjust("1 second")
      return yield* Fiber.join(call)
    }))
    assert.instanceOf(timedOut, CircuitTimeoutError)
  }, 10_000)
})

// Issue 11, item 7: an idle circuit holds no timer (SPEC 16), whatever its
// last call's deadline was.
describe("timers held by idle circuits", () => {
  const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length

  it.live("10,000 circuits called once with a 1 hour timeout hold no timer once their calls end", () =>
    Effect.gen(function*() {
      const before = timers()
      // Each call suspends once (so it has a deadline), then succeeds.
      yield* Effect.forEach(
        Array.from({ length: 10_000 }, (_, i) => `c${i}`),
        (name) => Effect.yieldNow.pipe(withCircuit(name)),
        { concurrency: 100, discard: true }
      )
      const after = timers()
      assert.isAtMost(after - before, 0, `timers before ${before}, after ${after}`)
    }).pipe(Effect.provide(CircuitRegistry.layer({ defaults: { timeout: "1 hour" } }))))
})

// Issue 11, item 8: fibers of one registry on different clocks each keep
// their own deadlines.
describe("a registry shared by fibers on different clocks, at the same time", () => {
  it("fires each clock's deadlines when that clock moves", async () => {
    // The registry's scope stays open for the whole test (a closed registry refuses calls).
    const scope = Scope.makeUnsafe()
    const shared = await Effect.runPromise(Layer.buildWithScope(CircuitRegistry.layer(), scope))
    const inTest = <A, E>(effect: Effect.Effect<A, E, CircuitRegistry>) =>
      Effect.runPromise(effect.pipe(Effect.provide(shared), Effect.provide(TestClock.layer())))
    const bPending = await Effect.runPromise(Deferred.make<void>())
    const aDone = await Effect.runPromise(Deferred.make<void>())
    const a = inTest(Effect.gen(function*() {
      const call = yield* hang()
      yield* settle
      yield* Deferred.await(bPending)
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(call)
      yield* Deferred.succeed(aDone, undefined)
      return error
    }))
    const b = inTest(Effect.gen(function*() {
      const call = yield* hang()
      yield* settle
      yield* Deferred.succeed(bPending, undefined)
      yield* Deferred.await(aDone)
      yield* TestClock.adjust("1 second")
      return yield* Fiber.join(call)
    }))
    const [ea, eb] = await Promise.all([a, b])
    assert.instanceOf(ea, CircuitTimeoutError)
    assert.instanceOf(eb, CircuitTimeoutError)
  }, 10_000)
})

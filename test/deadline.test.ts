import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitRegistry, CircuitTimeoutError, withCircuit } from "../src/index.ts"
import { cellOf } from "../src/internal/cell.ts"

const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)
const hang = (name = "c") => Effect.never.pipe(withCircuit(name), Effect.flip, Effect.forkChild)
const watcher = (name = "c") =>
  Effect.map(Effect.service(CircuitRegistry), (registry) => cellOf(registry.lookup(name)!).deadlines())

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
    const shared = await Effect.runPromise(Layer.build(CircuitRegistry.layer()).pipe(Effect.scoped))
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

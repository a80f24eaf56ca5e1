import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitRegistry, CircuitTimeoutError, withCircuit } from "../src/index.ts"

const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)
const hang = (name = "c") => Effect.never.pipe(withCircuit(name), Effect.flip, Effect.forkChild)
const watcher = (name = "c") =>
  Effect.map(Effect.service(CircuitRegistry), (registry) => registry.lookup(name)!.deadlines())

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

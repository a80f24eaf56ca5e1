/**
 * Issue 11, item 3 (SPEC 20): closing the registry's scope answers every call
 * in flight, returns every permit and stops every timer; a call after the
 * close fails with `CircuitRegistryClosedError`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import { CircuitRegistry, CircuitRegistryClosedError, withCircuit } from "../src/index.ts"
import { deadlinesOf } from "../src/internal/deadline.ts"

const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)

describe("closing the registry", () => {
  it.effect("answers every call in flight at once, returns every permit, stops every timer", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(CircuitRegistry.layer({
        circuits: { slow: { timeout: "1 hour" }, untimed: { timeout: "infinity" } }
      }), scope)
      const registry = context.mapUnsafe.get(CircuitRegistry.key) as CircuitRegistry["Service"]
      let running = 0
      const effect = Effect.acquireUseRelease(
        Effect.sync(() => running++),
        () => Effect.never,
        () => Effect.sync(() => running--)
      )
      const calls = yield* Effect.forEach(
        ["slow", "slow", "untimed", "other"],
        (name) => effect.pipe(withCircuit(name), Effect.provide(context), Effect.exit, Effect.forkChild)
      )
      yield* settle
      assert.strictEqual(running, 4)
      const queue = deadlinesOf(registry, yield* Clock.clockWith(Effect.succeed))
      assert.strictEqual(queue.size, 4)
      assert.isTrue(queue.armed)
      yield* Scope.close(scope, Exit.void)
      yield* settle
      for (const call of calls) {
        const exit = yield* Fiber.join(call)
        assert.isTrue(Exit.hasInterrupts(exit), "the caller is answered with an interruption")
      }
      assert.strictEqual(running, 0, "every effect was interrupted")
      for (const name of ["slow", "untimed", "other"]) assert.strictEqual(registry.lookup(name)?.active, 0, `${name}: permits back`)
      assert.strictEqual(queue.size, 0)
      assert.isFalse(queue.armed, "no timer left")
      // No time needs to pass for any of this.
      yield* TestClock.adjust(0)
    }))

  it.effect("refuses a call after the close with CircuitRegistryClosedError, or runs its fallback", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(CircuitRegistry.layer(), scope)
      // A guarded effect run once before the close caches its circuit.
      const guarded = Effect.succeed(1).pipe(withCircuit("c"), Effect.provide(context))
      assert.strictEqual(yield* guarded, 1)
      yield* Scope.close(scope, Exit.void)
      const error = yield* Effect.flip(guarded)
      assert.instanceOf(error, CircuitRegistryClosedError)
      assert.strictEqual(error.circuit, "c")
      const fresh = yield* Effect.succeed(1).pipe(withCircuit("new"), Effect.provide(context), Effect.flip)
      assert.instanceOf(fresh, CircuitRegistryClosedError)
      const viaFallback = yield* Effect.succeed(1).pipe(
        withCircuit("c", { fallback: (e) => Effect.succeed(e._tag) }),
        Effect.provide(context)
      )
      assert.strictEqual(viaFallback, "CircuitRegistryClosedError")
    }))
})

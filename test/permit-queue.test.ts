/**
 * Issue 12: a two-step admission (`Circuit.admit`) waits in the circuit's
 * wait queue like a `withCircuit` call (resilience4j's
 * `Bulkhead.acquirePermission` waiting up to `maxWaitDuration`): the circuit
 * check first, first come first served with no barging, asked again at the
 * hand-off, a full queue and an expired wait rejected, an interrupted waiter
 * taking nothing, and the permit's timeout starting at the permit. The
 * Promise form is in test/promise-permit.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Scope } from "effect"
import { TestClock } from "effect/testing"
import {
  Circuit,
  type CircuitConfigInput,
  CircuitOpenError,
  CircuitRegistry,
  CircuitRegistryClosedError,
  CircuitRejectedError,
  CircuitTimeoutError,
  type EventKind,
  withCircuit
} from "../src/index.ts"
import { CircuitRegistry as RegistryKey } from "../src/CircuitRegistry.ts"
import { deadlinesOf } from "../src/internal/deadline.ts"

const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)

const queued: CircuitConfigInput = {
  maxConcurrentRequests: 1,
  queueCapacity: 2,
  maxQueueWait: "1 second",
  timeout: "infinity"
}
const withRegistry = (defaults: CircuitConfigInput = queued) => Effect.provide(CircuitRegistry.layer({ defaults }))

const recordEvents = Effect.gen(function*() {
  const registry = yield* Effect.service(RegistryKey)
  const kinds: Array<EventKind> = []
  const stop = registry.observe({ event: (_cell, kind) => kinds.push(kind) })
  yield* Effect.addFinalizer(() => Effect.sync(stop))
  return kinds
})

const snapshot = Circuit.snapshot("c")

// A two-step call in a scope of its own, logging when it is admitted, then
// holding its permit until `gate` opens and reporting a success.
const twoStep = (log: Array<string>, id: string, gate: Deferred.Deferred<void>) =>
  Effect.scoped(Effect.gen(function*() {
    const permit = yield* Circuit.admit("c")
    log.push(id)
    yield* Deferred.await(gate)
    yield* permit.success
    return id
  }))

describe("Circuit.admit with a wait queue", () => {
  it.effect("waits for a permit and is handed the first one back, in order with withCircuit calls (FIFO)", () =>
    Effect.gen(function*() {
      const kinds = yield* recordEvents
      const log: Array<string> = []
      const gates = yield* Effect.forEach([0, 1, 2], () => Deferred.make<void>())
      const a = yield* Effect.forkChild(twoStep(log, "a", gates[0]!))
      yield* settle
      // b (withCircuit) joins first, c (two-step) second.
      const b = yield* Effect.forkChild(
        Effect.sync(() => log.push("b")).pipe(Effect.andThen(Deferred.await(gates[1]!)), Effect.as("b"), withCircuit("c"))
      )
      yield* settle
      const c = yield* Effect.forkChild(twoStep(log, "c", gates[2]!))
      yield* settle
      assert.deepStrictEqual(log, ["a"])
      assert.deepStrictEqual((yield* snapshot).queue, { waiting: 2, capacity: 2 })
      yield* Deferred.succeed(gates[0]!, undefined)
      assert.strictEqual(yield* Fiber.join(a), "a")
      yield* settle
      assert.deepStrictEqual(log, ["a", "b"], "b joined first, so b gets the permit")
      yield* Deferred.succeed(gates[1]!, undefined)
      assert.strictEqual(yield* Fiber.join(b), "b")
      yield* settle
      assert.deepStrictEqual(log, ["a", "b", "c"])
      yield* Deferred.succeed(gates[2]!, undefined)
      assert.strictEqual(yield* Fiber.join(c), "c")
      const snap = yield* snapshot
      assert.strictEqual(snap.concurrency.active, 0)
      assert.strictEqual(snap.window.success, 3)
      assert.deepStrictEqual(kinds, ["queued", "queued", "success", "success", "success"])
    }).pipe(Effect.scoped, withRegistry()))

  it.effect("no barging: an admission made while permits are being handed out goes behind the waiters", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(twoStep(log, "a", gate))
      yield* settle
      // w1's effect asks for a two-step permit of its own as soon as it starts.
      const nested = twoStep(log, "n", gate)
      const w1 = yield* Effect.forkChild(
        Effect.sync(() => log.push("w1")).pipe(Effect.andThen(nested), withCircuit("c"))
      )
      yield* settle
      const w2 = yield* Effect.forkChild(twoStep(log, "w2", gate))
      yield* settle
      // Two new permits: w1 gets one and, while it starts, its admission arrives
      // with a permit still free and w2 waiting. That permit is w2's.
      yield* Circuit.configure("c", { maxConcurrentRequests: 3 })
      yield* settle
      assert.deepStrictEqual(log, ["a", "w1", "w2"])
      assert.strictEqual((yield* snapshot).queue.waiting, 1, "the nested admission waits")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a)
      yield* Fiber.join(w2)
      yield* Fiber.join(w1)
      assert.deepStrictEqual(log, ["a", "w1", "w2", "n"])
      assert.strictEqual((yield* snapshot).concurrency.active, 0)
    }).pipe(withRegistry()))

  it.effect("the circuit check comes first: an open circuit refuses at once, nothing queued", () =>
    Effect.gen(function*() {
      const kinds = yield* recordEvents
      const gate = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(twoStep([], "a", gate))
      yield* settle
      yield* Circuit.forceOpen("c")
      const error = yield* Effect.flip(Effect.scoped(Circuit.admit("c")))
      assert.instanceOf(error, CircuitOpenError)
      assert.strictEqual((yield* snapshot).queue.waiting, 0)
      assert.notInclude(kinds, "queued")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a)
    }).pipe(Effect.scoped, withRegistry()))

  it.effect("asks the circuit again at the hand-off: a waiter whose circuit opened gets CircuitOpenError", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(twoStep([], "a", gate))
      yield* settle
      const b = yield* Effect.forkChild(Effect.flip(Effect.scoped(Circuit.admit("c"))))
      yield* settle
      assert.strictEqual((yield* snapshot).queue.waiting, 1)
      yield* Circuit.forceOpen("c")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a)
      assert.instanceOf(yield* Fiber.join(b), CircuitOpenError)
      const snap = yield* snapshot
      assert.strictEqual(snap.window.shortCircuited, 1)
      assert.strictEqual(snap.concurrency.active, 0)
      assert.strictEqual(snap.queue.waiting, 0)
    }).pipe(withRegistry()))

  it.effect("a full queue rejects at once (queue-full); a wait past maxQueueWait is rejected (queue-timeout)", () =>
    Effect.gen(function*() {
      const kinds = yield* recordEvents
      const gate = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(twoStep([], "a", gate))
      yield* settle
      const waiters = yield* Effect.forEach([1, 2], () => Effect.forkChild(Effect.flip(Effect.scoped(Circuit.admit("c")))))
      yield* settle
      const full = yield* Effect.flip(Effect.scoped(Circuit.admit("c")))
      assert.instanceOf(full, CircuitRejectedError)
      assert.strictEqual((full as CircuitRejectedError).reason, "queue-full")
      assert.strictEqual((full as CircuitRejectedError).queueCapacity, 2)
      yield* TestClock.adjust("999 millis")
      assert.strictEqual((yield* snapshot).queue.waiting, 2, "not yet")
      yield* TestClock.adjust("1 millis")
      for (const waiter of waiters) {
        const error = yield* Fiber.join(waiter)
        assert.instanceOf(error, CircuitRejectedError)
        assert.strictEqual((error as CircuitRejectedError).reason, "queue-timeout")
        assert.strictEqual(Duration.toMillis((error as CircuitRejectedError).waited!), 1000)
      }
      const snap = yield* snapshot
      assert.strictEqual(snap.queue.waiting, 0)
      assert.strictEqual(snap.window.rejected, 3)
      assert.strictEqual(snap.concurrency.active, 1, "a still holds its permit")
      assert.deepStrictEqual(kinds, ["queued", "queued", "rejected", "queue-timeout", "queue-timeout"])
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a)
    }).pipe(Effect.scoped, withRegistry()))

  it.effect("an interrupted waiter leaves the queue and takes nothing, its deadline with it", () =>
    Effect.gen(function*() {
      const kinds = yield* recordEvents
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(twoStep(log, "a", gate))
      yield* settle
      const b = yield* Effect.forkChild(twoStep(log, "b", gate))
      const c = yield* Effect.forkChild(twoStep(log, "c", gate))
      yield* settle
      yield* Fiber.interrupt(b)
      const snap = yield* snapshot
      assert.strictEqual(snap.queue.waiting, 1)
      assert.strictEqual(snap.concurrency.active, 1)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a)
      yield* Fiber.join(c)
      assert.deepStrictEqual(log, ["a", "c"])
      const after = yield* snapshot
      assert.strictEqual(after.concurrency.active, 0)
      assert.strictEqual(after.window.total, 2, "the interrupted waiter is not a request")
      assert.deepStrictEqual(kinds, ["queued", "queued", "interrupted", "success", "success"])
      const registry = yield* CircuitRegistry
      assert.isFalse(deadlinesOf(registry, yield* Clock.clockWith(Effect.succeed)).armed)
    }).pipe(Effect.scoped, withRegistry()))

  it.effect("a caller interrupted right after the hand-off has its permit given back and recorded as interrupted", () =>
    Effect.gen(function*() {
      const kinds = yield* recordEvents
      const holder = yield* Circuit.admit("c")
      const waiter = yield* Effect.forkChild(Effect.scoped(Effect.andThen(Circuit.admit("c"), Effect.never)))
      yield* settle
      // The report hands the permit over (owned by the waiter's scope in that
      // same step); the waiter is interrupted right after.
      yield* Effect.andThen(holder.success, Fiber.interrupt(waiter))
      const snap = yield* snapshot
      assert.strictEqual(snap.concurrency.active, 0)
      assert.strictEqual(snap.queue.waiting, 0)
      assert.deepStrictEqual(kinds, ["queued", "success", "interrupted"])
    }).pipe(Effect.scoped, withRegistry()))

  it.effect("the permit's timeout starts when it gets the permit, not when it joins the queue", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(twoStep([], "a", gate))
      yield* settle
      const b = yield* Effect.forkChild(Effect.scoped(Effect.gen(function*() {
        const permit = yield* Circuit.admit("c")
        const error = yield* Effect.flip(permit.expired)
        return { error, outcome: yield* permit.outcome, at: yield* Clock.currentTimeMillis }
      })))
      yield* settle
      yield* TestClock.adjust("800 millis")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a)
      // Handed the permit at 800 ms: its 1 s timeout runs out at 1800 ms, not 1000 ms.
      yield* TestClock.adjust("999 millis")
      assert.isUndefined(b.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      const result = yield* Fiber.join(b)
      assert.instanceOf(result.error, CircuitTimeoutError)
      assert.deepStrictEqual(result.outcome, Option.some("timeout"))
      assert.strictEqual(result.at, 1800)
    }).pipe(withRegistry({ ...queued, timeout: "1 second", maxQueueWait: "5 seconds" })))

  it.effect("closing the registry answers a waiting admission with CircuitRegistryClosedError, holding no timer", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(CircuitRegistry.layer({ defaults: { ...queued, maxQueueWait: "infinity" } }), scope)
      const registry = context.mapUnsafe.get(CircuitRegistry.key) as CircuitRegistry["Service"]
      const holder = yield* Effect.forkChild(Effect.scoped(Effect.andThen(Circuit.admit("c"), Effect.never)).pipe(Effect.provide(context), Effect.exit))
      yield* settle
      const waiter = yield* Effect.forkChild(Effect.flip(Effect.scoped(Circuit.admit("c"))).pipe(Effect.provide(context)))
      yield* settle
      assert.strictEqual((yield* Circuit.snapshot("c").pipe(Effect.provide(context))).queue.waiting, 1)
      yield* Scope.close(scope, Exit.void)
      yield* settle
      assert.instanceOf(yield* Fiber.join(waiter), CircuitRegistryClosedError)
      yield* Fiber.interrupt(holder)
      const queue = deadlinesOf(registry, yield* Clock.clockWith(Effect.succeed))
      assert.strictEqual(queue.size, 0)
      assert.isFalse(queue.armed)
      assert.strictEqual(registry.lookup("c")?.active ?? 0, 0)
    }))
})

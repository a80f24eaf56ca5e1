/**
 * Issue 12: the wait queue through the Promise shell (`CircuitPromise.fire`),
 * on a manual clock. The same module (internal/waitQueue.ts) serves
 * `withCircuit`; test/queue.test.ts checks it there.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import { type Context, Deferred, Duration, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import { CircuitRegistry, withCircuit } from "../src/index.ts"
import { getEventListeners } from "node:events"
import {
  CircuitClock,
  CircuitClosedError,
  type CircuitConfigInput,
  type CircuitEvent,
  CircuitOpenError,
  CircuitPromise,
  CircuitRejectedError
} from "../src/promise/index.ts"

const settings: CircuitConfigInput = {
  maxConcurrentRequests: 1,
  queueCapacity: 2,
  maxQueueWait: "1 second",
  timeout: "1 second"
}

const opened: Array<CircuitPromise.CircuitPromise> = []
afterEach(() => {
  for (const circuits of opened.splice(0)) circuits.close()
})

const setup = (defaults: CircuitConfigInput = settings) => {
  const clock = CircuitClock.manual(1_000)
  const circuits = CircuitPromise.make({ defaults, clock })
  opened.push(circuits)
  const events: Array<CircuitEvent["kind"]> = []
  circuits.subscribe({ event: (e) => events.push(e.kind) })
  return { clock, circuits, events }
}

const deferred = () => {
  let resolve!: (a: string) => void
  const promise = new Promise<string>((res) => {
    resolve = res
  })
  return { promise, resolve }
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve))

describe("CircuitPromise's wait queue", () => {
  it("hands released permits to waiters first come first served, and rejects a call that finds it full", async () => {
    const { circuits, events } = setup()
    const started: Array<string> = []
    const gates = [deferred(), deferred(), deferred()]
    const calls = ["a", "b", "c"].map((id, i) =>
      circuits.fire("c", () => {
        started.push(id)
        return gates[i]!.promise
      })
    )
    assert.deepStrictEqual(started, ["a"])
    assert.deepStrictEqual(circuits.snapshot("c").queue, { waiting: 2, capacity: 2 })
    const full = await circuits.fire("c", () => "d").catch((e: unknown) => e)
    assert.instanceOf(full, CircuitRejectedError)
    assert.strictEqual((full as CircuitRejectedError).reason, "queue-full")
    gates[0]!.resolve("a")
    assert.strictEqual(await calls[0], "a")
    assert.deepStrictEqual(started, ["a", "b"])
    gates[1]!.resolve("b")
    gates[2]!.resolve("c")
    assert.deepStrictEqual(await Promise.all(calls), ["a", "b", "c"])
    assert.strictEqual(circuits.snapshot("c").concurrency.active, 0)
    assert.deepStrictEqual(events, ["queued", "queued", "rejected", "success", "success", "success"])
  })

  it("a waiter whose maxQueueWait runs out is rejected and its fallback answers; its timeout starts at its permit", async () => {
    const { clock, circuits, events } = setup({ ...settings, maxQueueWait: "500 millis" })
    const gate = deferred()
    const a = circuits.fire("c", () => gate.promise)
    const b = circuits.fire("c", () => "b", { fallback: (error) => error })
    await clock.advance(499)
    assert.strictEqual(circuits.snapshot("c").queue.waiting, 1)
    await clock.advance(1)
    const answered = await b
    assert.instanceOf(answered, CircuitRejectedError)
    assert.strictEqual((answered as CircuitRejectedError).reason, "queue-timeout")
    assert.strictEqual(Duration.toMillis((answered as CircuitRejectedError).waited!), 500)
    // c waits 400 ms, then runs 900 ms: within its 1 s timeout counted from its permit.
    const slow = deferred()
    const c = circuits.fire("c", () => slow.promise)
    await clock.advance(400)
    gate.resolve("a")
    assert.strictEqual(await a, "a")
    await clock.advance(900)
    slow.resolve("c")
    assert.strictEqual(await c, "c")
    assert.deepStrictEqual(events, ["queued", "queue-timeout", "fallback-success", "queued", "success", "success"])
    assert.strictEqual(circuits.snapshot("c").window.rejected, 1)
  })

  it("an aborted waiter leaves the queue with its reason, takes nothing, and leaves no listener behind", async () => {
    const { circuits, events } = setup()
    const gate = deferred()
    const a = circuits.fire("c", () => gate.promise)
    const controller = new AbortController()
    let ran = false
    const b = circuits.fire("c", () => (ran = true), { signal: controller.signal }).catch((e: unknown) => e)
    assert.strictEqual(getEventListeners(controller.signal, "abort").length, 1)
    controller.abort("gone")
    assert.strictEqual(await b, "gone")
    assert.strictEqual(getEventListeners(controller.signal, "abort").length, 0)
    assert.strictEqual(circuits.snapshot("c").queue.waiting, 0)
    gate.resolve("a")
    await a
    await flush()
    assert.isFalse(ran)
    assert.strictEqual(circuits.snapshot("c").concurrency.active, 0)
    assert.deepStrictEqual(events, ["queued", "interrupted", "success"])
    assert.isFalse(circuits.registry.closed)
  })

  it("a waiter whose circuit opened meanwhile is short-circuited at the hand-off", async () => {
    const { circuits } = setup()
    const gate = deferred()
    const a = circuits.fire("c", () => gate.promise)
    let ran = false
    const b = circuits.fire("c", () => (ran = true)).catch((e: unknown) => e)
    circuits.forceOpen("c")
    gate.resolve("a")
    await a
    assert.instanceOf(await b, CircuitOpenError)
    assert.isFalse(ran)
  })

  it("close() answers every waiter with CircuitClosedError and holds no timer", async () => {
    const { circuits } = setup({ ...settings, maxQueueWait: "infinity" })
    const a = circuits.fire("c", () => new Promise<never>(() => {})).catch((e: unknown) => e)
    const b = circuits.fire("c", () => "b").catch((e: unknown) => e)
    circuits.close()
    assert.instanceOf(await a, CircuitClosedError)
    assert.instanceOf(await b, CircuitClosedError)
    assert.strictEqual(circuits.snapshot("c").queue.waiting, 0)
  })
})

describe("one wait queue for both shells", () => {
  it("Effect and Promise callers of one circuit wait in one queue, first come first served", async () => {
    const scope = Effect.runSync(Scope.make())
    const context = await Effect.runPromise(
      Layer.buildWithScope(Layer.merge(CircuitRegistry.layer({ defaults: settings }), TestClock.layer()), scope)
    ) as Context.Context<CircuitRegistry>
    const run = <A, E>(effect: Effect.Effect<A, E, CircuitRegistry>) => Effect.runPromise(Effect.provideContext(effect, context))
    const circuits = CircuitPromise.fromContext(context)
    const started: Array<string> = []
    // An Effect call holds the only permit; a Promise call, then an Effect call, wait.
    const gate = await run(Deferred.make<void>())
    const holder = await run(Effect.forkDetach(
      Effect.sync(() => started.push("effect 1")).pipe(Effect.andThen(Deferred.await(gate)), withCircuit("shared"))
    ))
    await run(Effect.yieldNow)
    const promise = circuits.fire("shared", () => {
      started.push("promise")
      return "p"
    })
    const second = await run(Effect.forkDetach(Effect.sync(() => started.push("effect 2")).pipe(withCircuit("shared"))))
    await run(Effect.yieldNow)
    assert.deepStrictEqual(circuits.snapshot("shared").queue, { waiting: 2, capacity: 2 })
    await run(Deferred.succeed(gate, undefined))
    await run(Fiber.join(holder))
    assert.strictEqual(await promise, "p")
    assert.isTrue(Exit.isSuccess(await run(Fiber.await(second))))
    assert.deepStrictEqual(started, ["effect 1", "promise", "effect 2"])
    assert.strictEqual(circuits.snapshot("shared").concurrency.active, 0)
    circuits.close()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })
})

/**
 * Issue 12: the bounded wait queue in front of the bulkhead (`queueCapacity`,
 * `maxQueueWait`), through `withCircuit`. The properties over random
 * interleavings are in property-tests/queue.test.ts; the Promise shell's in
 * test/promise-queue.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Clock, ConfigProvider, Deferred, Duration, Effect, Exit, Fiber, Layer, Metric, Scope, Stream } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import {
  Circuit,
  CircuitConfig,
  type CircuitConfigInput,
  CircuitConfigError,
  CircuitOpenError,
  CircuitRegistry,
  CircuitRejectedError,
  type EventKind,
  HystrixStream,
  withCircuit
} from "../src/index.ts"
import { deadlinesOf } from "../src/internal/deadline.ts"

const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)

const queued: CircuitConfigInput = { maxConcurrentRequests: 1, queueCapacity: 2, maxQueueWait: "1 second", timeout: "infinity" }
const withRegistry = (defaults: CircuitConfigInput = queued) => Effect.provide(CircuitRegistry.layer({ defaults }))

// A call that runs until its gate opens, logging when it starts.
const gated = (log: Array<string>, id: string, gate: Deferred.Deferred<void>) =>
  Effect.sync(() => log.push(id)).pipe(Effect.andThen(Deferred.await(gate)), Effect.as(id), withCircuit("c"))

describe("the wait queue", () => {
  it.effect("is off by default: a call that finds no permit free is rejected at once, as before", () =>
    Effect.gen(function*() {
      assert.strictEqual(CircuitConfig.defaults.queueCapacity, 0)
      const gate = yield* Deferred.make<void>()
      const first = yield* Effect.forkChild(gated([], "a", gate))
      yield* settle
      const error = yield* Effect.flip(Effect.succeed(1).pipe(withCircuit("c")))
      assert.instanceOf(error, CircuitRejectedError)
      assert.isUndefined((error as CircuitRejectedError).reason)
      const snap = yield* Circuit.snapshot("c")
      assert.deepStrictEqual(snap.queue, { waiting: 0, capacity: 0 })
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(first)
    }).pipe(withRegistry({ maxConcurrentRequests: 1 })))

  it.effect("hands each released permit to the first waiter (FIFO), and rejects a call that finds it full", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const gates = yield* Effect.forEach(["a", "b", "c"], () => Deferred.make<void>())
      const a = yield* Effect.forkChild(gated(log, "a", gates[0]!))
      yield* settle
      const b = yield* Effect.forkChild(gated(log, "b", gates[1]!))
      yield* settle
      const c = yield* Effect.forkChild(gated(log, "c", gates[2]!))
      yield* settle
      assert.deepStrictEqual(log, ["a"])
      assert.deepStrictEqual((yield* Circuit.snapshot("c")).queue, { waiting: 2, capacity: 2 })
      const full = yield* Effect.flip(Effect.succeed(1).pipe(withCircuit("c")))
      assert.instanceOf(full, CircuitRejectedError)
      assert.strictEqual((full as CircuitRejectedError).reason, "queue-full")
      assert.strictEqual((full as CircuitRejectedError).queueCapacity, 2)
      yield* Deferred.succeed(gates[0]!, undefined)
      assert.strictEqual(yield* Fiber.join(a), "a")
      yield* settle
      assert.deepStrictEqual(log, ["a", "b"], "b joined first, so b runs first")
      yield* Deferred.succeed(gates[1]!, undefined)
      assert.strictEqual(yield* Fiber.join(b), "b")
      yield* settle
      assert.deepStrictEqual(log, ["a", "b", "c"])
      yield* Deferred.succeed(gates[2]!, undefined)
      assert.strictEqual(yield* Fiber.join(c), "c")
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.concurrency.active, 0)
      assert.strictEqual(snap.queue.waiting, 0)
      assert.strictEqual(snap.window.success, 3)
      assert.strictEqual(snap.window.rejected, 1)
    }).pipe(withRegistry()))

  it.effect("a new call never barges past a waiter", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      // a runs; b waits; when a ends, b's hand-off comes before anything else can run.
      const a = yield* Effect.forkChild(gated(log, "a", gate))
      yield* settle
      const b = yield* Effect.forkChild(Effect.sync(() => log.push("b")).pipe(withCircuit("c")))
      yield* settle
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a)
      const c = yield* Effect.sync(() => log.push("c")).pipe(withCircuit("c"))
      yield* Fiber.join(b)
      assert.strictEqual(c, 3)
      assert.deepStrictEqual(log, ["a", "b", "c"])
    }).pipe(withRegistry()))

  it.effect("a call made while permits are being handed out goes behind the waiters", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(gated(log, "a", gate))
      yield* settle
      // w1's effect makes a call of its own on the same circuit as soon as it starts.
      const nested = Effect.sync(() => log.push("n")).pipe(withCircuit("c"))
      const w1 = yield* Effect.forkChild(
        Effect.sync(() => log.push("w1")).pipe(Effect.andThen(nested), Effect.andThen(Deferred.await(gate)), withCircuit("c"))
      )
      yield* settle
      const w2 = yield* Effect.forkChild(gated(log, "w2", gate))
      yield* settle
      // Two new permits: w1 gets one and, while it starts, its own call arrives with a
      // permit still free and w2 waiting. That permit is w2's.
      yield* Circuit.configure("c", { maxConcurrentRequests: 3 })
      assert.deepStrictEqual(log, ["a", "w1", "w2"])
      assert.strictEqual((yield* Circuit.snapshot("c")).queue.waiting, 1, "the nested call waits")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a)
      yield* Fiber.join(w2)
      yield* Fiber.join(w1)
      assert.deepStrictEqual(log, ["a", "w1", "w2", "n"])
    }).pipe(withRegistry()))

  it.effect("a waiter whose maxQueueWait runs out is rejected (queue-timeout) and its fallback answers", () =>
    Effect.gen(function*() {
      const kinds: Array<EventKind> = []
      const events = yield* Circuit.events.pipe(
        Stream.runForEach((e) => Effect.sync(() => kinds.push(e.kind))),
        Effect.forkChild
      )
      yield* settle
      const gate = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(gated([], "a", gate))
      yield* settle
      const b = yield* Effect.forkChild(
        Effect.succeed("b").pipe(
          withCircuit("c", { fallback: (error) => Effect.succeed(error) })
        )
      )
      const c = yield* Effect.forkChild(Effect.flip(Effect.succeed("c").pipe(withCircuit("c"))))
      yield* settle
      yield* TestClock.adjust("999 millis")
      assert.strictEqual((yield* Circuit.snapshot("c")).queue.waiting, 2, "not yet")
      yield* TestClock.adjust("1 millis")
      const answered = yield* Fiber.join(b)
      assert.instanceOf(answered, CircuitRejectedError)
      assert.strictEqual((answered as CircuitRejectedError).reason, "queue-timeout")
      assert.strictEqual(Duration.toMillis((answered as CircuitRejectedError).waited!), 1000)
      const error = yield* Fiber.join(c)
      assert.instanceOf(error, CircuitRejectedError)
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.queue.waiting, 0)
      assert.strictEqual(snap.window.rejected, 2, "an expired wait is a rejection of the window")
      assert.strictEqual(snap.window.fallbackSuccess, 1)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a)
      yield* settle
      assert.deepStrictEqual(kinds, ["queued", "queued", "queue-timeout", "fallback-success", "queue-timeout", "success"])
      yield* Fiber.interrupt(events)
    }).pipe(withRegistry()))

  it.effect("the call's timeout starts when it gets its permit, not when it joins the queue", () =>
    Effect.gen(function*() {
      const slow = (millis: number) => Effect.sleep(Duration.millis(millis)).pipe(Effect.as(millis), withCircuit("c"))
      const a = yield* Effect.forkChild(slow(800))
      yield* settle
      const b = yield* Effect.forkChild(Effect.exit(slow(900)))
      yield* settle
      yield* TestClock.adjust("800 millis")
      assert.strictEqual(yield* Fiber.join(a), 800)
      // b has waited 800 ms and runs 900 ms: 1.7 s after it was called, within its 1 s timeout from the permit.
      yield* TestClock.adjust("900 millis")
      const exit = yield* Fiber.join(b)
      assert.deepStrictEqual(exit, Exit.succeed(900))
    }).pipe(withRegistry({ ...queued, timeout: "1 second", maxQueueWait: "5 seconds" })))

  it.effect("an interrupted waiter leaves the queue and takes nothing", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(gated(log, "a", gate))
      yield* settle
      const b = yield* Effect.forkChild(Effect.sync(() => log.push("b")).pipe(withCircuit("c")))
      const c = yield* Effect.forkChild(Effect.sync(() => log.push("c")).pipe(withCircuit("c")))
      yield* settle
      assert.strictEqual((yield* Circuit.snapshot("c")).queue.waiting, 2)
      yield* Fiber.interrupt(b)
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.queue.waiting, 1)
      assert.strictEqual(snap.concurrency.active, 1)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a)
      yield* Fiber.join(c)
      assert.deepStrictEqual(log, ["a", "c"])
      const after = yield* Circuit.snapshot("c")
      assert.strictEqual(after.concurrency.active, 0)
      assert.strictEqual(after.window.total, 2, "the interrupted waiter is not a request")
      // Its deadline went with it: no timer is left behind.
      const registry = yield* CircuitRegistry
      assert.isFalse(deadlinesOf(registry, yield* Clock.clockWith(Effect.succeed)).armed)
    }).pipe(withRegistry()))

  it.effect("asks the circuit again at the hand-off: a waiter whose circuit opened is short-circuited", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(gated(log, "a", gate))
      yield* settle
      const b = yield* Effect.forkChild(Effect.flip(Effect.sync(() => log.push("b")).pipe(withCircuit("c"))))
      yield* settle
      yield* Circuit.forceOpen("c")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a)
      const error = yield* Fiber.join(b)
      assert.instanceOf(error, CircuitOpenError)
      assert.deepStrictEqual(log, ["a"], "b never ran")
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.window.shortCircuited, 1)
      assert.strictEqual(snap.concurrency.active, 0)
    }).pipe(withRegistry()))

  it.effect("a short-circuited call never queues", () =>
    Effect.gen(function*() {
      yield* Circuit.forceOpen("c")
      const error = yield* Effect.flip(Effect.succeed(1).pipe(withCircuit("c")))
      assert.instanceOf(error, CircuitOpenError)
      assert.strictEqual((yield* Circuit.snapshot("c")).queue.waiting, 0)
    }).pipe(withRegistry()))

  it.effect("configure: a higher limit hands permits to waiters; a lower capacity rejects the newest waiters", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const calls = yield* Effect.forEach(["a", "b", "c", "d"], (id) =>
        Effect.forkChild(Effect.exit(gated(log, id, gate))).pipe(Effect.tap(() => settle)))
      assert.deepStrictEqual(log, ["a"])
      assert.strictEqual((yield* Circuit.snapshot("c")).queue.waiting, 3)
      // One place fewer: d, the newest, is rejected; b and c keep their places.
      yield* Circuit.configure("c", { queueCapacity: 2 })
      const d = yield* Fiber.join(calls[3]!)
      const error = Exit.isFailure(d) ? Cause.squash(d.cause) : undefined
      assert.instanceOf(error, CircuitRejectedError)
      assert.strictEqual((error as CircuitRejectedError).reason, "queue-full")
      assert.strictEqual((yield* Circuit.snapshot("c")).queue.waiting, 2)
      yield* Circuit.configure("c", { maxConcurrentRequests: 2 })
      assert.deepStrictEqual(log, ["a", "b"])
      yield* Circuit.configure("c", { maxConcurrentRequests: 3 })
      assert.deepStrictEqual(log, ["a", "b", "c"])
      yield* Deferred.succeed(gate, undefined)
      for (const call of calls.slice(0, 3)) assert.isTrue(Exit.isSuccess(yield* Fiber.join(call)))
      // Capacity 0 turns the queue off.
      yield* Circuit.configure("c", { queueCapacity: 0, maxConcurrentRequests: 1 })
      assert.deepStrictEqual((yield* Circuit.snapshot("c")).queue, { waiting: 0, capacity: 0 })
    }).pipe(withRegistry({ ...queued, queueCapacity: 3 })))

  it.effect("an adaptive limit that grows wakes waiters", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const gate = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(Effect.sync(() => log.push("a")).pipe(Effect.andThen(Effect.sleep("10 millis")), withCircuit("c")))
      yield* settle
      const b = yield* Effect.forkChild(gated(log, "b", gate))
      const c = yield* Effect.forkChild(gated(log, "c", gate))
      yield* settle
      assert.deepStrictEqual(log, ["a"])
      // a's success raises the AIMD limit from 1 to 2: b gets a's permit, c the new one.
      yield* TestClock.adjust("10 millis")
      yield* Fiber.join(a)
      yield* settle
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.concurrency.max, 2)
      assert.deepStrictEqual(log, ["a", "b", "c"])
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(b)
      yield* Fiber.join(c)
    }).pipe(withRegistry({ ...queued, maxConcurrentRequests: { adaptive: "aimd", initial: 1, min: 1, max: 10 } })))

  it.effect("closing the registry answers every waiter (SPEC 20) and holds no timer", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(CircuitRegistry.layer({ defaults: { ...queued, maxQueueWait: "infinity" } }), scope)
      const registry = context.mapUnsafe.get(CircuitRegistry.key) as CircuitRegistry["Service"]
      const calls = yield* Effect.forEach([1, 2, 3], () =>
        Effect.never.pipe(withCircuit("c"), Effect.provide(context), Effect.exit, Effect.forkChild))
      yield* settle
      assert.strictEqual(registry.lookup("c")?.active, 1)
      yield* Scope.close(scope, Exit.void)
      yield* settle
      for (const call of calls) assert.isTrue(Exit.hasInterrupts(yield* Fiber.join(call)))
      const queue = deadlinesOf(registry, yield* Clock.clockWith(Effect.succeed))
      assert.strictEqual(queue.size, 0)
      assert.isFalse(queue.armed)
      assert.strictEqual(registry.lookup("c")?.active ?? 0, 0)
    }))
})

describe("the wait queue's settings", () => {
  it("decode, with their defaults, and refuse bad values naming the field", () => {
    const decoded = CircuitConfig.decode({ queueCapacity: 5, maxQueueWait: "250 millis" })
    assert.isTrue(Exit.isSuccess(decoded))
    if (Exit.isSuccess(decoded)) {
      assert.strictEqual(decoded.value.queueCapacity, 5)
      assert.strictEqual(Duration.toMillis(decoded.value.maxQueueWait), 250)
    }
    const infinite = CircuitConfig.decode({ maxQueueWait: "infinity" })
    assert.isTrue(Exit.isSuccess(infinite) && !Duration.isFinite(infinite.value.maxQueueWait))
    assert.strictEqual(Duration.toMillis(CircuitConfig.defaults.maxQueueWait), 1000)
    for (
      const [input, field] of [
        [{ queueCapacity: -1 }, "queueCapacity"],
        [{ queueCapacity: 1.5 }, "queueCapacity"],
        [{ queueCapacity: NaN }, "queueCapacity"],
        [{ queueCapacity: Infinity }, "queueCapacity"],
        [{ queueCapacity: "3" }, "queueCapacity"],
        [{ maxQueueWait: 0 }, "maxQueueWait"],
        [{ maxQueueWait: -5 }, "maxQueueWait"],
        [{ maxQueueWait: "soon" }, "maxQueueWait"]
      ] as const
    ) {
      const exit = CircuitConfig.decode(input, { circuit: "c" })
      assert.isTrue(Exit.isFailure(exit), JSON.stringify(input))
      if (Exit.isFailure(exit)) {
        const error = exit.cause.reasons[0]
        const value = error !== undefined && error._tag === "Fail" ? error.error : undefined
        assert.instanceOf(value, CircuitConfigError)
        assert.strictEqual((value as CircuitConfigError).field, field)
      }
    }
  })

  it.effect("read from environment variables", () =>
    Effect.gen(function*() {
      const input = yield* CircuitConfig.configForCircuit("payments").parse(ConfigProvider.fromEnv({
        env: { CIRCUIT_PAYMENTS_QUEUE_CAPACITY: "7", CIRCUIT_PAYMENTS_MAX_QUEUE_WAIT: "2 seconds" }
      }))
      const config = yield* CircuitConfig.decodeEffect(input)
      assert.strictEqual(config.queueCapacity, 7)
      assert.strictEqual(Duration.toMillis(config.maxQueueWait), 2000)
      const infinite = yield* CircuitConfig.defaultsFromConfig().parse(ConfigProvider.fromEnv({
        env: { CIRCUIT_DEFAULT_MAX_QUEUE_WAIT: "infinity" }
      })).pipe(Effect.flatMap((i) => CircuitConfig.decodeEffect(i)))
      assert.isFalse(Duration.isFinite(infinite.maxQueueWait))
    }))

  it.effect("a bad value at run time changes nothing", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Circuit.configure("c", { queueCapacity: 3, maxQueueWait: -1 }))
      assert.strictEqual(error.field, "maxQueueWait")
      assert.strictEqual((yield* Circuit.snapshot("c")).config.queueCapacity, 2)
    }).pipe(withRegistry()))
})

// Prometheus text → { "name{labels}": value }.
const parsePrometheus = (text: string): Map<string, number> => {
  const series = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line)
    if (match !== null) series.set(match[1]!, Number(match[2]!))
  }
  return series
}

describe("the wait queue, observed", () => {
  it.effect("metrics: queued and queue-timeout series from the first call (at 0) and the waiting gauge, only for a circuit with a queue", () =>
    Effect.gen(function*() {
      yield* Effect.succeed(1).pipe(withCircuit("plain"))
      yield* Effect.succeed(1).pipe(withCircuit("c"))
      let series = parsePrometheus(yield* PrometheusMetrics.format())
      assert.strictEqual(series.get(`effect_circuit_events_total{circuit="c",event="queued"}`), 0)
      assert.strictEqual(series.get(`effect_circuit_events_total{circuit="c",event="queue-timeout"}`), 0)
      assert.strictEqual(series.get(`effect_circuit_waiting_calls{circuit="c"}`), 0)
      // A circuit on the defaults exports what it always did.
      assert.isFalse(series.has(`effect_circuit_events_total{circuit="plain",event="queued"}`))
      assert.isFalse(series.has(`effect_circuit_waiting_calls{circuit="plain"}`))
      const gate = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(gated([], "a", gate))
      yield* settle
      const b = yield* Effect.forkChild(Effect.exit(Effect.succeed(1).pipe(withCircuit("c"))))
      const c = yield* Effect.forkChild(Effect.exit(Effect.succeed(1).pipe(withCircuit("c"))))
      yield* settle
      series = parsePrometheus(yield* PrometheusMetrics.format())
      assert.strictEqual(series.get(`effect_circuit_waiting_calls{circuit="c"}`), 2)
      assert.strictEqual(series.get(`effect_circuit_events_total{circuit="c",event="queued"}`), 2)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(b)
      yield* Fiber.join(c)
      series = parsePrometheus(yield* PrometheusMetrics.format())
      assert.strictEqual(series.get(`effect_circuit_waiting_calls{circuit="c"}`), 0)
      assert.strictEqual(series.get(`effect_circuit_events_total{circuit="c",event="queue-timeout"}`), 2)
      assert.closeTo(series.get(`effect_circuit_error_ratio{circuit="c"}`)!, 2 / 3, 1e-12, "expired waits are rejections")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a)
    }).pipe(
      Effect.provide(CircuitRegistry.layer({ circuits: { c: queued } })),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ))

  it.effect("the Hystrix stream's thread pool: calls waiting, the queue's size, tasks", () =>
    Effect.gen(function*() {
      const registry = yield* CircuitRegistry
      const gate = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(gated([], "a", gate))
      yield* settle
      const b = yield* Effect.forkChild(gated([], "b", gate))
      yield* settle
      const now = yield* Clock.currentTimeMillis
      const pool = HystrixStream.threadPoolOf(registry.lookup("c")!, now)
      assert.strictEqual(pool.currentQueueSize, 1)
      assert.strictEqual(pool.propertyValue_queueSizeRejectionThreshold, 2)
      assert.strictEqual(pool.propertyValue_maxQueueSize, 2)
      assert.strictEqual(pool.currentActiveCount, 1)
      assert.strictEqual(pool.currentTaskCount, 2, "running + waiting + completed")
      const off = HystrixStream.threadPoolOf(registry.peek("other", 0), now)
      assert.deepStrictEqual([off.currentQueueSize, off.propertyValue_queueSizeRejectionThreshold], [0, 0])
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a)
      yield* Fiber.join(b)
    }).pipe(Effect.provide(CircuitRegistry.layer({ circuits: { c: queued } }))))
})

import { assert, describe, it } from "@effect/vitest"
import { Data, Effect, Exit, Fiber, Layer, Metric, Scope } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import { Circuit, CircuitRegistry, HystrixStream, withCircuit } from "../src/index.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}

const parse = (text: string): Map<string, number> => {
  const series = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const match = /^(\S+) (\S+)$/.exec(line)
    assert.isNotNull(match, line)
    assert.isFalse(series.has(match![1]!), `one sample per series: ${match![1]}`)
    series.set(match![1]!, Number(match![2]!))
  }
  return series
}

const isolated = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(Effect.provideService(Metric.MetricRegistry, new Map()))

describe("Hystrix stream counts (issue 14, item 6)", () => {
  it.effect("concurrency peaks count calls that only timed out (the peak is taken with the permit)", () =>
    Effect.gen(function*() {
      // Three calls run at once and all time out: the window holds nothing but timeouts.
      const calls = yield* Effect.forEach([1, 2, 3], () =>
        Effect.forkChild(Effect.sleep("1 second").pipe(withCircuit("slow"), Effect.exit)))
      yield* Effect.yieldNow
      yield* TestClock.adjust("100 millis")
      const exits = yield* Fiber.joinAll(calls)
      for (const exit of exits) assert.isTrue(Exit.isFailure(exit))
      const registry = yield* CircuitRegistry
      const cell = registry.lookup("slow")!
      assert.strictEqual(cell.active, 0, "every permit is back")
      const now = 100
      const command = HystrixStream.commandOf(cell, now)
      const pool = HystrixStream.threadPoolOf(cell, now)
      assert.strictEqual(command.rollingCountTimeout, 3)
      assert.strictEqual(command.rollingMaxConcurrentExecutionCount, 3)
      assert.strictEqual(pool.rollingMaxActiveThreads, 3)
      assert.strictEqual(pool.currentLargestPoolSize, 3)
    }).pipe(Effect.provide(CircuitRegistry.layer({ defaults: { timeout: "100 millis" } })), isolated))

  it.effect("a peak reached between two events counts: calls overlapping, then one timing out", () =>
    Effect.gen(function*() {
      // A runs from 0 and times out at 100; B runs from 50 to 60. Two ran at once.
      const a = yield* Effect.forkChild(Effect.sleep("1 second").pipe(withCircuit("c"), Effect.exit))
      yield* Effect.yieldNow
      yield* TestClock.adjust("50 millis")
      const b = yield* Effect.forkChild(Effect.sleep("10 millis").pipe(withCircuit("c")))
      yield* Effect.yieldNow
      yield* TestClock.adjust("10 millis")
      yield* Fiber.join(b)
      yield* TestClock.adjust("40 millis")
      yield* Fiber.join(a)
      const cell = (yield* CircuitRegistry).lookup("c")!
      assert.strictEqual(cell.active, 0)
      assert.strictEqual(HystrixStream.commandOf(cell, 100).rollingMaxConcurrentExecutionCount, 2)
      assert.strictEqual(HystrixStream.threadPoolOf(cell, 100).currentLargestPoolSize, 2)
    }).pipe(Effect.provide(CircuitRegistry.layer({ defaults: { timeout: "100 millis" } })), isolated))

  it.effect("exceptions thrown and fallbacks missing, as Hystrix counts them", () =>
    Effect.gen(function*() {
      const boom = Effect.fail(new Boom())
      const slow = Effect.sleep("1 second")
      // A failure without a fallback: thrown, fallback missing.
      yield* boom.pipe(withCircuit("c"), Effect.ignore)
      // A failure whose fallback succeeds: neither.
      yield* boom.pipe(withCircuit("c", { fallback: () => Effect.succeed(1) }))
      // A failure whose fallback fails: thrown, the fallback was there.
      yield* boom.pipe(withCircuit("c", { fallback: () => Effect.fail("no cache") }), Effect.ignore)
      // A timeout without a fallback: thrown, missing.
      const timedOut = yield* Effect.forkChild(slow.pipe(withCircuit("c"), Effect.ignore))
      yield* Effect.yieldNow
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(timedOut)
      yield* Circuit.forceOpen("c")
      // A short-circuit without a fallback: thrown, missing; with one: neither.
      yield* Effect.succeed(1).pipe(withCircuit("c"), Effect.ignore)
      yield* Effect.succeed(1).pipe(withCircuit("c", { fallback: () => Effect.succeed(2) }))
      const registry = yield* CircuitRegistry
      const command = HystrixStream.commandOf(registry.lookup("c")!, 100)
      assert.strictEqual(command.rollingCountExceptionsThrown, 4)
      assert.strictEqual(command.rollingCountFallbackMissing, 3)
      assert.strictEqual(command.rollingCountFallbackSuccess, 2)
      assert.strictEqual(command.rollingCountFallbackFailure, 1)
      // They leave the window with it (10 s by default).
      yield* TestClock.adjust("10 seconds")
      const later = HystrixStream.commandOf(registry.lookup("c")!, 10_100)
      assert.strictEqual(later.rollingCountExceptionsThrown, 0)
      assert.strictEqual(later.rollingCountFallbackMissing, 0)
    }).pipe(
      Effect.provide(CircuitRegistry.layer({ defaults: { timeout: "100 millis", requestVolumeThreshold: 100 } })),
      isolated
    ))
})

describe("registries sharing one MetricRegistry (issue 11, item 6)", () => {
  it.effect("two registries with a circuit of the same name keep separate series; closing one leaves the other's", () =>
    Effect.gen(function*() {
      const first = yield* Scope.make()
      const second = yield* Scope.make()
      const a = yield* Layer.buildWithScope(CircuitRegistry.layer(), first)
      const b = yield* Layer.buildWithScope(CircuitRegistry.layer(), second)
      yield* Effect.succeed(1).pipe(withCircuit("payments"), Effect.provide(a))
      yield* Effect.succeed(1).pipe(withCircuit("payments"), Effect.provide(a))
      yield* Effect.fail(new Boom()).pipe(withCircuit("payments"), Effect.ignore, Effect.provide(b))
      const both = parse(yield* PrometheusMetrics.format())
      assert.strictEqual(both.get(`effect_circuit_events_total{circuit="payments",event="success"}`), 2)
      assert.strictEqual(both.get(`effect_circuit_events_total{circuit="payments",event="failure"}`), 0)
      assert.strictEqual(both.get(`effect_circuit_events_total{registry="2",circuit="payments",event="success"}`), 0)
      assert.strictEqual(both.get(`effect_circuit_events_total{registry="2",circuit="payments",event="failure"}`), 1)
      assert.strictEqual(both.get(`effect_circuit_error_ratio{registry="2",circuit="payments"}`), 1)
      assert.strictEqual(both.get(`effect_circuit_error_ratio{circuit="payments"}`), 0)
      yield* Scope.close(first, Exit.void)
      const after = parse(yield* PrometheusMetrics.format())
      assert.isUndefined(after.get(`effect_circuit_events_total{circuit="payments",event="success"}`))
      assert.strictEqual(after.get(`effect_circuit_events_total{registry="2",circuit="payments",event="failure"}`), 1)
      assert.strictEqual(after.get(`effect_circuit_state{registry="2",circuit="payments",state="closed"}`), 1)
      yield* Scope.close(second, Exit.void)
      assert.notInclude(yield* PrometheusMetrics.format(), "effect_circuit_")
    }).pipe(isolated))
})


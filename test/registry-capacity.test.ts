/**
 * Issue 11, item 2 (SPEC 17 and 18): a bounded registry.
 *
 * - Past `capacity`, or after `idleTimeToLive` without a call, an idle circuit
 *   (no call running, closed, no error in its window) is evicted; an open,
 *   half-open or forced circuit, one with a call running or errors in its
 *   window, one configured at run time and one named in `circuits` never is.
 * - An evicted name used again starts fresh with its settings; a guarded
 *   effect that cached the evicted circuit uses the new one.
 * - Eviction removes the circuit's metric series.
 * - Reading a circuit (`snapshot`, `state`) never creates one.
 * - Bad `capacity` / `idleTimeToLive` fail the layer with CircuitConfigError.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Metric } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitConfigError, CircuitRegistry, withCircuit } from "../src/index.ts"

const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)
const use = (name: string) => Effect.succeed(name).pipe(withCircuit(name))
const failOnce = (name: string) => Effect.fail("boom").pipe(withCircuit(name), Effect.ignore)
const names = Effect.map(Circuit.names, (names) => [...names].sort())
const circuitsWithSeries = Effect.map(Metric.snapshot, (metrics) =>
  new Set(metrics.flatMap((m) => {
    const circuit = (m.attributes as Record<string, unknown> | undefined)?.["circuit"]
    return typeof circuit === "string" ? [circuit] : []
  })))

describe("a registry's capacity", () => {
  it.effect("1,000 distinct names used once keep at most `capacity` circuits", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 1000; i++) {
        yield* use(`n${i}`)
        assert.isAtMost((yield* Circuit.names).length, 100)
      }
      // The most recently used are the ones kept.
      assert.deepStrictEqual(yield* names, Array.from({ length: 100 }, (_, i) => `n${900 + i}`).sort())
    }).pipe(Effect.provide(CircuitRegistry.layer({ capacity: 100 }))))

  it.effect("never evicts an open, forced, busy, erroring, configured or named circuit", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 20; i++) yield* failOnce("open")
      assert.strictEqual(yield* Circuit.state("open"), "open")
      yield* Circuit.forceOpen("forced-open")
      yield* Circuit.forceClosed("forced-closed")
      yield* failOnce("erroring")
      yield* Circuit.configure("configured", { timeout: "2 seconds" })
      yield* use("named")
      const busy = yield* Effect.never.pipe(withCircuit("busy"), Effect.forkChild)
      yield* settle
      for (let i = 0; i < 100; i++) yield* use(`n${i}`)
      const kept = yield* names
      for (const name of ["open", "forced-open", "forced-closed", "erroring", "configured", "named", "busy"]) {
        assert.include(kept, name)
      }
      assert.isAtMost(kept.length, 10)
      // Half-open (its probe running) is kept too.
      yield* TestClock.adjust("5 seconds")
      const probe = yield* Effect.never.pipe(withCircuit("open"), Effect.forkChild)
      yield* settle
      assert.strictEqual(yield* Circuit.state("open"), "half-open")
      for (let i = 100; i < 200; i++) yield* use(`n${i}`)
      assert.include(yield* Circuit.names, "open")
      yield* Fiber.interrupt(probe)
      yield* Fiber.interrupt(busy)
      // Once the errors have left the window (10 s) and nothing runs, it can go.
      yield* TestClock.adjust("10 seconds")
      for (let i = 200; i < 300; i++) yield* use(`n${i}`)
      const after = yield* Circuit.names
      assert.notInclude(after, "erroring")
      assert.notInclude(after, "busy")
      assert.include(after, "named")
      assert.include(after, "configured")
    }).pipe(Effect.provide(CircuitRegistry.layer({ capacity: 10, circuits: { named: { timeout: "3 seconds" } } }))))

  it.effect("an evicted name used again starts fresh with its settings; a cached guarded effect follows it", () =>
    Effect.gen(function*() {
      const guarded = Effect.succeed(1).pipe(withCircuit("a"))
      yield* guarded
      yield* guarded
      assert.strictEqual((yield* Circuit.snapshot("a")).window.success, 2)
      yield* use("b")
      yield* use("c") // evicts "a"
      assert.notInclude(yield* Circuit.names, "a")
      yield* guarded
      const snapshot = yield* Circuit.snapshot("a")
      assert.strictEqual(snapshot.window.success, 1, "a fresh window, and the call was recorded in it")
      assert.strictEqual(snapshot.config.errorPercentThreshold, 30)
      assert.include(yield* Circuit.names, "a")
    }).pipe(Effect.provide(CircuitRegistry.layer({ capacity: 2, defaults: { errorPercentThreshold: 30 } }))))

  it.effect("eviction removes the circuit's metric series", () =>
    Effect.gen(function*() {
      yield* use("first")
      assert.isTrue((yield* circuitsWithSeries).has("first"))
      yield* use("second")
      assert.notInclude(yield* Circuit.names, "first")
      const series = yield* circuitsWithSeries
      assert.isFalse(series.has("first"), "no series left for an evicted circuit")
      assert.isTrue(series.has("second"))
    }).pipe(Effect.provide(CircuitRegistry.layer({ capacity: 1 }))))
})

describe("a registry's idleTimeToLive", () => {
  it.effect("a circuit without a call for idleTimeToLive is evicted when another is created", () =>
    Effect.gen(function*() {
      yield* use("old")
      yield* TestClock.adjust("59 seconds")
      yield* use("young")
      assert.include(yield* Circuit.names, "old")
      yield* TestClock.adjust("1 second")
      yield* use("new")
      assert.deepStrictEqual(yield* names, ["new", "young"])
    }).pipe(Effect.provide(CircuitRegistry.layer({ idleTimeToLive: "1 minute" }))))

  it.effect("a call keeps a circuit alive", () =>
    Effect.gen(function*() {
      yield* use("kept")
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust("50 seconds")
        yield* use("kept")
        yield* use(`other${i}`)
      }
      assert.include(yield* Circuit.names, "kept")
    }).pipe(Effect.provide(CircuitRegistry.layer({ idleTimeToLive: "1 minute" }))))
})

describe("reading an unknown name", () => {
  it.effect("snapshot and state never create a circuit, and show a fresh one's values", () =>
    Effect.gen(function*() {
      const snapshot = yield* Circuit.snapshot("unknown")
      assert.strictEqual(snapshot.state, "closed")
      assert.strictEqual(snapshot.window.total, 0)
      assert.strictEqual(snapshot.concurrency.active, 0)
      assert.strictEqual(snapshot.concurrency.max, 3, "with the settings it would get")
      assert.strictEqual(yield* Circuit.state("other"), "closed")
      yield* Circuit.reset("third")
      assert.deepStrictEqual(yield* Circuit.names, [])
    }).pipe(Effect.provide(CircuitRegistry.layer({ circuits: { unknown: { maxConcurrentRequests: 3 } } }))))
})

describe("capacity and idleTimeToLive settings", () => {
  const bad: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
    ["capacity", { capacity: 0 }],
    ["capacity", { capacity: -1 }],
    ["capacity", { capacity: 1.5 }],
    ["capacity", { capacity: Number.NaN }],
    ["capacity", { capacity: "10" }],
    ["idleTimeToLive", { idleTimeToLive: -5 }],
    ["idleTimeToLive", { idleTimeToLive: "soon" }],
    ["idleTimeToLive", { idleTimeToLive: 0 }]
  ]
  for (const [field, options] of bad) {
    it.effect(`refuses ${JSON.stringify(options)} naming ${field}`, () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Layer.build(CircuitRegistry.layer(options as never)).pipe(Effect.scoped))
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const error = exit.cause.reasons.find((r) => r._tag === "Fail")
          assert.instanceOf((error as { error: unknown } | undefined)?.error, CircuitConfigError)
          assert.strictEqual(((error as { error: CircuitConfigError }).error).field, field)
        }
      }))
  }

  it.effect("accepts Infinity and \"Infinity\" (no bound)", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 50; i++) yield* use(`n${i}`)
      yield* TestClock.adjust("1000 days")
      yield* use("last")
      assert.strictEqual((yield* Circuit.names).length, 51)
    }).pipe(Effect.provide(CircuitRegistry.layer({ capacity: Infinity, idleTimeToLive: "Infinity" }))))
})

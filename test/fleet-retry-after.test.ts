/**
 * A downstream's Retry-After on a fleet circuit (the in-process store under
 * `TestClock`): the failure that opens the shared circuit, in a batch or as
 * the probe's outcome, makes that opening last `max(S(n), Retry-After)` for
 * every process, as it does for a local circuit (docs/concepts.md): no
 * process asks for the probe lease before then, and every process's
 * `CircuitOpenError` says how long is left. A hint in a batch that does not
 * open the circuit lengthens nothing. (The Lua scripts are checked against
 * the same model on a real redis-server in property-tests/fleet-store.test.ts.)
 */
import { assert, describe, it } from "@effect/vitest"
import { Data, Duration, Effect } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, type CircuitConfigInput, CircuitOpenError, CircuitRegistry, withCircuit } from "../src/index.ts"
import { type CircuitRegistryShape, make as makeRegistry } from "../src/CircuitRegistry.ts"
import * as CircuitStore from "../src/store/CircuitStore.ts"

class Busy extends Data.TaggedError("Busy")<{ readonly retryAfter?: Duration.Input }> {}

/** `n` registries sharing one in-process store. */
const fleetOf = (n: number, defaults: CircuitConfigInput) =>
  Effect.gen(function*() {
    const settings = yield* CircuitStore.settingsOf()
    const shape = { backend: CircuitStore.memoryBackend(), settings }
    const out: Array<CircuitRegistryShape> = []
    for (let i = 0; i < n; i++) {
      out.push(yield* makeRegistry({ defaults, metrics: false }).pipe(Effect.provideService(CircuitStore.CircuitStore, shape)))
    }
    return out
  })

const on = (r: CircuitRegistryShape) => Effect.provideService(CircuitRegistry, r)
const flush = Effect.andThen(TestClock.adjust("25 millis"), Effect.yieldNow)
const ok = (r: CircuitRegistryShape) => Effect.succeed("ok").pipe(withCircuit<never>("c"), Effect.result, on(r))
const busy = (r: CircuitRegistryShape, retryAfter?: Duration.Input) =>
  Effect.fail(new Busy(retryAfter === undefined ? {} : { retryAfter })).pipe(
    withCircuit<Busy>("c", { retryAfter: (e) => e.retryAfter }),
    Effect.result,
    on(r)
  )
const fleetState = (r: CircuitRegistryShape) => Effect.map(Circuit.snapshot("c").pipe(on(r)), (s) => s.fleet?.state)

/** The `retryAfter` of a short-circuited call in `r`, in milliseconds (fails if the call ran). */
const shortCircuited = (r: CircuitRegistryShape) =>
  Effect.map(ok(r), (result) => {
    assert.isTrue(result._tag === "Failure" && result.failure instanceof CircuitOpenError, "expected a short-circuit")
    return Duration.toMillis((result as { failure: CircuitOpenError }).failure.retryAfter)
  })

const settings: CircuitConfigInput = {
  requestVolumeThreshold: 2,
  errorPercentThreshold: 50,
  sleepWindow: "1 second",
  timeout: "1 second"
}

describe("fleet circuits: a failure's Retry-After lengthens the shared opening", () => {
  it.effect("a batch that opens the circuit: no process probes before the Retry-After, and each says how long is left", () =>
    Effect.scoped(Effect.gen(function*() {
      // A volume of 4: a, which has seen only its own success, sends its failures with the next round.
      const [a, b] = yield* fleetOf(2, { ...settings, requestVolumeThreshold: 4 })
      for (const r of [a!, b!]) yield* ok(r)
      yield* flush
      // Two failures in one batch of a (with the fleet's successes, 2 of 4 requests: 50 %), with Retry-After 5 s and 2 s.
      yield* busy(a!, "5 seconds")
      yield* busy(a!, "2 seconds")
      yield* flush
      yield* flush
      for (const r of [a!, b!]) {
        assert.strictEqual(yield* fleetState(r), "open")
        // The longest hint of the batch, not the 1 s sleep window.
        assert.isAbove(yield* shortCircuited(r), 4900)
        assert.strictEqual((yield* Circuit.snapshot("c").pipe(on(r))).fleet?.retryAfterMillis, 5000)
      }
      // Past the sleep window, within the Retry-After: nobody asks for the lease.
      yield* TestClock.adjust("1500 millis")
      for (const r of [a!, b!]) {
        const left = yield* shortCircuited(r)
        assert.isAbove(left, 3400)
        assert.isAtMost(left, 3500)
      }
      yield* flush
      assert.strictEqual(yield* fleetState(b!), "open")
      // At its end: b asks, wins the lease, and its next call is the probe.
      yield* TestClock.adjust("3500 millis")
      assert.strictEqual(yield* shortCircuited(b!), 0)
      yield* flush
      assert.strictEqual(yield* fleetState(b!), "half-open")
      const probe = yield* ok(b!)
      assert.strictEqual(probe._tag, "Success")
      yield* flush
      for (const r of [a!, b!]) assert.strictEqual(yield* fleetState(r), "closed")
    })))

  it.effect("a probe that fails with a Retry-After reopens the fleet circuit for that long", () =>
    Effect.scoped(Effect.gen(function*() {
      const [a, b] = yield* fleetOf(2, settings)
      for (const r of [a!, b!]) yield* ok(r)
      yield* flush
      yield* busy(a!)
      yield* busy(a!)
      yield* flush
      yield* flush
      assert.isAtMost(yield* shortCircuited(b!), 1000)
      yield* TestClock.adjust("1 second")
      yield* shortCircuited(a!)
      yield* flush
      assert.strictEqual(yield* fleetState(a!), "half-open")
      // a's probe fails with Retry-After 3 s: the second opening lasts 3 s, not 1 s.
      const probe = yield* busy(a!, "3 seconds")
      assert.isTrue(probe._tag === "Failure" && probe.failure instanceof Busy)
      yield* flush
      for (const r of [a!, b!]) {
        assert.strictEqual(yield* fleetState(r), "open")
        assert.isAbove(yield* shortCircuited(r), 2900)
      }
      yield* TestClock.adjust("1500 millis")
      yield* shortCircuited(b!)
      yield* flush
      assert.strictEqual(yield* fleetState(b!), "open")
      yield* TestClock.adjust("1500 millis")
      assert.strictEqual(yield* shortCircuited(b!), 0)
      yield* flush
      assert.strictEqual(yield* fleetState(b!), "half-open")
    })))

  it.effect("a Retry-After in a batch that does not open the circuit lengthens nothing", () =>
    Effect.scoped(Effect.gen(function*() {
      const [a, b] = yield* fleetOf(2, { ...settings, requestVolumeThreshold: 3 })
      for (const r of [a!, b!]) yield* ok(r)
      yield* flush
      // 1 failure of 3 requests: under 50 %, the hint is dropped with its batch.
      yield* busy(a!, "1 minute")
      yield* flush
      assert.strictEqual(yield* fleetState(b!), "closed")
      // This batch opens the circuit, without a hint: the sleep window alone.
      yield* busy(b!)
      yield* busy(b!)
      yield* flush
      yield* flush
      for (const r of [a!, b!]) {
        assert.strictEqual(yield* fleetState(r), "open")
        assert.isAtMost(yield* shortCircuited(r), 1000)
      }
    })))
})

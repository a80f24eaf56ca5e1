/**
 * The fleet protocol under `TestClock`: three registries (three "processes")
 * share one in-process store (`FleetModel` in a map), so every step of the
 * protocol can be driven to the millisecond. The same client code runs
 * against Redis in test/fleet-redis.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Data, Effect, Ref } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitOpenError, CircuitRegistry, type CircuitConfigInput, withCircuit } from "../src/index.ts"
import { type CircuitRegistryShape, make as makeRegistry } from "../src/CircuitRegistry.ts"
import { cellOf } from "../src/internal/cell.ts"
import * as CircuitStore from "../src/store/CircuitStore.ts"
import type { FleetLink } from "../src/store/FleetClient.ts"
import type { FleetBackend } from "../src/store/service.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}

const settings: CircuitConfigInput = {
  requestVolumeThreshold: 10,
  errorPercentThreshold: 50,
  sleepWindow: "5 seconds",
  timeout: "1 second",
  maxConcurrentRequests: 100
}

// A backend that can be switched off: every command then fails, as a dead store's would.
const switchable = (backend: FleetBackend) => {
  let up = true
  const guard = <A, E>(effect: Effect.Effect<A, E>) =>
    Effect.suspend(() => up ? effect : Effect.die(new Error("store down")))
  const commands = { record: 0, acquire: 0, settle: 0, largestBatch: 0 }
  const wrapped: FleetBackend = {
    record: (entries) =>
      guard(Effect.suspend(() => {
        commands.record += entries.length
        commands.largestBatch = Math.max(commands.largestBatch, entries.length)
        return backend.record(entries)
      })),
    acquire: (...args) => guard(Effect.suspend(() => (commands.acquire++, backend.acquire(...args)))),
    settle: (...args) => guard(Effect.suspend(() => (commands.settle++, backend.settle(...args)))),
    changes: backend.changes
  }
  return { backend: wrapped, commands, set: (value: boolean) => (up = value) }
}

const fleetOf = (n: number, options: CircuitStore.FleetOptions = {}, defaults = settings) =>
  Effect.gen(function*() {
    const store = switchable(CircuitStore.memoryBackend())
    const shape = { backend: store.backend, settings: yield* CircuitStore.settingsOf(options) }
    const registries: Array<CircuitRegistryShape> = []
    for (let i = 0; i < n; i++) {
      registries.push(
        yield* makeRegistry({ defaults, metrics: false }).pipe(
          Effect.provideService(CircuitStore.CircuitStore, shape)
        )
      )
    }
    return { store, registries }
  })

const on = (registry: CircuitRegistryShape) => Effect.provideService(CircuitRegistry, registry)

// Lets the flushers run their round (the memory store answers at once).
const flush = Effect.andThen(TestClock.adjust("25 millis"), Effect.yieldNow)

const call = (registry: CircuitRegistryShape, runs: Ref.Ref<number>, ok: boolean, name = "c") =>
  Ref.update(runs, (n) => n + 1).pipe(
    Effect.andThen(ok ? Effect.succeed("ok") : Effect.fail(new Boom())),
    withCircuit<Boom>(name),
    Effect.result,
    on(registry)
  )

describe("fleet circuits (in-process store, TestClock)", () => {
  it.effect("a trip in one process opens the circuit in every busy process within one flush", () =>
    Effect.gen(function*() {
      const { registries: [a, b, c] } = yield* fleetOf(3)
      const runs = yield* Ref.make(0)
      // Every process has used the circuit once (a success), so each has a view.
      for (const r of [a!, b!, c!]) yield* call(r, runs, true)
      yield* flush
      // b and c keep calling (each has a batch on the way)...
      for (const r of [b!, c!]) yield* call(r, runs, true)
      // ...when process a alone sees 10 failures: its batch plus the fleet's 5 successes reach 50 %.
      for (let i = 0; i < 10; i++) yield* call(a!, runs, false)
      // The urgent round runs as soon as the flusher gets a turn, before the interval ends.
      yield* Effect.yieldNow
      yield* Effect.yieldNow
      assert.strictEqual(cellOf(a!.lookup("c")!).fleet!.state, "open")
      // One flush later b and c, whose batches went out, know it too.
      yield* flush
      for (const r of [b!, c!]) {
        const before = yield* Ref.get(runs)
        const result = yield* call(r, runs, true)
        assert.strictEqual(yield* Ref.get(runs), before, "the effect did not run")
        assert.isTrue(result._tag === "Failure" && result.failure instanceof CircuitOpenError)
        // Their own breakers saw only successes: the fleet decided.
        assert.strictEqual(cellOf(r.lookup("c")!).breaker.state._tag, "Closed")
        // The snapshot shows both: this process's breaker, and the fleet.
        const snapshot = yield* Circuit.snapshot("c").pipe(on(r))
        assert.strictEqual(snapshot.state, "closed")
        assert.strictEqual(snapshot.fleet?.state, "open")
        assert.strictEqual(snapshot.fleet?.store, "up")
        assert.isAtLeast(snapshot.fleet!.window.failure, 9)
        assert.isAtLeast(snapshot.fleet!.window.total, 12)
      }
      // A registry without a store has no fleet in its snapshots.
      const alone = yield* makeRegistry({ defaults: settings, metrics: false })
      yield* call(alone, runs, true)
      assert.isFalse("fleet" in (yield* Circuit.snapshot("c").pipe(on(alone))))
    }))

  it.effect("an idle process hears of a trip at its next round: the store announces changes", () =>
    Effect.gen(function*() {
      const { registries: [a, idle] } = yield* fleetOf(2)
      const runs = yield* Ref.make(0)
      for (const r of [a!, idle!]) yield* call(r, runs, true)
      yield* flush
      for (let i = 0; i < 12; i++) yield* call(a!, runs, false)
      yield* Effect.yieldNow
      yield* Effect.yieldNow
      assert.strictEqual(cellOf(a!.lookup("c")!).fleet!.state, "open")
      // The idle process has not called since (it has nothing to send); the announcement makes it read the circuit.
      yield* flush
      assert.strictEqual(cellOf(idle!.lookup("c")!).fleet!.state, "open")
      const before = yield* Ref.get(runs)
      yield* call(idle!, runs, true)
      assert.strictEqual(yield* Ref.get(runs), before, "its first call is short-circuited")
    }))

  it.effect("exactly one probe in the fleet per opening, over 6 openings", () =>
    Effect.gen(function*() {
      const { registries, store } = yield* fleetOf(3)
      const runs = yield* Ref.make(0)
      for (const r of registries) yield* call(r, runs, true)
      yield* flush
      for (let i = 0; i < 12; i++) yield* call(registries[0]!, runs, false)
      yield* flush
      // Every process calls once more (its view may still say closed) and then knows the circuit is open.
      for (const r of registries) yield* call(r, runs, true)
      yield* flush
      for (const r of registries) assert.strictEqual(cellOf(r.lookup("c")!).fleet!.state, "open")
      for (let opening = 1; opening <= 6; opening++) {
        yield* TestClock.adjust("5 seconds")
        // Everyone calls at once when the sleep window ends; nobody runs yet, each asks for the lease.
        const before = yield* Ref.get(runs)
        for (const r of registries) yield* call(r, runs, true)
        assert.strictEqual(yield* Ref.get(runs), before)
        yield* flush
        // Exactly one process won the lease; the others short-circuit, then the winner's next call is the probe.
        const winners = registries.filter((r) => (cellOf(r.lookup("c")!).fleet as FleetLink).probe === 2)
        assert.strictEqual(winners.length, 1, `opening ${opening}: one lease`)
        for (const r of registries) if (r !== winners[0]) for (let k = 0; k < 3; k++) yield* call(r, runs, true)
        assert.strictEqual(yield* Ref.get(runs), before, `opening ${opening}: no call ran before the probe`)
        yield* call(winners[0]!, runs, opening === 6)
        assert.strictEqual((yield* Ref.get(runs)) - before, 1, `opening ${opening}: one probe`)
        yield* flush
      }
      // The last probe succeeded: the circuit is closed everywhere.
      yield* flush
      for (const r of registries) {
        assert.strictEqual(cellOf(r.lookup("c")!).fleet!.state, "closed")
        const before = yield* Ref.get(runs)
        yield* call(r, runs, true)
        assert.strictEqual((yield* Ref.get(runs)) - before, 1)
      }
      assert.strictEqual(store.commands.settle, 6)
    }))

  it.effect("a lease outlives the probe's timeout; a lapsed lease lets another process probe", () =>
    Effect.gen(function*() {
      const { registries: [a, b] } = yield* fleetOf(2)
      const runs = yield* Ref.make(0)
      for (const r of [a!, b!]) yield* call(r, runs, true)
      yield* flush
      for (let i = 0; i < 12; i++) yield* call(a!, runs, false)
      yield* flush
      yield* TestClock.adjust("5 seconds")
      yield* call(a!, runs, true) // a asks first and wins the lease
      yield* flush
      const linkA = cellOf(a!.lookup("c")!).fleet!
      assert.strictEqual(linkA.state, "half-open")
      // Lease = timeout 1 s + 1 s margin. b keeps short-circuiting until it runs out, even past the probe's timeout.
      yield* TestClock.adjust("1500 millis")
      yield* call(b!, runs, true)
      yield* flush
      const before = yield* Ref.get(runs)
      yield* call(b!, runs, true)
      assert.strictEqual(yield* Ref.get(runs), before, "b did not probe while a holds the lease")
      // a never used its grant; after the lease b asks, wins, and probes.
      yield* TestClock.adjust("600 millis")
      yield* call(b!, runs, true)
      yield* flush
      yield* call(b!, runs, true)
      assert.strictEqual((yield* Ref.get(runs)) - before, 1)
      yield* flush
      assert.strictEqual(cellOf(b!.lookup("c")!).fleet!.state, "closed")
      // a has sent nothing since, but the store announced the close.
      assert.strictEqual(linkA.state, "closed")
    }))

  it.effect("the store away: every process runs on its local breaker, which was fed all along; back: resync", () =>
    Effect.gen(function*() {
      const { registries: [a, b], store } = yield* fleetOf(2, { backoff: { min: "50 millis", max: "400 millis" } })
      const runs = yield* Ref.make(0)
      for (const r of [a!, b!]) yield* call(r, runs, true)
      yield* flush
      store.set(false)
      // The next round fails: the store is away.
      yield* call(a!, runs, true)
      yield* flush
      assert.isFalse(cellOf(a!.lookup("c")!).fleet!.storeHealthy)
      // a's local breaker trips on a's own failures (V = 10) and guards a alone.
      for (let i = 0; i < 10; i++) yield* call(a!, runs, false)
      assert.strictEqual(cellOf(a!.lookup("c")!).breaker.state._tag, "Open")
      const before = yield* Ref.get(runs)
      const rejected = yield* call(a!, runs, true)
      assert.strictEqual(yield* Ref.get(runs), before)
      assert.isTrue(rejected._tag === "Failure" && rejected.failure instanceof CircuitOpenError)
      yield* call(b!, runs, true)
      assert.strictEqual((yield* Ref.get(runs)) - before, 1, "b is not tripped by a's local failures")
      // Backoff doubles: 50, 100, 200, 400, 400 ms... The store comes back; within 1 s every process is back on it.
      for (let i = 0; i < 10; i++) yield* flush
      store.set(true)
      for (let i = 0; i < 40; i++) yield* flush
      assert.isTrue(cellOf(a!.lookup("c")!).fleet!.storeHealthy)
      assert.isTrue(cellOf(b!.lookup("c")!).fleet!.storeHealthy)
      // The fleet view (closed) decides again, although a's local breaker is still open.
      const after = yield* Ref.get(runs)
      yield* call(a!, runs, true)
      assert.strictEqual((yield* Ref.get(runs)) - after, 1)
    }))

  it.effect("a circuit listed as local is never shared", () =>
    Effect.gen(function*() {
      const { registries: [a, b], store } = yield* fleetOf(2, { local: ["mine"] })
      const runs = yield* Ref.make(0)
      for (let i = 0; i < 12; i++) yield* call(a!, runs, false, "mine")
      yield* flush
      assert.isUndefined(cellOf(a!.lookup("mine")!).fleet)
      assert.strictEqual(store.commands.record, 0)
      const before = yield* Ref.get(runs)
      yield* call(b!, runs, true, "mine")
      assert.strictEqual((yield* Ref.get(runs)) - before, 1)
    }))

  it.effect("a round carries at most 256 circuits; the rest follow in the next rounds, in order", () =>
    Effect.gen(function*() {
      const { registries: [a], store } = yield* fleetOf(1)
      const runs = yield* Ref.make(0)
      for (let i = 0; i < 700; i++) yield* call(a!, runs, true, `c${i}`)
      for (let i = 0; i < 5; i++) yield* flush
      assert.strictEqual(store.commands.largestBatch, 256)
      assert.strictEqual(store.commands.record, 700)
      for (let i = 0; i < 700; i++) assert.strictEqual(cellOf(a!.lookup(`c${i}`)!).fleet!.totals.success, 1, `c${i}`)
    }))

  it.effect("idle processes send nothing; a busy one sends one batch per flush, not one per call", () =>
    Effect.gen(function*() {
      const { registries: [a], store } = yield* fleetOf(2)
      const runs = yield* Ref.make(0)
      for (let i = 0; i < 1000; i++) {
        yield* call(a!, runs, true)
        if (i % 25 === 24) yield* flush
      }
      yield* flush
      // 1,000 calls, 40 flush intervals: one command per interval (plus the first read), 0.04 per call.
      assert.isAtMost(store.commands.record, 41)
      assert.isAtLeast(store.commands.record, 40)
      const sent = store.commands.record
      for (let i = 0; i < 10; i++) yield* flush
      assert.strictEqual(store.commands.record, sent)
    }))
})

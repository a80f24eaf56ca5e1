/**
 * Issue 12's controls on fleet circuits. The store shares consecutive
 * failures, slow calls, the stable backoff and several half-open probes: a
 * shared circuit trips, backs off and closes by them across processes. It
 * cannot share a count window: that is refused with a `CircuitConfigError`
 * naming the field wherever it is given (the registry's defaults, a
 * circuit's settings, `Circuit.configure`), while local circuits (the
 * store's `local` option) and registries without a store keep it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Data, Duration, Effect, Exit, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, type CircuitConfigInput, CircuitConfigError, CircuitOpenError, CircuitRegistry, withCircuit } from "../src/index.ts"
import { type CircuitRegistryShape, make as makeRegistry } from "../src/CircuitRegistry.ts"
import * as CircuitStore from "../src/store/CircuitStore.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}

const refused: ReadonlyArray<readonly [field: string, input: CircuitConfigInput]> = [
  ["rollingWindow.calls", { rollingWindow: { calls: 20 } }]
]

const storeShape = (options: CircuitStore.FleetOptions = {}, backend = CircuitStore.memoryBackend()) =>
  Effect.map(CircuitStore.settingsOf(options), (settings) => ({ backend, settings }))

const registry = (
  registryOptions: Parameters<typeof makeRegistry>[0],
  storeOptions?: CircuitStore.FleetOptions
) =>
  Effect.flatMap(
    storeShape(storeOptions),
    (shape) => makeRegistry(registryOptions).pipe(Effect.provideService(CircuitStore.CircuitStore, shape))
  )

/** `n` registries sharing one in-process store. */
const fleetOf = (n: number, defaults: CircuitConfigInput) =>
  Effect.gen(function*() {
    const shape = yield* storeShape()
    const out: Array<CircuitRegistryShape> = []
    for (let i = 0; i < n; i++) {
      out.push(yield* makeRegistry({ defaults, metrics: false }).pipe(Effect.provideService(CircuitStore.CircuitStore, shape)))
    }
    return out
  })

const on = (r: CircuitRegistryShape) => Effect.provideService(CircuitRegistry, r)
const flush = Effect.andThen(TestClock.adjust("25 millis"), Effect.yieldNow)
const call = (r: CircuitRegistryShape, ok: boolean, millis = 0) =>
  Effect.sleep(millis).pipe(
    Effect.andThen(ok ? Effect.succeed("ok") : Effect.fail(new Boom())),
    withCircuit<Boom>("c"),
    Effect.result,
    on(r)
  )
const fleetState = (r: CircuitRegistryShape) => Effect.map(Circuit.snapshot("c").pipe(on(r)), (s) => s.fleet)
const isShort = (result: { readonly _tag: string; readonly failure?: unknown }) =>
  result._tag === "Failure" && result.failure instanceof CircuitOpenError

const configError = <A>(exit: Exit.Exit<A, unknown>): CircuitConfigError => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
  assert.isTrue(error?._tag === "Some" && error.value instanceof CircuitConfigError, "expected a CircuitConfigError")
  return (error as { value: CircuitConfigError }).value
}

describe("fleet circuits share consecutive failures, slow calls and the stable backoff", () => {
  it.effect("errors in a row across processes open the fleet circuit; a success anywhere breaks the run", () =>
    Effect.scoped(Effect.gen(function*() {
      const [a, b] = yield* fleetOf(2, { consecutiveFailures: 3, requestVolumeThreshold: 100, maxConcurrentRequests: 100 })
      for (const r of [a!, b!]) yield* call(r, true)
      yield* flush
      // F F (a), S (b), F (a): the success broke the run.
      yield* call(a!, false)
      yield* call(a!, false)
      yield* flush
      yield* call(b!, true)
      yield* flush
      yield* call(a!, false)
      yield* flush
      assert.strictEqual((yield* fleetState(a!))?.state, "closed")
      // Two more from b: three in a row across the fleet, although neither process saw three.
      yield* call(b!, false)
      yield* call(b!, false)
      yield* flush
      yield* flush
      for (const r of [a!, b!]) assert.strictEqual((yield* fleetState(r))?.state, "open")
      // b saw two errors in a row: its own breaker is closed; the fleet decided.
      assert.strictEqual((yield* Circuit.snapshot("c").pipe(on(b!))).state, "closed")
      const result = yield* call(b!, true)
      assert.isTrue(result._tag === "Failure" && result.failure instanceof CircuitOpenError)
    })))

  it.effect("slow successes in several processes open the fleet circuit by the slow percentage", () =>
    Effect.scoped(Effect.gen(function*() {
      const [a, b] = yield* fleetOf(2, {
        slowCallDuration: "100 millis",
        slowCallPercentThreshold: 50,
        requestVolumeThreshold: 4,
        timeout: "1 second"
      })
      for (const r of [a!, b!]) yield* call(r, true)
      yield* flush
      // Two slow successes in each process: 4 of 6 requests slow in the fleet, 2 of 3 in each process (below the volume).
      const slow = yield* Effect.forEach([a!, a!, b!, b!], (r) => Effect.forkChild(call(r, true, 150)))
      yield* TestClock.adjust("150 millis")
      yield* Effect.forEach(slow, Fiber.join)
      yield* flush
      yield* flush
      for (const r of [a!, b!]) {
        const fleet = yield* fleetState(r)
        assert.strictEqual(fleet?.state, "open")
        assert.strictEqual(fleet?.window.failure, 0)
      }
    })))

  const backoff = (backoffReset: "close" | "stable") =>
    Effect.gen(function*() {
      const [a, b] = yield* fleetOf(2, {
        consecutiveFailures: 1,
        sleepWindow: Schedule.exponential("1 second"),
        backoffReset,
        timeout: "1 second"
      })
      for (const r of [a!, b!]) yield* call(r, true)
      yield* flush
      yield* call(a!, false)
      yield* flush
      yield* flush
      // The sleep window (1 s) passes; a asks for the lease, wins it, and its next call is the probe.
      yield* TestClock.adjust("1 second")
      yield* call(a!, true)
      yield* flush
      yield* call(a!, true)
      yield* flush
      assert.strictEqual((yield* fleetState(b!))?.state, "closed")
      // A failure soon after the close (in b): the second opening.
      yield* call(b!, false)
      yield* flush
      yield* flush
      const fleet = yield* fleetState(a!)
      assert.strictEqual(fleet?.state, "open")
      const result = yield* call(a!, true)
      assert.isTrue(result._tag === "Failure" && result.failure instanceof CircuitOpenError)
      return {
        openings: fleet!.openings,
        retryAfter: Duration.toMillis((result as { failure: CircuitOpenError }).failure.retryAfter)
      }
    })

  it.effect("backoffReset \"stable\": an opening soon after a close continues the fleet's count of openings", () =>
    Effect.scoped(Effect.gen(function*() {
      const stable = yield* backoff("stable")
      assert.strictEqual(stable.openings, 2)
      assert.isAbove(stable.retryAfter, 1000)
      const close = yield* Effect.scoped(backoff("close"))
      assert.strictEqual(close.openings, 1)
      assert.isAtMost(close.retryAfter, 1000)
    })))
})

describe("fleet circuits: several half-open probes (halfOpenProbes)", () => {
  const probes = { halfOpenProbes: 2, consecutiveFailures: 1, sleepWindow: "1 second", timeout: "1 second" } as const

  // Opens the fleet circuit from a, then lets its sleep window pass.
  const openAndSleep = (a: CircuitRegistryShape, rs: ReadonlyArray<CircuitRegistryShape>) =>
    Effect.gen(function*() {
      for (const r of rs) yield* call(r, true)
      yield* flush
      yield* call(a, false)
      yield* flush
      yield* flush
      for (const r of rs) assert.strictEqual((yield* fleetState(r))?.state, "open")
      yield* TestClock.adjust("1 second")
    })

  it.effect("two processes each win a lease; the fleet closes only when both probes have succeeded", () =>
    Effect.scoped(Effect.gen(function*() {
      const [a, b, c] = yield* fleetOf(3, probes)
      yield* openAndSleep(a!, [a!, b!, c!])
      // a and b notice the end of the sleep window; each asks for a lease, and both win one.
      for (const r of [a!, b!]) assert.isTrue(isShort(yield* call(r, true)))
      yield* flush
      // c asks too: both slots are taken.
      assert.isTrue(isShort(yield* call(c!, true)))
      yield* flush
      assert.strictEqual((yield* fleetState(c!))?.state, "half-open")
      assert.deepStrictEqual((yield* fleetState(c!))?.probes, { leases: 2, succeeded: 0 })
      assert.isTrue(isShort(yield* call(c!, true)))
      // a's probe succeeds: one of two, still half-open.
      assert.strictEqual((yield* call(a!, true))._tag, "Success")
      yield* flush
      assert.strictEqual((yield* fleetState(c!))?.state, "half-open")
      assert.deepStrictEqual((yield* fleetState(a!))?.probes, { leases: 1, succeeded: 1 })
      // a holds no lease now, and no slot is free: short-circuited, as everyone else.
      assert.isTrue(isShort(yield* call(a!, true)))
      assert.strictEqual((yield* call(b!, true))._tag, "Success")
      yield* flush
      for (const r of [a!, b!, c!]) assert.strictEqual((yield* fleetState(r))?.state, "closed")
    })))

  it.effect("one process runs the probes one after another when nobody else calls", () =>
    Effect.scoped(Effect.gen(function*() {
      const [a, b] = yield* fleetOf(2, { ...probes, halfOpenProbes: 3 })
      yield* openAndSleep(a!, [a!, b!])
      for (let i = 0; i < 3; i++) {
        assert.isTrue(isShort(yield* call(a!, true)), `probe ${i + 1}: the lease is asked for`)
        yield* flush
        assert.strictEqual((yield* call(a!, true))._tag, "Success", `probe ${i + 1} runs`)
        yield* flush
        assert.strictEqual((yield* fleetState(b!))?.state, i < 2 ? "half-open" : "closed")
      }
    })))

  it.effect("any probe's failure reopens the fleet circuit, one opening more, after a success", () =>
    Effect.scoped(Effect.gen(function*() {
      const [a, b] = yield* fleetOf(2, { ...probes, sleepWindow: Schedule.exponential("1 second") })
      yield* openAndSleep(a!, [a!, b!])
      for (const r of [a!, b!]) assert.isTrue(isShort(yield* call(r, true)))
      yield* flush
      assert.strictEqual((yield* call(a!, true))._tag, "Success")
      yield* flush
      const failed = yield* call(b!, false)
      assert.isTrue(failed._tag === "Failure" && failed.failure instanceof Boom)
      yield* flush
      for (const r of [a!, b!]) {
        const fleet = yield* fleetState(r)
        assert.strictEqual(fleet?.state, "open")
        assert.strictEqual(fleet?.openings, 2)
      }
      // The second opening lasts 2 s.
      const result = yield* call(a!, true)
      assert.isTrue(isShort(result))
      assert.isAbove(Duration.toMillis((result as { failure: CircuitOpenError }).failure.retryAfter), 1900)
    })))

  it.effect("a lease whose holder never probes lapses, and its slot goes to another process", () =>
    Effect.scoped(Effect.gen(function*() {
      // The lease: 1 s timeout + 1 s.
      const [a, b] = yield* fleetOf(2, probes)
      yield* openAndSleep(a!, [a!, b!])
      // a wins one lease, then makes no call; b wins the other, succeeds, and then waits for a slot.
      for (const r of [a!, b!]) assert.isTrue(isShort(yield* call(r, true)))
      yield* flush
      assert.strictEqual((yield* call(b!, true))._tag, "Success")
      yield* flush
      assert.isTrue(isShort(yield* call(b!, true)))
      yield* flush
      assert.strictEqual((yield* fleetState(b!))?.state, "half-open")
      // a's lease runs out: b takes the freed slot, and its success is the second.
      yield* TestClock.adjust("2 seconds")
      assert.isTrue(isShort(yield* call(b!, true)))
      yield* flush
      // a's lease has lapsed: its call is no probe now (the slot is b's).
      assert.isTrue(isShort(yield* call(a!, true)))
      assert.strictEqual((yield* call(b!, true))._tag, "Success")
      yield* flush
      for (const r of [a!, b!]) assert.strictEqual((yield* fleetState(r))?.state, "closed")
    })))
})

describe("fleet circuits refuse the controls the store cannot share", () => {
  for (const [field, input] of refused) {
    it.effect(`${field}: refused in the defaults, in a circuit's settings and by configure; kept by local circuits`, () =>
      Effect.scoped(Effect.gen(function*() {
        const inDefaults = configError(yield* Effect.exit(registry({ defaults: input, metrics: false })))
        assert.strictEqual(inDefaults.field, field)
        assert.isUndefined(inDefaults.circuit)
        assert.include(inDefaults.reason, "fleet circuits")

        const inCircuit = configError(
          yield* Effect.exit(registry({ circuits: { payments: input }, metrics: false }))
        )
        assert.strictEqual(inCircuit.field, field)
        assert.strictEqual(inCircuit.circuit, "payments")

        const shared = yield* registry({ metrics: false }, { local: ["audit"] })
        const before = yield* Circuit.snapshot("payments").pipe(Effect.provideService(CircuitRegistry, shared))
        const atRunTime = configError(
          yield* Effect.exit(Circuit.configure("payments", input).pipe(Effect.provideService(CircuitRegistry, shared)))
        )
        assert.strictEqual(atRunTime.field, field)
        assert.strictEqual(atRunTime.circuit, "payments")
        // Nothing half-applied.
        const after = yield* Circuit.snapshot("payments").pipe(Effect.provideService(CircuitRegistry, shared))
        assert.deepStrictEqual(after.config, before.config)

        // A local circuit keeps the control, in its settings and at run time.
        yield* registry({ circuits: { audit: input }, metrics: false }, { local: ["audit"] })
        yield* Circuit.configure("audit", input).pipe(Effect.provideService(CircuitRegistry, shared))
        // Without a store, nothing is refused.
        yield* makeRegistry({ defaults: input, metrics: false })
      })))
  }

  it.effect("the controls the store shares are accepted", () =>
    Effect.scoped(Effect.gen(function*() {
      const shared = yield* registry({
        defaults: { consecutiveFailures: 5, slowCallDuration: "2 seconds", backoffReset: "stable" },
        metrics: false
      })
      yield* Circuit.configure("payments", { slowCallPercentThreshold: 50, halfOpenProbes: 3 }).pipe(
        Effect.provideService(CircuitRegistry, shared)
      )
    })))
})

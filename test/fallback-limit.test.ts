/**
 * `maxConcurrentFallbacks` (Hystrix's fallback isolation semaphore) through
 * the settings, both shells and what observers see, on the TestClock. The
 * property that running fallbacks never exceed the limit, whatever the
 * interleaving, is in property-tests/fallback-limit.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, ConfigProvider, Data, Deferred, Duration, Effect, Exit, Fiber, Metric, Tracer } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import {
  Circuit,
  CircuitConfig,
  CircuitFallbackRejectedError,
  CircuitOpenError,
  type CircuitConfigInput,
  CircuitRegistry,
  type EventKind,
  HystrixStream,
  withCircuit
} from "../src/index.ts"
import { CircuitClock, CircuitPromise } from "../src/promise/index.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}

const base: CircuitConfigInput = { requestVolumeThreshold: 100, timeout: "infinity" }
const withRegistry = (settings: CircuitConfigInput, metrics = false) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.provide(CircuitRegistry.layer({ defaults: { ...base, ...settings }, metrics })),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )
const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)

// The events the registry publishes, as they happen.
const recordEvents = Effect.gen(function*() {
  const registry = yield* CircuitRegistry
  const seen: Array<EventKind> = []
  registry.observe({ event: (_cell, kind) => seen.push(kind) })
  return seen
})

// A failing call whose fallback waits for `gate`.
const blocked = (gate: Deferred.Deferred<string>) =>
  Effect.fail(new Boom()).pipe(withCircuit("c", { fallback: () => Deferred.await(gate) }))

const rejectedOf = (exit: Exit.Exit<unknown, unknown>): CircuitFallbackRejectedError | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const defect = exit.cause.reasons.find(Cause.isDieReason)?.defect
  return defect instanceof CircuitFallbackRejectedError ? defect : undefined
}

describe("maxConcurrentFallbacks: settings", () => {
  it("is off by default, and decodes an integer ≥ 1 or Infinity", () => {
    const decoded = (input: unknown) => {
      const exit = CircuitConfig.decode(input)
      return Exit.isSuccess(exit) ? exit.value.maxConcurrentFallbacks : undefined
    }
    assert.strictEqual(CircuitConfig.defaults.maxConcurrentFallbacks, Infinity)
    assert.strictEqual(decoded({}), Infinity)
    assert.strictEqual(decoded({ maxConcurrentFallbacks: 3 }), 3)
    assert.strictEqual(decoded({ maxConcurrentFallbacks: Infinity }), Infinity)
  })

  it("refuses anything else with a CircuitConfigError naming the field", () => {
    for (const bad of [0, -1, 1.5, NaN, -Infinity, "3", null]) {
      const exit = CircuitConfig.decode({ maxConcurrentFallbacks: bad })
      assert.isTrue(Exit.isFailure(exit), `${String(bad)} is refused`)
      const error = Cause.squash((exit as Exit.Failure<never, unknown>).cause) as { field: string; reason: string }
      assert.strictEqual(error.field, "maxConcurrentFallbacks")
      assert.include(error.reason, "must be an integer ≥ 1 or Infinity")
    }
  })

  it.effect("reads MAX_CONCURRENT_FALLBACKS from the environment", () =>
    Effect.gen(function*() {
      const read = (env: Record<string, string>) =>
        CircuitConfig.configForCircuit("c").parse(ConfigProvider.fromEnv({ env })).pipe(
          Effect.flatMap((input) => CircuitConfig.decodeEffect(input, { circuit: "c" })),
          Effect.map((config) => config.maxConcurrentFallbacks)
        )
      assert.strictEqual(yield* read({ CIRCUIT_C_MAX_CONCURRENT_FALLBACKS: "4" }), 4)
      assert.strictEqual(yield* read({ CIRCUIT_C_MAX_CONCURRENT_FALLBACKS: "Infinity" }), Infinity)
      assert.strictEqual(yield* read({}), Infinity)
      const bad = yield* Effect.flip(read({ CIRCUIT_C_MAX_CONCURRENT_FALLBACKS: "0" }))
      assert.strictEqual((bad as { field: string }).field, "maxConcurrentFallbacks")
    }))

  it.effect("Circuit.configure changes it at run time; a bad value changes nothing", () =>
    Effect.gen(function*() {
      yield* Effect.succeed(1).pipe(withCircuit("c"))
      assert.deepStrictEqual((yield* Circuit.snapshot("c")).fallbacks, { active: 0, max: Infinity })
      yield* Circuit.configure("c", { maxConcurrentFallbacks: 2 })
      assert.deepStrictEqual((yield* Circuit.snapshot("c")).fallbacks, { active: 0, max: 2 })
      const error = yield* Effect.flip(Circuit.configure("c", { maxConcurrentFallbacks: 0, timeout: "5 seconds" }))
      assert.strictEqual(error.field, "maxConcurrentFallbacks")
      const snapshot = yield* Circuit.snapshot("c")
      assert.strictEqual(snapshot.fallbacks.max, 2)
      assert.isFalse(Duration.isFinite(snapshot.config.timeout), "the other field of the refused input was not applied")
    }).pipe(withRegistry({})))
})

describe("maxConcurrentFallbacks: withCircuit", () => {
  it.effect("past the limit the fallback never runs: fallback-rejected, and the call dies holding its error", () =>
    Effect.gen(function*() {
      const events = yield* recordEvents
      const gate = yield* Deferred.make<string>()
      const a = yield* Effect.forkChild(blocked(gate))
      const b = yield* Effect.forkChild(blocked(gate))
      yield* settle
      assert.deepStrictEqual((yield* Circuit.snapshot("c")).fallbacks, { active: 2, max: 2 })
      let ran = false
      const exit = yield* Effect.exit(Effect.fail(new Boom()).pipe(withCircuit("c", {
        fallback: () => Effect.sync(() => (ran = true))
      })))
      assert.isFalse(ran, "the third fallback never ran")
      const rejected = rejectedOf(exit)
      assert.isDefined(rejected)
      assert.strictEqual(rejected!.circuit, "c")
      assert.strictEqual(rejected!.maxConcurrentFallbacks, 2)
      assert.instanceOf(rejected!.error, Boom, "it holds the error the fallback would have been given")
      assert.deepStrictEqual(events.filter((k) => k.startsWith("fallback")), ["fallback-rejected"])
      yield* Deferred.succeed(gate, "cached")
      assert.strictEqual(yield* Fiber.join(a), "cached")
      assert.strictEqual(yield* Fiber.join(b), "cached")
      assert.deepStrictEqual((yield* Circuit.snapshot("c")).fallbacks, { active: 0, max: 2 })
      assert.deepStrictEqual(events.filter((k) => k.startsWith("fallback")), [
        "fallback-rejected",
        "fallback-success",
        "fallback-success"
      ])
    }).pipe(withRegistry({ maxConcurrentFallbacks: 2 })))

  it.effect("short-circuits and the circuit's errors are refused alike, their error held as it is", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<string>()
      const a = yield* Effect.forkChild(blocked(gate))
      yield* settle
      yield* Circuit.forceOpen("c")
      const exit = yield* Effect.exit(Effect.succeed("x").pipe(withCircuit("c", { fallback: () => Effect.succeed("y") })))
      assert.instanceOf(rejectedOf(exit)?.error, CircuitOpenError)
      yield* Deferred.succeed(gate, "ok")
      yield* Fiber.join(a)
      assert.strictEqual(
        yield* Effect.succeed("x").pipe(withCircuit("c", { fallback: () => Effect.succeed("y") })),
        "y",
        "a permit is free again"
      )
    }).pipe(withRegistry({ maxConcurrentFallbacks: 1 })))

  it.effect("the permit comes back however the fallback ends: failure, defect, interruption", () =>
    Effect.gen(function*() {
      const active = Effect.map(Circuit.snapshot("c"), (s) => s.fallbacks.active)
      const gate = yield* Deferred.make<void>()
      const failing = Effect.fail(new Boom()).pipe(
        withCircuit("c", { fallback: () => Effect.andThen(Deferred.await(gate), Effect.fail("nope")) })
      )
      const dying = Effect.fail(new Boom()).pipe(
        withCircuit("c", { fallback: () => Effect.andThen(Deferred.await(gate), Effect.die("bug")) })
      )
      const f1 = yield* Effect.forkChild(failing)
      const f2 = yield* Effect.forkChild(dying)
      const f3 = yield* Effect.forkChild(blocked(yield* Deferred.make<string>()))
      yield* settle
      assert.strictEqual(yield* active, 3)
      yield* Fiber.interrupt(f3)
      assert.strictEqual(yield* active, 2, "interrupted while its fallback ran")
      yield* Deferred.succeed(gate, undefined)
      const e1 = yield* Fiber.await(f1)
      const e2 = yield* Fiber.await(f2)
      assert.isTrue(Exit.isFailure(e1) && Exit.isFailure(e2))
      assert.strictEqual(yield* active, 0)
    }).pipe(withRegistry({ maxConcurrentFallbacks: 3 })))

  it.effect("with the limit off nothing is counted; a limit set at run time counts the fallbacks started after it", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<string>()
      const a = yield* Effect.forkChild(blocked(gate))
      yield* settle
      assert.deepStrictEqual((yield* Circuit.snapshot("c")).fallbacks, { active: 0, max: Infinity })
      yield* Circuit.configure("c", { maxConcurrentFallbacks: 1 })
      const b = yield* Effect.forkChild(blocked(gate))
      yield* settle
      assert.deepStrictEqual((yield* Circuit.snapshot("c")).fallbacks, { active: 1, max: 1 })
      assert.isDefined(rejectedOf(yield* Effect.exit(blocked(gate))))
      yield* Circuit.configure("c", { maxConcurrentFallbacks: Infinity })
      yield* Deferred.succeed(gate, "ok")
      yield* Fiber.join(a)
      yield* Fiber.join(b)
      assert.deepStrictEqual((yield* Circuit.snapshot("c")).fallbacks, { active: 0, max: Infinity }, "the counted one gave its permit back")
    }).pipe(withRegistry({})))
})

describe("maxConcurrentFallbacks: observers", () => {
  const parse = (text: string) =>
    new Map(
      text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).map((l) => {
        const at = l.lastIndexOf(" ")
        return [l.slice(0, at), Number(l.slice(at + 1))] as const
      })
    )
  const rejectedSeries = `effect_circuit_events_total{circuit="c",event="fallback-rejected"}`

  it.effect("metrics: the fallback-rejected series is there from the first call, at 0, for a circuit with a limit", () =>
    Effect.gen(function*() {
      yield* Effect.succeed(1).pipe(withCircuit("c"))
      assert.strictEqual(parse(yield* PrometheusMetrics.format()).get(rejectedSeries), 0)
      const gate = yield* Deferred.make<string>()
      const a = yield* Effect.forkChild(blocked(gate))
      yield* settle
      yield* Effect.exit(blocked(gate))
      yield* Effect.exit(blocked(gate))
      assert.strictEqual(parse(yield* PrometheusMetrics.format()).get(rejectedSeries), 2)
      yield* Deferred.succeed(gate, "ok")
      yield* Fiber.join(a)
    }).pipe(withRegistry({ maxConcurrentFallbacks: 1 }, true)))

  it.effect("metrics: no fallback-rejected series for a circuit without a limit (the default)", () =>
    Effect.gen(function*() {
      yield* Effect.succeed(1).pipe(withCircuit("c"))
      const series = parse(yield* PrometheusMetrics.format())
      assert.strictEqual(series.get(`effect_circuit_events_total{circuit="c",event="fallback-failure"}`), 0)
      assert.isFalse(series.has(rejectedSeries))
    }).pipe(withRegistry({}, true)))

  it.effect("Hystrix stream: rollingCountFallbackRejection over the window, and the limit as its property", () =>
    Effect.gen(function*() {
      const registry = yield* CircuitRegistry
      const command = () =>
        Effect.clockWith((clock) => Effect.succeed(HystrixStream.commandOf(registry.lookup("c")!, clock.currentTimeMillisUnsafe())))
      yield* Effect.succeed(1).pipe(withCircuit("c"))
      assert.strictEqual((yield* command()).propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests, 2147483647)
      assert.strictEqual((yield* command()).rollingCountFallbackRejection, 0)
      yield* Circuit.configure("c", { maxConcurrentFallbacks: 1 })
      assert.strictEqual((yield* command()).propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests, 1)
      const gate = yield* Deferred.make<string>()
      const a = yield* Effect.forkChild(blocked(gate))
      yield* settle
      yield* Effect.exit(blocked(gate))
      yield* Effect.exit(blocked(gate))
      yield* Effect.exit(blocked(gate))
      assert.strictEqual((yield* command()).rollingCountFallbackRejection, 3)
      assert.strictEqual((yield* command()).rollingCountExceptionsThrown, 3, "each rejection reached its caller")
      yield* TestClock.adjust("10 seconds")
      assert.strictEqual((yield* command()).rollingCountFallbackRejection, 0, "they leave with the window")
      yield* Deferred.succeed(gate, "ok")
      yield* Fiber.join(a)
    }).pipe(withRegistry({}, true)))
})

describe("maxConcurrentFallbacks: CircuitPromise", () => {
  it("past the limit fire rejects with CircuitFallbackRejectedError holding fn's own error; permits come back", async () => {
    const circuits = CircuitPromise.make({ defaults: { ...base, maxConcurrentFallbacks: 1 }, clock: CircuitClock.manual(0) })
    const kinds: Array<string> = []
    circuits.subscribe({ event: (e) => kinds.push(e.kind) })
    let open!: (value: string) => void
    const first = circuits.fire("c", () => Promise.reject(new Boom()), {
      fallback: () => new Promise<string>((resolve) => (open = resolve))
    })
    await Promise.resolve()
    await Promise.resolve()
    assert.deepStrictEqual(circuits.snapshot("c").fallbacks, { active: 1, max: 1 })
    const boom = new Boom()
    let ran = false
    const second = await circuits.fire("c", () => Promise.reject(boom), { fallback: () => (ran = true) }).then(
      () => undefined,
      (error: unknown) => error
    )
    assert.isFalse(ran)
    assert.instanceOf(second, CircuitFallbackRejectedError)
    assert.strictEqual((second as CircuitFallbackRejectedError).error, boom, "the same object")
    open("cached")
    assert.strictEqual(await first, "cached")
    assert.strictEqual(circuits.snapshot("c").fallbacks.active, 0)
    // A throwing and a rejecting fallback give their permit back too.
    await circuits.fire("c", () => Promise.reject(new Boom()), { fallback: () => { throw new Error("sync") } }).catch(() => {})
    await circuits.fire("c", () => Promise.reject(new Boom()), { fallback: () => Promise.reject(new Error("async")) })
      .catch(() => {})
    assert.strictEqual(circuits.snapshot("c").fallbacks.active, 0)
    assert.deepStrictEqual(kinds.filter((k) => k.startsWith("fallback")), [
      "fallback-rejected",
      "fallback-success",
      "fallback-failure",
      "fallback-failure"
    ])
    circuits.close()
  })
})

describe("maxConcurrentFallbacks: tracing", () => {
  it.effect("a rejected fallback: the call's span says circuit.fallback rejected, and no fallback span is started", () => {
    const spans: Array<Tracer.NativeSpan> = []
    const tracer = Tracer.make({
      span(options) {
        const span = new Tracer.NativeSpan(options)
        spans.push(span)
        return span
      }
    })
    return Effect.gen(function*() {
      const gate = yield* Deferred.make<string>()
      const a = yield* Effect.forkChild(blocked(gate))
      yield* settle
      const exit = yield* Effect.exit(blocked(gate))
      assert.isDefined(rejectedOf(exit))
      yield* Deferred.succeed(gate, "ok")
      yield* Fiber.join(a)
      const calls = spans.filter((s) => s.name === "circuit c").map((s) => Object.fromEntries(s.attributes))
      assert.deepStrictEqual(calls.map((attrs) => [attrs["circuit.outcome"], attrs["circuit.fallback"]]), [
        ["failure", "success"],
        ["failure", "rejected"]
      ])
      assert.strictEqual(spans.filter((s) => s.name === "circuit c fallback").length, 1, "only the fallback that ran")
    }).pipe(withRegistry({ maxConcurrentFallbacks: 1 }), Effect.withTracer(tracer))
  })
})

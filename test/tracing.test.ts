/**
 * Tracing (issue 14, item 7): a guarded call is a span when a tracer is
 * installed, carrying the circuit, its state and admission at the start, the
 * outcome and the fallback; nothing without a tracer, or when turned off.
 */
import { assert, describe, it } from "@effect/vitest"
import { Data, Deferred, Effect, Exit, Fiber, Layer, Option, References, Tracer } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitConfigError, CircuitRegistry, type CircuitRegistryOptions, withCircuit } from "../src/index.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}

const collector = () => {
  const spans: Array<Tracer.NativeSpan> = []
  const tracer = Tracer.make({
    span(options) {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })
  const named = (name: string) => spans.filter((s) => s.name === name)
  const one = (name: string) => {
    const found = named(name)
    assert.strictEqual(found.length, 1, `one span named ${name}, got ${spans.map((s) => s.name).join(", ")}`)
    return found[0]!
  }
  return { spans, tracer, named, one }
}

const attrs = (span: Tracer.NativeSpan) => Object.fromEntries(span.attributes)
const exitOf = (span: Tracer.NativeSpan) => {
  assert.strictEqual(span.status._tag, "Ended", `span ${span.name} ended`)
  return (span.status as Extract<Tracer.SpanStatus, { _tag: "Ended" }>).exit
}
const parentOf = (span: Tracer.NativeSpan) => Option.getOrUndefined(span.parent)

const settings = { requestVolumeThreshold: 2, errorPercentThreshold: 50, sleepWindow: "5 seconds", timeout: "1 second" } as const
const registry = (options: CircuitRegistryOptions = {}) =>
  Layer.orDie(CircuitRegistry.layer({ defaults: { ...settings, maxConcurrentRequests: 1 }, ...options }))
const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)

const traced = <A, E>(effect: Effect.Effect<A, E, CircuitRegistry>, options: CircuitRegistryOptions = {}) => {
  const c = collector()
  return {
    c,
    run: effect.pipe(Effect.provide(registry(options)), Effect.withTracer(c.tracer))
  }
}

describe("tracing", () => {
  it.effect("a call is a span under the caller's span, and the effect's own spans are its children", () => {
    const { c, run } = traced(
      Effect.succeed(1).pipe(Effect.withSpan("work"), withCircuit("a"), Effect.withSpan("caller"))
    )
    return Effect.gen(function*() {
      assert.strictEqual(yield* run, 1)
      const call = c.one("circuit a")
      assert.deepStrictEqual(attrs(call), {
        "circuit.name": "a",
        "circuit.state": "closed",
        "circuit.admission": "allow",
        "circuit.open": false,
        "circuit.outcome": "success",
        "circuit.fallback": "none"
      })
      assert.strictEqual(parentOf(call), c.one("caller"))
      assert.strictEqual(parentOf(c.one("work")), call)
      assert.isTrue(Exit.isSuccess(exitOf(call)))
    })
  })

  it.effect("a failure served by a fallback: outcome failure, the fallback in a child span, the call succeeds", () => {
    const { c, run } = traced(Effect.gen(function*() {
      const value = yield* Effect.fail(new Boom()).pipe(
        withCircuit("a", { fallback: () => Effect.succeed("fb").pipe(Effect.withSpan("inside-fallback")) })
      )
      // Recorded once, as without tracing.
      const snap = yield* Circuit.snapshot("a")
      return { value, failures: snap.window.failure, fallbacks: snap.window.fallbackSuccess }
    }))
    return Effect.gen(function*() {
      assert.deepStrictEqual(yield* run, { value: "fb", failures: 1, fallbacks: 1 })
      const call = c.one("circuit a")
      assert.strictEqual(attrs(call)["circuit.outcome"], "failure")
      assert.strictEqual(attrs(call)["circuit.fallback"], "success")
      assert.isTrue(Exit.isSuccess(exitOf(call)))
      const fallback = c.one("circuit a fallback")
      assert.strictEqual(parentOf(fallback), call)
      assert.strictEqual(attrs(fallback)["circuit.fallback.reason"], "failure")
      assert.strictEqual(parentOf(c.one("inside-fallback")), fallback)
    })
  })

  it.effect("a failing fallback: fallback failure, the call's span ends failed", () => {
    const { c, run } = traced(
      Effect.fail(new Boom()).pipe(withCircuit("a", { fallback: () => Effect.fail("nope") }), Effect.exit)
    )
    return Effect.gen(function*() {
      assert.isTrue(Exit.isFailure(yield* run))
      const call = c.one("circuit a")
      assert.strictEqual(attrs(call)["circuit.fallback"], "failure")
      assert.isTrue(Exit.isFailure(exitOf(call)))
      assert.isTrue(Exit.isFailure(exitOf(c.one("circuit a fallback"))))
    })
  })

  it.effect("an open circuit: state and admission at the start, short-circuited, then the probe", () => {
    const { c, run } = traced(Effect.gen(function*() {
      const fail = Effect.fail(new Boom()).pipe(withCircuit("a"), Effect.flip)
      yield* fail
      yield* fail
      yield* Effect.succeed(1).pipe(withCircuit("a"), Effect.flip)
      yield* TestClock.adjust("5 seconds")
      yield* Effect.succeed(1).pipe(withCircuit("a"))
    }))
    return Effect.gen(function*() {
      yield* run
      const calls = c.named("circuit a").map(attrs)
      assert.strictEqual(calls.length, 4)
      assert.deepStrictEqual(calls.map((a) => a["circuit.outcome"]), ["failure", "failure", "short-circuited", "success"])
      assert.deepStrictEqual(calls.map((a) => a["circuit.state"]), ["closed", "closed", "open", "open"])
      assert.deepStrictEqual(calls.map((a) => a["circuit.admission"]), ["allow", "allow", "short-circuit", "probe"])
      assert.deepStrictEqual(calls.map((a) => a["circuit.open"]), [false, false, true, false])
    })
  })

  it.effect("a forced-open circuit with a fallback: short-circuited, fallback success", () => {
    const { c, run } = traced(Effect.gen(function*() {
      yield* Circuit.forceOpen("a")
      return yield* Effect.succeed(1).pipe(withCircuit("a", { fallback: () => Effect.succeed(0) }))
    }))
    return Effect.gen(function*() {
      assert.strictEqual(yield* run, 0)
      const a = attrs(c.one("circuit a"))
      assert.strictEqual(a["circuit.state"], "forced-open")
      assert.strictEqual(a["circuit.outcome"], "short-circuited")
      assert.strictEqual(a["circuit.fallback"], "success")
      assert.strictEqual(attrs(c.one("circuit a fallback"))["circuit.fallback.reason"], "short-circuited")
    })
  })

  it.effect("timeout, rejected and interrupted calls (TestClock)", () => {
    const { c, run } = traced(Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const slow = yield* Effect.forkChild(Deferred.await(gate).pipe(withCircuit("a"), Effect.exit))
      yield* settle
      // The only permit is taken.
      yield* Effect.succeed(1).pipe(withCircuit("a"), Effect.flip)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(slow)
      const waiting = yield* Effect.forkChild(Deferred.await(gate).pipe(withCircuit("b")))
      yield* settle
      yield* Fiber.interrupt(waiting)
    }))
    return Effect.gen(function*() {
      yield* run
      assert.deepStrictEqual(c.named("circuit a").map((s) => attrs(s)["circuit.outcome"]).sort(), ["rejected", "timeout"])
      assert.strictEqual(attrs(c.one("circuit b"))["circuit.outcome"], "interrupted")
    })
  })

  it.effect("an error isFailure rejects: ignored", () => {
    const { c, run } = traced(Effect.fail(new Boom()).pipe(withCircuit("a", { isFailure: () => false }), Effect.flip))
    return Effect.gen(function*() {
      yield* run
      assert.strictEqual(attrs(c.one("circuit a"))["circuit.outcome"], "ignored")
    })
  })

  it.effect("off: registry option, a call's option, TracerEnabled false; a call's option overrides the registry", () => {
    const off = traced(Effect.succeed(1).pipe(withCircuit("a"), Effect.withSpan("caller")), { tracing: false })
    const perCall = traced(Effect.succeed(1).pipe(withCircuit("a", { trace: false }), Effect.withSpan("caller")))
    const overrides = traced(Effect.succeed(1).pipe(withCircuit("a", { trace: true })), { tracing: false })
    const disabled = collector()
    return Effect.gen(function*() {
      yield* off.run
      yield* perCall.run
      yield* overrides.run
      yield* Effect.succeed(1).pipe(
        withCircuit("a"),
        Effect.provide(registry()),
        Effect.withTracer(disabled.tracer),
        Effect.provideService(References.TracerEnabled, false)
      )
      assert.deepStrictEqual(off.c.spans.map((s) => s.name), ["caller"])
      assert.deepStrictEqual(perCall.c.spans.map((s) => s.name), ["caller"])
      assert.deepStrictEqual(overrides.c.spans.map((s) => s.name), ["circuit a"])
      assert.deepStrictEqual(disabled.spans, [])
    })
  })

  it.effect("one guarded effect run with and without a tracer: each context decides", () => {
    const c = collector()
    const guarded = Effect.succeed(1).pipe(withCircuit("a"))
    return Effect.gen(function*() {
      yield* guarded
      yield* Effect.withTracer(guarded, c.tracer)
      yield* guarded
      yield* Effect.withTracer(guarded, c.tracer)
      assert.strictEqual(c.named("circuit a").length, 2)
      assert.strictEqual((yield* Circuit.snapshot("a")).window.success, 4)
    }).pipe(Effect.provide(registry()))
  })

  it.effect("a tracing setting that is not a boolean is a CircuitConfigError naming it", () =>
    Effect.gen(function*() {
      const error = yield* Layer.build(CircuitRegistry.layer({ tracing: "yes" as unknown as boolean })).pipe(
        Effect.scoped,
        Effect.flip
      )
      assert.instanceOf(error, CircuitConfigError)
      assert.strictEqual(error.field, "tracing")
    }))
})

import { assert, describe, it } from "@effect/vitest"
import { Cause, Data, Duration, Effect, Exit, Fiber, Layer, Option, Scope, Tracer } from "effect"
import { TestClock } from "effect/testing"
import {
  Circuit,
  CircuitBadRequest,
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

class Boom extends Data.TaggedError("Boom")<{ readonly retry?: number }> {}

const settings: CircuitConfigInput = {
  requestVolumeThreshold: 2,
  errorPercentThreshold: 50,
  sleepWindow: "5 seconds",
  timeout: "1 second",
  maxConcurrentRequests: 2
}
const withRegistry = (defaults: CircuitConfigInput = settings) => Effect.provide(CircuitRegistry.layer({ defaults }))

// Every event kind the registry emits for circuit "c", in order.
const recordEvents = Effect.gen(function*() {
  const registry = yield* Effect.service(RegistryKey)
  const kinds: Array<EventKind> = []
  const stop = registry.observe({ event: (_cell, kind) => kinds.push(kind) })
  yield* Effect.addFinalizer(() => Effect.sync(stop))
  return kinds
})

const active = Effect.map(Circuit.snapshot("c"), (s) => s.concurrency.active)

describe("Circuit.admit (two-step calls)", () => {
  it.effect("a success is recorded once, gives the permit back, and a second report says false", () =>
    Effect.gen(function*() {
      const kinds = yield* recordEvents
      const permit = yield* Circuit.admit("c")
      assert.strictEqual(yield* active, 1)
      yield* TestClock.adjust("300 millis")
      assert.isTrue(yield* permit.success)
      assert.strictEqual(yield* active, 0)
      assert.isFalse(yield* permit.success)
      assert.isFalse(yield* permit.failure(new Boom({})))
      assert.deepStrictEqual(kinds, ["success"])
      assert.deepStrictEqual(yield* permit.outcome, Option.some("success"))
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.window.success, 1)
      assert.strictEqual(snap.window.total, 1)
    }).pipe(Effect.scoped, withRegistry()))

  it.effect("failures trip the circuit like withCircuit's, and an open circuit refuses admission", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 2; i++) {
        const permit = yield* Circuit.admit<Boom>("c")
        assert.isTrue(yield* permit.failure(new Boom({})))
      }
      assert.strictEqual((yield* Circuit.snapshot("c")).state, "open")
      const refused = yield* Effect.flip(Circuit.admit("c"))
      assert.instanceOf(refused, CircuitOpenError)
      // The probe: one permit, then short-circuits while it is out.
      yield* TestClock.adjust("5 seconds")
      const probe = yield* Circuit.admit("c")
      assert.instanceOf(yield* Effect.flip(Circuit.admit("c")), CircuitOpenError)
      yield* probe.success
      assert.strictEqual((yield* Circuit.snapshot("c")).state, "closed")
    }).pipe(Effect.scoped, withRegistry()))

  it.effect("isFailure, bad requests and retryAfter classify a reported failure as withCircuit does", () =>
    Effect.gen(function*() {
      const kinds = yield* recordEvents
      const options = {
        isFailure: (failure: unknown) => !(failure instanceof Boom && failure.retry === 0),
        retryAfter: (error: Boom) => error.retry === undefined ? undefined : Duration.seconds(error.retry)
      }
      const a = yield* Circuit.admit<Boom>("c", options)
      yield* a.failure(new Boom({ retry: 0 }))
      const b = yield* Circuit.admit("c", options)
      yield* b.report(Exit.fail(new CircuitBadRequest({ error: "bad" }) as unknown as Boom))
      assert.deepStrictEqual(kinds, ["ignored", "ignored"])
      const c = yield* Circuit.admit<Boom>("c", options)
      yield* c.failure(new Boom({ retry: 60 }))
      const d = yield* Circuit.admit<Boom>("c", options)
      yield* d.failure(new Boom({ retry: 60 }))
      const error = yield* Effect.flip(Circuit.admit("c"))
      assert.instanceOf(error, CircuitOpenError)
      assert.strictEqual(Duration.toMillis((error as CircuitOpenError).retryAfter), 60_000, "Retry-After lengthens the opening")
      // A classifier that throws counts the call as failed, and the report dies with the throw.
      yield* Circuit.reset("c")
      const e = yield* Circuit.admit("c", {
        isFailure: () => {
          throw new Error("classifier")
        }
      })
      const exit = yield* Effect.exit(e.failure("x"))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      assert.strictEqual((yield* Circuit.snapshot("c")).window.failure, 1)
    }).pipe(Effect.scoped, withRegistry()))

  it.effect("report(exit) records success, interruption and defects", () =>
    Effect.gen(function*() {
      const kinds = yield* recordEvents
      yield* (yield* Circuit.admit("c")).report(Exit.succeed(1))
      yield* (yield* Circuit.admit("c")).report(Exit.interrupt())
      yield* (yield* Circuit.admit("c")).report(Exit.die("bug"))
      yield* (yield* Circuit.admit("c")).ignore
      assert.deepStrictEqual(kinds, ["success", "interrupted", "failure", "ignored"])
    }).pipe(Effect.scoped, withRegistry({ ...settings, requestVolumeThreshold: 100 })))

  it.effect("the permit counts against maxConcurrentRequests, with withCircuit's calls", () =>
    Effect.gen(function*() {
      const a = yield* Circuit.admit("c")
      const b = yield* Circuit.admit("c")
      assert.instanceOf(yield* Effect.flip(Circuit.admit("c")), CircuitRejectedError)
      assert.instanceOf(yield* Effect.flip(Effect.succeed(1).pipe(withCircuit("c"))), CircuitRejectedError)
      yield* a.success
      assert.strictEqual(yield* Effect.succeed(1).pipe(withCircuit("c")), 1)
      yield* b.success
    }).pipe(Effect.scoped, withRegistry({ ...settings, requestVolumeThreshold: 100 })))

  it.effect("at the timeout: `timeout` recorded, expired fails, signal aborts; the permit is held until the report", () =>
    Effect.gen(function*() {
      const kinds = yield* recordEvents
      const permit = yield* Circuit.admit("c")
      const waiting = yield* Effect.forkChild(Effect.flip(permit.expired))
      const signal = permit.signal
      yield* TestClock.adjust("999 millis")
      assert.isFalse(signal.aborted)
      assert.deepStrictEqual(kinds, [])
      yield* TestClock.adjust("1 millis")
      assert.deepStrictEqual(kinds, ["timeout"])
      assert.instanceOf(yield* Fiber.join(waiting), CircuitTimeoutError)
      assert.isTrue(signal.aborted)
      assert.instanceOf(signal.reason, CircuitTimeoutError)
      assert.strictEqual(yield* active, 1, "still running work keeps its permit")
      assert.isFalse(yield* permit.success, "a report after the timeout changes nothing")
      assert.strictEqual(yield* active, 0)
      assert.deepStrictEqual(kinds, ["timeout"])
      assert.strictEqual((yield* Circuit.snapshot("c")).window.timeout, 1)
      // expired after the fact fails at once.
      assert.instanceOf(yield* Effect.flip(permit.expired), CircuitTimeoutError)
    }).pipe(Effect.scoped, withRegistry()))

  it.effect("racing work against expired stops it at the deadline", () =>
    Effect.gen(function*() {
      const permit = yield* Circuit.admit("c")
      const fiber = yield* Effect.forkChild(Effect.sleep("10 seconds").pipe(
        Effect.raceFirst(permit.expired),
        Effect.onExit(permit.report),
        Effect.flip
      ))
      yield* TestClock.adjust("1 second")
      assert.instanceOf(yield* Fiber.join(fiber), CircuitTimeoutError)
      assert.strictEqual(yield* active, 0)
      assert.strictEqual((yield* Circuit.snapshot("c")).window.timeout, 1)
    }).pipe(Effect.scoped, withRegistry()))

  it.effect("a permit never reported is recorded by its scope's Exit", () =>
    Effect.gen(function*() {
      const kinds = yield* recordEvents
      const inScope = (exit: Exit.Exit<unknown, unknown>) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const permit = yield* Circuit.admit("c").pipe(Scope.provide(scope))
          const signal = permit.signal
          assert.strictEqual(yield* active, 1)
          yield* Scope.close(scope, exit)
          assert.strictEqual(yield* active, 0)
          assert.isTrue(signal.aborted, "the work is told to stop")
          return yield* permit.outcome
        })
      assert.deepStrictEqual(yield* inScope(Exit.interrupt()), Option.some("interrupted"))
      assert.deepStrictEqual(yield* inScope(Exit.fail(new Boom({}))), Option.some("failure"))
      assert.deepStrictEqual(yield* inScope(Exit.die("bug")), Option.some("failure"))
      assert.deepStrictEqual(yield* inScope(Exit.void), Option.some("ignored"))
      assert.deepStrictEqual(kinds, ["interrupted", "failure", "failure", "ignored"])
    }).pipe(Effect.scoped, withRegistry({ ...settings, requestVolumeThreshold: 100 })))

  it.effect("an interrupted fiber's scope records `interrupted` and frees the permit", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(Effect.scoped(Effect.andThen(Circuit.admit("c"), Effect.never)))
      yield* Effect.yieldNow
      assert.strictEqual(yield* active, 1)
      yield* Fiber.interrupt(fiber)
      assert.strictEqual(yield* active, 0)
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.window.total, 0, "an interruption is not a request")
    }).pipe(withRegistry()))

  it.effect("reported permits leave nothing in a long-lived scope", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      for (let i = 0; i < 100; i++) {
        const permit = yield* Circuit.admit("c").pipe(Scope.provide(scope))
        yield* permit.success
      }
      assert.strictEqual(scope.state._tag, "Empty")
      yield* Scope.close(scope, Exit.void)
    }).pipe(withRegistry({ ...settings, maxConcurrentRequests: 1 })))

  it.effect("closing the registry answers outstanding permits: interrupted, permit back, expired interrupted", () =>
    Effect.gen(function*() {
      const registryScope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(CircuitRegistry.layer({ defaults: settings }), registryScope)
      const registry = yield* Effect.service(RegistryKey).pipe(Effect.provideContext(context))
      const kinds: Array<EventKind> = []
      registry.observe({ event: (_cell, kind) => kinds.push(kind) })
      const timedOut = yield* Circuit.admit("c").pipe(Effect.provideContext(context))
      yield* TestClock.adjust("600 millis")
      const permit = yield* Circuit.admit("c").pipe(Effect.provideContext(context))
      const waiting = yield* Effect.forkChild(Effect.exit(permit.expired))
      const signal = permit.signal
      yield* TestClock.adjust("400 millis")
      assert.deepStrictEqual(kinds, ["timeout"])
      const cell = registry.cell("c", 0)
      assert.strictEqual(cell.active, 2, "the timed-out permit is still held")
      yield* Scope.close(registryScope, Exit.void)
      assert.strictEqual(cell.active, 0, "every permit is back")
      assert.deepStrictEqual(kinds, ["timeout", "interrupted"], "one outcome each")
      assert.isTrue(signal.aborted)
      const expired = yield* Fiber.join(waiting)
      assert.isTrue(Exit.isFailure(expired) && Cause.hasInterruptsOnly(expired.cause))
      assert.isFalse(yield* permit.success)
      assert.isFalse(yield* timedOut.success)
      assert.strictEqual(cell.active, 0)
      assert.instanceOf(
        yield* Effect.flip(Circuit.admit("c").pipe(Effect.provideContext(context))),
        CircuitRegistryClosedError
      )
    }).pipe(Effect.scoped))

  it.effect("with a tracer, a two-step call is a span from admission to outcome, with withCircuit's attributes", () => {
    const spans: Array<Tracer.NativeSpan> = []
    const tracer = Tracer.make({
      span(options) {
        const span = new Tracer.NativeSpan(options)
        spans.push(span)
        return span
      }
    })
    const attrs = (span: Tracer.NativeSpan) => Object.fromEntries(span.attributes)
    const exitOf = (span: Tracer.NativeSpan) => (span.status as Extract<Tracer.SpanStatus, { _tag: "Ended" }>).exit
    return Effect.gen(function*() {
      const permit = yield* Circuit.admit("c").pipe(Effect.withSpan("caller"))
      assert.strictEqual(spans.length, 2)
      const span = spans.find((s) => s.name === "circuit c")!
      assert.strictEqual(span.status._tag, "Started", "open until the outcome")
      assert.strictEqual(Option.getOrUndefined(span.parent), spans.find((s) => s.name === "caller"))
      yield* TestClock.adjust("200 millis")
      yield* permit.success
      assert.deepStrictEqual(attrs(span), {
        "circuit.name": "c",
        "circuit.state": "closed",
        "circuit.admission": "allow",
        "circuit.open": false,
        "circuit.outcome": "success",
        "circuit.fallback": "none"
      })
      assert.isTrue(Exit.isSuccess(exitOf(span)))
      // A timeout, a refusal, and a call that asked for no span.
      yield* Circuit.admit("c")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(attrs(spans[2]!)["circuit.outcome"], "timeout")
      assert.isTrue(Exit.isFailure(exitOf(spans[2]!)))
      yield* Circuit.forceOpen("c")
      yield* Effect.flip(Circuit.admit("c"))
      assert.strictEqual(attrs(spans[3]!)["circuit.outcome"], "short-circuited")
      assert.strictEqual(attrs(spans[3]!)["circuit.open"], true)
      yield* Effect.flip(Circuit.admit("c", { trace: false }))
      assert.strictEqual(spans.length, 4)
    }).pipe(Effect.scoped, withRegistry(), Effect.withTracer(tracer))
  })

  it.effect("with a wait queue, a two-step admission waits behind the calls already waiting (test/permit-queue.test.ts)", () =>
    Effect.gen(function*() {
      const permit = yield* Circuit.admit("c")
      // A guarded call waits in the queue for the permit the two-step call holds.
      const waiter = yield* Effect.forkChild(Effect.succeed("served").pipe(withCircuit("c")))
      yield* Effect.yieldNow
      assert.strictEqual((yield* Circuit.snapshot("c")).queue.waiting, 1)
      // No barging: a second two-step admission waits behind it.
      const second = yield* Effect.forkChild(Effect.scoped(Effect.flatMap(Circuit.admit("c"), (p) => p.success)))
      yield* Effect.yieldNow
      assert.strictEqual((yield* Circuit.snapshot("c")).queue.waiting, 2)
      yield* TestClock.adjust("100 millis")
      assert.isTrue(yield* permit.success)
      assert.strictEqual(yield* Fiber.join(waiter), "served")
      assert.isTrue(yield* Fiber.join(second))
      assert.strictEqual(yield* active, 0)
      assert.strictEqual((yield* Circuit.snapshot("c")).window.success, 3)
    }).pipe(
      Effect.scoped,
      withRegistry({ ...settings, maxConcurrentRequests: 1, queueCapacity: 2, maxQueueWait: "1 second" })
    ))
})

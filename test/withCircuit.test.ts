import { assert, describe, it } from "@effect/vitest"
import { Cause, ConfigProvider, Data, Deferred, Duration, Effect, Exit, Fiber, Layer, Ref, Schedule, Stream } from "effect"
import { TestClock } from "effect/testing"
import {
  Circuit,
  CircuitFallbackError,
  CircuitOpenError,
  CircuitRegistry,
  type CircuitConfigInput,
  CircuitRejectedError,
  CircuitTimeoutError,
  withCircuit
} from "../src/index.ts"

class Boom extends Data.TaggedError("Boom")<{ readonly n?: number }> {}
class NotFound extends Data.TaggedError("NotFound")<{}> {}

// V = 2 requests, P = 50 %, S = 5 s, timeout 1 s unless a test says otherwise.
const settings: CircuitConfigInput = {
  requestVolumeThreshold: 2,
  errorPercentThreshold: 50,
  sleepWindow: "5 seconds",
  timeout: "1 second",
  maxConcurrentRequests: 2
}
const withRegistry = (defaults: CircuitConfigInput = settings) =>
  Effect.provide(CircuitRegistry.layer({ defaults }))

const fail = (name = "c") => Effect.fail(new Boom({})).pipe(withCircuit(name), Effect.flip)
const succeed = (name = "c") => Effect.succeed("ok").pipe(withCircuit(name))
const trip = (name = "c") => Effect.andThen(fail(name), fail(name))

// Lets forked fibers run up to their next suspension.
const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)

describe("withCircuit", () => {
  it.effect("runs the effect and returns its value on a closed circuit", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* succeed(), "ok")
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.state, "closed")
      assert.strictEqual(snap.window.success, 1)
      assert.strictEqual(snap.concurrency.active, 0)
      assert.isTrue(Object.isFrozen(snap) && Object.isFrozen(snap.window) && Object.isFrozen(snap.concurrency))
      yield* succeed()
      assert.strictEqual(snap.window.success, 1, "a snapshot taken earlier does not change")
    }).pipe(withRegistry()))

  it.effect("data-first form", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* withCircuit(Effect.succeed(3), "c"), 3)
    }).pipe(withRegistry()))

  // SPEC 4
  it.effect("an open circuit fails at once with CircuitOpenError and never runs the effect", () =>
    Effect.gen(function*() {
      yield* trip()
      yield* TestClock.adjust("2 seconds")
      const runs = yield* Ref.make(0)
      const error = yield* Ref.update(runs, (n) => n + 1).pipe(withCircuit("c"), Effect.flip)
      assert.instanceOf(error, CircuitOpenError)
      assert.strictEqual((error as CircuitOpenError).circuit, "c")
      assert.strictEqual((error as CircuitOpenError).state, "open")
      assert.strictEqual(Duration.toMillis((error as CircuitOpenError).retryAfter), 3000)
      assert.strictEqual(yield* Ref.get(runs), 0)
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.window.shortCircuited, 1)
      assert.strictEqual(snap.window.total, 2)
    }).pipe(withRegistry()))

  // SPEC 5
  it.effect("after the sleep window exactly one probe runs; others are short-circuited meanwhile", () =>
    Effect.gen(function*() {
      yield* trip()
      yield* TestClock.adjust("4999 millis")
      assert.instanceOf(yield* Effect.flip(succeed()), CircuitOpenError)
      yield* TestClock.adjust("1 millis")
      const gate = yield* Deferred.make<void>()
      const probe = yield* Deferred.await(gate).pipe(Effect.as("probe"), withCircuit("c"), Effect.forkChild)
      yield* settle
      assert.strictEqual(yield* Circuit.state("c"), "half-open")
      const other = yield* Effect.flip(succeed())
      assert.instanceOf(other, CircuitOpenError)
      assert.strictEqual((other as CircuitOpenError).state, "half-open")
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* Fiber.join(probe), "probe")
      assert.strictEqual(yield* Circuit.state("c"), "closed")
    }).pipe(withRegistry()))

  // SPEC 6
  it.effect("a successful probe closes the circuit with an empty window", () =>
    Effect.gen(function*() {
      yield* trip()
      yield* TestClock.adjust("5 seconds")
      yield* succeed()
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.state, "closed")
      assert.deepStrictEqual(
        [snap.window.total, snap.window.success, snap.window.failure, snap.window.shortCircuited],
        [0, 0, 0, 0]
      )
    }).pipe(withRegistry()))

  it.effect("a failed probe reopens with a fresh sleep window", () =>
    Effect.gen(function*() {
      yield* trip()
      yield* TestClock.adjust("6 seconds")
      yield* fail()
      assert.strictEqual(yield* Circuit.state("c"), "open")
      const error = (yield* Effect.flip(succeed())) as CircuitOpenError
      assert.strictEqual(Duration.toMillis(error.retryAfter), 5000)
    }).pipe(withRegistry()))

  it.effect("a probe that times out reopens with a fresh sleep window from the deadline", () =>
    Effect.gen(function*() {
      yield* trip()
      yield* TestClock.adjust("5 seconds")
      const probe = yield* Effect.never.pipe(withCircuit("c"), Effect.flip, Effect.forkChild)
      yield* settle
      yield* TestClock.adjust("1 second")
      assert.instanceOf(yield* Fiber.join(probe), CircuitTimeoutError)
      assert.strictEqual(yield* Circuit.state("c"), "open")
      yield* TestClock.adjust("4999 millis")
      assert.instanceOf(yield* Effect.flip(succeed()), CircuitOpenError)
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(yield* succeed(), "ok")
      assert.strictEqual(yield* Circuit.state("c"), "closed")
    }).pipe(withRegistry()))

  it.effect("an interrupted probe frees the slot without changing the state", () =>
    Effect.gen(function*() {
      yield* trip()
      yield* TestClock.adjust("5 seconds")
      const probe = yield* Effect.never.pipe(withCircuit("c"), Effect.forkChild)
      yield* settle
      yield* Fiber.interrupt(probe)
      assert.strictEqual(yield* Circuit.state("c"), "half-open")
      assert.strictEqual((yield* Circuit.snapshot("c")).concurrency.active, 0)
      // The slot is free: the next call is the probe.
      assert.strictEqual(yield* succeed(), "ok")
      assert.strictEqual(yield* Circuit.state("c"), "closed")
    }).pipe(withRegistry()))

  it.effect("a probe whose error isFailure rejects frees the slot without changing the state", () =>
    Effect.gen(function*() {
      yield* trip()
      yield* TestClock.adjust("5 seconds")
      const error = yield* Effect.fail(new NotFound()).pipe(
        withCircuit("c", { isFailure: (e) => !(e instanceof NotFound) }),
        Effect.flip
      )
      assert.instanceOf(error, NotFound)
      assert.strictEqual(yield* Circuit.state("c"), "half-open")
      assert.strictEqual(yield* succeed(), "ok")
      assert.strictEqual(yield* Circuit.state("c"), "closed")
    }).pipe(withRegistry()))

  // SPEC 7
  it.effect("a slow success admitted before the trip does not close the circuit", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const slow = yield* Deferred.await(gate).pipe(withCircuit("c"), Effect.forkChild)
      yield* settle
      yield* trip()
      assert.strictEqual(yield* Circuit.state("c"), "open")
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(slow)
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.state, "open")
      assert.strictEqual(snap.window.success, 1)
      assert.strictEqual(snap.window.failure, 2)
    }).pipe(withRegistry({ ...settings, timeout: "infinity" })))

  // SPEC 8
  it.effect("with a Schedule sleep window the n-th opening lasts the n-th delay; a close resets it", () =>
    Effect.gen(function*() {
      const retryAfter = Effect.map(Effect.flip(succeed()), (e) => Duration.toMillis((e as CircuitOpenError).retryAfter))
      yield* trip()
      assert.strictEqual(yield* retryAfter, 1000)
      yield* TestClock.adjust("1 second")
      yield* fail() // probe fails: 2nd opening
      assert.strictEqual(yield* retryAfter, 2000)
      yield* TestClock.adjust("2 seconds")
      yield* fail() // 3rd opening
      assert.strictEqual(yield* retryAfter, 4000)
      yield* TestClock.adjust("4 seconds")
      yield* succeed() // closes: the count resets
      yield* trip()
      assert.strictEqual(yield* retryAfter, 1000)
    }).pipe(withRegistry({ ...settings, sleepWindow: Schedule.exponential("1 second") })))

  // SPEC 9
  it.effect("no free permit rejects at once; a short-circuited call takes no permit", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const a = yield* Deferred.await(gate).pipe(withCircuit("c"), Effect.forkChild)
      const b = yield* Deferred.await(gate).pipe(withCircuit("c"), Effect.forkChild)
      yield* settle
      assert.strictEqual((yield* Circuit.snapshot("c")).concurrency.active, 2)
      const error = yield* Effect.flip(succeed())
      assert.instanceOf(error, CircuitRejectedError)
      assert.strictEqual((error as CircuitRejectedError).maxConcurrentRequests, 2)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(a)
      yield* Fiber.join(b)
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.concurrency.active, 0)
      assert.strictEqual(snap.window.rejected, 1)
      yield* Circuit.forceOpen("c")
      assert.instanceOf(yield* Effect.flip(succeed()), CircuitOpenError)
      assert.strictEqual((yield* Circuit.snapshot("c")).concurrency.active, 0)
    }).pipe(withRegistry({ ...settings, requestVolumeThreshold: 100 })))

  // SPEC 10
  it.effect("a timeout answers at the deadline even if the effect ignores interruption, and holds the permit until it ends", () =>
    Effect.gen(function*() {
      const ended = yield* Ref.make(false)
      const work = Effect.sleep("3 seconds").pipe(Effect.andThen(Ref.set(ended, true)), Effect.uninterruptible)
      const call = yield* work.pipe(withCircuit("c"), Effect.flip, Effect.forkChild)
      yield* settle
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(call)
      assert.instanceOf(error, CircuitTimeoutError)
      assert.strictEqual(Duration.toMillis((error as CircuitTimeoutError).timeout), 1000)
      assert.strictEqual(yield* Ref.get(ended), false)
      let snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.window.timeout, 1)
      assert.strictEqual(snap.concurrency.active, 1, "the permit is held while the effect runs on")
      // With max 1, the next call is rejected: running calls never exceed the limit.
      assert.instanceOf(yield* Effect.flip(succeed()), CircuitRejectedError)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(yield* Ref.get(ended), true)
      snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.concurrency.active, 0)
      assert.strictEqual(snap.window.timeout, 1, "the late end records nothing more")
      assert.strictEqual(yield* succeed(), "ok")
    }).pipe(withRegistry({ ...settings, requestVolumeThreshold: 100, maxConcurrentRequests: 1 })))

  it.effect("a timed-out effect is interrupted", () =>
    Effect.gen(function*() {
      const interrupted = yield* Ref.make(false)
      const call = yield* Effect.never.pipe(
        Effect.onInterrupt(() => Ref.set(interrupted, true)),
        withCircuit("c"),
        Effect.flip,
        Effect.forkChild
      )
      yield* settle
      yield* TestClock.adjust("1 second")
      assert.instanceOf(yield* Fiber.join(call), CircuitTimeoutError)
      yield* settle
      assert.strictEqual(yield* Ref.get(interrupted), true)
      assert.strictEqual((yield* Circuit.snapshot("c")).concurrency.active, 0)
    }).pipe(withRegistry()))

  // SPEC 11
  it.effect("interrupting the caller interrupts the effect, returns the permit and records no failure", () =>
    Effect.gen(function*() {
      for (const timeout of ["1 minute", "infinity"] as const) {
        yield* Circuit.configure("c", { timeout })
        const interrupted = yield* Ref.make(false)
        const call = yield* Effect.never.pipe(
          Effect.onInterrupt(() => Ref.set(interrupted, true)),
          withCircuit("c"),
          Effect.forkChild
        )
        yield* settle
        assert.strictEqual((yield* Circuit.snapshot("c")).concurrency.active, 1)
        yield* Fiber.interrupt(call)
        assert.strictEqual(yield* Ref.get(interrupted), true, `effect interrupted (timeout ${timeout})`)
        const snap = yield* Circuit.snapshot("c")
        assert.strictEqual(snap.concurrency.active, 0)
        assert.strictEqual(snap.window.total, 0)
        assert.strictEqual(snap.window.failure, 0)
      }
    }).pipe(withRegistry()))

  // SPEC 13
  it.effect("the fallback runs for short-circuit, rejection, timeout and failure with the typed error", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const guarded = <A, E>(effect: Effect.Effect<A, E>) =>
        effect.pipe(
          withCircuit("c", {
            fallback: (error) => {
              seen.push((error as { _tag: string })._tag)
              return Effect.succeed("fallback")
            }
          })
        )
      assert.strictEqual(yield* guarded(Effect.fail(new Boom({}))), "fallback")
      const gate = yield* Deferred.make<void>()
      const holder = yield* Deferred.await(gate).pipe(withCircuit("c"), Effect.forkChild)
      yield* settle
      assert.strictEqual(yield* guarded(Effect.succeed("x")), "fallback") // rejected (max 1)
      yield* Deferred.succeed(gate, undefined)
      yield* Fiber.join(holder)
      const slow = yield* guarded(Effect.never).pipe(Effect.forkChild)
      yield* settle
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(slow), "fallback") // timed out
      yield* Circuit.forceOpen("c")
      assert.strictEqual(yield* guarded(Effect.succeed("x")), "fallback") // short-circuited
      assert.deepStrictEqual(seen, ["Boom", "CircuitRejectedError", "CircuitTimeoutError", "CircuitOpenError"])
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.window.fallbackSuccess, 4)
      assert.strictEqual(snap.window.failure, 1)
      assert.strictEqual(snap.window.rejected, 1)
      assert.strictEqual(snap.window.timeout, 1)
      assert.strictEqual(snap.window.shortCircuited, 1)
    }).pipe(withRegistry({ ...settings, requestVolumeThreshold: 100, maxConcurrentRequests: 1 })))

  it.effect("a fallback never changes the breaker", () =>
    Effect.gen(function*() {
      const guarded = Effect.fail(new Boom({})).pipe(withCircuit("c", { fallback: () => Effect.succeed(0) }))
      yield* guarded
      yield* guarded
      assert.strictEqual(yield* Circuit.state("c"), "open", "failures still count though the caller saw a value")
    }).pipe(withRegistry()))

  it.effect("a failing fallback fails with an error holding both causes", () =>
    Effect.gen(function*() {
      const error = yield* Effect.fail(new Boom({ n: 1 })).pipe(
        withCircuit("c", { fallback: () => Effect.fail(new Boom({ n: 2 })) }),
        Effect.flip
      )
      assert.instanceOf(error, CircuitFallbackError)
      const both = error as CircuitFallbackError<unknown, unknown>
      assert.deepStrictEqual(Cause.findErrorOption(both.cause).pipe((o) => o._tag === "Some" ? o.value : undefined), new Boom({ n: 1 }))
      assert.deepStrictEqual(Cause.findErrorOption(both.fallbackCause).pipe((o) => o._tag === "Some" ? o.value : undefined), new Boom({ n: 2 }))
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.window.fallbackFailure, 1)
      assert.strictEqual(snap.window.failure, 1)
    }).pipe(withRegistry()))

  it.effect("errors that isFailure rejects are returned but not counted", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 5; i++) {
        const error = yield* Effect.fail(new NotFound()).pipe(
          withCircuit("c", { isFailure: (e) => !(e instanceof NotFound) }),
          Effect.flip
        )
        assert.instanceOf(error, NotFound)
      }
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.state, "closed")
      assert.strictEqual(snap.window.total, 0)
    }).pipe(withRegistry()))

  it.effect("defects count as failures and propagate", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.die("bug").pipe(withCircuit("c"), Effect.exit)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      assert.strictEqual((yield* Circuit.snapshot("c")).window.failure, 1)
    }).pipe(withRegistry()))

  it.effect("a throwing isFailure counts a failure and surfaces the throw", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.fail(new Boom({})).pipe(
        withCircuit("c", {
          isFailure: () => {
            throw new Error("classifier bug")
          }
        }),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
      assert.strictEqual((yield* Circuit.snapshot("c")).window.failure, 1)
      assert.strictEqual((yield* Circuit.snapshot("c")).concurrency.active, 0)
      assert.strictEqual(yield* succeed(), "ok")
    }).pipe(withRegistry({ ...settings, requestVolumeThreshold: 100 })))
})

describe("Circuit management", () => {
  it.effect("configure changes settings at run time; bad input changes nothing", () =>
    Effect.gen(function*() {
      yield* succeed()
      const bad = yield* Effect.flip(Circuit.configure("c", { maxConcurrentRequests: -1, timeout: "5 seconds" }))
      assert.strictEqual(bad._tag, "CircuitConfigError")
      assert.strictEqual(bad.field, "maxConcurrentRequests")
      let snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.concurrency.max, 2)
      assert.strictEqual(Duration.toMillis(snap.config.timeout), 1000)
      yield* Circuit.configure("c", { maxConcurrentRequests: 5 })
      snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.concurrency.max, 5)
      assert.strictEqual(Duration.toMillis(snap.config.timeout), 1000, "fields not given keep their value")
      assert.strictEqual(snap.window.success, 1, "same window shape keeps the counts")
    }).pipe(withRegistry()))

  it.effect("shrinking the limit does not drop running calls", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const a = yield* Deferred.await(gate).pipe(Effect.as("a"), withCircuit("c"), Effect.forkChild)
      const b = yield* Deferred.await(gate).pipe(Effect.as("b"), withCircuit("c"), Effect.forkChild)
      yield* settle
      yield* Circuit.configure("c", { maxConcurrentRequests: 1 })
      assert.instanceOf(yield* Effect.flip(succeed()), CircuitRejectedError)
      yield* Deferred.succeed(gate, undefined)
      assert.strictEqual(yield* Fiber.join(a), "a")
      assert.strictEqual(yield* Fiber.join(b), "b")
      assert.strictEqual(yield* succeed(), "ok")
      yield* Circuit.configure("c", { maxConcurrentRequests: Infinity })
      assert.strictEqual((yield* Circuit.snapshot("c")).concurrency.max, Infinity)
    }).pipe(withRegistry({ ...settings, requestVolumeThreshold: 100 })))

  it.effect("forceOpen, forceClosed and reset", () =>
    Effect.gen(function*() {
      yield* Circuit.forceOpen("c")
      const error = (yield* Effect.flip(succeed())) as CircuitOpenError
      assert.strictEqual(error.state, "forced-open")
      assert.isFalse(Duration.isFinite(error.retryAfter))
      yield* Circuit.forceClosed("c")
      yield* trip()
      yield* fail()
      assert.strictEqual(yield* Circuit.state("c"), "forced-closed")
      assert.strictEqual(yield* succeed(), "ok")
      yield* Circuit.reset("c")
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.state, "closed")
      assert.strictEqual(snap.window.total, 0)
    }).pipe(withRegistry()))

  it.effect("events and transitions are streamed", () =>
    Effect.gen(function*() {
      const transitions = yield* Circuit.transitions.pipe(Stream.take(3), Stream.runCollect, Effect.forkChild)
      const events = yield* Circuit.events.pipe(Stream.take(4), Stream.runCollect, Effect.forkChild)
      yield* settle
      yield* trip()
      yield* Effect.flip(succeed())
      yield* TestClock.adjust("5 seconds")
      yield* succeed()
      const ts = yield* Fiber.join(transitions)
      assert.deepStrictEqual(ts.map((t) => `${t.from}->${t.to}`), ["closed->open", "open->half-open", "half-open->closed"])
      const es = yield* Fiber.join(events)
      assert.deepStrictEqual(es.map((e) => e.kind), ["failure", "failure", "short-circuited", "success"])
      assert.isTrue(es.every((e) => e.circuit === "c"))
    }).pipe(withRegistry()))

  it.effect("a slow subscriber loses the oldest events and never blocks a call", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      // Subscribes, then does not read until every call is done.
      const slow = yield* Circuit.events.pipe(
        Stream.tap(() => Deferred.await(gate)),
        Stream.take(5),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* settle
      // One circuit per call, so the events tell the calls apart.
      for (let i = 0; i < 100; i++) assert.strictEqual(yield* succeed(`c${i}`), "ok")
      yield* Deferred.succeed(gate, undefined)
      const seen = yield* Fiber.join(slow)
      // The first event was taken by the waiting subscriber; the buffer of 4
      // kept the newest; the ones in between were dropped.
      assert.deepStrictEqual(seen.map((e) => e.circuit), ["c0", "c96", "c97", "c98", "c99"])
    }).pipe(Effect.provide(CircuitRegistry.layer({ defaults: settings, eventBuffer: 4 }))))

  it.effect("concurrent first calls of one name share one circuit", () =>
    Effect.gen(function*() {
      yield* Effect.all(Array.from({ length: 50 }, () => succeed("shared")), { concurrency: "unbounded" })
      const snap = yield* Circuit.snapshot("shared")
      assert.strictEqual(snap.window.success, 50)
      assert.deepStrictEqual(yield* Circuit.names, ["shared"])
    }).pipe(withRegistry({ ...settings, maxConcurrentRequests: Infinity })))

  it.effect("per-circuit settings from the layer; other names get the defaults", () =>
    Effect.gen(function*() {
      yield* succeed("a")
      yield* succeed("b")
      assert.strictEqual((yield* Circuit.snapshot("a")).config.requestVolumeThreshold, 7)
      assert.strictEqual((yield* Circuit.snapshot("b")).config.requestVolumeThreshold, 20)
    }).pipe(Effect.provide(CircuitRegistry.layer({ circuits: { a: { requestVolumeThreshold: 7 } } }))))

  it.effect("layerConfig reads the defaults and each listed circuit from environment variables", () =>
    Effect.gen(function*() {
      yield* succeed("payments-eu")
      yield* succeed("search")
      const payments = yield* Circuit.snapshot("payments-eu")
      assert.strictEqual(payments.config.requestVolumeThreshold, 7)
      assert.strictEqual(Duration.toMillis(payments.config.timeout), 2000)
      assert.strictEqual(payments.config.errorPercentThreshold, 30, "unset fields fall back to the env defaults")
      const search = yield* Circuit.snapshot("search")
      assert.strictEqual(search.config.errorPercentThreshold, 30)
      assert.strictEqual(search.config.requestVolumeThreshold, 20)
    }).pipe(
      Effect.provide(CircuitRegistry.layerConfig({ circuits: ["payments-eu"] })),
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({
        env: {
          CIRCUIT_DEFAULT_ERROR_PERCENT_THRESHOLD: "30",
          CIRCUIT_PAYMENTS_EU_REQUEST_VOLUME_THRESHOLD: "7",
          CIRCUIT_PAYMENTS_EU_TIMEOUT: "2 seconds"
        }
      })))
    ))

  it.effect("layerConfig refuses a bad environment value with CircuitConfigError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(succeed().pipe(
        Effect.provide(CircuitRegistry.layerConfig({ circuits: ["c"] })),
        Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env: { CIRCUIT_C_MAX_CONCURRENT_REQUESTS: "0" } })))
      ))
      assert.strictEqual(error._tag, "CircuitConfigError")
      if (error._tag === "CircuitConfigError") {
        assert.strictEqual(error.circuit, "c")
        assert.strictEqual(error.field, "maxConcurrentRequests")
      }
    }))

  it.effect("a bad setting fails the layer with CircuitConfigError naming the circuit", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        succeed().pipe(Effect.provide(CircuitRegistry.layer({ circuits: { pay: { errorPercentThreshold: 101 } } })))
      )
      assert.strictEqual(error._tag, "CircuitConfigError")
      if (error._tag === "CircuitConfigError") {
        assert.strictEqual(error.circuit, "pay")
        assert.strictEqual(error.field, "errorPercentThreshold")
      }
    }))
})

describe("one guarded effect value", () => {
  it.effect("runs under the registry of each context it is run in, even nested", () =>
    Effect.gen(function*() {
      const inner = yield* CircuitRegistry.layer().pipe(Layer.build)
      let depth = 0
      const guarded: Effect.Effect<number, unknown, CircuitRegistry> = Effect.suspend(() =>
        depth++ === 0 ? Effect.provide(guarded, inner) : Effect.succeed(depth)
      ).pipe(withCircuit("shared"))
      assert.strictEqual(yield* guarded, 2)
      const outer = yield* Circuit.snapshot("shared")
      assert.strictEqual(outer.window.success, 1, "the outer call is recorded in the outer registry")
      const nested = yield* Circuit.snapshot("shared").pipe(Effect.provide(inner))
      assert.strictEqual(nested.window.success, 1, "the nested call in the inner one")
      assert.strictEqual(outer.concurrency.active, 0)
    }).pipe(withRegistry()))
})

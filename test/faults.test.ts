/**
 * Faults in user code never corrupt a circuit.
 *
 * A defect (`Effect.die`), a JavaScript `throw` inside `Effect.sync` or a
 * generator, a throwing finalizer, a throwing or dying fallback (for a
 * failure, a short-circuit, a rejection and a timeout), a fallback that is not
 * an Effect at all, a throwing `isFailure`, and a sleep-window `Schedule` that
 * dies or throws: in every case
 *
 * - the call fails with a cause that holds the fault (and the call's own
 *   error, when it had one),
 * - exactly one outcome is recorded for the call (in the window and in
 *   `Circuit.events`),
 * - every permit is back,
 * - and the next calls work as usual.
 *
 * Each fault is tried on both paths of a call: an effect that faults at once
 * (it never suspends) and one that faults after suspending (its own fiber,
 * raced against the timeout), with the timeout on and off.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Data, Deferred, Duration, Effect, Exit, Fiber, Schedule, Stream } from "effect"
import { TestClock } from "effect/testing"
import {
  Circuit,
  CircuitOpenError,
  CircuitRegistry,
  CircuitRejectedError,
  CircuitTimeoutError,
  type CircuitConfigInput,
  type EventKind,
  withCircuit
} from "../src/index.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}

const fault = new Error("user code threw")

const defectsOf = (cause: Cause.Cause<unknown>): ReadonlyArray<unknown> =>
  cause.reasons.filter(Cause.isDieReason).map((reason) => reason.defect)

const errorsOf = (cause: Cause.Cause<unknown>): ReadonlyArray<unknown> =>
  cause.reasons.filter(Cause.isFailReason).map((reason) => reason.error)

/** The exit failed, holding `fault` as a defect. */
const assertHoldsFault = (exit: Exit.Exit<unknown, unknown>, label: string): Cause.Cause<unknown> => {
  if (Exit.isSuccess(exit)) return assert.fail(`${label}: succeeded with ${String(exit.value)}`)
  assert.include(defectsOf(exit.cause), fault, `${label}: the cause holds the fault: ${Cause.pretty(exit.cause)}`)
  return exit.cause
}

// Never trips unless a test asks for it.
const settings: CircuitConfigInput = {
  requestVolumeThreshold: 1000,
  errorPercentThreshold: 50,
  timeout: "1 second",
  maxConcurrentRequests: 2,
  sleepWindow: "5 seconds"
}

const withRegistry = (defaults: CircuitConfigInput = settings) => Effect.provide(CircuitRegistry.layer({ defaults }))

const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)

/**
 * Runs `body` with the events of circuit "c" collected; returns the kinds seen
 * (fallback events included).
 */
const collectingEvents = <A, E, R>(body: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const seen: Array<EventKind> = []
    const collector = yield* Circuit.events.pipe(
      Stream.runForEach((e) => Effect.sync(() => seen.push(e.kind))),
      Effect.forkChild
    )
    yield* settle
    const result = yield* body
    yield* settle
    yield* Fiber.interrupt(collector)
    return { result, seen }
  })

/** After a fault: the circuit is sound, every permit is back, and calls work. */
const assertSound = (name = "c") =>
  Effect.gen(function*() {
    const before = yield* Circuit.snapshot(name)
    assert.strictEqual(before.concurrency.active, 0, "every permit is back")
    assert.strictEqual(yield* Effect.succeed("next").pipe(withCircuit(name)), "next")
    const slow = yield* Effect.sleep("10 millis").pipe(Effect.as("slow"), withCircuit(name), Effect.forkChild)
    yield* settle
    yield* TestClock.adjust("10 millis")
    assert.strictEqual(yield* Fiber.join(slow), "slow")
    const after = yield* Circuit.snapshot(name)
    assert.strictEqual(after.window.success, before.window.success + 2)
    assert.strictEqual(after.concurrency.active, 0)
  })

/** Runs `effect` under circuit "c" in a fiber, moving the clock until it ends. */
const runCall = <A, E, R>(call: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(Effect.exit(call))
    yield* settle
    for (let i = 0; i < 50 && fiber.pollUnsafe() === undefined; i++) {
      yield* TestClock.adjust("50 millis")
      yield* settle
    }
    return yield* Fiber.join(fiber)
  })

const paths: ReadonlyArray<readonly [string, <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>]> = [
  ["at once", (effect) => effect],
  ["after suspending", (effect) => Effect.andThen(Effect.sleep("20 millis"), effect)]
]

const timeouts: ReadonlyArray<readonly [string, CircuitConfigInput]> = [
  ["timeout on", settings],
  ["timeout off", { ...settings, timeout: "infinity" }]
]

const userFaults: ReadonlyArray<readonly [string, Effect.Effect<string, Boom>]> = [
  ["Effect.die", Effect.die(fault)],
  [
    "a throw in Effect.sync",
    Effect.sync((): string => {
      throw fault
    })
  ],
  [
    "a throw in a generator",
    Effect.gen(function*() {
      yield* Effect.void
      throw fault
    })
  ],
  ["a throwing finalizer after success", Effect.succeed("ok").pipe(Effect.ensuring(Effect.sync(() => {
    throw fault
  })))],
  ["a throwing finalizer after a failure", Effect.fail(new Boom()).pipe(Effect.ensuring(Effect.die(fault)))]
]

describe("a fault in the user's effect", () => {
  for (const [faultName, faulty] of userFaults) {
    for (const [pathName, path] of paths) {
      for (const [timeoutName, config] of timeouts) {
        it.effect(`${faultName}, ${pathName}, ${timeoutName}: fails the call with the fault, records one failure`, () =>
          Effect.gen(function*() {
            const { result: exit, seen } = yield* collectingEvents(runCall(path(faulty).pipe(withCircuit("c"))))
            assertHoldsFault(exit, faultName)
            assert.deepStrictEqual(seen, ["failure"])
            const snap = yield* Circuit.snapshot("c")
            assert.strictEqual(snap.window.failure, 1)
            assert.strictEqual(snap.window.total, 1)
            yield* assertSound()
          }).pipe(withRegistry(config)))
      }
    }
  }

  it.effect("a defect with a fallback: the fallback does not run, the defect propagates", () =>
    Effect.gen(function*() {
      let ran = false
      const exit = yield* Effect.die(fault).pipe(
        withCircuit("c", {
          fallback: () =>
            Effect.sync(() => {
              ran = true
              return "fallback"
            })
        }),
        Effect.exit
      )
      assertHoldsFault(exit, "defect with fallback")
      assert.isFalse(ran)
      assert.strictEqual((yield* Circuit.snapshot("c")).window.failure, 1)
      yield* assertSound()
    }).pipe(withRegistry()))

  it.effect("a finalizer that throws while the effect is interrupted at its timeout", () =>
    Effect.gen(function*() {
      const hang = Effect.never.pipe(Effect.onInterrupt(() => Effect.die(fault)))
      const { result: exit, seen } = yield* collectingEvents(runCall(hang.pipe(withCircuit("c"))))
      if (Exit.isSuccess(exit)) return assert.fail("succeeded")
      assert.isTrue(errorsOf(exit.cause).some((e) => e instanceof CircuitTimeoutError), Cause.pretty(exit.cause))
      assert.deepStrictEqual(seen, ["timeout"])
      yield* assertSound()
    }).pipe(withRegistry()))

  it.effect("a finalizer that throws while the caller interrupts the effect", () =>
    Effect.gen(function*() {
      const hang = Effect.sleep("20 millis").pipe(Effect.andThen(Effect.never), Effect.onInterrupt(() => Effect.die(fault)))
      const { result: exit, seen } = yield* collectingEvents(Effect.gen(function*() {
        const caller = yield* Effect.forkChild(hang.pipe(withCircuit("c")))
        yield* settle
        yield* TestClock.adjust("30 millis")
        yield* Fiber.interrupt(caller)
        return yield* Fiber.await(caller)
      }))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterrupts(exit.cause))
      assert.deepStrictEqual(seen, ["interrupted"])
      assert.strictEqual((yield* Circuit.snapshot("c")).window.total, 0, "an interrupted call is not a request")
      yield* assertSound()
    }).pipe(withRegistry()))
})

// -----------------------------------------------------------------------------
// an interruption that arrives while the call is still being set up
// -----------------------------------------------------------------------------

describe("an interruption during the effect's first synchronous steps", () => {
  // The effect wakes another fiber synchronously (here by completing a
  // Deferred) before its first suspension; that fiber interrupts the caller at
  // once, while the caller is still inside withCircuit.
  for (const [timeoutName, config] of timeouts) {
    it.effect(`returns the permit, records "interrupted" and interrupts the effect (${timeoutName})`, () =>
      Effect.gen(function*() {
        const started = yield* Deferred.make<void>()
        let effectEnded = false
        const body = Deferred.succeed(started, undefined).pipe(
          Effect.andThen(Effect.never),
          Effect.ensuring(Effect.sync(() => {
            effectEnded = true
          }))
        )
        const { result: exit, seen } = yield* collectingEvents(Effect.gen(function*() {
          const caller = yield* Effect.forkChild(body.pipe(withCircuit("c")))
          yield* Deferred.await(started)
          yield* Fiber.interrupt(caller)
          return yield* Fiber.await(caller)
        }))
        assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
        yield* settle
        assert.isTrue(effectEnded, "the effect was interrupted")
        assert.strictEqual((yield* Circuit.snapshot("c")).concurrency.active, 0, "the permit is back")
        assert.deepStrictEqual(seen, ["interrupted"], "one outcome recorded")
        yield* assertSound()
      }).pipe(withRegistry(config)))
  }
})

// -----------------------------------------------------------------------------
// fallbacks
// -----------------------------------------------------------------------------

type FallbackFn = (error: unknown) => Effect.Effect<string>

const faultyFallbacks: ReadonlyArray<readonly [string, FallbackFn]> = [
  ["throws", () => {
    throw fault
  }],
  ["returns Effect.die", () => Effect.die(fault)],
  ["throws in Effect.sync", () =>
    Effect.sync((): string => {
      throw fault
    })],
  ["dies after suspending", () => Effect.andThen(Effect.sleep("5 millis"), Effect.die(fault))]
]

/** Brings the circuit to where a call gets the `reason` error, and makes the call. */
const callFailingWith = (
  reason: "failure" | "short-circuit" | "rejection" | "timeout",
  fallback: FallbackFn
) =>
  Effect.gen(function*() {
    switch (reason) {
      case "failure":
        return yield* runCall(Effect.fail(new Boom()).pipe(withCircuit("c", { fallback })))
      case "short-circuit":
        yield* Circuit.forceOpen("c")
        return yield* runCall(Effect.succeed("never").pipe(withCircuit("c", { fallback })))
      case "rejection": {
        const gate = yield* Deferred.make<void>()
        const holders = yield* Effect.forEach([1, 2], () =>
          Effect.forkChild(Deferred.await(gate).pipe(Effect.as("held"), withCircuit("c"))))
        yield* settle
        const exit = yield* runCall(Effect.succeed("never").pipe(withCircuit("c", { fallback })))
        yield* Deferred.succeed(gate, undefined)
        for (const holder of holders) assert.strictEqual(yield* Fiber.join(holder), "held")
        return exit
      }
      case "timeout":
        return yield* runCall(Effect.never.pipe(withCircuit("c", { fallback })))
    }
  })

const reasons = [
  ["failure", Boom, "failure"],
  ["short-circuit", CircuitOpenError, "short-circuited"],
  ["rejection", CircuitRejectedError, "rejected"],
  ["timeout", CircuitTimeoutError, "timeout"]
] as const

describe("a fault in the fallback", () => {
  for (const [reason, errorClass, kind] of reasons) {
    for (const [fallbackName, fallback] of faultyFallbacks) {
      it.effect(`a fallback that ${fallbackName}, for a ${reason}: the call fails with both causes`, () =>
        Effect.gen(function*() {
          const { result: exit, seen } = yield* collectingEvents(callFailingWith(reason, fallback))
          const cause = assertHoldsFault(exit, `${fallbackName} for ${reason}`)
          assert.isTrue(
            errorsOf(cause).some((e) => e instanceof errorClass),
            `the call's own error is kept: ${Cause.pretty(cause)}`
          )
          const own = seen.filter((k) => k !== "success")
          assert.deepStrictEqual(own, [kind, "fallback-failure"])
          const snap = yield* Circuit.snapshot("c")
          assert.strictEqual(snap.window.fallbackFailure, 1)
          assert.strictEqual(snap.window.fallbackSuccess, 0)
          if (reason === "short-circuit") yield* Circuit.reset("c")
          yield* assertSound()
        }).pipe(withRegistry()))
    }
  }

})

// -----------------------------------------------------------------------------
// isFailure
// -----------------------------------------------------------------------------

describe("a fault in isFailure", () => {
  const throwing = () => {
    throw fault
  }
  const bodies: ReadonlyArray<readonly [string, Effect.Effect<string, Boom>]> = [
    ["a typed failure", Effect.fail(new Boom())],
    ["a defect", Effect.die("bug")],
    ["a typed failure after suspending", Effect.andThen(Effect.sleep("20 millis"), Effect.fail(new Boom()))]
  ]
  for (const [bodyName, body] of bodies) {
    for (const withFallback of [false, true]) {
      it.effect(`a throwing isFailure on ${bodyName}${withFallback ? ", with a fallback" : ""}: counted as a failure, the throw surfaces`, () =>
        Effect.gen(function*() {
          const options = withFallback
            ? { isFailure: throwing, fallback: () => Effect.succeed("fallback") }
            : { isFailure: throwing }
          const { result: exit, seen } = yield* collectingEvents(runCall(body.pipe(withCircuit("c", options))))
          assertHoldsFault(exit, bodyName)
          assert.strictEqual(seen[0], "failure")
          assert.strictEqual((yield* Circuit.snapshot("c")).window.failure, 1)
          yield* assertSound()
        }).pipe(withRegistry()))
    }
  }

  it.effect("isFailure is never asked about a success or an interruption", () =>
    Effect.gen(function*() {
      const options = { isFailure: throwing }
      assert.strictEqual(yield* Effect.succeed("ok").pipe(withCircuit("c", options)), "ok")
      const caller = yield* Effect.forkChild(Effect.never.pipe(withCircuit("c", options)))
      yield* settle
      yield* Fiber.interrupt(caller)
      const snap = yield* Circuit.snapshot("c")
      assert.strictEqual(snap.window.success, 1)
      assert.strictEqual(snap.window.failure, 0)
      yield* assertSound()
    }).pipe(withRegistry()))
})

// -----------------------------------------------------------------------------
// a faulty sleep-window Schedule
// -----------------------------------------------------------------------------

describe("a sleep-window Schedule that faults", () => {
  const schedules: ReadonlyArray<readonly [string, () => Schedule.Schedule<unknown, number>]> = [
    ["whose step dies", () =>
      Schedule.exponential("100 millis").pipe(Schedule.modifyDelay(() => Effect.die(fault))) as Schedule.Schedule<
        unknown,
        number
      >],
    ["whose step function throws", () =>
      Schedule.fromStep(Effect.succeed((_now: number, _input: number) => {
        throw fault
      })) as Schedule.Schedule<unknown, number>],
    ["that is built by an effect that dies", () => Schedule.fromStep(Effect.die(fault)) as Schedule.Schedule<unknown, number>],
    ["that ends at once", () => Schedule.recurs(0) as unknown as Schedule.Schedule<unknown, number>]
  ]
  for (const [name, make] of schedules) {
    it.effect(`a Schedule ${name}: the circuit still opens, answers, and closes`, () =>
      Effect.gen(function*() {
        const configured = yield* Effect.exit(Circuit.configure("c", { sleepWindow: make() }))
        // Refusing it up front would be fine too; accepting it must not break the circuit.
        if (Exit.isFailure(configured)) return
        // Trip it.
        const trip = yield* Effect.exit(Effect.fail(new Boom()).pipe(withCircuit("c")))
        assert.isTrue(Exit.isFailure(trip) && errorsOf(trip.cause).some((e) => e instanceof Boom), "the tripping call fails with its own error")
        assert.strictEqual(yield* Circuit.state("c"), "open")
        // Calls are answered (short-circuited, or let through as the probe), never a defect.
        for (let i = 0; i < 3; i++) {
          const exit = yield* Effect.exit(Effect.succeed("ok").pipe(withCircuit("c")))
          if (Exit.isFailure(exit)) {
            assert.isFalse(Cause.hasDies(exit.cause), `call ${i}: ${Cause.pretty(exit.cause)}`)
            const error = Cause.findErrorOption(exit.cause)
            assert.isTrue(error._tag === "Some" && error.value instanceof CircuitOpenError)
            if (error._tag === "Some" && error.value instanceof CircuitOpenError) {
              const wait = Duration.toMillis(error.value.retryAfter)
              assert.isTrue(wait >= 0, `retryAfter ${wait}`)
            }
          }
          yield* TestClock.adjust("10 seconds")
        }
        const snap = yield* Circuit.snapshot("c")
        assert.strictEqual(snap.concurrency.active, 0)
        yield* Circuit.reset("c")
        yield* assertSound()
      }).pipe(withRegistry({ ...settings, requestVolumeThreshold: 1 })))
  }
})

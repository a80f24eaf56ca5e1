/**
 * The Effect shell under random concurrent load, on TestClock: many calls
 * with random durations, results, timeouts and caller interruptions.
 *
 * Checked after every clock step: running effects never exceed the limit and
 * equal the permits the circuit holds. At the end: every call that started
 * ended with exactly one outcome, the events and (when nothing can trip) the
 * snapshot's counts equal what the callers observed, and every permit is back.
 */
import { describe, it } from "@effect/vitest"
import { Cause, Data, Effect, Exit, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import {
  Circuit,
  CircuitOpenError,
  CircuitRegistry,
  CircuitRejectedError,
  CircuitTimeoutError,
  type EventKind,
  withCircuit
} from "../src/index.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}

type Behaviour = "succeed" | "fail" | "die" | "stubborn" | "hang"

interface CallSpec {
  readonly start: number
  readonly duration: number
  readonly behaviour: Behaviour
  /** Interrupt the caller this long after it started, if set. */
  readonly interruptAfter: number | undefined
}

const callArb: fc.Arbitrary<CallSpec> = fc.record({
  start: fc.integer({ min: 0, max: 2000 }),
  duration: fc.integer({ min: 0, max: 800 }),
  behaviour: fc.constantFrom<Behaviour>("succeed", "succeed", "fail", "die", "stubborn", "hang"),
  interruptAfter: fc.option(fc.integer({ min: 1, max: 600 }), { nil: undefined })
})

interface Scenario {
  readonly max: number
  readonly timeout: number
  readonly canTrip: boolean
  readonly volume: number
  readonly percent: number
  readonly calls: ReadonlyArray<CallSpec>
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  max: fc.integer({ min: 1, max: 5 }),
  timeout: fc.integer({ min: 50, max: 500 }),
  canTrip: fc.boolean(),
  volume: fc.integer({ min: 1, max: 10 }),
  percent: fc.integer({ min: 0, max: 100 }),
  calls: fc.array(callArb, { minLength: 1, maxLength: 40 })
})

type Observed = "success" | "failure" | "timeout" | "rejected" | "short-circuited" | "interrupted" | "not-started"

const run = (scenario: Scenario) =>
  Effect.gen(function*() {
    let running = 0
    let maxRunning = 0
    const started = new Set<number>()

    const body = (i: number, spec: CallSpec): Effect.Effect<string, Boom> => {
      const enter = Effect.sync(() => {
        started.add(i)
        running++
        maxRunning = Math.max(maxRunning, running)
      })
      const work: Effect.Effect<string, Boom> = spec.behaviour === "succeed"
        ? Effect.as(Effect.sleep(spec.duration), "ok")
        : spec.behaviour === "fail"
        ? Effect.andThen(Effect.sleep(spec.duration), Effect.fail(new Boom()))
        : spec.behaviour === "die"
        ? Effect.andThen(Effect.sleep(spec.duration), Effect.die("bug"))
        : spec.behaviour === "stubborn"
        ? Effect.uninterruptible(Effect.as(Effect.sleep(spec.duration), "late"))
        : Effect.never
      return Effect.andThen(enter, Effect.ensuring(work, Effect.sync(() => running--)))
    }

    const callers = yield* Effect.forEach(scenario.calls, (spec, i) =>
      Effect.forkChild(Effect.andThen(Effect.sleep(spec.start), Effect.exit(withCircuit(body(i, spec), "p")))))
    const interrupters = yield* Effect.forEach(
      scenario.calls.flatMap((spec, i) => spec.interruptAfter === undefined ? [] : [{ spec, i }]),
      ({ i, spec }) =>
        Effect.forkChild(
          Effect.andThen(Effect.sleep(spec.start + spec.interruptAfter!), Fiber.interrupt(callers[i]!))
        )
    )

    const horizon = 2000 + 800 + 600 + scenario.timeout + 100
    for (let t = 0; t <= horizon; t += 7) {
      yield* TestClock.adjust(7)
      const snap = yield* Circuit.snapshot("p")
      if (maxRunning > scenario.max) throw new Error(`running ${maxRunning} > max ${scenario.max}`)
      if (snap.concurrency.active > scenario.max) throw new Error(`permits ${snap.concurrency.active} > max`)
      if (snap.concurrency.active !== running) {
        throw new Error(`at ${t}: permits in use ${snap.concurrency.active} but ${running} effects running`)
      }
    }
    // Hung calls that were neither timed out nor interrupted cannot exist: every call has a timeout.
    const exits = yield* Effect.forEach(callers, (f) => Fiber.await(f))
    yield* Effect.forEach(interrupters, (f) => Fiber.interrupt(f))

    const observed = exits.map((exit, i): Observed => {
      if (Exit.isSuccess(exit)) {
        const inner = exit.value
        if (Exit.isSuccess(inner)) return "success"
        if (Cause.hasInterruptsOnly(inner.cause)) return "interrupted"
        const error = Cause.findErrorOption(inner.cause)
        if (error._tag === "None") return "failure" // a defect
        if (error.value instanceof CircuitOpenError) return "short-circuited"
        if (error.value instanceof CircuitRejectedError) return "rejected"
        if (error.value instanceof CircuitTimeoutError) return "timeout"
        return "failure"
      }
      // The caller was interrupted: before the call started, or while it ran.
      return started.has(i) ? "interrupted" : "not-started"
    })

    const final = yield* Circuit.snapshot("p")
    if (final.concurrency.active !== 0) throw new Error(`${final.concurrency.active} permits outstanding`)
    if (running !== 0) throw new Error(`${running} effects still running`)

    const tally = (kinds: ReadonlyArray<string>) => {
      const out: Record<string, number> = {}
      for (const k of kinds) out[k] = (out[k] ?? 0) + 1
      return out
    }
    return { observed, final, tally }
  })

describe("the shell under random concurrent load", () => {
  it("never exceeds the limit, records one outcome per call, returns every permit", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const program = Effect.gen(function*() {
          const seen: Array<EventKind> = []
          const collector = yield* Circuit.events.pipe(
            Stream.runForEach((e) =>
              Effect.sync(() => {
                if (e.kind !== "fallback-success" && e.kind !== "fallback-failure") seen.push(e.kind)
              })
            ),
            Effect.forkChild
          )
          yield* Effect.yieldNow
          const { final, observed, tally } = yield* run(scenario)
          yield* Effect.yieldNow
          yield* Fiber.interrupt(collector)

          const fromCallers = tally(observed.filter((o) => o !== "not-started"))
          // "ignored" never happens here (no isFailure), so every event is one caller's outcome.
          const fromEvents = tally(seen)
          // Calls interrupted between admission and their effect's first step were counted
          // "not-started" by the callers but recorded "interrupted" by the circuit.
          const interruptedEarly = (fromEvents["interrupted"] ?? 0) - (fromCallers["interrupted"] ?? 0)
          if (interruptedEarly < 0) {
            throw new Error(`callers saw ${fromCallers["interrupted"]} interruptions, events ${fromEvents["interrupted"]}`)
          }
          const notStarted = observed.filter((o) => o === "not-started").length
          if (interruptedEarly > notStarted) throw new Error("more interrupted events than interrupted callers")
          for (const kind of ["success", "failure", "timeout", "rejected", "short-circuited"]) {
            if ((fromEvents[kind] ?? 0) !== (fromCallers[kind] ?? 0)) {
              throw new Error(`${kind}: events ${fromEvents[kind] ?? 0}, callers ${fromCallers[kind] ?? 0}`)
            }
          }
          if (!scenario.canTrip) {
            const w = final.window
            const pairs: Array<[string, number, number]> = [
              ["success", w.success, fromCallers["success"] ?? 0],
              ["failure", w.failure, fromCallers["failure"] ?? 0],
              ["timeout", w.timeout, fromCallers["timeout"] ?? 0],
              ["rejected", w.rejected, fromCallers["rejected"] ?? 0],
              ["shortCircuited", w.shortCircuited, 0]
            ]
            for (const [name, inSnapshot, byCallers] of pairs) {
              if (inSnapshot !== byCallers) throw new Error(`snapshot ${name} ${inSnapshot} != callers ${byCallers}`)
            }
          }
        }).pipe(
          Effect.provide(CircuitRegistry.layer({
            defaults: {
              maxConcurrentRequests: scenario.max,
              timeout: scenario.timeout,
              // A window long enough that nothing leaves it during a scenario.
              rollingWindow: { buckets: 10, bucketDuration: "10 seconds" },
              requestVolumeThreshold: scenario.canTrip ? scenario.volume : 1_000_000,
              errorPercentThreshold: scenario.percent,
              sleepWindow: 300
            }
          })),
          Effect.provide(TestClock.layer())
        )
        await Effect.runPromise(program)
      }),
      { numRuns: 200 }
    )
  })
})

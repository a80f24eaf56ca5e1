/**
 * The fallback limit (`maxConcurrentFallbacks`) under random concurrent load,
 * on the TestClock, through both shells: calls that succeed, fail, time out,
 * are rejected by the bulkhead or short-circuited, whose fallbacks are a
 * value, complete, fail, die or hang, and whose callers may be interrupted
 * at any moment.
 *
 * Checked after every clock step: the fallbacks running never exceed the
 * limit and equal the fallback permits the circuit holds. At the end: every
 * call that reached its fallback either ran it or was rejected, never both
 * (one fallback event each: success, failure or rejected; none for a
 * fallback its caller interrupted), a rejected call holds the error the
 * fallback would have been given, the events count what the callers saw,
 * and no fallback permit is left.
 */
import { describe, it } from "@effect/vitest"
import { Cause, Data, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import {
  Circuit,
  CircuitFallbackRejectedError,
  CircuitRegistry,
  type EventKind,
  withCircuit
} from "../src/index.ts"
import { CircuitClock, CircuitPromise } from "../src/promise/index.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}

type Fallback = "value" | "succeed" | "fail" | "die" | "hang"

interface CallSpec {
  readonly start: number
  readonly duration: number
  readonly succeeds: boolean
  readonly fallback: Fallback
  readonly fallbackDuration: number
  /** Interrupt the caller this long after it started, if set (always set for a hanging fallback). */
  readonly interruptAfter: number | undefined
}

const callArb: fc.Arbitrary<CallSpec> = fc.record({
  start: fc.integer({ min: 0, max: 1500 }),
  duration: fc.integer({ min: 0, max: 300 }),
  succeeds: fc.boolean(),
  fallback: fc.constantFrom<Fallback>("value", "succeed", "succeed", "fail", "die", "hang"),
  fallbackDuration: fc.integer({ min: 0, max: 600 }),
  interruptAfter: fc.option(fc.integer({ min: 0, max: 1200 }), { nil: undefined })
}).map((spec) => spec.fallback === "hang" && spec.interruptAfter === undefined ? { ...spec, interruptAfter: 1200 } : spec)

interface Scenario {
  readonly limit: number
  readonly maxConcurrent: number
  readonly timeout: number
  readonly canTrip: boolean
  readonly calls: ReadonlyArray<CallSpec>
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  limit: fc.integer({ min: 1, max: 4 }),
  maxConcurrent: fc.integer({ min: 1, max: 8 }),
  timeout: fc.integer({ min: 50, max: 400 }),
  canTrip: fc.boolean(),
  calls: fc.array(callArb, { minLength: 1, maxLength: 30 })
})

const horizon = 1500 + 400 + 600 + 1200 + 100

const settings = (scenario: Scenario) => ({
  maxConcurrentFallbacks: scenario.limit,
  maxConcurrentRequests: scenario.maxConcurrent,
  timeout: scenario.timeout,
  rollingWindow: { buckets: 10, bucketDuration: 10_000 },
  requestVolumeThreshold: scenario.canTrip ? 3 : 1_000_000,
  errorPercentThreshold: 50,
  sleepWindow: 300
})

/** What the instrumented fallbacks did, per call. */
class Ledger {
  running = 0
  maxRunning = 0
  readonly started = new Set<number>()
  readonly ended = new Map<number, "success" | "failure" | "interrupted">()
  readonly events: Array<EventKind> = []
  /** Outcome events that said a fallback follows. */
  attempts = 0
  /** Fallbacks that are already a value: the fallbacks running when each was built. */
  readonly valueBuilt = new Map<number, number>()
  enter(i: number): void {
    this.started.add(i)
    this.running++
    if (this.running > this.maxRunning) this.maxRunning = this.running
  }
  exit(i: number, how: "success" | "failure" | "interrupted"): void {
    this.running--
    this.ended.set(i, how)
  }
}

// What the runs exercised, so that a generator that stopped reaching the limit fails the test.
const coverage = { runs: 0, withRejections: 0, fallbacksInterrupted: 0 }
const covered = (ledger: Ledger) => {
  coverage.runs++
  if (ledger.events.includes("fallback-rejected")) coverage.withRejections++
  if ([...ledger.ended.values()].includes("interrupted")) coverage.fallbacksInterrupted++
}
const checkCoverage = () => {
  if (coverage.withRejections < coverage.runs / 5) throw new Error(`only ${coverage.withRejections} of ${coverage.runs} runs rejected a fallback`)
  coverage.runs = coverage.withRejections = coverage.fallbacksInterrupted = 0
}

const tally = (kinds: ReadonlyArray<string>, kind: string) => kinds.filter((k) => k === kind).length

const active = Effect.map(Circuit.snapshot("f"), (s) => s.fallbacks.active)

// Step through the clock, checking the limit and the permits at every step.
const watch = (scenario: Scenario, ledger: Ledger) =>
  Effect.gen(function*() {
    for (let t = 0; t <= horizon; t += 7) {
      yield* TestClock.adjust(7)
      if (ledger.maxRunning > scenario.limit) throw new Error(`${ledger.maxRunning} fallbacks ran at once, limit ${scenario.limit}`)
      const held = yield* active
      if (held !== ledger.running) throw new Error(`at ${t}: ${held} fallback permits held, ${ledger.running} fallbacks running`)
    }
  })

// The end: every attempt ran or was rejected, once; events agree; nothing held.
const verify = (
  scenario: Scenario,
  ledger: Ledger,
  rejected: ReadonlyMap<number, unknown>,
  interrupted: ReadonlySet<number>,
  active: number
) => {
  if (active !== 0) throw new Error(`${active} fallback permits outstanding`)
  if (ledger.running !== 0) throw new Error(`${ledger.running} fallbacks still running`)
  for (const [i, error] of rejected) {
    if (ledger.started.has(i)) throw new Error(`call ${i}: its fallback both ran and was rejected`)
    if (error === undefined) throw new Error(`call ${i}: the rejection does not hold the error`)
  }
  const ran = ledger.started.size
  const rejections = tally(ledger.events, "fallback-rejected")
  if (rejections !== rejected.size) throw new Error(`${rejections} fallback-rejected events, ${rejected.size} callers rejected`)
  // A caller interrupted between the decision and the fallback's start has neither.
  const neither = ledger.attempts - ran - rejections
  if (neither < 0 || neither > interrupted.size) {
    throw new Error(`${ledger.attempts} attempts, ${ran} ran, ${rejections} rejected, ${interrupted.size} interrupted`)
  }
  const ends = [...ledger.ended.values()]
  const pairs: Array<[string, number, number]> = [
    ["fallback-success", tally(ledger.events, "fallback-success"), tally(ends, "success")],
    ["fallback-failure", tally(ledger.events, "fallback-failure"), tally(ends, "failure")]
  ]
  for (const [kind, events, seen] of pairs) {
    if (events !== seen) throw new Error(`${kind}: ${events} events, ${seen} fallbacks ended so`)
  }
  if (ledger.ended.size !== ran) throw new Error(`${ran} fallbacks started, ${ledger.ended.size} ended`)
  void scenario
  covered(ledger)
}

const instrumented = (ledger: Ledger, i: number, spec: CallSpec): Effect.Effect<string, string> => {
  if (spec.fallback === "value") {
    // Already a value (an Exit): the circuit decides at once, with the
    // fallbacks running now, whether it is the call's answer (checked at the end).
    ledger.valueBuilt.set(i, ledger.running)
    return Effect.succeed("value")
  }
  const work: Effect.Effect<string, string> = spec.fallback === "succeed"
    ? Effect.as(Effect.sleep(spec.fallbackDuration), "fallback")
    : spec.fallback === "fail"
    ? Effect.andThen(Effect.sleep(spec.fallbackDuration), Effect.fail("fallback failed"))
    : spec.fallback === "die"
    ? Effect.andThen(Effect.sleep(spec.fallbackDuration), Effect.die("fallback died"))
    : Effect.never
  return Effect.suspend(() => {
    ledger.enter(i)
    return work.pipe(
      Effect.onExit((exit) =>
        Effect.sync(() =>
          ledger.exit(i, Exit.isSuccess(exit) ? "success" : Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "failure")
        )
      )
    )
  })
}

const rejectionOf = (exit: Exit.Exit<unknown, unknown>): CircuitFallbackRejectedError | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const defect = exit.cause.reasons.find(Cause.isDieReason)?.defect
  return defect instanceof CircuitFallbackRejectedError ? defect : undefined
}

describe("the fallback limit under random concurrent load", () => {
  it("withCircuit: never more fallbacks than the limit; each attempt runs or is rejected; no permit leaks", async () => {
    coverage.runs = coverage.withRejections = coverage.fallbacksInterrupted = 0
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const program = Effect.gen(function*() {
          const ledger = new Ledger()
          const registry = yield* CircuitRegistry
          registry.observe({
            event: (_cell, kind, _at, _d, fallbackFollows) => {
              ledger.events.push(kind)
              if (fallbackFollows) ledger.attempts++
            }
          })
          const body = (spec: CallSpec): Effect.Effect<string, Boom> =>
            spec.succeeds
              ? Effect.as(Effect.sleep(spec.duration), "ok")
              : Effect.andThen(Effect.sleep(spec.duration), Effect.fail(new Boom()))
          const callers = yield* Effect.forEach(scenario.calls, (spec, i) =>
            Effect.forkChild(
              Effect.andThen(
                Effect.sleep(spec.start),
                Effect.exit(body(spec).pipe(withCircuit("f", { fallback: () => instrumented(ledger, i, spec) })))
              )
            ))
          const interrupted = new Set<number>()
          yield* Effect.forEach(
            scenario.calls.flatMap((spec, i) => spec.interruptAfter === undefined ? [] : [{ spec, i }]),
            ({ i, spec }) =>
              Effect.forkChild(
                Effect.andThen(
                  Effect.sleep(spec.start + spec.interruptAfter!),
                  Effect.andThen(Effect.sync(() => interrupted.add(i)), Fiber.interrupt(callers[i]!))
                )
              )
          )
          yield* watch(scenario, ledger)
          const exits = yield* Effect.forEach(callers, (f) => Fiber.await(f))
          const rejected = new Map<number, unknown>()
          exits.forEach((exit, i) => {
            const inner: Exit.Exit<unknown, unknown> = Exit.isSuccess(exit) ? exit.value : exit as Exit.Exit<unknown, unknown>
            const rejection = rejectionOf(inner)
            if (rejection !== undefined) rejected.set(i, rejection.error)
            // A fallback that was a value ran exactly when its caller got it, and only below the limit.
            const runningThen = ledger.valueBuilt.get(i)
            if (runningThen !== undefined && Exit.isSuccess(inner) && inner.value === "value") {
              if (runningThen >= scenario.limit) throw new Error(`call ${i}: a value fallback ran with ${runningThen} running`)
              ledger.started.add(i)
              ledger.ended.set(i, "success")
            }
          })
          verify(scenario, ledger, rejected, interrupted, yield* active)
        }).pipe(
          Effect.provide(CircuitRegistry.layer({ defaults: settings(scenario) })),
          Effect.provide(TestClock.layer())
        )
        await Effect.runPromise(program)
      }),
      { numRuns: 150 }
    )
    if (coverage.fallbacksInterrupted === 0) throw new Error("no run interrupted a running fallback")
    checkCoverage()
  })

  it("CircuitPromise: the same rules, with fallbacks that are promises", async () => {
    coverage.runs = coverage.withRejections = coverage.fallbacksInterrupted = 0
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const clock = CircuitClock.manual(0)
        const circuits = CircuitPromise.make({ defaults: settings(scenario), clock })
        const ledger = new Ledger()
        circuits.subscribe({ event: (e) => ledger.events.push(e.kind) })
        const after = (millis: number, run: () => void) => clock.setTimer(run, millis)
        const sleep = (millis: number) => new Promise<void>((resolve) => after(millis, resolve))
        const rejected = new Map<number, unknown>()
        const interrupted = new Set<number>()
        const fallbacksOf = (i: number, spec: CallSpec) => (error: unknown): unknown => {
          ledger.attempts++
          if (error === undefined) throw new Error("no error given")
          ledger.enter(i)
          if (spec.fallback === "value") {
            ledger.exit(i, "success")
            return "value"
          }
          // A hanging fallback ends only when its caller is "interrupted" (a Promise cannot be).
          const duration = spec.fallback === "hang" ? spec.interruptAfter! : spec.fallbackDuration
          return sleep(duration).then(() => {
            if (spec.fallback === "fail" || spec.fallback === "die") {
              ledger.exit(i, "failure")
              throw new Error("fallback failed")
            }
            ledger.exit(i, "success")
            return "fallback"
          })
        }
        const done: Array<Promise<void>> = []
        scenario.calls.forEach((spec, i) =>
          after(spec.start, () => {
            const fn = () => sleep(spec.duration).then(() => (spec.succeeds ? "ok" : Promise.reject(new Boom())))
            done.push(
              circuits.fire("f", fn, { fallback: fallbacksOf(i, spec) }).then(
                () => {},
                (error: unknown) => {
                  if (error instanceof CircuitFallbackRejectedError) rejected.set(i, error.error)
                }
              )
            )
          })
        )
        const held = () => circuits.snapshot("f").fallbacks.active
        for (let t = 0; t <= horizon; t += 7) {
          await clock.advance(7)
          if (ledger.maxRunning > scenario.limit) throw new Error(`${ledger.maxRunning} fallbacks ran at once, limit ${scenario.limit}`)
          if (held() !== ledger.running) throw new Error(`at ${t}: ${held()} permits held, ${ledger.running} running`)
        }
        await Promise.all(done)
        // The Promise shell calls the fallback only with a permit: every call of it is a run.
        ledger.attempts += tally(ledger.events, "fallback-rejected")
        verify(scenario, ledger, rejected, interrupted, held())
        circuits.close()
      }),
      { numRuns: 100 }
    )
    checkCoverage()
  })
})

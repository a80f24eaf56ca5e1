/**
 * Two-step calls (`Circuit.admit`) under random sequences, on TestClock,
 * against the independent reference model (`model.ts`).
 *
 * A sequence mixes admissions, reports of every kind (success, a failure,
 * a failure `isFailure` refuses, a bad request, a defect, an interruption,
 * `ignore`), second reports, clock steps past the timeout, scope closes
 * with each kind of `Exit`, and the registry's close; permits overlap.
 * The model is told the same admissions and outcomes at the same times
 * (a timeout at its deadline, as the shell's deadline queue records it).
 *
 * Checked after every step: the circuit's state and window equal the
 * model's, the permits in use equal the permits the driver holds and never
 * exceed the limit, and each permit's recorded outcome is the one the
 * model expects. At the end: exactly one outcome event per admission, one
 * refusal event per refusal, and every permit back.
 */
import { describe, it } from "@effect/vitest"
import { Cause, Clock, Data, Effect, Exit, Layer, Option, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import {
  Circuit,
  CircuitBadRequest,
  type CircuitCell,
  CircuitOpenError,
  CircuitPermit,
  CircuitRegistry,
  CircuitRegistryClosedError,
  CircuitRejectedError,
  type EventKind
} from "../src/index.ts"
import { CircuitRegistry as RegistryKey } from "../src/CircuitRegistry.ts"
import * as M from "./model.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}
class NotCounted extends Data.TaggedError("NotCounted")<{}> {}

type How = "success" | "failure" | "not-counted" | "bad-request" | "defect" | "interrupt" | "ignore"
type ScopeExit = "success" | "failure" | "interrupt"

type Command =
  | { readonly _tag: "Admit" }
  | { readonly _tag: "Report"; readonly i: number; readonly how: How }
  | { readonly _tag: "CloseScope"; readonly i: number; readonly exit: ScopeExit }
  | { readonly _tag: "Advance"; readonly millis: number }
  | { readonly _tag: "CloseRegistry" }

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ _tag: "Admit" } as const) },
  {
    weight: 4,
    arbitrary: fc.record({
      _tag: fc.constant("Report" as const),
      i: fc.nat(),
      how: fc.constantFrom<How>("success", "success", "failure", "failure", "failure", "not-counted", "bad-request", "defect", "interrupt", "ignore")
    })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      _tag: fc.constant("CloseScope" as const),
      i: fc.nat(),
      exit: fc.constantFrom<ScopeExit>("success", "failure", "interrupt")
    })
  },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("Advance" as const), millis: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "CloseRegistry" } as const) }
)

interface Scenario {
  readonly max: number
  readonly timeout: number | undefined
  readonly volume: number
  readonly percent: number
  readonly sleep: number
  readonly buckets: number
  readonly bucketMillis: number
  readonly commands: ReadonlyArray<Command>
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  max: fc.integer({ min: 1, max: 4 }),
  timeout: fc.option(fc.integer({ min: 50, max: 600 }), { nil: undefined, freq: 5 }),
  // Biased towards trips, so that openings, probes and their outcomes are common.
  volume: fc.integer({ min: 1, max: 4 }),
  percent: fc.integer({ min: 0, max: 60 }),
  sleep: fc.integer({ min: 50, max: 400 }),
  buckets: fc.integer({ min: 1, max: 5 }),
  bucketMillis: fc.integer({ min: 50, max: 500 }),
  commands: fc.array(commandArb, { minLength: 1, maxLength: 60 })
})

type Outcome = CircuitPermit.PermitOutcome

interface Held {
  readonly permit: CircuitPermit.CircuitPermit<Boom | NotCounted | CircuitBadRequest>
  readonly scope: Scope.Closeable
  readonly epoch: number
  readonly startedAt: number
  readonly deadline: number
  /** The outcome the model expects to be recorded, once it is. */
  expected: Outcome | undefined
  /** The driver still holds the permit (nothing gave it back yet). */
  held: boolean
}

const fail = (message: string): never => {
  throw new Error(message)
}

const errorOf = (exit: Exit.Exit<unknown, unknown>): unknown =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.findErrorOption(exit.cause)) : undefined

const monotonicNow = Clock.clockWith((clock) =>
  Effect.succeed(Math.floor(Number(clock.monotonicTimeNanosUnsafe()) / 1_000_000))
)

// What to report (`undefined`: `ignore`) and the outcome the model expects of it.
const reportOf = (
  how: How
): { readonly exit: Exit.Exit<unknown, Boom | NotCounted | CircuitBadRequest> | undefined; readonly result: Outcome } => {
  switch (how) {
    case "success":
      return { exit: Exit.succeed("ok"), result: "success" }
    case "failure":
      return { exit: Exit.fail(new Boom()), result: "failure" }
    case "not-counted":
      return { exit: Exit.fail(new NotCounted()), result: "ignored" }
    case "bad-request":
      return { exit: Exit.fail(new CircuitBadRequest({ error: "bad" })), result: "ignored" }
    case "defect":
      return { exit: Exit.die("bug"), result: "failure" }
    case "interrupt":
      return { exit: Exit.interrupt(), result: "interrupted" }
    case "ignore":
      return { exit: undefined, result: "ignored" }
  }
}

const scopeExitOf = (exit: ScopeExit): { readonly exit: Exit.Exit<unknown, unknown>; readonly result: Outcome } =>
  exit === "success"
    ? { exit: Exit.void, result: "ignored" }
    : exit === "failure"
    ? { exit: Exit.fail(new Boom()), result: "failure" }
    : { exit: Exit.interrupt(), result: "interrupted" }

const run = (s: Scenario) =>
  Effect.gen(function*() {
    const registryScope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      CircuitRegistry.layer({
        defaults: {
          maxConcurrentRequests: s.max,
          timeout: s.timeout ?? "infinity",
          requestVolumeThreshold: s.volume,
          errorPercentThreshold: s.percent,
          sleepWindow: s.sleep,
          rollingWindow: { buckets: s.buckets, bucketDuration: s.bucketMillis }
        }
      }),
      registryScope
    )
    const inRegistry = Effect.provideContext(context)
    const registry = yield* inRegistry(Effect.service(RegistryKey))
    const events: Array<EventKind> = []
    registry.observe({ event: (_cell, kind) => events.push(kind) })

    let model = M.makeModel({
      buckets: s.buckets,
      bucketMillis: s.bucketMillis,
      volume: s.volume,
      percent: s.percent,
      sleep: () => s.sleep
    })
    const permits: Array<Held> = []
    let refusals = { "short-circuited": 0, rejected: 0 }
    let registryClosed = false
    let cell: CircuitCell | undefined
    const options = { isFailure: (failure: unknown) => !(failure instanceof NotCounted) }
    const heldCount = () => permits.filter((p) => p.held).length
    const trace: Array<string> = []
    const where = () => `\n  after: ${trace.join(" ")}`

    const check = Effect.gen(function*() {
      const now = yield* monotonicNow
      if (heldCount() > s.max) fail(`${heldCount()} permits held, limit ${s.max}${where()}`)
      for (const [i, p] of permits.entries()) {
        const outcome = Option.getOrUndefined(yield* p.permit.outcome)
        if (outcome !== p.expected) fail(`permit ${i}: outcome ${outcome}, model ${p.expected}${where()}`)
      }
      // SPEC 20: the registry's close gives every permit back at once.
      if (registryClosed) {
        if (cell !== undefined && cell.active !== 0) fail(`${cell.active} permits held after the registry closed${where()}`)
        return
      }
      const snapshot = yield* inRegistry(Circuit.snapshot("c"))
      if (snapshot.concurrency.active !== heldCount()) {
        fail(`active ${snapshot.concurrency.active}, held ${heldCount()}${where()}`)
      }
      if (snapshot.state !== model.state.name) fail(`state ${snapshot.state}, model ${model.state.name} at ${now}${where()}`)
      const expected = M.summaryAt(model, now)
      for (const field of ["success", "failure", "timeout", "rejected", "shortCircuited", "total", "errors"] as const) {
        if (snapshot.window[field] !== expected[field]) {
          fail(`window.${field} ${snapshot.window[field]}, model ${expected[field]} at ${now}${where()}`)
        }
      }
    })

    for (const command of s.commands) {
      const now = yield* monotonicNow
      switch (command._tag) {
        case "Admit": {
          trace.push(`admit@${now}`)
          const exit = yield* Effect.exit(inRegistry(Effect.flatMap(Scope.make(), (scope) =>
            Effect.map(
              CircuitPermit.admit<Boom | NotCounted | CircuitBadRequest>("c", options).pipe(Scope.provide(scope)),
              (permit) => ({ permit, scope })
            ))))
          if (registryClosed) {
            if (!(errorOf(exit) instanceof CircuitRegistryClosedError)) fail(`admitted after the registry closed${where()}`)
            break
          }
          cell ??= registry.cell("c", now)
          const admission = M.admit(model, now)
          if (admission === "short-circuit") {
            model = M.shortCircuited(model, now)
            refusals["short-circuited"]++
            if (!(errorOf(exit) instanceof CircuitOpenError)) fail(`not short-circuited${where()}`)
            break
          }
          if (admission === "probe") model = M.probeAdmitted(model)
          if (heldCount() >= s.max) {
            model = M.complete(model, now, model.epoch, "rejected")
            refusals.rejected++
            if (!(errorOf(exit) instanceof CircuitRejectedError)) fail(`not rejected${where()}`)
            break
          }
          if (Exit.isFailure(exit)) fail(`refused: ${exit.cause}${where()}`)
          else {
            permits.push({
              ...exit.value,
              epoch: model.epoch,
              startedAt: now,
              deadline: s.timeout === undefined ? Infinity : now + s.timeout,
              expected: undefined,
              held: true
            })
          }
          break
        }
        case "Report": {
          if (permits.length === 0) break
          const p = permits[command.i % permits.length]!
          trace.push(`report#${command.i % permits.length}:${command.how}@${now}`)
          const { exit, result } = reportOf(command.how)
          const decided = yield* (exit === undefined ? p.permit.ignore : p.permit.report(exit))
          p.held = false
          if (decided !== (p.expected === undefined)) fail(`report answered ${decided}, outcome was ${p.expected}${where()}`)
          if (p.expected === undefined) {
            p.expected = result
            model = M.complete(model, now, p.epoch, result, now - p.startedAt)
          }
          break
        }
        case "CloseScope": {
          if (permits.length === 0) break
          const p = permits[command.i % permits.length]!
          trace.push(`close#${command.i % permits.length}:${command.exit}@${now}`)
          const { exit, result } = scopeExitOf(command.exit)
          yield* Scope.close(p.scope, exit)
          p.held = false
          if (p.expected === undefined) {
            p.expected = result
            model = M.complete(model, now, p.epoch, result, now - p.startedAt)
          }
          break
        }
        case "Advance": {
          trace.push(`+${command.millis}`)
          const target = now + command.millis
          // The deadlines that fall due, earliest first, as the deadline queue fires them.
          const due = permits
            .filter((p) => p.expected === undefined && p.deadline <= target)
            .sort((a, b) => a.deadline - b.deadline)
          for (const p of due) {
            p.expected = "timeout"
            if (!registryClosed) model = M.complete(model, p.deadline, p.epoch, "timeout", p.deadline - p.startedAt)
          }
          yield* TestClock.adjust(command.millis)
          break
        }
        case "CloseRegistry": {
          if (registryClosed) break
          trace.push(`close-registry@${now}`)
          yield* Scope.close(registryScope, Exit.void)
          registryClosed = true
          for (const p of permits) {
            p.held = false
            p.expected ??= "interrupted"
          }
          break
        }
      }
      yield* check
    }

    // Every scope closes, then the registry: nothing is left held or unrecorded.
    for (const p of permits) {
      yield* Scope.close(p.scope, Exit.void)
      p.held = false
      p.expected ??= "ignored"
    }
    yield* check
    yield* Scope.close(registryScope, Exit.void)
    if (cell !== undefined && cell.active !== 0) fail(`${cell.active} permits leaked${where()}`)
    const count = (kinds: ReadonlyArray<EventKind>) => events.filter((k) => kinds.includes(k)).length
    const outcomes = count(["success", "failure", "timeout", "interrupted", "ignored"])
    if (outcomes !== permits.length) fail(`${outcomes} outcome events for ${permits.length} admissions${where()}`)
    for (const kind of ["success", "failure", "timeout", "interrupted", "ignored"] as const) {
      const expected = permits.filter((p) => p.expected === kind).length
      if (count([kind]) !== expected) fail(`${count([kind])} ${kind} events, expected ${expected}${where()}`)
    }
    if (count(["short-circuited"]) !== refusals["short-circuited"]) fail(`short-circuit events${where()}`)
    if (count(["rejected"]) !== refusals.rejected) fail(`rejected events${where()}`)
  })

describe("two-step calls (Circuit.admit)", () => {
  it("one outcome per admission, the model's state and window, permits within the limit and never leaked", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        await Effect.runPromise(run(scenario).pipe(Effect.provide(TestClock.layer())))
      }),
      { numRuns: 1000 }
    )
  })
})

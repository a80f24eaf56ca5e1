/**
 * Issue 12: the wait queue in front of the bulkhead, through `withCircuit`, on
 * TestClock, over random interleavings of arrivals (with and without a
 * fallback), completions and failures, caller interruptions, time steps,
 * changes of the limit and of the queue's capacity at run time, an adaptive
 * limit, and the circuit forced open and reset.
 *
 * Checked as it runs: a call's effect starts only with a permit and never
 * beyond the limit (`running ≤ limit`, `permits = running effects`); a call
 * admitted at once never passes a waiter (no barging); the queue never holds
 * more than its capacity. At the end: waiters started in the order they
 * joined (FIFO); no call waited longer than `maxQueueWait` before it started
 * or was answered; every call came to exactly one outcome, and the circuit's
 * events say the same as the callers; every permit is back, nobody waits and
 * no timer is left.
 */
import { describe, it } from "@effect/vitest"
import { Cause, Clock, Data, Duration, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import {
  Circuit,
  type CircuitConfigInput,
  CircuitOpenError,
  CircuitRegistry,
  CircuitRejectedError,
  CircuitTimeoutError,
  type EventKind,
  withCircuit
} from "../src/index.ts"
import { cellOf } from "../src/internal/cell.ts"
import { deadlinesOf } from "../src/internal/deadline.ts"
import { monotonicMillis } from "../src/internal/time.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}

type Command =
  | { readonly _tag: "arrive"; readonly duration: number; readonly fails: boolean; readonly fallback: boolean }
  | { readonly _tag: "interrupt"; readonly pick: number }
  | { readonly _tag: "step"; readonly millis: number }
  | { readonly _tag: "limit"; readonly limit: number }
  | { readonly _tag: "capacity"; readonly capacity: number }
  | { readonly _tag: "open" }
  | { readonly _tag: "reset" }

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ _tag: fc.constant("arrive" as const), duration: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 })), fails: fc.boolean(), fallback: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("interrupt" as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ _tag: fc.constant("step" as const), millis: fc.integer({ min: 1, max: 200 }) }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("limit" as const), limit: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("capacity" as const), capacity: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "open" as const }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "reset" as const }) }
)

interface Scenario {
  readonly limit: number | "adaptive"
  readonly capacity: number
  readonly maxQueueWait: number
  readonly timeout: number | "infinity"
  readonly commands: ReadonlyArray<Command>
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  limit: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.constant("adaptive" as const)),
  capacity: fc.integer({ min: 1, max: 5 }),
  maxQueueWait: fc.integer({ min: 1, max: 400 }),
  timeout: fc.oneof(fc.integer({ min: 50, max: 400 }), fc.constant("infinity" as const)),
  commands: fc.array(commandArb, { minLength: 1, maxLength: 60 })
})

type Observed =
  | "success"
  | "failure"
  | "timeout"
  | "rejected"
  | "queue-timeout"
  | "short-circuited"
  | "interrupted"

const classify = (error: unknown): Observed =>
  error instanceof CircuitOpenError
    ? "short-circuited"
    : error instanceof CircuitRejectedError
    ? error.reason === "queue-timeout" ? "queue-timeout" : "rejected"
    : error instanceof CircuitTimeoutError
    ? "timeout"
    : "failure"

const outcomes: ReadonlySet<EventKind> = new Set<EventKind>([
  "success", "failure", "timeout", "rejected", "queue-timeout", "short-circuited", "interrupted", "ignored"
])

const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)

const tally = (kinds: ReadonlyArray<string>) => {
  const out: Record<string, number> = {}
  for (const k of kinds) out[k] = (out[k] ?? 0) + 1
  return out
}

const run = (scenario: Scenario) =>
  Effect.gen(function*() {
    const registry = yield* CircuitRegistry
    const clock = yield* Clock.clockWith(Effect.succeed)
    const now = () => monotonicMillis(clock)
    const violations: Array<string> = []
    const cell = () => cellOf(registry.cell("q", now()))

    let running = 0
    let arriving = -1
    const events: Array<EventKind> = []
    const queuedOrder: Array<number> = []
    const queuedAt = new Map<number, number>()
    const startOrder: Array<number> = []
    const startedAt = new Map<number, number>()
    const answeredAt = new Map<number, number>()
    const stop = registry.observe({
      event: (c, kind) => {
        if (c.name !== "q") return
        events.push(kind)
        if (kind === "queued") {
          queuedOrder.push(arriving)
          queuedAt.set(arriving, now())
        }
      }
    })

    const body = (i: number, spec: Extract<Command, { _tag: "arrive" }>) =>
      Effect.suspend(() => {
        const c = cell()
        running++
        startOrder.push(i)
        startedAt.set(i, now())
        if (running > c.maxConcurrent) violations.push(`call ${i}: ${running} running > limit ${c.maxConcurrent}`)
        if (c.active > c.maxConcurrent) violations.push(`call ${i}: ${c.active} permits > limit ${c.maxConcurrent}`)
        if (!queuedAt.has(i) && c.waiting !== 0) violations.push(`call ${i} barged past ${c.waiting} waiting`)
        // 0: an effect that ends at once, without suspending.
        return (spec.duration === 0 ? Effect.void : Effect.sleep(Duration.millis(spec.duration))).pipe(
          Effect.andThen(spec.fails ? Effect.fail(new Boom()) : Effect.succeed("ok")),
          Effect.ensuring(Effect.sync(() => running--))
        )
      })

    const caller = (i: number, spec: Extract<Command, { _tag: "arrive" }>) => {
      const guarded = spec.fallback
        ? body(i, spec).pipe(withCircuit("q", { fallback: (error) => Effect.succeed({ fallback: error }) }))
        : body(i, spec).pipe(withCircuit("q"))
      return Effect.onExit(guarded, () => Effect.sync(() => answeredAt.set(i, now())))
    }

    const calls: Array<Fiber.Fiber<unknown, unknown>> = []
    const check = (after: string) => {
      const c = cell()
      if (c.waiting > c.queueCapacity) violations.push(`${after}: ${c.waiting} waiting > capacity ${c.queueCapacity}`)
      if (c.active !== running) violations.push(`${after}: ${c.active} permits but ${running} effects running`)
    }

    for (const command of scenario.commands) {
      switch (command._tag) {
        case "arrive": {
          const i = calls.length
          arriving = i
          calls.push(yield* Effect.forkChild(caller(i, command)))
          yield* settle
          arriving = -1
          break
        }
        case "interrupt": {
          const live = calls.filter((f) => f.pollUnsafe() === undefined)
          if (live.length > 0) yield* Fiber.interrupt(live[command.pick % live.length]!)
          break
        }
        case "step":
          yield* TestClock.adjust(Duration.millis(command.millis))
          break
        case "limit":
          yield* Circuit.configure("q", { maxConcurrentRequests: command.limit })
          break
        case "capacity":
          yield* Circuit.configure("q", { queueCapacity: command.capacity })
          break
        case "open":
          yield* Circuit.forceOpen("q")
          break
        case "reset":
          yield* Circuit.reset("q")
          break
      }
      yield* settle
      check(command._tag)
    }
    // Let everything end by itself: every effect is at most 300 ms, every wait at most 400 ms.
    yield* Circuit.reset("q")
    for (let t = 0; t < 60 && calls.some((f) => f.pollUnsafe() === undefined); t++) {
      yield* TestClock.adjust("500 millis")
      yield* settle
      check("drain")
    }
    const exits = yield* Effect.forEach(calls, (f) => Fiber.await(f))
    stop()

    const observed = exits.map((exit): Observed => {
      if (Exit.isFailure(exit)) return Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : classify(Cause.squash(exit.cause))
      const value = exit.value
      return typeof value === "object" && value !== null && "fallback" in value
        ? classify((value as { readonly fallback: unknown }).fallback)
        : "success"
    })
    // Every call came to exactly one outcome, and the events agree with the callers.
    const fromEvents = tally(events.filter((k) => outcomes.has(k)))
    const fromCallers = tally(observed)
    for (const kind of new Set([...Object.keys(fromEvents), ...Object.keys(fromCallers)])) {
      if (fromEvents[kind] !== fromCallers[kind]) {
        violations.push(`${kind}: ${fromEvents[kind] ?? 0} events, ${fromCallers[kind] ?? 0} callers`)
      }
    }
    // FIFO: the waiters that started, started in the order they joined.
    const startedWaiters = startOrder.filter((i) => queuedAt.has(i))
    const joined = queuedOrder.filter((i) => startedAt.has(i))
    if (startedWaiters.join() !== joined.join()) violations.push(`FIFO: joined ${joined.join()}, started ${startedWaiters.join()}`)
    // No waiter waited longer than maxQueueWait before it started or was answered.
    for (const [i, at] of queuedAt) {
      const left = startedAt.get(i) ?? answeredAt.get(i)
      if (left === undefined) violations.push(`call ${i} never left the queue`)
      else if (left - at > scenario.maxQueueWait) violations.push(`call ${i} waited ${left - at} > ${scenario.maxQueueWait}`)
    }
    const c = cell()
    if (c.active !== 0 || running !== 0) violations.push(`at the end: ${c.active} permits, ${running} running`)
    if (c.waiting !== 0) violations.push(`at the end: ${c.waiting} waiting`)
    if (deadlinesOf(registry, clock).armed) violations.push("at the end: a timer is left")
    if (violations.length > 0) throw new Error(violations.slice(0, 5).join("\n"))
  })

const settingsOf = (scenario: Scenario): CircuitConfigInput => ({
  maxConcurrentRequests: scenario.limit === "adaptive"
    ? { adaptive: "aimd", initial: 1, min: 1, max: 4, backoffRatio: 0.5 }
    : scenario.limit,
  queueCapacity: scenario.capacity,
  maxQueueWait: scenario.maxQueueWait,
  timeout: scenario.timeout,
  requestVolumeThreshold: 4,
  sleepWindow: 200
})

describe("the wait queue under random interleavings", () => {
  it("bounds running calls and waiters, hands permits first come first served, bounds every wait, one outcome per call, no leak", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, (scenario) =>
        Effect.runPromise(
          run(scenario).pipe(
            Effect.provide(CircuitRegistry.layer({ circuits: { q: settingsOf(scenario) } })),
            Effect.provide(TestClock.layer())
          )
        )),
      { numRuns: 300 }
    )
  })
})

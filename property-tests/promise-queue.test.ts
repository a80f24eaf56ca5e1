/**
 * Issue 12: the wait queue through the Promise shell (`CircuitPromise.fire`),
 * on a manual clock, over random interleavings of arrivals (with and without
 * a fallback; `fn` answering at once or later, with a value or a rejection),
 * caller aborts, time steps, changes of the limit and of the queue's capacity,
 * and the circuit forced open and reset. The same rules as
 * property-tests/queue.test.ts checks for `withCircuit`: `fn` runs only with a
 * permit and never beyond the limit; nobody passes a waiter; the queue never
 * holds more than its capacity; waiters start in the order they joined; no
 * wait lasts longer than `maxQueueWait`; exactly one outcome per call, the
 * events agreeing with the callers; every permit back, nobody waiting.
 */
import { describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { cellOf } from "../src/internal/cell.ts"
import {
  CircuitClock,
  type CircuitConfigInput,
  CircuitOpenError,
  CircuitPromise,
  CircuitRejectedError,
  CircuitTimeoutError,
  type EventKind
} from "../src/promise/index.ts"

type Command =
  | { readonly _tag: "arrive"; readonly duration: number; readonly fails: boolean; readonly fallback: boolean }
  | { readonly _tag: "abort"; readonly pick: number }
  | { readonly _tag: "step"; readonly millis: number }
  | { readonly _tag: "limit"; readonly limit: number }
  | { readonly _tag: "capacity"; readonly capacity: number }
  | { readonly _tag: "open" }
  | { readonly _tag: "reset" }

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      _tag: fc.constant("arrive" as const),
      duration: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 })),
      fails: fc.boolean(),
      fallback: fc.boolean()
    })
  },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("abort" as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ _tag: fc.constant("step" as const), millis: fc.integer({ min: 1, max: 200 }) }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("limit" as const), limit: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("capacity" as const), capacity: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "open" as const }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "reset" as const }) }
)

interface Scenario {
  readonly limit: number
  readonly capacity: number
  readonly maxQueueWait: number
  readonly timeout: number | "infinity"
  readonly commands: ReadonlyArray<Command>
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  limit: fc.integer({ min: 1, max: 3 }),
  capacity: fc.integer({ min: 1, max: 5 }),
  maxQueueWait: fc.integer({ min: 1, max: 400 }),
  timeout: fc.oneof(fc.integer({ min: 50, max: 400 }), fc.constant("infinity" as const)),
  commands: fc.array(commandArb, { minLength: 1, maxLength: 60 })
})

class Boom extends Error {}

const classify = (error: unknown): string =>
  error === "aborted"
    ? "interrupted"
    : error instanceof CircuitOpenError
    ? "short-circuited"
    : error instanceof CircuitRejectedError
    ? error.reason === "queue-timeout" ? "queue-timeout" : "rejected"
    : error instanceof CircuitTimeoutError
    ? "timeout"
    : "failure"

const outcomes: ReadonlySet<EventKind> = new Set<EventKind>([
  "success", "failure", "timeout", "rejected", "queue-timeout", "short-circuited", "interrupted", "ignored"
])

const tally = (kinds: ReadonlyArray<string>) => {
  const out: Record<string, number> = {}
  for (const k of kinds) out[k] = (out[k] ?? 0) + 1
  return out
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve))

const run = async (scenario: Scenario): Promise<void> => {
  const clock = CircuitClock.manual(1_000)
  const settings: CircuitConfigInput = {
    maxConcurrentRequests: scenario.limit,
    queueCapacity: scenario.capacity,
    maxQueueWait: scenario.maxQueueWait,
    timeout: scenario.timeout,
    requestVolumeThreshold: 4,
    sleepWindow: 200
  }
  const circuits = CircuitPromise.make({ circuits: { q: settings }, clock })
  try {
    const cell = () => cellOf(circuits.registry.cell("q", clock.now()))
    const violations: Array<string> = []
    let running = 0
    let arriving = -1
    const events: Array<EventKind> = []
    const queuedOrder: Array<number> = []
    const queuedAt = new Map<number, number>()
    const startOrder: Array<number> = []
    const startedAt = new Map<number, number>()
    const answeredAt = new Map<number, number>()
    circuits.subscribe({
      event: (e) => {
        events.push(e.kind)
        if (e.kind === "queued") {
          queuedOrder.push(arriving)
          queuedAt.set(arriving, clock.now())
        }
      }
    })
    const fn = (i: number, spec: Extract<Command, { _tag: "arrive" }>) => (): unknown => {
      const c = cell()
      running++
      startOrder.push(i)
      startedAt.set(i, clock.now())
      if (running > c.maxConcurrent) violations.push(`call ${i}: ${running} running > limit ${c.maxConcurrent}`)
      if (!queuedAt.has(i) && c.waiting !== 0) violations.push(`call ${i} barged past ${c.waiting} waiting`)
      if (spec.duration === 0) {
        running--
        if (spec.fails) throw new Boom()
        return "ok"
      }
      return new Promise((resolve, reject) => {
        clock.setTimer(() => {
          running--
          if (spec.fails) reject(new Boom())
          else resolve("ok")
        }, spec.duration)
      })
    }
    const calls: Array<{ readonly controller: AbortController; done: boolean; result: string | undefined }> = []
    const check = (after: string) => {
      const c = cell()
      if (c.waiting > c.queueCapacity) violations.push(`${after}: ${c.waiting} waiting > capacity ${c.queueCapacity}`)
      if (c.active !== running) violations.push(`${after}: ${c.active} permits but ${running} fn running`)
    }

    for (const command of scenario.commands) {
      switch (command._tag) {
        case "arrive": {
          const i = calls.length
          const call = { controller: new AbortController(), done: false, result: undefined as string | undefined }
          calls.push(call)
          arriving = i
          const settle = (result: string) => {
            call.done = true
            call.result = result
            answeredAt.set(i, clock.now())
          }
          circuits.fire("q", fn(i, command), {
            signal: call.controller.signal,
            ...(command.fallback ? { fallback: (error: unknown) => ({ fallback: error }) } : {})
          }).then(
            (value) =>
              settle(typeof value === "object" && value !== null && "fallback" in value
                ? classify((value as { readonly fallback: unknown }).fallback)
                : "success"),
            (error: unknown) => settle(classify(error))
          )
          arriving = -1
          break
        }
        case "abort": {
          const live = calls.filter((c) => !c.done && !c.controller.signal.aborted)
          if (live.length > 0) live[command.pick % live.length]!.controller.abort("aborted")
          break
        }
        case "step":
          await clock.advance(command.millis)
          break
        case "limit":
          circuits.configure("q", { maxConcurrentRequests: command.limit })
          break
        case "capacity":
          circuits.configure("q", { queueCapacity: command.capacity })
          break
        case "open":
          circuits.forceOpen("q")
          break
        case "reset":
          circuits.reset("q")
          break
      }
      await flush()
      check(command._tag)
    }
    circuits.reset("q")
    for (let t = 0; t < 60 && (calls.some((c) => !c.done) || running > 0); t++) {
      await clock.advance(500)
      await flush()
      check("drain")
    }

    const fromEvents = tally(events.filter((k) => outcomes.has(k)))
    const fromCallers = tally(calls.map((c) => c.result ?? "unanswered"))
    for (const kind of new Set([...Object.keys(fromEvents), ...Object.keys(fromCallers)])) {
      if (fromEvents[kind] !== fromCallers[kind]) {
        violations.push(`${kind}: ${fromEvents[kind] ?? 0} events, ${fromCallers[kind] ?? 0} callers`)
      }
    }
    const startedWaiters = startOrder.filter((i) => queuedAt.has(i))
    const joined = queuedOrder.filter((i) => startedAt.has(i))
    if (startedWaiters.join() !== joined.join()) violations.push(`FIFO: joined ${joined.join()}, started ${startedWaiters.join()}`)
    for (const [i, at] of queuedAt) {
      const left = startedAt.get(i) ?? answeredAt.get(i)
      if (left === undefined) violations.push(`call ${i} never left the queue`)
      else if (left - at > scenario.maxQueueWait) violations.push(`call ${i} waited ${left - at} > ${scenario.maxQueueWait}`)
    }
    const c = cell()
    if (c.active !== 0 || running !== 0) violations.push(`at the end: ${c.active} permits, ${running} running`)
    if (c.waiting !== 0) violations.push(`at the end: ${c.waiting} waiting`)
    if (violations.length > 0) throw new Error(violations.slice(0, 5).join("\n"))
  } finally {
    circuits.close()
  }
}

describe("CircuitPromise's wait queue under random interleavings", () => {
  it("bounds running calls and waiters, hands permits first come first served, bounds every wait, one outcome per call, no leak", async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, run), { numRuns: 200 })
  })
})

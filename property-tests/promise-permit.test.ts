/**
 * Two-step calls of the Promise shell (`circuits.admit`) under random
 * sequences, on a manual clock, against the independent reference model
 * (`model.ts`): admissions, reports of every kind, second reports,
 * disposes, the caller's abort, clock steps past the timeout (where a
 * Promise permit is recorded `timeout` and given back), and `close()`.
 *
 * Checked after every step: the circuit's state and window equal the
 * model's, the permits in use equal the unreported permits within their
 * deadline and never exceed the limit, and each permit's outcome is the one
 * the model expects. At the end: one outcome event per admission, one
 * refusal event per refusal, every permit back.
 */
import { describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import {
  CircuitClock,
  CircuitClosedError,
  CircuitOpenError,
  type CircuitPermit,
  CircuitPromise,
  CircuitRejectedError,
  type EventKind,
  type PermitOutcome
} from "../src/promise/index.ts"
import * as M from "./model.ts"

type How = "success" | "failure" | "not-counted" | "ignore" | "dispose" | "abort"

type Command =
  | { readonly _tag: "Admit" }
  | { readonly _tag: "Report"; readonly i: number; readonly how: How }
  | { readonly _tag: "Advance"; readonly millis: number }
  | { readonly _tag: "Close" }

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ _tag: "Admit" } as const) },
  {
    weight: 4,
    arbitrary: fc.record({
      _tag: fc.constant("Report" as const),
      i: fc.nat(),
      how: fc.constantFrom<How>("success", "success", "failure", "failure", "failure", "not-counted", "ignore", "dispose", "abort")
    })
  },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("Advance" as const), millis: fc.integer({ min: 1, max: 400 }) }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "Close" } as const) }
)

const scenarioArb = fc.record({
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

class NotCounted extends Error {}

interface Held {
  readonly permit: CircuitPermit
  readonly controller: AbortController
  readonly epoch: number
  readonly startedAt: number
  readonly deadline: number
  expected: PermitOutcome | undefined
}

const fail = (message: string): never => {
  throw new Error(message)
}

const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (error) {
    return error
  }
  return undefined
}

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never

const run = async (s: Scenario) => {
  const clock = CircuitClock.manual(0)
  const circuits = CircuitPromise.make({
    clock,
    defaults: {
      maxConcurrentRequests: s.max,
      timeout: s.timeout ?? "infinity",
      requestVolumeThreshold: s.volume,
      errorPercentThreshold: s.percent,
      sleepWindow: s.sleep,
      rollingWindow: { buckets: s.buckets, bucketDuration: s.bucketMillis }
    }
  })
  const events: Array<EventKind> = []
  circuits.subscribe({ event: (event) => events.push(event.kind) })
  const registry = circuits.registry
  let model = M.makeModel({
    buckets: s.buckets,
    bucketMillis: s.bucketMillis,
    volume: s.volume,
    percent: s.percent,
    sleep: () => s.sleep
  })
  const permits: Array<Held> = []
  const refusals = { "short-circuited": 0, rejected: 0 }
  const options = { isFailure: (error: unknown) => !(error instanceof NotCounted) }
  // A Promise permit is held until its outcome is recorded (the timeout included).
  const heldCount = () => permits.filter((p) => p.expected === undefined).length
  const trace: Array<string> = []
  const where = () => `\n  after: ${trace.join(" ")}`
  let closed = false

  const check = () => {
    const now = clock.now()
    if (heldCount() > s.max) fail(`${heldCount()} permits held, limit ${s.max}${where()}`)
    for (const [i, p] of permits.entries()) {
      if (p.permit.outcome !== p.expected) fail(`permit ${i}: outcome ${p.permit.outcome}, model ${p.expected}${where()}`)
    }
    const cell = registry.lookup("c")
    if (closed) {
      if (cell !== undefined && cell.active !== 0) fail(`${cell.active} permits held after close()${where()}`)
      return
    }
    const snapshot = circuits.snapshot("c")
    if (snapshot.concurrency.active !== heldCount()) fail(`active ${snapshot.concurrency.active}, held ${heldCount()}${where()}`)
    if (snapshot.state !== model.state.name) fail(`state ${snapshot.state}, model ${model.state.name} at ${now}${where()}`)
    const expected = M.summaryAt(model, now)
    for (const field of ["success", "failure", "timeout", "rejected", "shortCircuited", "total", "errors"] as const) {
      if (snapshot.window[field] !== expected[field]) {
        fail(`window.${field} ${snapshot.window[field]}, model ${expected[field]} at ${now}${where()}`)
      }
    }
  }

  for (const command of s.commands) {
    const now = clock.now()
    switch (command._tag) {
      case "Admit": {
        trace.push(`admit@${now}`)
        const controller = new AbortController()
        const admitted = circuits.admit("c", { ...options, signal: controller.signal })
        const error = await rejection(admitted)
        if (closed) {
          if (!(error instanceof CircuitClosedError)) fail(`admitted after close()${where()}`)
          break
        }
        const admission = M.admit(model, now)
        if (admission === "short-circuit") {
          model = M.shortCircuited(model, now)
          refusals["short-circuited"]++
          if (!(error instanceof CircuitOpenError)) fail(`not short-circuited${where()}`)
          break
        }
        if (admission === "probe") model = M.probeAdmitted(model)
        if (heldCount() >= s.max) {
          model = M.complete(model, now, model.epoch, "rejected")
          refusals.rejected++
          if (!(error instanceof CircuitRejectedError)) fail(`not rejected${where()}`)
          break
        }
        if (error !== undefined) fail(`refused: ${String(error)}${where()}`)
        permits.push({
          permit: await admitted,
          controller,
          epoch: model.epoch,
          startedAt: now,
          deadline: s.timeout === undefined ? Infinity : now + s.timeout,
          expected: undefined
        })
        break
      }
      case "Report": {
        if (permits.length === 0) break
        const p = permits[command.i % permits.length]!
        trace.push(`report#${command.i % permits.length}:${command.how}@${now}`)
        const before = p.expected
        let result: PermitOutcome = "ignored"
        let decided: boolean | undefined
        switch (command.how) {
          case "success":
            decided = p.permit.success()
            result = "success"
            break
          case "failure":
            decided = p.permit.failure(new Error("down"))
            result = "failure"
            break
          case "not-counted":
            decided = p.permit.failure(new NotCounted())
            result = "ignored"
            break
          case "ignore":
            decided = p.permit.ignore()
            result = "ignored"
            break
          case "dispose":
            p.permit[Symbol.dispose]()
            result = "ignored"
            break
          case "abort":
            p.controller.abort(new Error("gone"))
            result = "interrupted"
            break
        }
        if (decided !== undefined && decided !== (before === undefined)) {
          fail(`report answered ${decided}, outcome was ${before}${where()}`)
        }
        if (before === undefined) {
          p.expected = result
          model = M.complete(model, now, p.epoch, result, now - p.startedAt)
        }
        break
      }
      case "Advance": {
        trace.push(`+${command.millis}`)
        const target = now + command.millis
        const due = permits
          .filter((p) => p.expected === undefined && p.deadline <= target)
          .sort((a, b) => a.deadline - b.deadline)
        for (const p of due) {
          p.expected = "timeout"
          if (!closed) model = M.complete(model, p.deadline, p.epoch, "timeout", p.deadline - p.startedAt)
        }
        await clock.advance(command.millis)
        break
      }
      case "Close": {
        if (closed) break
        trace.push(`close@${now}`)
        const cell = registry.lookup("c")
        circuits.close()
        closed = true
        for (const p of permits) p.expected ??= "interrupted"
        if (cell !== undefined && cell.active !== 0) fail(`${cell.active} permits held after close()${where()}`)
        break
      }
    }
    check()
  }
  const cell = registry.lookup("c")
  for (const p of permits) {
    p.permit[Symbol.dispose]()
    p.expected ??= "ignored"
  }
  check()
  if (cell !== undefined && cell.active !== 0) fail(`${cell.active} permits leaked${where()}`)
  circuits.close()
  const count = (kinds: ReadonlyArray<EventKind>) => events.filter((k) => kinds.includes(k)).length
  const outcomes = count(["success", "failure", "timeout", "interrupted", "ignored"])
  if (outcomes !== permits.length) fail(`${outcomes} outcome events for ${permits.length} admissions${where()}`)
  for (const kind of ["success", "failure", "timeout", "interrupted", "ignored"] as const) {
    const expected = permits.filter((p) => p.expected === kind).length
    if (count([kind]) !== expected) fail(`${count([kind])} ${kind} events, expected ${expected}${where()}`)
  }
  if (count(["short-circuited"]) !== refusals["short-circuited"]) fail(`short-circuit events${where()}`)
  if (count(["rejected"]) !== refusals.rejected) fail(`rejected events${where()}`)
}

describe("two-step calls of the Promise shell (circuits.admit)", () => {
  it("one outcome per admission, the model's state and window, permits within the limit, bounded by the timeout", async () => {
    await fc.assert(fc.asyncProperty(scenarioArb, run), { numRuns: 1000 })
  })
})

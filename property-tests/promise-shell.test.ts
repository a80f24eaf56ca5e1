/**
 * The Promise shell under random concurrent load, on a manual clock: many
 * calls with random start times, durations, results, timeouts, caller aborts
 * and work that ignores its signal.
 *
 * Checked after every clock step: work running never exceeds the limit and
 * equals the permits the circuit holds (SPEC 9, 10). At the end: every caller
 * got exactly one answer, a timed-out caller got it at its deadline, every
 * call that was admitted published exactly one outcome event (SPEC 12), and
 * every permit is back with no timer left armed.
 */
import { describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import {
  CircuitClock,
  type CircuitEvent,
  CircuitOpenError,
  CircuitPromise,
  CircuitRejectedError,
  CircuitTimeoutError
} from "../src/promise/index.ts"

type Behaviour = "succeed" | "fail" | "throw" | "stubborn" | "hang"

interface CallSpec {
  readonly start: number
  readonly duration: number
  readonly behaviour: Behaviour
  readonly abortAfter: number | undefined
}

const callArb: fc.Arbitrary<CallSpec> = fc.record({
  start: fc.integer({ min: 0, max: 2000 }),
  duration: fc.integer({ min: 0, max: 800 }),
  behaviour: fc.constantFrom<Behaviour>("succeed", "succeed", "fail", "throw", "stubborn", "hang"),
  abortAfter: fc.option(fc.integer({ min: 0, max: 600 }), { nil: undefined })
})

const scenarioArb = fc.record({
  max: fc.integer({ min: 1, max: 5 }),
  timeout: fc.integer({ min: 50, max: 500 }),
  volume: fc.integer({ min: 1, max: 10 }),
  percent: fc.integer({ min: 0, max: 100 }),
  calls: fc.array(callArb, { minLength: 1, maxLength: 40 })
})

const flush = () => new Promise<void>((resolve) => setImmediate(resolve))

const outcomes = new Set<CircuitEvent["kind"]>(["success", "failure", "timeout", "interrupted", "ignored"])

describe("the Promise shell under random concurrent load", () => {
  it("never exceeds the limit, answers every caller once, records one outcome per call, returns every permit", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const clock = CircuitClock.manual()
        const circuits = CircuitPromise.make({
          clock,
          defaults: {
            maxConcurrentRequests: scenario.max,
            timeout: scenario.timeout,
            requestVolumeThreshold: scenario.volume,
            errorPercentThreshold: scenario.percent,
            sleepWindow: 300
          }
        })
        const events: Array<CircuitEvent> = []
        circuits.subscribe({ event: (e) => void events.push(e) })
        let running = 0
        let started = 0
        const answers: Array<Array<{ at: number; value: unknown }>> = scenario.calls.map(() => [])
        const startedAt: Array<number> = []
        const problems: Array<string> = []

        const work = (spec: CallSpec, signal: AbortSignal): unknown => {
          started++
          running++
          if (running > scenario.max) problems.push(`${running} running, limit ${scenario.max}`)
          const end = () => void running--
          if (spec.behaviour === "throw") {
            end()
            throw new Error("sync")
          }
          return new Promise((resolve, reject) => {
            const timer = spec.behaviour === "hang" ? undefined : clock.setTimer(() => {
              end()
              if (spec.behaviour === "fail") reject(new Error("fail"))
              else resolve("ok")
            }, spec.duration)
            if (spec.behaviour === "stubborn") return
            signal.addEventListener("abort", () => {
              if (timer !== undefined) clock.clearTimer(timer)
              end()
              reject(signal.reason)
            }, { once: true })
          })
        }

        const order = scenario.calls.map((spec, i) => ({ spec, i })).sort((a, b) => a.spec.start - b.spec.start)
        for (const { i, spec } of order) {
          await clock.advance(spec.start - clock.now())
          await flush()
          const caller = new AbortController()
          if (spec.abortAfter !== undefined) {
            clock.setTimer(() => caller.abort(new Error("caller aborted")), spec.abortAfter)
          }
          startedAt[i] = clock.now()
          circuits.fire("c", (signal) => work(spec, signal), { signal: caller.signal }).then(
            (value) => void answers[i]!.push({ at: clock.now(), value }),
            (value: unknown) => void answers[i]!.push({ at: clock.now(), value })
          )
          await flush()
          const snap = circuits.snapshot("c")
          if (snap.concurrency.active !== running) problems.push(`permits ${snap.concurrency.active}, running ${running}`)
        }
        // Let everything end: every hung call times out or is aborted.
        for (let k = 0; k < 40 && clock.pending() > 0; k++) {
          await clock.advance(100)
          await flush()
          const snap = circuits.snapshot("c")
          if (snap.concurrency.active !== running) problems.push(`permits ${snap.concurrency.active}, running ${running}`)
        }
        await flush()
        answers.forEach((a, i) => {
          if (a.length !== 1) problems.push(`call ${i} answered ${a.length} times`)
          const answer = a[0]
          if (answer?.value instanceof CircuitTimeoutError && answer.at !== startedAt[i]! + scenario.timeout) {
            problems.push(`call ${i} timed out at ${answer.at}, deadline ${startedAt[i]! + scenario.timeout}`)
          }
        })
        const refused = answers.filter((a) =>
          a[0]?.value instanceof CircuitOpenError || a[0]?.value instanceof CircuitRejectedError
        ).length
        const outcomeEvents = events.filter((e) => outcomes.has(e.kind)).length
        if (outcomeEvents !== started) problems.push(`${started} calls started, ${outcomeEvents} outcomes`)
        if (started + refused !== scenario.calls.length) {
          problems.push(`${started} started + ${refused} refused != ${scenario.calls.length} calls`)
        }
        const end = circuits.snapshot("c")
        if (end.concurrency.active !== 0 || running !== 0) problems.push(`permits ${end.concurrency.active} left`)
        circuits.close()
        if (clock.pending() !== 0) problems.push(`${clock.pending()} timers left after close`)
        if (problems.length > 0) throw new Error(problems.join("\n"))
      }),
      { numRuns: 200 }
    )
  })
})

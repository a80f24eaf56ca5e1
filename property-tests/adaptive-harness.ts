/**
 * A simulated dependency with a capacity, driven through the real shell
 * (`withCircuit`) on `TestClock`: the test bed of the adaptive-limit
 * properties, of `scripts/adaptive-plot.ts` and of the adaptive example.
 *
 * The dependency serves `capacity` calls at once at its no-load latency `L`;
 * past that, calls share it (processor sharing): a call that starts with `n`
 * calls in the dependency (itself included) takes `L · max(1, n / capacity)`,
 * so throughput never exceeds `capacity / L` and queueing shows as latency.
 * The capacity can change mid-run. Load is open-loop: calls arrive at
 * `overload × capacity / L` per millisecond (more than it can serve), every
 * `tick` milliseconds, whether or not earlier calls have ended.
 */
import { Cause, Effect, Exit } from "effect"
import { TestClock } from "effect/testing"
import { CircuitRegistry, type CircuitConfigInput, withCircuit } from "../src/index.ts"
import { cellOf } from "../src/internal/cell.ts"
import { CircuitRejectedError, CircuitTimeoutError } from "../src/errors.ts"

export interface Phase {
  /** The dependency's capacity during this phase. */
  readonly capacity: number
  /** How long it lasts, in ms. */
  readonly millis: number
}

export interface Scenario {
  /** `maxConcurrentRequests`: a fixed number or an adaptive setting. */
  readonly limit: CircuitConfigInput["maxConcurrentRequests"]
  /** The no-load latency, ms. */
  readonly latency: number
  /** The circuit's timeout, ms. */
  readonly timeout: number
  /** Offered load as a multiple of the capacity. */
  readonly overload: number
  readonly phases: ReadonlyArray<Phase>
  /** Arrivals (and limit samples) every `tick` ms. Default latency / 10. */
  readonly tick?: number
}

export interface CallRecord {
  readonly start: number
  readonly end: number
  readonly outcome: "success" | "timeout" | "rejected" | "other"
}

export interface Run {
  /** The limit at each tick, with the capacity then. */
  readonly trace: ReadonlyArray<{ readonly at: number; readonly limit: number; readonly capacity: number }>
  readonly calls: ReadonlyArray<CallRecord>
}

/** Runs a scenario to its end under its own TestClock and registry. */
export const simulate = (scenario: Scenario): Effect.Effect<Run> => {
  const tick = scenario.tick ?? Math.max(1, Math.round(scenario.latency / 10))
  const total = scenario.phases.reduce((sum, p) => sum + p.millis, 0)
  return Effect.gen(function*() {
    const dependency = { capacity: scenario.phases[0]!.capacity, inFlight: 0 }
    const work = Effect.suspend(() => {
      dependency.inFlight++
      const latency = Math.round(scenario.latency * Math.max(1, dependency.inFlight / dependency.capacity))
      return Effect.ensuring(
        Effect.sleep(latency),
        Effect.sync(() => {
          dependency.inFlight--
        })
      )
    })
    const calls: Array<CallRecord> = []
    const trace: Array<{ at: number; limit: number; capacity: number }> = []
    const guarded = work.pipe(withCircuit("dependency"))
    const call = Effect.gen(function*() {
      const start = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      const exit = yield* Effect.exit(guarded)
      const end = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      let outcome: CallRecord["outcome"] = "other"
      if (Exit.isSuccess(exit)) outcome = "success"
      else {
        const error = Cause.findErrorOption(exit.cause)
        if (error._tag === "Some" && error.value instanceof CircuitRejectedError) outcome = "rejected"
        else if (error._tag === "Some" && error.value instanceof CircuitTimeoutError) outcome = "timeout"
      }
      calls.push({ start, end, outcome })
    })
    const registry = yield* CircuitRegistry
    let owed = 0
    let phaseIndex = 0
    let phaseEnd = scenario.phases[0]!.millis
    for (let at = 0; at < total; at += tick) {
      while (at >= phaseEnd && phaseIndex < scenario.phases.length - 1) {
        phaseIndex++
        phaseEnd += scenario.phases[phaseIndex]!.millis
        dependency.capacity = scenario.phases[phaseIndex]!.capacity
      }
      owed += scenario.overload * dependency.capacity * tick / scenario.latency
      for (; owed >= 1; owed--) yield* Effect.forkChild(call)
      const cell = registry.lookup("dependency")
      trace.push({ at, limit: cell === undefined ? NaN : cellOf(cell).maxConcurrent, capacity: dependency.capacity })
      yield* TestClock.adjust(tick)
    }
    // Let the last calls end.
    yield* TestClock.adjust(scenario.timeout + tick)
    return { trace, calls }
  }).pipe(
    Effect.provide(CircuitRegistry.layer({
      defaults: {
        maxConcurrentRequests: scenario.limit,
        timeout: scenario.timeout,
        // The breaker stays out of it: these properties are about the limit.
        requestVolumeThreshold: 1_000_000
      },
      metrics: false
    })),
    Effect.provide(TestClock.layer()),
    Effect.scoped,
    Effect.orDie
  )
}

/** The first time from which the limit stays within `[lo, hi]` until `to` (`Infinity` if never). */
export const settledFrom = (run: Run, from: number, to: number, lo: number, hi: number): number => {
  let settled = from
  for (const point of run.trace) {
    if (point.at < from || point.at >= to) continue
    if (point.limit < lo || point.limit > hi) settled = point.at + 1
  }
  return settled >= to ? Infinity : settled
}

/** The p-th percentile (0–100) of the latencies of successful calls started in `[from, to)`. */
export const percentile = (run: Run, from: number, to: number, p: number): number => {
  const latencies = run.calls
    .filter((c) => c.outcome !== "rejected" && c.start >= from && c.start < to)
    .map((c) => c.end - c.start)
    .sort((a, b) => a - b)
  if (latencies.length === 0) return NaN
  return latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)]!
}

/** Successful calls that started in `[from, to)`, per no-load latency, as a fraction of `capacity`. */
export const goodput = (run: Run, from: number, to: number, capacity: number, latency: number): number => {
  const ok = run.calls.filter((c) => c.outcome === "success" && c.start >= from && c.start < to).length
  return ok / ((to - from) / latency) / capacity
}

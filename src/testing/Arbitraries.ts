/**
 * fast-check arbitraries for checking circuit settings with properties:
 * random traces of calls, random outage scenarios, random valid settings.
 * Pair them with `simulate` (pure, fast) to check what your settings do over
 * thousands of situations instead of the one you thought of.
 *
 * **Details**
 *
 * This module imports `fast-check`, an optional peer dependency: install it
 * (`npm install --save-dev fast-check`) to use `effect-circuit/testing`. The
 * package root (`effect-circuit`) never imports it.
 *
 * **Example** (A 30 s outage trips within 2 s and recovers within 10 s)
 *
 * ```ts
 * import * as fc from "fast-check"
 * import { outageArbitrary, outageReport, outageTrace, simulate } from "effect-circuit/testing"
 *
 * const settings = {
 *   requestVolumeThreshold: 10,
 *   rollingWindow: { buckets: 10, bucketDuration: "200 millis" },
 *   sleepWindow: "2 seconds"
 * } as const
 *
 * fc.assert(
 *   fc.property(outageArbitrary({
 *     outageMillis: { min: 30_000, max: 30_000 },
 *     requestsPerSecond: { min: 20, max: 100 },
 *     modes: ["errors"]
 *   }), (outage) => {
 *     const report = outageReport(simulate(settings, outageTrace(outage)), outage)
 *     return report.trippedAfterMillis !== undefined && report.trippedAfterMillis <= 2_000 &&
 *       report.recoveredAfterMillis !== undefined && report.recoveredAfterMillis <= 10_000
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as fc from "fast-check"
import type { CircuitConfigInput } from "../CircuitConfig.ts"
import type { Outage, Outcome, Trace, TraceCall } from "./Simulation.ts"

/**
 * An inclusive range of integers.
 *
 * @since 0.1.0
 * @category models
 */
export interface Range {
  readonly min: number
  readonly max: number
}

/**
 * Options of `traceArbitrary`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TraceOptions {
  /** How many calls. Default `{ min: 0, max: 200 }`. */
  readonly calls?: Range | undefined
  /** Milliseconds between consecutive arrivals. Default `{ min: 0, max: 500 }`. */
  readonly gapMillis?: Range | undefined
  /** How long a call runs. Default `{ min: 0, max: 2_000 }`. */
  readonly durationMillis?: Range | undefined
  /** Relative weights of the outcomes. Default `{ success: 3, failure: 2, ignored: 1 }`. */
  readonly outcomes?: Partial<Readonly<Record<Outcome, number>>> | undefined
  /** When the first call may arrive. Default 0. */
  readonly start?: number | undefined
}

/**
 * The outcome of a call, with the given relative weights (an outcome left
 * out has weight 0).
 *
 * **Gotchas**
 *
 * Throws a `RangeError` when no outcome has a weight above 0.
 *
 * **Example** (Mostly failures)
 *
 * ```ts
 * import { outcomeArbitrary, traceArbitrary } from "effect-circuit/testing"
 *
 * const failing = outcomeArbitrary({ success: 1, failure: 9 })
 * const bad = traceArbitrary({ outcomes: { success: 1, failure: 9 } })
 * ```
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const outcomeArbitrary = (
  weights: Partial<Readonly<Record<Outcome, number>>> = { success: 3, failure: 2, ignored: 1 }
): fc.Arbitrary<Outcome> => {
  const choices = (["success", "failure", "ignored"] as const)
    .map((outcome) => ({ arbitrary: fc.constant<Outcome>(outcome), weight: weights[outcome] ?? 0 }))
    .filter((choice) => choice.weight > 0)
  if (choices.length === 0) throw new RangeError("outcomeArbitrary: at least one outcome needs a weight > 0")
  return fc.oneof(...choices)
}

/**
 * A random trace: calls arriving in order, separated by random gaps, each
 * with a random outcome and duration. Shrinks towards fewer, shorter,
 * successful calls closer together.
 *
 * **Example** (No trace opens a circuit with fewer requests than the volume threshold)
 *
 * ```ts
 * import * as fc from "fast-check"
 * import { simulate, traceArbitrary } from "effect-circuit/testing"
 *
 * fc.assert(
 *   fc.property(traceArbitrary({ calls: { min: 0, max: 19 } }), (trace) =>
 *     simulate({ requestVolumeThreshold: 20 }, trace).transitions.length === 0)
 * )
 * ```
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const traceArbitrary = (options: TraceOptions = {}): fc.Arbitrary<Trace> => {
  const calls = options.calls ?? { min: 0, max: 200 }
  const gap = options.gapMillis ?? { min: 0, max: 500 }
  const duration = options.durationMillis ?? { min: 0, max: 2_000 }
  const start = options.start ?? 0
  const step = fc.record({
    gap: fc.integer(gap),
    outcome: outcomeArbitrary(options.outcomes),
    durationMillis: fc.integer(duration)
  })
  return fc.array(step, { minLength: calls.min, maxLength: calls.max }).map((steps) => {
    let at = start
    return steps.map(({ durationMillis, gap, outcome }): TraceCall => {
      at += gap
      return { at, outcome, durationMillis }
    })
  })
}

/**
 * Options of `outageArbitrary`. Every range is inclusive.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutageOptions {
  /** Steady traffic, calls per second. Default `{ min: 5, max: 50 }`. */
  readonly requestsPerSecond?: Range | undefined
  /** Healthy traffic before the outage, milliseconds. Default `{ min: 0, max: 20_000 }`. */
  readonly beforeMillis?: Range | undefined
  /** How long the dependency is down, milliseconds. Default `{ min: 1_000, max: 60_000 }`. */
  readonly outageMillis?: Range | undefined
  /** Healthy traffic after the outage, milliseconds. Default `{ min: 30_000, max: 30_000 }`. */
  readonly afterMillis?: Range | undefined
  /** How the dependency fails. Default: either. */
  readonly modes?: ReadonlyArray<"errors" | "hangs"> | undefined
  /** The share of calls failing while down, in percent. Default `{ min: 100, max: 100 }`. */
  readonly failurePercent?: Range | undefined
  /** Latency of calls that answer, milliseconds. Default `{ min: 0, max: 200 }`. */
  readonly latencyMillis?: Range | undefined
}

/**
 * A random outage scenario (see `Outage`): healthy traffic, an outage, then
 * healthy traffic again. Feed it to `outageTrace` and `outageReport`.
 *
 * **Gotchas**
 *
 * Keep `afterMillis` longer than the recovery you want to check: a circuit
 * that has not closed by the end of the trace reports
 * `recoveredAfterMillis: undefined`.
 *
 * **Example** (Short outages of hanging calls at low traffic)
 *
 * ```ts
 * import * as fc from "fast-check"
 * import { outageArbitrary } from "effect-circuit/testing"
 *
 * const outages = outageArbitrary({
 *   requestsPerSecond: { min: 1, max: 5 },
 *   outageMillis: { min: 1_000, max: 5_000 },
 *   modes: ["hangs"]
 * })
 * fc.sample(outages, 3) // three Outage scenarios
 * ```
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const outageArbitrary = (options: OutageOptions = {}): fc.Arbitrary<Outage> =>
  fc.record({
    requestsPerSecond: fc.integer(options.requestsPerSecond ?? { min: 5, max: 50 }),
    before: fc.integer(options.beforeMillis ?? { min: 0, max: 20_000 }),
    length: fc.integer(options.outageMillis ?? { min: 1_000, max: 60_000 }),
    after: fc.integer(options.afterMillis ?? { min: 30_000, max: 30_000 }),
    mode: fc.constantFrom(...(options.modes ?? ["errors", "hangs"] as const)),
    failurePercent: fc.integer(options.failurePercent ?? { min: 100, max: 100 }),
    latencyMillis: fc.integer(options.latencyMillis ?? { min: 0, max: 200 })
  }).map((o): Outage => ({
    requestsPerSecond: o.requestsPerSecond,
    outageStart: o.before,
    outageEnd: o.before + o.length,
    durationMillis: o.before + o.length + o.after,
    mode: o.mode,
    failureRate: o.failurePercent / 100,
    latencyMillis: o.latencyMillis
  }))

/**
 * Random valid settings (every field present), for properties that must hold
 * whatever the settings: durations as milliseconds, sizes kept small enough
 * for fast simulations.
 *
 * **Example** (Nothing opens without failures)
 *
 * ```ts
 * import * as fc from "fast-check"
 * import { settingsArbitrary, simulate, traceArbitrary } from "effect-circuit/testing"
 *
 * fc.assert(
 *   fc.property(
 *     settingsArbitrary().filter((s) => (s.errorPercentThreshold ?? 50) > 0),
 *     // Calls that end as they start: no timeouts, no rejections.
 *     traceArbitrary({ outcomes: { success: 1 }, durationMillis: { min: 0, max: 0 } }),
 *     (settings, trace) => simulate(settings, trace).transitions.length === 0
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category arbitraries
 */
export const settingsArbitrary = (): fc.Arbitrary<CircuitConfigInput> =>
  fc.record({
    timeout: fc.integer({ min: 1, max: 10_000 }),
    maxConcurrentRequests: fc.integer({ min: 1, max: 100 }),
    requestVolumeThreshold: fc.integer({ min: 0, max: 100 }),
    errorPercentThreshold: fc.integer({ min: 0, max: 100 }),
    sleepWindow: fc.integer({ min: 0, max: 30_000 }),
    rollingWindow: fc.record({
      buckets: fc.integer({ min: 1, max: 60 }),
      bucketDuration: fc.integer({ min: 1, max: 5_000 })
    })
  })

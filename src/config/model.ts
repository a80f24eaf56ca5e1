/**
 * The shapes of circuit settings: what users write (`CircuitConfigInput`),
 * the complete decoded form (`CircuitConfig`) and the defaults. Re-exported
 * by `CircuitConfig`; see there for decoding and reading from `Config`.
 *
 * @since 0.1.0
 */
import { Duration } from "effect"
import type { Schedule } from "effect"
import type { AdaptiveLimit, AdaptiveLimitInput } from "./adaptive.ts"

/**
 * A sleep window that grows: the n-th consecutive opening lasts the
 * schedule's n-th delay; once the schedule ends, its last delay repeats.
 *
 * @since 0.1.0
 * @category models
 */
export type SleepSchedule = Schedule.Schedule<unknown, number, never, never>

/**
 * What users write. Every field is optional; missing fields take the
 * defaults (or, in `Circuit.configure`, keep their current value).
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitConfigInput {
  /** Per call. Default 1 second; `"infinity"` turns the timeout off. */
  readonly timeout?: Duration.Input | "infinity" | undefined
  /**
   * Calls running at once. Default 10; `Infinity` turns the limit off; an
   * adaptive limit (`{ adaptive: "aimd" | "gradient", ... }`) learns it.
   */
  readonly maxConcurrentRequests?: number | AdaptiveLimitInput | undefined
  /** Requests in the window before the error percentage can trip. Default 20. */
  readonly requestVolumeThreshold?: number | undefined
  /** 0–100. Default 50. */
  readonly errorPercentThreshold?: number | undefined
  /** Default 5 seconds; a `Schedule` for a growing sleep window. */
  readonly sleepWindow?: Duration.Input | SleepSchedule | undefined
  /**
   * Default 10 buckets of 1 second. `{ calls: n }` makes it a count window of
   * the last n requests instead; `buckets` or `bucketDuration` alone make it
   * a time window again.
   */
  readonly rollingWindow?: {
    readonly buckets?: number | undefined
    readonly bucketDuration?: Duration.Input | undefined
    readonly calls?: number | undefined
  } | undefined
  /** Opens after this many errors in a row, whatever the volume. Default `Infinity` (off). */
  readonly consecutiveFailures?: number | undefined
  /** A call that takes longer is slow. Default `"infinity"` (off). */
  readonly slowCallDuration?: Duration.Input | "infinity" | undefined
  /** 0–100: with slow calls on, the slow percentage that opens (with the volume met). Default 100. */
  readonly slowCallPercentThreshold?: number | undefined
  /** Probes let through when half-open; all must succeed to close. Default 1. */
  readonly halfOpenProbes?: number | undefined
  /**
   * When the count of openings (for a growing `sleepWindow`) restarts:
   * `"close"` (default, at every close) or `"stable"` (once the circuit has
   * stayed closed as long as it was last open).
   */
  readonly backoffReset?: "close" | "stable" | undefined
  /**
   * Fallbacks running at once. Default `Infinity` (off); past it a fallback
   * is rejected (`fallback-rejected`) instead of run.
   */
  readonly maxConcurrentFallbacks?: number | undefined
  /**
   * Calls that may wait for a permit when every one is in use, first come
   * first served. Default 0: no queue, a call finding no permit free is
   * rejected at once.
   */
  readonly queueCapacity?: number | undefined
  /**
   * How long a call may wait in the queue for a permit before it is rejected.
   * Default 1 second; `"infinity"` waits as long as it takes. The call's own
   * `timeout` starts when it gets its permit.
   */
  readonly maxQueueWait?: Duration.Input | "infinity" | undefined
}

/**
 * A complete, valid configuration.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitConfig {
  /** `Duration.infinity` when the timeout is off. */
  readonly timeout: Duration.Duration
  /** `Infinity` when the limit is off; an object when the limit is adaptive. */
  readonly maxConcurrentRequests: number | AdaptiveLimit
  readonly requestVolumeThreshold: number
  readonly errorPercentThreshold: number
  readonly sleepWindow: Duration.Duration | SleepSchedule
  readonly rollingWindow: {
    readonly buckets: number
    readonly bucketDuration: Duration.Duration
    /** Present: a count window of the last `calls` requests (the buckets then shape the metrics only). */
    readonly calls?: number
  }
  /** `Infinity` when off. */
  readonly consecutiveFailures: number
  /** `Duration.infinity` when off. */
  readonly slowCallDuration: Duration.Duration
  readonly slowCallPercentThreshold: number
  readonly halfOpenProbes: number
  readonly backoffReset: "close" | "stable"
  /** `Infinity` when off. */
  readonly maxConcurrentFallbacks: number
  /** 0 when there is no queue. */
  readonly queueCapacity: number
  /** `Duration.infinity` when a waiter waits as long as it takes. */
  readonly maxQueueWait: Duration.Duration
}

/**
 * The defaults: those of Netflix Hystrix.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaults: CircuitConfig = {
  timeout: Duration.seconds(1),
  maxConcurrentRequests: 10,
  requestVolumeThreshold: 20,
  errorPercentThreshold: 50,
  sleepWindow: Duration.seconds(5),
  rollingWindow: { buckets: 10, bucketDuration: Duration.seconds(1) },
  consecutiveFailures: Infinity,
  slowCallDuration: Duration.infinity,
  slowCallPercentThreshold: 100,
  halfOpenProbes: 1,
  backoffReset: "close",
  maxConcurrentFallbacks: Infinity,
  queueCapacity: 0,
  maxQueueWait: Duration.seconds(1)
}

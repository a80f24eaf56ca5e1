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
  /** Default 10 buckets of 1 second. */
  readonly rollingWindow?: {
    readonly buckets?: number | undefined
    readonly bucketDuration?: Duration.Input | undefined
  } | undefined
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
  }
}

/**
 * The SPEC defaults (those of Netflix Hystrix).
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
  rollingWindow: { buckets: 10, bucketDuration: Duration.seconds(1) }
}

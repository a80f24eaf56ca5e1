/**
 * The settings the pure breaker reads: thresholds, the window's shape and the
 * sleep window, all as plain numbers in milliseconds.
 *
 * **Details**
 *
 * The Effect shell decodes the user's `CircuitConfigInput` (durations,
 * schedules, defaults) and hands the core this resolved form. The sleep
 * window is a function of the number of consecutive openings, so a growing
 * sleep window (a `Schedule` in the shell) stays an input: the core calls it,
 * it never steps a schedule itself.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category models
 */
export interface BreakerConfig {
  /** Requests that must be in the window before the error percentage can trip. */
  readonly requestVolumeThreshold: number
  /** 0–100: the circuit opens when `errors · 100 ≥ errorPercentThreshold · requests`. */
  readonly errorPercentThreshold: number
  /** How many buckets the rolling window holds, the current one included. */
  readonly buckets: number
  /** The length of one bucket, in milliseconds. */
  readonly bucketMillis: number
  /**
   * The length of the n-th consecutive opening (n ≥ 1), in milliseconds. A
   * close resets n. Must be pure: the same n always gives the same length.
   */
  readonly sleepWindow: (opening: number) => number
  /**
   * A count window of the last `windowCalls` requests instead of the time
   * window (`buckets`, `bucketMillis` are then unused). Absent: the time window.
   */
  readonly windowCalls?: number | undefined
  /** Opens after this many errors in a row, whatever the volume. Absent or `Infinity`: off. */
  readonly consecutiveFailures?: number | undefined
  /** A request that took longer than this many milliseconds is slow. Absent or `Infinity`: off. */
  readonly slowCallMillis?: number | undefined
  /** 0–100: with slow calls on, opens when `slow · 100 ≥ slowCallPercentThreshold · requests` (and the volume is met). Default 100. */
  readonly slowCallPercentThreshold?: number | undefined
  /** Probes let through when half-open; all must succeed to close, any failure reopens. Default 1. */
  readonly halfOpenProbes?: number | undefined
  /**
   * When the count of consecutive openings goes back to 0: `"close"` (at
   * every close, the default) or `"stable"` (at an opening that comes at
   * least as long after the last close as the circuit was open before it).
   */
  readonly backoffReset?: "close" | "stable" | undefined
}

/**
 * Hystrix's defaults: 20 requests, 50 percent, 10 buckets of one second, a
 * 5 second sleep window.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultBreakerConfig: BreakerConfig = {
  requestVolumeThreshold: 20,
  errorPercentThreshold: 50,
  buckets: 10,
  bucketMillis: 1000,
  sleepWindow: () => 5000
}

/**
 * A sleep window that is the same for every opening.
 *
 * @since 0.1.0
 * @category constructors
 */
export const constantSleep = (millis: number): (opening: number) => number => () => millis

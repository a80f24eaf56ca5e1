/**
 * What an adaptive concurrency limit learns from: one sample per call that
 * ended, and the bounds every limit stays within.
 *
 * **Details**
 *
 * A sample is plain data: when the call ended (`at`), how long it ran
 * (`latency`, so it started at `at − latency`), how many calls were running
 * when it started (`inFlight`, itself included) and how it ended. Times are
 * milliseconds on any monotonic clock: nothing here reads one.
 *
 * | outcome | meaning | AIMD | gradient |
 * | --- | --- | --- | --- |
 * | `"success"` | the call returned | grows when the limit is in use, or a drop if `latency ≥ latencyThreshold` | a latency sample |
 * | `"failure"` | the call failed (not a sign of load: the breaker's business) | nothing | nothing |
 * | `"timeout"` | the call ran into its timeout | a drop | the largest decrease |
 * | `"dropped"` | the dependency shed the call (overload) | a drop | the largest decrease |
 * | `"rejected"` | the limit itself turned the call away | nothing | nothing |
 *
 * @since 0.2.0
 */

/**
 * @since 0.2.0
 * @category models
 */
export type Outcome = "success" | "failure" | "timeout" | "dropped" | "rejected"

/**
 * @since 0.2.0
 * @category models
 */
export interface Sample {
  readonly outcome: Outcome
  /** When the call ended, in milliseconds. */
  readonly at: number
  /** How long it ran, in milliseconds (≥ 0); for a timeout, the timeout. */
  readonly latency: number
  /** Calls running when it started, itself included (≥ 1). */
  readonly inFlight: number
}

/**
 * The bounds every adaptive limit keeps: integers with
 * `1 ≤ min ≤ initial ≤ max`.
 *
 * @since 0.2.0
 * @category models
 */
export interface Bounds {
  readonly min: number
  readonly max: number
  readonly initial: number
}

/**
 * When the call started.
 *
 * @since 0.2.0
 * @category queries
 */
export const startedAt = (sample: Sample): number => sample.at - sample.latency

/**
 * `n` held within `[bounds.min, bounds.max]`.
 *
 * @since 0.2.0
 * @category utils
 */
export const clamp = (bounds: Bounds, n: number): number => Math.min(bounds.max, Math.max(bounds.min, n))

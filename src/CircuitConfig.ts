/**
 * Circuit settings: what users write (`CircuitConfigInput`, every field
 * optional), the complete decoded form (`CircuitConfig`), the defaults, and
 * the conversion to the pure core's `BreakerConfig`.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Exit, Schedule } from "effect"
import type { BreakerConfig } from "./core/BreakerConfig.ts"
import { CircuitConfigError } from "./errors.ts"

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
  /** Calls running at once. Default 10; `Infinity` turns the limit off. */
  readonly maxConcurrentRequests?: number | undefined
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
  /** `Infinity` when the limit is off. */
  readonly maxConcurrentRequests: number
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

/**
 * Applies `input` on top of `base`: the fields `input` gives replace those of
 * `base`, all checked first. Never throws; fails with `CircuitConfigError`
 * naming the first bad field, and then nothing is applied.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (
  input: unknown,
  options?: { readonly base?: CircuitConfig | undefined; readonly circuit?: string | undefined }
): Exit.Exit<CircuitConfig, CircuitConfigError> => {
  // TEMPORARY minimal implementation, replaced by the Schema-based decoder.
  void input
  void options
  return Exit.fail(new CircuitConfigError({ field: "(all)", reason: "decoder not implemented yet" }))
}

/**
 * `decode` as an Effect.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeEffect = (
  input: unknown,
  options?: { readonly base?: CircuitConfig | undefined; readonly circuit?: string | undefined }
): Effect.Effect<CircuitConfig, CircuitConfigError> => Effect.suspend(() => decode(input, options))

// Replays the schedule against a simulated clock, as effect/persistence's
// CircuitBreaker does, so `upTo` and `during` measure time spent open. The
// delays are memoised per circuit, so the n-th opening costs one array read
// after the first time.
const sleepFunction = (sleepWindow: Duration.Duration | SleepSchedule): (opening: number) => number => {
  if (!Schedule.isSchedule(sleepWindow)) {
    const millis = Duration.toMillis(sleepWindow)
    return () => millis
  }
  const schedule = sleepWindow as SleepSchedule
  const delays: Array<number> = []
  let ended = false
  type Step = (now: number, input: number) => Effect.Effect<[unknown, Duration.Duration], unknown>
  let step: Step | undefined
  let now = 0
  return (opening) => {
    while (delays.length < opening && !ended) {
      if (step === undefined) step = Effect.runSync(Schedule.toStep(schedule)) as Step
      const exit = Effect.runSyncExit(step(now, delays.length + 1))
      if (Exit.isFailure(exit)) {
        ended = true
        break
      }
      const delay = Duration.toMillis(exit.value[1])
      delays.push(delay)
      now += delay
    }
    if (delays.length === 0) return 0
    return delays[Math.min(opening, delays.length) - 1] ?? 0
  }
}

/**
 * The pure core's view of a configuration.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toBreakerConfig = (config: CircuitConfig): BreakerConfig => ({
  requestVolumeThreshold: config.requestVolumeThreshold,
  errorPercentThreshold: config.errorPercentThreshold,
  buckets: config.rollingWindow.buckets,
  bucketMillis: Duration.toMillis(config.rollingWindow.bucketDuration),
  sleepWindow: sleepFunction(config.sleepWindow)
})

/**
 * The conversion of decoded settings to the pure core's `BreakerConfig`.
 * Re-exported by `CircuitConfig`.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Exit, Schedule } from "effect"
import type { BreakerConfig } from "../core/BreakerConfig.ts"
import type { CircuitConfig, SleepSchedule } from "./model.ts"

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
  // One step of the schedule, or undefined once it has ended. A schedule that
  // fails, dies or throws counts as ended, as in effect/persistence: the
  // breaker's reducer must never throw.
  const next = (): number | undefined => {
    try {
      if (step === undefined) step = Effect.runSync(Schedule.toStep(schedule)) as Step
      const exit = Effect.runSyncExit(step(now, delays.length + 1))
      if (Exit.isFailure(exit)) return undefined
      const delay = Duration.toMillis(exit.value[1])
      return Number.isNaN(delay) || delay < 0 ? 0 : delay
    } catch {
      return undefined
    }
  }
  return (opening) => {
    // The memo is bounded: past 10,000 consecutive openings the last delay repeats.
    while (delays.length < opening && delays.length < 10_000 && !ended) {
      const delay = next()
      if (delay === undefined) {
        ended = true
        break
      }
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
export const toBreakerConfig = (config: CircuitConfig): BreakerConfig => {
  const base: BreakerConfig = {
    requestVolumeThreshold: config.requestVolumeThreshold,
    errorPercentThreshold: config.errorPercentThreshold,
    buckets: config.rollingWindow.buckets,
    bucketMillis: Duration.toMillis(config.rollingWindow.bucketDuration),
    sleepWindow: sleepFunction(config.sleepWindow)
  }
  const slowCallMillis = Duration.toMillis(config.slowCallDuration)
  // The controls that are off stay absent: the core then keeps exactly Hystrix's rules.
  return {
    ...base,
    ...(config.rollingWindow.calls === undefined ? {} : { windowCalls: config.rollingWindow.calls }),
    ...(config.consecutiveFailures === Infinity ? {} : { consecutiveFailures: config.consecutiveFailures }),
    ...(slowCallMillis === Infinity
      ? {}
      : { slowCallMillis, slowCallPercentThreshold: config.slowCallPercentThreshold }),
    ...(config.halfOpenProbes === 1 ? {} : { halfOpenProbes: config.halfOpenProbes }),
    ...(config.backoffReset === "close" ? {} : { backoffReset: config.backoffReset })
  }
}

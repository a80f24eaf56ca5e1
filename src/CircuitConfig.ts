/**
 * Circuit settings: what users write (`CircuitConfigInput`, every field
 * optional), the complete decoded form (`CircuitConfig`), the defaults, the
 * decoder that checks one against the other, the conversion to the pure
 * core's `BreakerConfig`, and the readers that take settings from Effect
 * `Config` (environment variables).
 *
 * **Details**
 *
 * `decode` is built on Effect `Schema`: a `Schema.Struct` of optional keys
 * parsed with `onExcessProperty: "error"` finds unknown fields, and each
 * field's schema (`Schema.Int`, `Schema.isBetween`, a declared `Duration.Input`
 * parser, ...) checks its value. The first issue becomes a
 * `CircuitConfigError` whose `field` is the dotted path
 * (`"rollingWindow.buckets"`, or `"(root)"` for the input as a whole) and
 * whose `reason` is the rule and what was given, e.g.
 * `must be an integer ≥ 1 or Infinity, got 0`.
 *
 * Accepted values:
 *
 * | field | accepted |
 * | --- | --- |
 * | `timeout` | a `Duration.Input` (a `Duration`, millis, `"250 millis"`, bigint nanos, `[seconds, nanos]`, `{ seconds: 1 }`) > 0; `"infinity"` (also `"Infinity"`, `Infinity`, `Duration.infinity`) turns the timeout off |
 * | `maxConcurrentRequests` | an integer ≥ 1, `Infinity` (no limit), or an adaptive limit `{ adaptive: "aimd" \| "gradient", min?, max?, initial?, ... }` (see `AdaptiveLimitInput`) |
 * | `requestVolumeThreshold` | an integer ≥ 0 |
 * | `errorPercentThreshold` | a finite number, 0 ≤ x ≤ 100 |
 * | `sleepWindow` | a finite `Duration.Input` ≥ 0, or a `Schedule` (kept as is) |
 * | `rollingWindow.buckets` | an integer, 1 ≤ x ≤ 1,000,000 |
 * | `rollingWindow.bucketDuration` | a finite `Duration.Input` ≥ 1 millisecond |
 * | `rollingWindow.calls` | an integer, 1 ≤ x ≤ 1,000,000: a count window of the last `calls` requests (not with `buckets`/`bucketDuration`) |
 * | `consecutiveFailures` | an integer ≥ 1, or `Infinity` (off, the default) |
 * | `slowCallDuration` | a `Duration.Input` > 0, or `"infinity"` (off, the default) |
 * | `slowCallPercentThreshold` | a finite number, 0 ≤ x ≤ 100 (default 100) |
 * | `halfOpenProbes` | an integer, 1 ≤ x ≤ 1,000,000 (default 1) |
 * | `backoffReset` | `"close"` (the default) or `"stable"` |
 * | `maxConcurrentFallbacks` | an integer ≥ 1, or `Infinity` (off, the default) |
 * | `queueCapacity` | an integer, 0 ≤ x ≤ 1,000,000 (default 0: no queue) |
 * | `maxQueueWait` | a `Duration.Input` > 0, or `"infinity"` (default 1 second) |
 *
 * Settings read from `Config` (all optional; absent keys are absent from the
 * result, so the defaults, or the circuit's current values, apply):
 *
 * | `CircuitConfigInput` field | key in `fromConfig()` | environment variable for circuit `payments` | for the defaults |
 * | --- | --- | --- | --- |
 * | `timeout` | `TIMEOUT` | `CIRCUIT_PAYMENTS_TIMEOUT` | `CIRCUIT_DEFAULT_TIMEOUT` |
 * | `maxConcurrentRequests` | `MAX_CONCURRENT_REQUESTS` | `CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS` | `CIRCUIT_DEFAULT_MAX_CONCURRENT_REQUESTS` |
 * | `requestVolumeThreshold` | `REQUEST_VOLUME_THRESHOLD` | `CIRCUIT_PAYMENTS_REQUEST_VOLUME_THRESHOLD` | `CIRCUIT_DEFAULT_REQUEST_VOLUME_THRESHOLD` |
 * | `errorPercentThreshold` | `ERROR_PERCENT_THRESHOLD` | `CIRCUIT_PAYMENTS_ERROR_PERCENT_THRESHOLD` | `CIRCUIT_DEFAULT_ERROR_PERCENT_THRESHOLD` |
 * | `sleepWindow` | `SLEEP_WINDOW` | `CIRCUIT_PAYMENTS_SLEEP_WINDOW` | `CIRCUIT_DEFAULT_SLEEP_WINDOW` |
 * | `rollingWindow.buckets` | `ROLLING_WINDOW_BUCKETS` | `CIRCUIT_PAYMENTS_ROLLING_WINDOW_BUCKETS` | `CIRCUIT_DEFAULT_ROLLING_WINDOW_BUCKETS` |
 * | `rollingWindow.bucketDuration` | `ROLLING_WINDOW_BUCKET_DURATION` | `CIRCUIT_PAYMENTS_ROLLING_WINDOW_BUCKET_DURATION` | `CIRCUIT_DEFAULT_ROLLING_WINDOW_BUCKET_DURATION` |
 * | `rollingWindow.calls` | `ROLLING_WINDOW_CALLS` | `CIRCUIT_PAYMENTS_ROLLING_WINDOW_CALLS` | `CIRCUIT_DEFAULT_ROLLING_WINDOW_CALLS` |
 * | `consecutiveFailures` | `CONSECUTIVE_FAILURES` | `CIRCUIT_PAYMENTS_CONSECUTIVE_FAILURES` | `CIRCUIT_DEFAULT_CONSECUTIVE_FAILURES` |
 * | `slowCallDuration` | `SLOW_CALL_DURATION` | `CIRCUIT_PAYMENTS_SLOW_CALL_DURATION` | `CIRCUIT_DEFAULT_SLOW_CALL_DURATION` |
 * | `slowCallPercentThreshold` | `SLOW_CALL_PERCENT_THRESHOLD` | `CIRCUIT_PAYMENTS_SLOW_CALL_PERCENT_THRESHOLD` | `CIRCUIT_DEFAULT_SLOW_CALL_PERCENT_THRESHOLD` |
 * | `halfOpenProbes` | `HALF_OPEN_PROBES` | `CIRCUIT_PAYMENTS_HALF_OPEN_PROBES` | `CIRCUIT_DEFAULT_HALF_OPEN_PROBES` |
 * | `backoffReset` | `BACKOFF_RESET` | `CIRCUIT_PAYMENTS_BACKOFF_RESET` | `CIRCUIT_DEFAULT_BACKOFF_RESET` |
 * | `maxConcurrentFallbacks` | `MAX_CONCURRENT_FALLBACKS` | `CIRCUIT_PAYMENTS_MAX_CONCURRENT_FALLBACKS` | `CIRCUIT_DEFAULT_MAX_CONCURRENT_FALLBACKS` |
 * | `queueCapacity` | `QUEUE_CAPACITY` | `CIRCUIT_PAYMENTS_QUEUE_CAPACITY` | `CIRCUIT_DEFAULT_QUEUE_CAPACITY` |
 * | `maxQueueWait` | `MAX_QUEUE_WAIT` | `CIRCUIT_PAYMENTS_MAX_QUEUE_WAIT` | `CIRCUIT_DEFAULT_MAX_QUEUE_WAIT` |
 *
 * The circuit's part of the name is the circuit name upper-cased, with every
 * character other than `A`–`Z`, `0`–`9` and `_` (so `-`, `.`, spaces, ...)
 * replaced by `_`: circuit `payments-eu.v2` reads `CIRCUIT_PAYMENTS_EU_V2_TIMEOUT`.
 * Durations are strings like `"2 seconds"`, `"250 millis"`, or a number of
 * milliseconds (`"2000"`); `TIMEOUT` and `SLOW_CALL_DURATION` also take
 * `"infinity"`, and so does `MAX_QUEUE_WAIT`; `MAX_CONCURRENT_REQUESTS`,
 * `CONSECUTIVE_FAILURES` and `MAX_CONCURRENT_FALLBACKS` take `"Infinity"`.
 *
 * Every control beyond Hystrix's rules (the count window, consecutive
 * failures, slow calls, several half-open probes, the stable backoff, the
 * fallback limit, the wait queue) is off
 * by default: a user who sets none of them gets Hystrix's rules exactly.
 *
 * **Gotchas**
 *
 * - A key whose value is `undefined` counts as absent, also for unknown keys.
 * - `NaN` is refused everywhere (Effect's `Duration.millis(NaN)` would
 *   silently be zero), and so are duration objects with unknown keys.
 * - A duration number is milliseconds; a `bigint` is nanoseconds.
 * - `Config` readers only check the syntax of what they read; ranges are
 *   checked when the result goes through `decode`.
 * - `ConfigProvider.fromEnv` joins path segments with `_`, so with
 *   `ConfigProvider.fromUnknown` the same settings are nested objects:
 *   `{ CIRCUIT: { PAYMENTS: { TIMEOUT: "2 seconds" } } }`. A circuit named
 *   `default` reads the same keys as `defaultsFromConfig()`.
 *
 * **Example** (Decoding settings, and reading them from the environment)
 *
 * ```ts
 * import { ConfigProvider, Effect, Exit } from "effect"
 * import { CircuitConfig } from "effect-circuit"
 *
 * const decoded = CircuitConfig.decode({ timeout: "2 seconds", rollingWindow: { buckets: 20 } })
 * Exit.isSuccess(decoded) // => true
 *
 * const fromEnv = CircuitConfig.configForCircuit("payments").parse(
 *   ConfigProvider.fromEnv({ env: { CIRCUIT_PAYMENTS_TIMEOUT: "250 millis" } })
 * ).pipe(Effect.flatMap((input) => CircuitConfig.decodeEffect(input, { circuit: "payments" })))
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Duration, Effect, Exit, Option } from "effect"
import { CircuitConfigError } from "./errors.ts"
import { millisOf } from "./config/duration.ts"
import { errorMessage, ROOT, show, snapshot } from "./config/inspect.ts"
import type { CircuitConfig } from "./config/model.ts"
import { defaults } from "./config/model.ts"
import { decodeConfigInput, issueToRefusal, rollingWindowKeys, rules, topLevelKeys } from "./config/schema.ts"
import * as Adaptive from "./config/adaptive.ts"

export type { SleepSchedule, CircuitConfigInput, CircuitConfig } from "./config/model.ts"
export type { AdaptiveLimit, AdaptiveLimitInput } from "./config/adaptive.ts"
export { isAdaptive } from "./config/adaptive.ts"
export { defaults } from "./config/model.ts"
export { fromConfig, configSegment, configForCircuit, defaultsFromConfig } from "./config/env.ts"
export { toBreakerConfig } from "./config/breaker.ts"

/**
 * Applies `input` on top of `base`: the fields `input` gives replace those of
 * `base`, all checked first. Never throws; fails with `CircuitConfigError`
 * naming the first bad field, and then nothing is applied.
 *
 * **Details**
 *
 * `input` must be a plain object or `undefined` (which is `{}`). Without
 * `options.base` the missing fields take `defaults`. `rollingWindow` merges
 * per sub-field, except that `calls` (a count window) and `buckets` /
 * `bucketDuration` (a time window) replace each other and cannot be given
 * together. Durations come out as `Duration` values; a `Schedule` sleep
 * window is kept as it is. `options.circuit` is copied into the error.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (
  input: unknown,
  options?: { readonly base?: CircuitConfig | undefined; readonly circuit?: string | undefined }
): Exit.Exit<CircuitConfig, CircuitConfigError> => {
  let circuit: string | undefined
  try {
    const name: unknown = options?.circuit
    circuit = typeof name === "string" ? name : undefined
  } catch {
    circuit = undefined
  }
  const refuse = (field: string, reason: string): Exit.Exit<never, CircuitConfigError> =>
    Exit.fail(
      circuit === undefined
        ? new CircuitConfigError({ field, reason })
        : new CircuitConfigError({ circuit, field, reason })
    )
  try {
    const top = snapshot(input === undefined ? {} : input, undefined, topLevelKeys, rules[ROOT])
    if (top._tag === "Refused") return refuse(top.field, top.reason)
    const fields = top.value
    if (fields.rollingWindow !== undefined) {
      const window = snapshot(fields.rollingWindow, "rollingWindow", rollingWindowKeys, rules.rollingWindow)
      if (window._tag === "Refused") return refuse(window.field, window.reason)
      fields.rollingWindow = window.value
    }
    const base = options?.base ?? defaults
    // An adaptive limit (an object) is decoded on its own, on top of the base's limit.
    let adaptive: Adaptive.AdaptiveLimit | undefined
    const limitInput: unknown = fields.maxConcurrentRequests
    if (typeof limitInput === "object" && limitInput !== null) {
      const decoded = Adaptive.decode(limitInput, base.maxConcurrentRequests)
      if (decoded._tag === "Refused") return refuse(decoded.field, decoded.reason)
      adaptive = decoded.value
      delete fields.maxConcurrentRequests
    }
    const exit = decodeConfigInput(fields)
    if (Exit.isFailure(exit)) {
      const issue = Cause.findErrorOption(exit.cause)
      if (Option.isNone(issue)) return refuse(ROOT, `could not be decoded (${errorMessage(Cause.squash(exit.cause))})`)
      const refusal = issueToRefusal(issue.value, fields)
      return refuse(refusal.field, refusal.reason)
    }
    const given = exit.value
    const timeout = given.timeout === undefined
      ? base.timeout
      : Number.isFinite(millisOf(given.timeout))
      ? given.timeout
      : Duration.infinity
    const givenWindow = given.rollingWindow
    const timeShape = givenWindow?.buckets !== undefined || givenWindow?.bucketDuration !== undefined
    if (givenWindow?.calls !== undefined && timeShape) {
      return refuse(
        "rollingWindow",
        "calls (a count window) cannot be given with buckets or bucketDuration (a time window)"
      )
    }
    // `calls` makes a count window; the time fields alone make a time window again.
    const calls = givenWindow?.calls ?? (timeShape ? undefined : base.rollingWindow.calls)
    const config: CircuitConfig = {
      timeout,
      maxConcurrentRequests: adaptive ?? given.maxConcurrentRequests ?? base.maxConcurrentRequests,
      requestVolumeThreshold: given.requestVolumeThreshold ?? base.requestVolumeThreshold,
      errorPercentThreshold: given.errorPercentThreshold ?? base.errorPercentThreshold,
      sleepWindow: given.sleepWindow ?? base.sleepWindow,
      rollingWindow: {
        buckets: givenWindow?.buckets ?? base.rollingWindow.buckets,
        bucketDuration: givenWindow?.bucketDuration ?? base.rollingWindow.bucketDuration,
        ...(calls === undefined ? {} : { calls })
      },
      consecutiveFailures: given.consecutiveFailures ?? base.consecutiveFailures,
      slowCallDuration: given.slowCallDuration ?? base.slowCallDuration,
      slowCallPercentThreshold: given.slowCallPercentThreshold ?? base.slowCallPercentThreshold,
      halfOpenProbes: given.halfOpenProbes ?? base.halfOpenProbes,
      backoffReset: given.backoffReset ?? base.backoffReset,
      maxConcurrentFallbacks: given.maxConcurrentFallbacks ?? base.maxConcurrentFallbacks,
      queueCapacity: given.queueCapacity ?? base.queueCapacity,
      maxQueueWait: given.maxQueueWait === undefined
        ? base.maxQueueWait
        : Number.isFinite(millisOf(given.maxQueueWait))
        ? given.maxQueueWait
        : Duration.infinity
    }
    const total = config.rollingWindow.buckets * millisOf(config.rollingWindow.bucketDuration)
    if (!Number.isFinite(total)) {
      return refuse(
        "rollingWindow",
        `the window length (buckets × bucketDuration) must be finite, got ${config.rollingWindow.buckets} × ${
          show(config.rollingWindow.bucketDuration)
        }`
      )
    }
    return Exit.succeed(config)
  } catch (error) {
    return refuse(ROOT, `could not be decoded (${errorMessage(error)})`)
  }
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

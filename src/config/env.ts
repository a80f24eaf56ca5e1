/**
 * Reading circuit settings with Effect `Config` (environment variables).
 * Re-exported by `CircuitConfig`.
 *
 * @since 0.1.0
 */
import { Config, Duration, Option, Schema } from "effect"
import { toDuration } from "./duration.ts"
import type { CircuitConfigInput } from "./model.ts"
import { envKeys } from "./adaptive.ts"

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/
const POSITIVE_INFINITY = /^\+?infinity$/i
const NEGATIVE_INFINITY = /^-infinity$/i

const parseNumberSetting = (s: string): number | undefined => {
  const t = s.trim()
  if (NUMBER.test(t)) return Number(t)
  if (POSITIVE_INFINITY.test(t)) return Infinity
  if (NEGATIVE_INFINITY.test(t)) return -Infinity
  return undefined
}

// A number is milliseconds; "infinity" (any case) is kept as the word for the
// timeout; anything else must be a duration string (`"2 seconds"`).
const parseDurationSetting = (s: string): number | Duration.Duration | "infinity" | undefined => {
  const t = s.trim()
  if (NUMBER.test(t)) return Number(t)
  if (POSITIVE_INFINITY.test(t)) return "infinity"
  return toDuration(t)
}

// One optional setting: the syntax is checked here (a `ConfigError` naming
// the key), the range later by `decode`.
const setting = <A>(
  key: string,
  expected: string,
  parse: (s: string) => A | undefined
): Config.Config<Option.Option<A>> =>
  Config.schema(
    Schema.String.check(Schema.makeFilter((s: string) => parse(s) !== undefined, { expected })),
    key
  ).pipe(
    Config.map((s) => parse(s) as A),
    Config.option
  )

// A word, checked against its field's values by `decode`.
const parseWord = (s: string): "close" | "stable" | undefined => {
  const t = s.trim()
  return t === "" ? undefined : t as "close" | "stable"
}

const durationExpected = "a duration such as \"2 seconds\" or \"250 millis\", or a number of milliseconds"
const numberExpected = "a number"

// `MAX_CONCURRENT_REQUESTS`: a number, "Infinity", or the name of an adaptive algorithm.
const parseLimitSetting = (s: string): number | "aimd" | "gradient" | undefined => {
  const t = s.trim().toLowerCase()
  return t === "aimd" || t === "gradient" ? t : parseNumberSetting(s)
}

const orInfinity = (d: number | Duration.Duration | "infinity"): Duration.Input =>
  d === "infinity" ? Duration.infinity : d

/**
 * Reads circuit settings with Effect `Config`, from the keys `TIMEOUT`,
 * `MAX_CONCURRENT_REQUESTS`, `REQUEST_VOLUME_THRESHOLD`,
 * `ERROR_PERCENT_THRESHOLD`, `SLEEP_WINDOW`, `ROLLING_WINDOW_BUCKETS`,
 * `ROLLING_WINDOW_BUCKET_DURATION`, `ROLLING_WINDOW_CALLS`,
 * `CONSECUTIVE_FAILURES`, `SLOW_CALL_DURATION`, `SLOW_CALL_PERCENT_THRESHOLD`,
 * `HALF_OPEN_PROBES`, `BACKOFF_RESET`, `MAX_CONCURRENT_FALLBACKS`, `QUEUE_CAPACITY`
 * and `MAX_QUEUE_WAIT`, all optional; and, for an adaptive
 * limit (`MAX_CONCURRENT_REQUESTS=aimd` or `gradient`),
 * `MAX_CONCURRENT_REQUESTS_MIN`, `_MAX`, `_INITIAL`, `_BACKOFF_RATIO`,
 * `_LATENCY_THRESHOLD`, `_TOLERANCE`, `_SMOOTHING` and `_PROBE_INTERVAL`.
 *
 * **Details**
 *
 * A key that is absent (or an empty string) is absent from the result, so
 * `decode` keeps the default (or the base's value) for it. Durations are
 * strings like `"2 seconds"` or a number of milliseconds (`"2000"`); `TIMEOUT`,
 * `SLOW_CALL_DURATION` and `MAX_QUEUE_WAIT` also take `"infinity"`, `MAX_CONCURRENT_REQUESTS`,
 * `CONSECUTIVE_FAILURES` and `MAX_CONCURRENT_FALLBACKS` take `"Infinity"`; `BACKOFF_RESET` is `close` or
 * `stable`.
 *
 * **Gotchas**
 *
 * Only the syntax is checked here (a `ConfigError` naming the key); the ranges
 * are checked when the result goes through `decode`. Use `configForCircuit`
 * or `defaultsFromConfig` for the prefixed environment variable names.
 *
 * **Example** (Reading unprefixed keys)
 *
 * ```ts
 * import { ConfigProvider } from "effect"
 * import { CircuitConfig } from "effect-circuit"
 *
 * const input = CircuitConfig.fromConfig().parse(ConfigProvider.fromEnv({ env: { TIMEOUT: "2 seconds" } }))
 * // Effect succeeding with { timeout: Duration.seconds(2) }
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const fromConfig = (): Config.Config<CircuitConfigInput> =>
  Config.all({
    timeout: setting("TIMEOUT", `${durationExpected}, or "infinity"`, parseDurationSetting),
    maxConcurrentRequests: setting(
      "MAX_CONCURRENT_REQUESTS",
      `${numberExpected}, "Infinity", "aimd" or "gradient"`,
      parseLimitSetting
    ),
    adaptive: Config.all(
      Object.fromEntries(
        envKeys.map(([key, field, duration]) => [
          field,
          duration
            ? setting(key, `${durationExpected}, or "infinity"`, parseDurationSetting)
            : setting(key, numberExpected, parseNumberSetting)
        ])
      )
    ),
    requestVolumeThreshold: setting("REQUEST_VOLUME_THRESHOLD", numberExpected, parseNumberSetting),
    errorPercentThreshold: setting("ERROR_PERCENT_THRESHOLD", numberExpected, parseNumberSetting),
    sleepWindow: setting("SLEEP_WINDOW", durationExpected, parseDurationSetting),
    buckets: setting("ROLLING_WINDOW_BUCKETS", numberExpected, parseNumberSetting),
    bucketDuration: setting("ROLLING_WINDOW_BUCKET_DURATION", durationExpected, parseDurationSetting),
    calls: setting("ROLLING_WINDOW_CALLS", numberExpected, parseNumberSetting),
    consecutiveFailures: setting("CONSECUTIVE_FAILURES", `${numberExpected} or "Infinity"`, parseNumberSetting),
    slowCallDuration: setting("SLOW_CALL_DURATION", `${durationExpected}, or "infinity"`, parseDurationSetting),
    slowCallPercentThreshold: setting("SLOW_CALL_PERCENT_THRESHOLD", numberExpected, parseNumberSetting),
    halfOpenProbes: setting("HALF_OPEN_PROBES", numberExpected, parseNumberSetting),
    backoffReset: setting("BACKOFF_RESET", "\"close\" or \"stable\"", parseWord),
    maxConcurrentFallbacks: setting("MAX_CONCURRENT_FALLBACKS", `${numberExpected} or "Infinity"`, parseNumberSetting),
    queueCapacity: setting("QUEUE_CAPACITY", numberExpected, parseNumberSetting),
    maxQueueWait: setting("MAX_QUEUE_WAIT", `${durationExpected}, or "infinity"`, parseDurationSetting)
  }).pipe(
    Config.map((s): CircuitConfigInput => {
      const rollingWindow = {
        ...(Option.isSome(s.buckets) ? { buckets: s.buckets.value } : {}),
        ...(Option.isSome(s.bucketDuration) ? { bucketDuration: orInfinity(s.bucketDuration.value) } : {}),
        ...(Option.isSome(s.calls) ? { calls: s.calls.value } : {})
      }
      // The sub-settings of an adaptive limit make it an object; a number
      // given with them is passed on as the algorithm for decode to refuse.
      const adaptive: Record<string, unknown> = {}
      for (const [field, value] of Object.entries(s.adaptive)) {
        if (Option.isSome(value)) adaptive[field] = value.value
      }
      const limit = Option.getOrUndefined(s.maxConcurrentRequests)
      const maxConcurrentRequests = typeof limit === "string" || Object.keys(adaptive).length > 0
        ? { ...(limit === undefined ? {} : { adaptive: limit }), ...adaptive }
        : limit
      return {
        ...(Option.isSome(s.timeout) ? { timeout: s.timeout.value } : {}),
        ...(maxConcurrentRequests !== undefined
          ? { maxConcurrentRequests: maxConcurrentRequests as NonNullable<CircuitConfigInput["maxConcurrentRequests"]> }
          : {}),
        ...(Option.isSome(s.requestVolumeThreshold) ? { requestVolumeThreshold: s.requestVolumeThreshold.value } : {}),
        ...(Option.isSome(s.errorPercentThreshold) ? { errorPercentThreshold: s.errorPercentThreshold.value } : {}),
        ...(Option.isSome(s.sleepWindow) ? { sleepWindow: orInfinity(s.sleepWindow.value) } : {}),
        ...(Option.isSome(s.buckets) || Option.isSome(s.bucketDuration) || Option.isSome(s.calls) ? { rollingWindow } : {}),
        ...(Option.isSome(s.consecutiveFailures) ? { consecutiveFailures: s.consecutiveFailures.value } : {}),
        ...(Option.isSome(s.slowCallDuration) ? { slowCallDuration: s.slowCallDuration.value } : {}),
        ...(Option.isSome(s.slowCallPercentThreshold) ? { slowCallPercentThreshold: s.slowCallPercentThreshold.value } : {}),
        ...(Option.isSome(s.halfOpenProbes) ? { halfOpenProbes: s.halfOpenProbes.value } : {}),
        ...(Option.isSome(s.backoffReset) ? { backoffReset: s.backoffReset.value } : {}),
        ...(Option.isSome(s.maxConcurrentFallbacks) ? { maxConcurrentFallbacks: s.maxConcurrentFallbacks.value } : {}),
        ...(Option.isSome(s.queueCapacity) ? { queueCapacity: s.queueCapacity.value } : {}),
        ...(Option.isSome(s.maxQueueWait) ? { maxQueueWait: s.maxQueueWait.value } : {})
      }
    })
  )

/**
 * The path segment of a circuit's settings: its name upper-cased, with every
 * character other than `A`–`Z`, `0`–`9` and `_` replaced by `_`
 * (`"payments-eu.v2"` → `"PAYMENTS_EU_V2"`).
 *
 * @since 0.1.0
 * @category config
 */
export const configSegment = (name: string): string => name.toUpperCase().replace(/[^A-Z0-9_]/g, "_")

/**
 * `fromConfig` nested under `CIRCUIT` and the circuit's `configSegment`: with
 * `ConfigProvider.fromEnv()`, circuit `payments` reads
 * `CIRCUIT_PAYMENTS_TIMEOUT`, `CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS`, ...,
 * `CIRCUIT_PAYMENTS_ROLLING_WINDOW_BUCKET_DURATION`.
 *
 * **Details**
 *
 * The path is `["CIRCUIT", configSegment(name), key]`. `fromEnv` joins it
 * with `_`; with `ConfigProvider.fromUnknown` it is nested objects:
 * `{ CIRCUIT: { PAYMENTS: { TIMEOUT: "2 seconds" } } }`.
 *
 * **Gotchas**
 *
 * Names that differ only in case or punctuation (`a-b`, `A.B`, `a_b`) read
 * the same variables, and a circuit named `default` reads the keys of
 * `defaultsFromConfig`.
 *
 * **Example** (A circuit's settings from the environment)
 *
 * ```ts
 * import { ConfigProvider, Effect } from "effect"
 * import { CircuitConfig } from "effect-circuit"
 *
 * const config = CircuitConfig.configForCircuit("payments").parse(
 *   ConfigProvider.fromEnv({ env: { CIRCUIT_PAYMENTS_TIMEOUT: "250 millis" } })
 * ).pipe(Effect.flatMap((input) => CircuitConfig.decodeEffect(input, { circuit: "payments" })))
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const configForCircuit = (name: string): Config.Config<CircuitConfigInput> =>
  fromConfig().pipe(Config.nested(configSegment(name)), Config.nested("CIRCUIT"))

/**
 * `fromConfig` nested under `CIRCUIT` and `DEFAULT`: the settings every
 * circuit starts from, read from `CIRCUIT_DEFAULT_TIMEOUT`,
 * `CIRCUIT_DEFAULT_MAX_CONCURRENT_REQUESTS`, `CIRCUIT_DEFAULT_REQUEST_VOLUME_THRESHOLD`,
 * `CIRCUIT_DEFAULT_ERROR_PERCENT_THRESHOLD`, `CIRCUIT_DEFAULT_SLEEP_WINDOW`,
 * `CIRCUIT_DEFAULT_ROLLING_WINDOW_BUCKETS` and
 * `CIRCUIT_DEFAULT_ROLLING_WINDOW_BUCKET_DURATION` with `ConfigProvider.fromEnv()`.
 *
 * @since 0.1.0
 * @category config
 */
export const defaultsFromConfig = (): Config.Config<CircuitConfigInput> => configForCircuit("default")

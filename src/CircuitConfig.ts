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
 * | `maxConcurrentRequests` | an integer ≥ 1, or `Infinity` (no limit) |
 * | `requestVolumeThreshold` | an integer ≥ 0 |
 * | `errorPercentThreshold` | a finite number, 0 ≤ x ≤ 100 |
 * | `sleepWindow` | a finite `Duration.Input` ≥ 0, or a `Schedule` (kept as is) |
 * | `rollingWindow.buckets` | an integer, 1 ≤ x ≤ 1,000,000 |
 * | `rollingWindow.bucketDuration` | a finite `Duration.Input` ≥ 1 millisecond |
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
 *
 * The circuit's part of the name is the circuit name upper-cased, with every
 * character other than `A`–`Z`, `0`–`9` and `_` (so `-`, `.`, spaces, ...)
 * replaced by `_`: circuit `payments-eu.v2` reads `CIRCUIT_PAYMENTS_EU_V2_TIMEOUT`.
 * Durations are strings like `"2 seconds"`, `"250 millis"`, or a number of
 * milliseconds (`"2000"`); `TIMEOUT` also takes `"infinity"`;
 * `MAX_CONCURRENT_REQUESTS` takes `"Infinity"`.
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
import { Cause, Config, Duration, Effect, Exit, Option, Schedule, Schema, SchemaIssue, SchemaParser } from "effect"
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

// -----------------------------------------------------------------------------
// decoding: safe helpers (none of them throws, whatever it is given)
// -----------------------------------------------------------------------------

const ROOT = "(root)"

// The rule of each field: the first part of a refusal's `reason`.
const rules: Readonly<Record<string, string>> = {
  [ROOT]: "must be a plain object of circuit settings (or undefined)",
  timeout: "must be a duration > 0 (a Duration, a number of milliseconds, a string like \"1 second\") or \"infinity\"",
  maxConcurrentRequests: "must be an integer ≥ 1 or Infinity",
  requestVolumeThreshold: "must be an integer ≥ 0",
  errorPercentThreshold: "must be a finite number between 0 and 100",
  sleepWindow:
    "must be a finite duration ≥ 0 (a Duration, a number of milliseconds, a string like \"5 seconds\") or a Schedule",
  rollingWindow: "must be a plain object { buckets?, bucketDuration? }",
  "rollingWindow.buckets": "must be an integer between 1 and 1000000",
  "rollingWindow.bucketDuration":
    "must be a finite duration ≥ 1 millisecond (a Duration, a number of milliseconds, a string like \"1 second\")"
}

const topLevelKeys: ReadonlySet<string> = new Set([
  "timeout",
  "maxConcurrentRequests",
  "requestVolumeThreshold",
  "errorPercentThreshold",
  "sleepWindow",
  "rollingWindow"
])
const rollingWindowKeys: ReadonlySet<string> = new Set(["buckets", "bucketDuration"])
const durationObjectKeys: ReadonlySet<string> = new Set([
  "weeks",
  "days",
  "hours",
  "minutes",
  "seconds",
  "milliseconds",
  "microseconds",
  "nanoseconds"
])

const errorMessage = (error: unknown): string => {
  try {
    const message = error instanceof Error ? String(error.message) : String(error)
    return truncate(message)
  } catch {
    return "unknown error"
  }
}

const truncate = (s: string): string => s.length > 80 ? `${s.slice(0, 77)}...` : s

const keyName = (key: PropertyKey): string => typeof key === "symbol" ? key.toString() : String(key)

// What was given, for a refusal's reason: short, and never throwing.
const show = (u: unknown): string => {
  try {
    switch (typeof u) {
      case "number":
        return Object.is(u, -0) ? "-0" : String(u)
      case "bigint":
        return `${u}n`
      case "string":
        return truncate(JSON.stringify(u))
      case "symbol":
        return u.toString()
      case "function":
        return "a function"
      case "boolean":
      case "undefined":
        return String(u)
      case "object": {
        if (u === null) return "null"
        if (Duration.isDuration(u)) return `Duration(${Duration.format(u)})`
        if (Schedule.isSchedule(u)) return "a Schedule"
        if (!Array.isArray(u) && !isPlainObject(u)) {
          const constructor: unknown = (Object.getPrototypeOf(u) as { readonly constructor?: unknown }).constructor
          const name: unknown = typeof constructor === "function" ? constructor.name : undefined
          return typeof name === "string" && name !== "" ? `an instance of ${truncate(name)}` : "an object"
        }
        const json = JSON.stringify(u, (_key, value: unknown) => typeof value === "bigint" ? `${value}n` : value)
        if (typeof json === "string") return truncate(json)
      }
    }
  } catch {
    // fall through
  }
  try {
    return Array.isArray(u) ? "an array" : typeof u === "object" ? "an object" : "a value"
  } catch {
    return "an object"
  }
}

const isPlainObject = (u: object): boolean => {
  if (Array.isArray(u)) return false
  const proto: unknown = Object.getPrototypeOf(u)
  // `Object.prototype` of this realm or another one (its prototype is null), or none.
  return proto === null || (typeof proto === "object" && Object.getPrototypeOf(proto) === null)
}

type Snapshot =
  | { readonly _tag: "Ok"; readonly value: Record<PropertyKey, unknown> }
  | { readonly _tag: "Refused"; readonly field: string; readonly reason: string }

// Copies an object's own settings into a fresh plain object, so that Schema
// then runs on plain data: getters run once, here, and a getter or a Proxy
// trap that throws is refused with the field it belongs to. Keys whose value
// is `undefined` count as absent. Unknown keys are copied (when enumerable)
// for Schema to refuse.
const snapshot = (u: unknown, path: string | undefined, known: ReadonlySet<string>): Snapshot => {
  const here = path ?? ROOT
  try {
    if (typeof u !== "object" || u === null || !isPlainObject(u)) {
      return { _tag: "Refused", field: here, reason: `${rules[here] ?? "must be a plain object"}, got ${show(u)}` }
    }
  } catch (error) {
    return { _tag: "Refused", field: here, reason: `could not be inspected (${errorMessage(error)})` }
  }
  let keys: ReadonlyArray<PropertyKey>
  try {
    keys = Reflect.ownKeys(u)
  } catch (error) {
    return { _tag: "Refused", field: here, reason: `its keys could not be listed (${errorMessage(error)})` }
  }
  const out: Record<PropertyKey, unknown> = Object.create(null)
  for (const key of keys) {
    try {
      if (!(typeof key === "string" && known.has(key))) {
        const descriptor = Reflect.getOwnPropertyDescriptor(u, key)
        if (descriptor === undefined || descriptor.enumerable !== true) continue
      }
      const value: unknown = Reflect.get(u, key)
      if (value !== undefined) out[key] = value
    } catch (error) {
      const field = path === undefined ? keyName(key) : `${path}.${keyName(key)}`
      return { _tag: "Refused", field, reason: `could not be read (${errorMessage(error)})` }
    }
  }
  return { _tag: "Ok", value: out }
}

const isNumberNotNaN = (u: unknown): u is number => typeof u === "number" && !Number.isNaN(u)

// A `Duration.Input` to a `Duration`, strictly: `undefined` for anything
// `Duration.fromInput` would refuse, and also for what it would silently turn
// into zero (`NaN`, `[NaN, 0]`, `{ secs: 1 }`). Never throws.
const toDuration = (u: unknown): Duration.Duration | undefined => {
  try {
    switch (typeof u) {
      case "number":
        return Number.isNaN(u) ? undefined : Duration.millis(u)
      case "bigint":
        return Duration.nanos(u)
      case "string": {
        const s = u.trim()
        if (/^\+?infinity$/i.test(s)) return Duration.infinity
        if (/^-infinity$/i.test(s)) return Duration.negativeInfinity
        return Option.getOrUndefined(Duration.fromInput(s as Duration.Input))
      }
      case "object": {
        if (u === null) return undefined
        if (Array.isArray(u)) {
          if (u.length !== 2) return undefined
          const seconds: unknown = u[0]
          const nanos: unknown = u[1]
          return isNumberNotNaN(seconds) && isNumberNotNaN(nanos)
            ? Duration.fromInputUnsafe([seconds, nanos])
            : undefined
        }
        if (Duration.isDuration(u)) return rebuildDuration(u)
        if (Schedule.isSchedule(u)) return undefined
        const fields = snapshot(u, "duration", durationObjectKeys)
        if (fields._tag === "Refused") return undefined
        const clean: Record<string, number> = {}
        for (const key of Reflect.ownKeys(fields.value)) {
          const value = fields.value[key]
          if (typeof key !== "string" || !durationObjectKeys.has(key) || !isNumberNotNaN(value)) return undefined
          clean[key] = value
        }
        return Duration.fromInputUnsafe(clean)
      }
      default:
        return undefined
    }
  } catch {
    return undefined
  }
}

// Rebuilds a `Duration` from its `value`, so that a forged one (the type id
// and a bad `value`) is refused and a real one comes out canonical.
const rebuildDuration = (d: Duration.Duration): Duration.Duration | undefined => {
  const value: unknown = d.value
  if (typeof value !== "object" || value === null) return undefined
  const v = value as { readonly _tag?: unknown; readonly millis?: unknown; readonly nanos?: unknown }
  switch (v._tag) {
    case "Millis":
      return isNumberNotNaN(v.millis) ? Duration.millis(v.millis) : undefined
    case "Nanos":
      return typeof v.nanos === "bigint" ? Duration.nanos(v.nanos) : undefined
    case "Infinity":
      return Duration.infinity
    case "NegativeInfinity":
      return Duration.negativeInfinity
    default:
      return undefined
  }
}

const isScheduleSafe = (u: unknown): u is SleepSchedule => {
  try {
    return Schedule.isSchedule(u)
  } catch {
    return false
  }
}

const millisOf = (d: Duration.Duration): number => Duration.toMillis(d)

// -----------------------------------------------------------------------------
// decoding: the schema
// -----------------------------------------------------------------------------

// A schema whose decoding is `parse` (which never throws): `undefined` means
// "not one of these", reported as an `InvalidType` issue.
const parsed = <A>(expected: string, parse: (u: unknown) => A | undefined) =>
  Schema.declareConstructor<A, unknown>()(
    [],
    () => (input, ast, options) => {
      const out = parse(input)
      return out === undefined
        ? Effect.fail(new SchemaIssue.InvalidType(ast, input, options))
        : Effect.succeed(out)
    },
    { expected }
  )

const DurationInput = parsed("a Duration.Input", toDuration)

const Timeout = DurationInput.check(
  Schema.makeFilter((d: Duration.Duration) => millisOf(d) > 0, { expected: "a duration > 0" })
)

const SleepWindow = parsed<Duration.Duration | SleepSchedule>(
  "a Duration.Input or a Schedule",
  (u) => isScheduleSafe(u) ? u : toDuration(u)
).check(
  Schema.makeFilter(
    (w: Duration.Duration | SleepSchedule) => {
      if (isScheduleSafe(w)) return true
      const millis = millisOf(w)
      return Number.isFinite(millis) && millis >= 0
    },
    { expected: "a finite duration ≥ 0 or a Schedule" }
  )
)

const BucketDuration = DurationInput.check(
  Schema.makeFilter((d: Duration.Duration) => {
    const millis = millisOf(d)
    return Number.isFinite(millis) && millis >= 1
  }, { expected: "a finite duration ≥ 1 millisecond" })
)

const PositiveInfinity = Schema.Number.check(
  Schema.makeFilter((n: number) => n === Infinity, { expected: "Infinity" })
)

const RollingWindowInput = Schema.Struct({
  buckets: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 }))),
  bucketDuration: Schema.optionalKey(BucketDuration)
})

const ConfigInput = Schema.Struct({
  timeout: Schema.optionalKey(Timeout),
  maxConcurrentRequests: Schema.optionalKey(
    Schema.Union([Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), PositiveInfinity])
  ),
  requestVolumeThreshold: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  errorPercentThreshold: Schema.optionalKey(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 100 }))),
  sleepWindow: Schema.optionalKey(SleepWindow),
  rollingWindow: Schema.optionalKey(RollingWindowInput)
})

const decodeConfigInput = SchemaParser.decodeUnknownExit(ConfigInput, { onExcessProperty: "error" })

// The first issue, and the path to it.
const firstIssue = (
  issue: SchemaIssue.Issue,
  path: ReadonlyArray<PropertyKey>
): { readonly path: ReadonlyArray<PropertyKey>; readonly issue: SchemaIssue.Issue } => {
  switch (issue._tag) {
    case "Pointer":
      return firstIssue(issue.issue, [...path, ...issue.path])
    case "Encoding":
      return firstIssue(issue.issue, path)
    case "Composite": {
      const first = issue.issues[0]
      return first === undefined ? { path, issue } : firstIssue(first, path)
    }
    default:
      return { path, issue }
  }
}

const valueAt = (root: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let current = root
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined
    current = (current as Record<PropertyKey, unknown>)[key]
  }
  return current
}

const issueToRefusal = (
  issue: SchemaIssue.Issue,
  input: Record<PropertyKey, unknown>
): { readonly field: string; readonly reason: string } => {
  const first = firstIssue(issue, [])
  const field = first.path.length === 0 ? ROOT : first.path.map(keyName).join(".")
  if (first.issue._tag === "UnexpectedKey") {
    const parent = first.path.length > 1 ? first.path.slice(0, -1).map(keyName).join(".") : undefined
    const allowed = [...(parent === "rollingWindow" ? rollingWindowKeys : topLevelKeys)].join(", ")
    return { field, reason: `unknown field (known fields: ${allowed})` }
  }
  const rule = rules[field] ?? "is invalid"
  return { field, reason: `${rule}, got ${show(valueAt(input, first.path))}` }
}

/**
 * Applies `input` on top of `base`: the fields `input` gives replace those of
 * `base`, all checked first. Never throws; fails with `CircuitConfigError`
 * naming the first bad field, and then nothing is applied.
 *
 * **Details**
 *
 * `input` must be a plain object or `undefined` (which is `{}`). Without
 * `options.base` the missing fields take `defaults`. `rollingWindow` merges
 * per sub-field. Durations come out as `Duration` values; a `Schedule` sleep
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
    const top = snapshot(input === undefined ? {} : input, undefined, topLevelKeys)
    if (top._tag === "Refused") return refuse(top.field, top.reason)
    const fields = top.value
    if (fields.rollingWindow !== undefined) {
      const window = snapshot(fields.rollingWindow, "rollingWindow", rollingWindowKeys)
      if (window._tag === "Refused") return refuse(window.field, window.reason)
      fields.rollingWindow = window.value
    }
    const exit = decodeConfigInput(fields)
    if (Exit.isFailure(exit)) {
      const issue = Cause.findErrorOption(exit.cause)
      if (Option.isNone(issue)) return refuse(ROOT, `could not be decoded (${errorMessage(Cause.squash(exit.cause))})`)
      const refusal = issueToRefusal(issue.value, fields)
      return refuse(refusal.field, refusal.reason)
    }
    const given = exit.value
    const base = options?.base ?? defaults
    const timeout = given.timeout === undefined
      ? base.timeout
      : Number.isFinite(millisOf(given.timeout))
      ? given.timeout
      : Duration.infinity
    const config: CircuitConfig = {
      timeout,
      maxConcurrentRequests: given.maxConcurrentRequests ?? base.maxConcurrentRequests,
      requestVolumeThreshold: given.requestVolumeThreshold ?? base.requestVolumeThreshold,
      errorPercentThreshold: given.errorPercentThreshold ?? base.errorPercentThreshold,
      sleepWindow: given.sleepWindow ?? base.sleepWindow,
      rollingWindow: {
        buckets: given.rollingWindow?.buckets ?? base.rollingWindow.buckets,
        bucketDuration: given.rollingWindow?.bucketDuration ?? base.rollingWindow.bucketDuration
      }
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

// -----------------------------------------------------------------------------
// reading settings from Config
// -----------------------------------------------------------------------------

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

const durationExpected = "a duration such as \"2 seconds\" or \"250 millis\", or a number of milliseconds"
const numberExpected = "a number"

const orInfinity = (d: number | Duration.Duration | "infinity"): Duration.Input =>
  d === "infinity" ? Duration.infinity : d

/**
 * Reads circuit settings with Effect `Config`, from the keys `TIMEOUT`,
 * `MAX_CONCURRENT_REQUESTS`, `REQUEST_VOLUME_THRESHOLD`,
 * `ERROR_PERCENT_THRESHOLD`, `SLEEP_WINDOW`, `ROLLING_WINDOW_BUCKETS` and
 * `ROLLING_WINDOW_BUCKET_DURATION`, all optional.
 *
 * **Details**
 *
 * A key that is absent (or an empty string) is absent from the result, so
 * `decode` keeps the default (or the base's value) for it. Durations are
 * strings like `"2 seconds"` or a number of milliseconds (`"2000"`); `TIMEOUT`
 * also takes `"infinity"`, `MAX_CONCURRENT_REQUESTS` takes `"Infinity"`.
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
    maxConcurrentRequests: setting("MAX_CONCURRENT_REQUESTS", `${numberExpected} or "Infinity"`, parseNumberSetting),
    requestVolumeThreshold: setting("REQUEST_VOLUME_THRESHOLD", numberExpected, parseNumberSetting),
    errorPercentThreshold: setting("ERROR_PERCENT_THRESHOLD", numberExpected, parseNumberSetting),
    sleepWindow: setting("SLEEP_WINDOW", durationExpected, parseDurationSetting),
    buckets: setting("ROLLING_WINDOW_BUCKETS", numberExpected, parseNumberSetting),
    bucketDuration: setting("ROLLING_WINDOW_BUCKET_DURATION", durationExpected, parseDurationSetting)
  }).pipe(
    Config.map((s): CircuitConfigInput => {
      const rollingWindow = {
        ...(Option.isSome(s.buckets) ? { buckets: s.buckets.value } : {}),
        ...(Option.isSome(s.bucketDuration) ? { bucketDuration: orInfinity(s.bucketDuration.value) } : {})
      }
      return {
        ...(Option.isSome(s.timeout) ? { timeout: s.timeout.value } : {}),
        ...(Option.isSome(s.maxConcurrentRequests) ? { maxConcurrentRequests: s.maxConcurrentRequests.value } : {}),
        ...(Option.isSome(s.requestVolumeThreshold) ? { requestVolumeThreshold: s.requestVolumeThreshold.value } : {}),
        ...(Option.isSome(s.errorPercentThreshold) ? { errorPercentThreshold: s.errorPercentThreshold.value } : {}),
        ...(Option.isSome(s.sleepWindow) ? { sleepWindow: orInfinity(s.sleepWindow.value) } : {}),
        ...(Option.isSome(s.buckets) || Option.isSome(s.bucketDuration) ? { rollingWindow } : {})
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
export const toBreakerConfig = (config: CircuitConfig): BreakerConfig => ({
  requestVolumeThreshold: config.requestVolumeThreshold,
  errorPercentThreshold: config.errorPercentThreshold,
  buckets: config.rollingWindow.buckets,
  bucketMillis: Duration.toMillis(config.rollingWindow.bucketDuration),
  sleepWindow: sleepFunction(config.sleepWindow)
})

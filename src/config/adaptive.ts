/**
 * The adaptive form of `maxConcurrentRequests`: instead of a number, an
 * algorithm that learns the limit (`{ adaptive: "aimd" | "gradient", min,
 * max, initial, ... }`). Its input and decoded shapes, its defaults, its
 * decoding (with the field and the reason of a refusal), its environment
 * variables, and its conversion to the pure core's `Limit.Settings`.
 *
 * **Details**
 *
 * | field | algorithms | default | accepted |
 * | --- | --- | --- | --- |
 * | `adaptive` | both | (required) | `"aimd"` or `"gradient"` |
 * | `min` | both | 1 | an integer ≥ 1 |
 * | `max` | both | 1000 | an integer, `min ≤ max ≤ 1,000,000` |
 * | `initial` | both | 10 (held within `[min, max]`) | an integer, `min ≤ initial ≤ max` |
 * | `backoffRatio` | aimd | 0.9 | a number, 0 < x < 1 |
 * | `latencyThreshold` | aimd | `"infinity"` (off) | a `Duration.Input` > 0, or `"infinity"` |
 * | `tolerance` | gradient | 1.1 | a number, 1 ≤ x ≤ 10 |
 * | `smoothing` | gradient | 0.2 | a number, 0 < x ≤ 1 |
 * | `probeInterval` | gradient | 50 | an integer ≥ 1 (round trips) |
 *
 * Given on top of an adaptive setting of the same algorithm (by
 * `Circuit.configure`, or `circuits` over `defaults`), the fields given
 * replace those of the base, as `rollingWindow` does; `adaptive` may then be
 * left out. A different algorithm starts from its own defaults.
 *
 * Environment variables (with `CircuitConfig.configForCircuit("payments")`):
 * `CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS=gradient` (or `aimd`) and, all
 * optional, `..._MAX_CONCURRENT_REQUESTS_MIN`, `_MAX`, `_INITIAL`,
 * `_BACKOFF_RATIO`, `_LATENCY_THRESHOLD`, `_TOLERANCE`, `_SMOOTHING`,
 * `_PROBE_INTERVAL`.
 *
 * @since 0.2.0
 */
import { Duration } from "effect"
import type * as Limit from "../core/Limit.ts"
import { isScheduleSafe, millisOf, toDuration } from "./duration.ts"
import { errorMessage, show, snapshot } from "./inspect.ts"

/**
 * What users write for an adaptive limit.
 *
 * @since 0.2.0
 * @category models
 */
export interface AdaptiveLimitInput {
  /** The algorithm; may be left out on top of an adaptive setting of the same algorithm. */
  readonly adaptive?: "aimd" | "gradient" | undefined
  /** Default 1. */
  readonly min?: number | undefined
  /** Default 1000. */
  readonly max?: number | undefined
  /** Default 10, held within `[min, max]`. */
  readonly initial?: number | undefined
  /** AIMD: the factor of a decrease, 0 < x < 1. Default 0.9. */
  readonly backoffRatio?: number | undefined
  /** AIMD: a success at least this slow counts as a drop. Default `"infinity"` (off). */
  readonly latencyThreshold?: Duration.Input | "infinity" | undefined
  /** Gradient: latency up to `tolerance ×` the no-load latency counts as no queueing. Default 1.1. */
  readonly tolerance?: number | undefined
  /** Gradient: how far one call moves the limit toward its target, 0 < x ≤ 1. Default 0.2. */
  readonly smoothing?: number | undefined
  /** Gradient: round trips between measurements of the no-load latency. Default 50. */
  readonly probeInterval?: number | undefined
}

/**
 * A decoded adaptive limit.
 *
 * @since 0.2.0
 * @category models
 */
export type AdaptiveLimit =
  | {
    readonly adaptive: "aimd"
    readonly min: number
    readonly max: number
    readonly initial: number
    readonly backoffRatio: number
    /** `Duration.infinity` when off. */
    readonly latencyThreshold: Duration.Duration
  }
  | {
    readonly adaptive: "gradient"
    readonly min: number
    readonly max: number
    readonly initial: number
    readonly tolerance: number
    readonly smoothing: number
    readonly probeInterval: number
  }

/**
 * Whether `maxConcurrentRequests` is adaptive (not a number).
 *
 * @since 0.2.0
 * @category guards
 */
export const isAdaptive = (limit: number | AdaptiveLimit): limit is AdaptiveLimit => typeof limit === "object"

const keys = {
  aimd: ["adaptive", "min", "max", "initial", "backoffRatio", "latencyThreshold"],
  gradient: ["adaptive", "min", "max", "initial", "tolerance", "smoothing", "probeInterval"]
} as const
const allKeys: ReadonlySet<string> = new Set([...keys.aimd, ...keys.gradient])

const FIELD = "maxConcurrentRequests"

/**
 * The refusal rules of the adaptive fields.
 *
 * @since 0.2.0
 * @category decoding
 */
export const rules: Readonly<Record<string, string>> = {
  [FIELD]:
    "must be an integer ≥ 1, Infinity, or an adaptive limit { adaptive: \"aimd\" | \"gradient\", min?, max?, initial?, ... }",
  [`${FIELD}.adaptive`]: "must be \"aimd\" or \"gradient\"",
  [`${FIELD}.min`]: "must be an integer ≥ 1",
  [`${FIELD}.max`]: "must be an integer between min and 1000000",
  [`${FIELD}.initial`]: "must be an integer between min and max",
  [`${FIELD}.backoffRatio`]: "must be a number between 0 and 1 (both excluded)",
  [`${FIELD}.latencyThreshold`]:
    "must be a duration > 0 (a Duration, a number of milliseconds, a string like \"200 millis\") or \"infinity\"",
  [`${FIELD}.tolerance`]: "must be a number between 1 and 10",
  [`${FIELD}.smoothing`]: "must be a number greater than 0 and at most 1",
  [`${FIELD}.probeInterval`]: "must be an integer between 1 and 1000000"
}

const defaultsOf = (algorithm: "aimd" | "gradient"): AdaptiveLimit =>
  algorithm === "aimd"
    ? { adaptive: "aimd", min: 1, max: 1000, initial: 10, backoffRatio: 0.9, latencyThreshold: Duration.infinity }
    : { adaptive: "gradient", min: 1, max: 1000, initial: 10, tolerance: 1.1, smoothing: 0.2, probeInterval: 50 }

type Decoded =
  | { readonly _tag: "Ok"; readonly value: AdaptiveLimit }
  | { readonly _tag: "Refused"; readonly field: string; readonly reason: string }

const refused = (key: string, given: unknown, reason?: string): Decoded => ({
  _tag: "Refused",
  field: `${FIELD}.${key}`,
  reason: reason ?? `${rules[`${FIELD}.${key}`]}, got ${show(given)}`
})

const isInt = (u: unknown): u is number => typeof u === "number" && Number.isInteger(u)
const isFiniteNumber = (u: unknown): u is number => typeof u === "number" && Number.isFinite(u)

/**
 * Decodes an adaptive limit given as an object, on top of `base` (the
 * current `maxConcurrentRequests`). Never throws.
 *
 * @since 0.2.0
 * @category decoding
 */
export const decode = (input: unknown, base: number | AdaptiveLimit): Decoded => {
  try {
    const read = snapshot(input, FIELD, allKeys, rules[FIELD])
    if (read._tag === "Refused") return read
    const fields = read.value
    const algorithm: unknown = fields.adaptive ?? (isAdaptive(base) ? base.adaptive : undefined)
    if (algorithm !== "aimd" && algorithm !== "gradient") {
      return fields.adaptive === undefined
        ? refused("adaptive", undefined, `${rules[`${FIELD}.adaptive`]} (the circuit's limit is a number, so the algorithm must be named)`)
        : refused("adaptive", fields.adaptive)
    }
    const known: ReadonlyArray<string> = keys[algorithm]
    for (const key of Reflect.ownKeys(fields)) {
      if (typeof key !== "string" || !known.includes(key)) {
        const other = algorithm === "aimd" ? "gradient" : "aimd"
        return typeof key === "string" && (keys[other] as ReadonlyArray<string>).includes(key)
          ? refused(key, fields[key], `applies to the ${other} algorithm only (this limit is ${algorithm})`)
          : refused(typeof key === "string" ? key : String(key), undefined, `unknown field (known fields: ${known.join(", ")})`)
      }
    }
    const start: AdaptiveLimit = isAdaptive(base) && base.adaptive === algorithm ? base : defaultsOf(algorithm)
    const min = fields.min ?? start.min
    if (!isInt(min) || min < 1) return refused("min", min)
    const max = fields.max ?? Math.max(start.max, min)
    if (!isInt(max) || max < min || max > 1_000_000) return refused("max", max)
    const initialGiven = fields.initial
    const initial = initialGiven ?? Math.min(max, Math.max(min, start.initial))
    if (!isInt(initial) || initial < min || initial > max) return refused("initial", initial)
    if (algorithm === "aimd") {
      const from = start.adaptive === "aimd" ? start : defaultsOf("aimd") as Extract<AdaptiveLimit, { adaptive: "aimd" }>
      const backoffRatio = fields.backoffRatio ?? from.backoffRatio
      if (!isFiniteNumber(backoffRatio) || backoffRatio <= 0 || backoffRatio >= 1) return refused("backoffRatio", backoffRatio)
      let latencyThreshold = from.latencyThreshold
      if (fields.latencyThreshold !== undefined) {
        const d = isScheduleSafe(fields.latencyThreshold) ? undefined : toDuration(fields.latencyThreshold)
        if (d === undefined || !(millisOf(d) > 0)) return refused("latencyThreshold", fields.latencyThreshold)
        latencyThreshold = Number.isFinite(millisOf(d)) ? d : Duration.infinity
      }
      return { _tag: "Ok", value: { adaptive: "aimd", min, max, initial, backoffRatio, latencyThreshold } }
    }
    const from = start.adaptive === "gradient" ? start : defaultsOf("gradient") as Extract<AdaptiveLimit, { adaptive: "gradient" }>
    const tolerance = fields.tolerance ?? from.tolerance
    if (!isFiniteNumber(tolerance) || tolerance < 1 || tolerance > 10) return refused("tolerance", tolerance)
    const smoothing = fields.smoothing ?? from.smoothing
    if (!isFiniteNumber(smoothing) || smoothing <= 0 || smoothing > 1) return refused("smoothing", smoothing)
    const probeInterval = fields.probeInterval ?? from.probeInterval
    if (!isInt(probeInterval) || probeInterval < 1 || probeInterval > 1_000_000) return refused("probeInterval", probeInterval)
    return { _tag: "Ok", value: { adaptive: "gradient", min, max, initial, tolerance, smoothing, probeInterval } }
  } catch (error) {
    return { _tag: "Refused", field: FIELD, reason: `could not be decoded (${errorMessage(error)})` }
  }
}

/**
 * The pure core's settings of an adaptive limit.
 *
 * @since 0.2.0
 * @category conversions
 */
export const toLimitSettings = (limit: AdaptiveLimit): Limit.Settings =>
  limit.adaptive === "aimd"
    ? {
      _tag: "Aimd",
      min: limit.min,
      max: limit.max,
      initial: limit.initial,
      backoffRatio: limit.backoffRatio,
      latencyThreshold: Duration.isFinite(limit.latencyThreshold) ? Duration.toMillis(limit.latencyThreshold) : Infinity
    }
    : {
      _tag: "Gradient",
      min: limit.min,
      max: limit.max,
      initial: limit.initial,
      tolerance: limit.tolerance,
      smoothing: limit.smoothing,
      probeInterval: limit.probeInterval
    }

/**
 * Whether two settings of `maxConcurrentRequests` are the same (so a
 * reconfiguration keeps what an adaptive limit has learned).
 *
 * @since 0.2.0
 * @category queries
 */
export const same = (a: number | AdaptiveLimit, b: number | AdaptiveLimit): boolean => {
  if (!isAdaptive(a) || !isAdaptive(b)) return a === b
  const x = toLimitSettings(a) as unknown as Record<string, unknown>
  const y = toLimitSettings(b) as unknown as Record<string, unknown>
  return Object.keys(x).every((key) => x[key] === y[key])
}

/**
 * The environment keys of an adaptive limit, after `MAX_CONCURRENT_REQUESTS`,
 * and the field each one sets.
 *
 * @since 0.2.0
 * @category config
 */
export const envKeys: ReadonlyArray<readonly [key: string, field: keyof AdaptiveLimitInput, duration: boolean]> = [
  ["MAX_CONCURRENT_REQUESTS_MIN", "min", false],
  ["MAX_CONCURRENT_REQUESTS_MAX", "max", false],
  ["MAX_CONCURRENT_REQUESTS_INITIAL", "initial", false],
  ["MAX_CONCURRENT_REQUESTS_BACKOFF_RATIO", "backoffRatio", false],
  ["MAX_CONCURRENT_REQUESTS_LATENCY_THRESHOLD", "latencyThreshold", true],
  ["MAX_CONCURRENT_REQUESTS_TOLERANCE", "tolerance", false],
  ["MAX_CONCURRENT_REQUESTS_SMOOTHING", "smoothing", false],
  ["MAX_CONCURRENT_REQUESTS_PROBE_INTERVAL", "probeInterval", false]
]

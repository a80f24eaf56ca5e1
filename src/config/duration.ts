/**
 * Strict reading of `Duration.Input`: what Effect would refuse, and what it
 * would silently turn into zero (`NaN`, unknown object keys), are refused.
 *
 * @since 0.1.0
 */
import { Duration, Option, Schedule } from "effect"
import { isNumberNotNaN, snapshot } from "./inspect.ts"

// `SleepSchedule` of model.ts, spelled out: importing it from there would close
// the cycle duration → model → adaptive → duration.
type SleepSchedule = Schedule.Schedule<unknown, number, never, never>

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

// A `Duration.Input` to a `Duration`, strictly: `undefined` for anything
// `Duration.fromInput` would refuse, and also for what it would silently turn
// into zero (`NaN`, `[NaN, 0]`, `{ secs: 1 }`). Never throws.
export const toDuration = (u: unknown): Duration.Duration | undefined => {
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
        const fields = snapshot(u, "duration", durationObjectKeys, undefined)
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

export const isScheduleSafe = (u: unknown): u is SleepSchedule => {
  try {
    return Schedule.isSchedule(u)
  } catch {
    return false
  }
}

export const millisOf = (d: Duration.Duration): number => Duration.toMillis(d)

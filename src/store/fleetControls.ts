/**
 * Which of a circuit's settings a fleet circuit (one shared through a
 * `CircuitStore`) cannot honour. The store shares one rule, the error
 * percentage over the rolling time window, with one probe lease; a setting
 * that changes that rule is refused for fleet circuits with a
 * `CircuitConfigError` naming it, rather than silently applied to the
 * process's local breaker only.
 *
 * **Details**
 *
 * - `rollingWindow.calls`: a count window is the last N requests of the
 *   whole fleet, in order; the store receives batches of counts, not the
 *   order of the calls across processes.
 * - `consecutiveFailures`: "in a row" needs the fleet's order of outcomes,
 *   which batches do not carry either.
 * - `slowCallDuration`: the store's window keeps no slow count yet.
 * - `halfOpenProbes` other than 1: the store grants one probe lease.
 * - `backoffReset: "stable"`: the store resets its count of openings at
 *   every close.
 *
 * Keep such a circuit per process with the store's `local` option; give it
 * these settings per circuit (`circuits`) or with `Circuit.configure`.
 *
 * @since 0.1.0
 */
import type { BreakerConfig } from "../core/BreakerConfig.ts"

/**
 * A setting a fleet circuit cannot honour: the field's name, as in
 * `CircuitConfigInput`, and why.
 *
 * @since 0.1.0
 * @category models
 */
export interface Unsupported {
  readonly field: string
  readonly reason: string
}

const shared = "is not supported by fleet circuits (a CircuitStore)"
const keepLocal = "keep this circuit per process with the store's `local` option"

/**
 * The first setting of `config` that a fleet circuit cannot honour, or
 * `undefined` when it can honour them all. Reads the core's settings, in
 * which a control that is off is absent.
 *
 * @since 0.1.0
 * @category queries
 */
export const unsupported = (config: BreakerConfig): Unsupported | undefined => {
  if (config.windowCalls !== undefined) {
    return {
      field: "rollingWindow.calls",
      reason: `${shared}: the store receives batches of counts, not the fleet's order of calls; ${keepLocal}`
    }
  }
  if (config.consecutiveFailures !== undefined && config.consecutiveFailures !== Infinity) {
    return {
      field: "consecutiveFailures",
      reason: `${shared}: errors in a row need the fleet's order of calls, which batches do not carry; ${keepLocal}`
    }
  }
  if (config.slowCallMillis !== undefined && config.slowCallMillis !== Infinity) {
    return { field: "slowCallDuration", reason: `${shared}: the store's window keeps no slow count; ${keepLocal}` }
  }
  if (config.halfOpenProbes !== undefined && config.halfOpenProbes !== 1) {
    return { field: "halfOpenProbes", reason: `${shared}: the store grants one probe lease; ${keepLocal}` }
  }
  if (config.backoffReset !== undefined && config.backoffReset !== "close") {
    return {
      field: "backoffReset",
      reason: `${shared}: the store resets its count of openings at every close; ${keepLocal}`
    }
  }
  return undefined
}

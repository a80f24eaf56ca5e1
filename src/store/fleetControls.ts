/**
 * Which of a circuit's settings a fleet circuit (one shared through a
 * `CircuitStore`) cannot honour. The store shares the error and slow-call
 * percentages over the rolling time window, consecutive failures (in the
 * order it receives the batches), the backoff, a failure's Retry-After and
 * `halfOpenProbes` probe leases; a setting it cannot share is refused for
 * fleet circuits with a `CircuitConfigError` naming it, rather than
 * silently applied to the process's local breaker only.
 *
 * **Details**
 *
 * - `rollingWindow.calls`: a count window is the last N requests of the
 *   whole fleet, in order; the store receives batches of counts, not the
 *   order of the calls across processes.
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
  return undefined
}

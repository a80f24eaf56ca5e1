/**
 * Adaptive concurrency limits as pure state machines: a limit is a value,
 * advanced by `reduce` over samples of the calls that ended. Plain data in,
 * plain data out: no clock, no mutation, no Effect.
 *
 * **Details**
 *
 * Two algorithms (see their modules for the rules):
 *
 * - `Aimd` (additive increase, multiplicative decrease): grows by one call
 *   per round trip while the limit is used, shrinks by a ratio on a timeout,
 *   a dropped call, or a latency over a threshold. Learns from drops.
 * - `Gradient` (after Netflix's Gradient2/Vegas and Envoy's gradient
 *   controller): compares each call's latency with the no-load latency and
 *   moves toward the concurrency that does not queue. Learns from latency.
 *
 * Whatever the samples, the limit is an integer in `[min, max]`, and the
 * state has a fixed size.
 *
 * **Example** (Learning a limit from samples)
 *
 * ```ts
 * import { Limit } from "effect-circuit/core"
 *
 * let limit = Limit.initial(Limit.aimd({ min: 1, max: 100, initial: 10 }))
 * limit = Limit.reduce(limit, { outcome: "timeout", at: 1000, latency: 1000, inFlight: 10 })
 * Limit.current(limit) // => 9
 * ```
 *
 * @since 0.2.0
 */
import * as Aimd from "./limits/Aimd.ts"
import * as Gradient from "./limits/Gradient.ts"
import type { Bounds, Sample } from "./limits/Sample.ts"

export type { Bounds, Outcome, Sample } from "./limits/Sample.ts"

/**
 * Which algorithm, with its settings.
 *
 * @since 0.2.0
 * @category models
 */
export type Settings =
  | ({ readonly _tag: "Aimd" } & Aimd.AimdSettings)
  | ({ readonly _tag: "Gradient" } & Gradient.GradientSettings)

/**
 * @since 0.2.0
 * @category models
 */
export type Limit = Aimd.Aimd | Gradient.Gradient

/**
 * AIMD settings: the bounds, and the defaults for the rest unless given.
 *
 * @since 0.2.0
 * @category constructors
 */
export const aimd = (bounds: Bounds & Partial<Aimd.AimdSettings>): Settings => ({
  _tag: "Aimd",
  ...Aimd.defaultSettings(bounds),
  ...bounds
})

/**
 * Gradient settings: the bounds, and the defaults for the rest unless given.
 *
 * @since 0.2.0
 * @category constructors
 */
export const gradient = (bounds: Bounds & Partial<Gradient.GradientSettings>): Settings => ({
  _tag: "Gradient",
  ...Gradient.defaultSettings(bounds),
  ...bounds
})

/**
 * A fresh limit at time `at`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const initial = (settings: Settings, at = 0): Limit =>
  settings._tag === "Aimd" ? Aimd.initial(settings) : Gradient.initial(settings, at)

/**
 * The limit after one sample.
 *
 * @since 0.2.0
 * @category combinators
 */
export const reduce = (limit: Limit, sample: Sample): Limit =>
  limit._tag === "Aimd" ? Aimd.reduce(limit, sample) : Gradient.reduce(limit, sample)

/**
 * The number of calls allowed at once now: an integer in `[min, max]`.
 *
 * @since 0.2.0
 * @category queries
 */
export const current = (limit: Limit): number => limit.limit

/**
 * The algorithm's name as settings and snapshots spell it.
 *
 * @since 0.2.0
 * @category queries
 */
export const algorithm = (limit: Limit): "aimd" | "gradient" => limit._tag === "Aimd" ? "aimd" : "gradient"

export {
  /**
   * @since 0.2.0
   */
  Aimd,
  /**
   * @since 0.2.0
   */
  Gradient
}

/**
 * AIMD: additive increase, multiplicative decrease, as TCP's congestion
 * window. The limit grows by one call per round trip while it is in use, and
 * shrinks by `backoffRatio` when a call shows the dependency is overloaded: a
 * timeout, a dropped call, or (when set) a latency at or above
 * `latencyThreshold`.
 *
 * **Details**
 *
 * - Growth: a success counts only when the limit was in use (at least half
 *   of it running when the call started, as Netflix's `AIMDLimit`); every
 *   `limit` such successes add one (`credit` counts them), so a fully used
 *   limit grows by one per round trip.
 * - Decrease: `limit → max(min, min(limit − 1, floor(limit · backoffRatio)))`,
 *   at most once per round trip: a drop of a call that started before the
 *   last decrease belongs to the same overload and is not counted again
 *   (TCP's fast recovery). Without that rule one overload, seen by every call
 *   in flight, would cut the limit to `min`.
 * - State: three integers and the settings: memory does not depend on the
 *   number of calls.
 *
 * **Gotchas**
 *
 * - AIMD only learns from drops: a dependency that just gets slower, without
 *   timing out or shedding calls, never lowers it. Set `latencyThreshold` to
 *   the latency that means "overloaded", or use the gradient algorithm.
 * - Unlike Netflix's `AIMDLimit` (one call per success), growth is one call
 *   per round trip: slower to climb, but it overshoots by one call instead of
 *   doubling past the capacity.
 *
 * @since 0.2.0
 */
import { type Bounds, clamp, type Sample, startedAt } from "./Sample.ts"

/**
 * @since 0.2.0
 * @category models
 */
export interface AimdSettings extends Bounds {
  /** 0 < r < 1: the factor of a decrease. Default 0.9. */
  readonly backoffRatio: number
  /** A success at least this slow (ms) counts as a drop; `Infinity` turns it off (the default). */
  readonly latencyThreshold: number
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Aimd {
  readonly _tag: "Aimd"
  readonly settings: AimdSettings
  /** The current limit: an integer in `[min, max]`. */
  readonly limit: number
  /** Successes at full use since the last increase: `0 ≤ credit < limit`. */
  readonly credit: number
  /** When the limit last decreased (`-Infinity`: never). */
  readonly decreasedAt: number
}

/**
 * @since 0.2.0
 * @category constructors
 */
export const defaultSettings = (bounds: Bounds): AimdSettings => ({
  ...bounds,
  backoffRatio: 0.9,
  latencyThreshold: Infinity
})

/**
 * @since 0.2.0
 * @category constructors
 */
export const initial = (settings: AimdSettings): Aimd => ({
  _tag: "Aimd",
  settings,
  limit: clamp(settings, settings.initial),
  credit: 0,
  decreasedAt: -Infinity
})

const make = (s: Aimd, limit: number, credit: number, decreasedAt: number): Aimd => ({
  _tag: "Aimd",
  settings: s.settings,
  limit,
  credit,
  decreasedAt
})

const decrease = (s: Aimd, sample: Sample): Aimd => {
  if (startedAt(sample) < s.decreasedAt) return s
  const { backoffRatio, min } = s.settings
  const limit = Math.max(min, Math.min(s.limit - 1, Math.floor(s.limit * backoffRatio)))
  return make(s, limit, 0, sample.at)
}

const grow = (s: Aimd, sample: Sample): Aimd => {
  if (sample.inFlight * 2 < s.limit || s.limit >= s.settings.max) return s
  const credit = s.credit + 1
  return credit >= s.limit ? make(s, s.limit + 1, 0, s.decreasedAt) : make(s, s.limit, credit, s.decreasedAt)
}

/**
 * The limit after one sample.
 *
 * @since 0.2.0
 * @category combinators
 */
export const reduce = (s: Aimd, sample: Sample): Aimd => {
  switch (sample.outcome) {
    case "success":
      return sample.latency >= s.settings.latencyThreshold ? decrease(s, sample) : grow(s, sample)
    case "timeout":
    case "dropped":
      return decrease(s, sample)
    case "failure":
    case "rejected":
      return s
  }
}

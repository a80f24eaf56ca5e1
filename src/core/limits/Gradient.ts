/**
 * A gradient limit (after Netflix's `Gradient2Limit` and `VegasLimit`, and
 * Envoy's gradient controller): it compares each call's latency with the
 * dependency's no-load latency (the baseline) and moves the limit toward the
 * concurrency the dependency can take without queueing.
 *
 * **Details**
 *
 * For a success that started with `n` calls running and took `latency`:
 *
 * ```text
 * gradient = clamp(tolerance · baseline / latency, 0.5, 1)
 * target   = gradient < 1 ? min(estimate, n · gradient + 1) (queueing: shrink, never grow)
 *          : latency ≤ baseline ? max(estimate, n + √n)     (no queueing at all: grow by √n)
 *          : max(estimate, n + 1)                           (within the tolerance: grow by one)
 * estimate = estimate + smoothing · (target − estimate),  held within [min, max]
 * limit    = round(estimate)
 * ```
 *
 * Scaling the call's own `n` (not the current limit) is Little's law: a
 * dependency that serves C calls at once without queueing answers n > C
 * calls in about `baseline · n / C`, so `n · baseline / latency ≈ C` whatever
 * the limit was when the call started. Late samples from before a change
 * therefore do not push the limit past the capacity. The `+ 1` (or `+ √n`
 * while calls are as fast as the baseline) is the probe for more capacity:
 * the limit settles at about `tolerance · C + 1`.
 * A timeout or a dropped call is the largest decrease (`gradient = 0.5`).
 *
 * The baseline is the fastest success since the last baseline probe. The
 * fastest success only ever goes down, so the baseline would miss a
 * dependency that became slower for good (the limit would shrink to `min`);
 * hence the probe, as Envoy's minRTT window: every `probeInterval` round
 * trips (counted in samples: `probeInterval · limit`), the limit is held at
 * three quarters (below the capacity when the limit sits at about
 * `1.1 · C + 1`) until as many calls that started during the probe have
 * ended, and the fastest of them is the new baseline. A probe slower than the
 * baseline may itself have queued (the capacity fell), so it is repeated at
 * half, and again while halving makes calls more than √2 × faster: only
 * queueing gets faster with fewer calls. The first measurement starts
 * at once, at `initial`, and halves the same way (from a limit 8 × too high:
 * five round trips); then the limit is `initial` again and the gradient
 * takes over.
 *
 * **Gotchas**
 *
 * - Failures and rejections teach it nothing (a fast failure would fake a
 *   fast baseline).
 * - `tolerance` above 1 accepts that much latency over the baseline as "no
 *   queueing": it absorbs jitter, and the limit settles that much above C.
 * - State: numbers and the settings; memory does not depend on the number of
 *   calls.
 *
 * @since 0.2.0
 */
import { type Bounds, clamp, type Sample, startedAt } from "./Sample.ts"

/**
 * @since 0.2.0
 * @category models
 */
export interface GradientSettings extends Bounds {
  /** ≥ 1: latency up to `tolerance × baseline` counts as no queueing. Default 1.1. */
  readonly tolerance: number
  /** 0 < s ≤ 1: how far one sample moves the estimate toward its target. Default 0.2. */
  readonly smoothing: number
  /** Round trips between baseline probes (an integer ≥ 1). Default 50. */
  readonly probeInterval: number
}

/**
 * A baseline probe in progress: the limit is held at `limit` until `limit`
 * calls that started at or after `startedAt` have ended.
 *
 * @since 0.2.0
 * @category models
 */
export interface Probe {
  readonly startedAt: number
  /** The limit while it lasts; also how many calls it waits for. */
  readonly limit: number
  readonly seen: number
  /** The fastest of them so far (`Infinity`: none yet). */
  readonly fastest: number
  /** The result of the probe just before, at twice the limit (`Infinity`: none). */
  readonly previous: number
  /** The estimate to go back to. */
  readonly restore: number
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Gradient {
  readonly _tag: "Gradient"
  readonly settings: GradientSettings
  /** The current limit: an integer in `[min, max]`. */
  readonly limit: number
  /** The unrounded limit, in `[min, max]`. */
  readonly estimate: number
  /** The no-load latency in ms (`Infinity`: not known yet). */
  readonly baseline: number
  /** Samples since the last probe ended. */
  readonly samples: number
  readonly probe: Probe | undefined
}

/**
 * @since 0.2.0
 * @category constructors
 */
export const defaultSettings = (bounds: Bounds): GradientSettings => ({
  ...bounds,
  tolerance: 1.1,
  smoothing: 0.2,
  probeInterval: 50
})

const probeAt = (settings: GradientSettings, at: number, limit: number, restore: number): Probe => ({
  startedAt: at,
  limit,
  seen: 0,
  fastest: Infinity,
  previous: Infinity,
  restore: clamp(settings, restore)
})

/**
 * A limit that starts with a baseline probe at `min`, at time `at`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const initial = (settings: GradientSettings, at = 0): Gradient => {
  const start = clamp(settings, settings.initial)
  return {
    _tag: "Gradient",
    settings,
    limit: start,
    estimate: start,
    baseline: Infinity,
    samples: 0,
    probe: probeAt(settings, at, start, start)
  }
}

const make = (s: Gradient, estimate: number, baseline: number, samples: number, probe: Probe | undefined): Gradient => ({
  _tag: "Gradient",
  settings: s.settings,
  limit: probe === undefined ? Math.round(estimate) : probe.limit,
  estimate,
  baseline,
  samples,
  probe
})

// Half the calls of a queueing dependency answer up to twice as fast; √2
// faster means the probe above still queued.
const FASTER = Math.SQRT2

// Calls that started before the probe ran at the old limit: they say nothing
// about the no-load latency. A dropped call ends the probe's wait like any
// other but, shed at once, its latency is not the dependency's.
const onProbe = (s: Gradient, probe: Probe, sample: Sample): Gradient => {
  if (startedAt(sample) < probe.startedAt) return s
  const seen = probe.seen + 1
  const fastest = sample.outcome === "dropped" ? probe.fastest : Math.min(probe.fastest, sample.latency)
  if (seen < probe.limit) {
    return make(s, s.estimate, s.baseline, s.samples, {
      startedAt: probe.startedAt,
      limit: probe.limit,
      seen,
      fastest,
      previous: probe.previous,
      restore: probe.restore
    })
  }
  if (fastest === Infinity) return make(s, probe.restore, s.baseline, 0, undefined)
  // Slower than the baseline (or no baseline yet): the dependency got slower,
  // or the probe itself queued (the capacity is below the probe's limit).
  // Probing again at half tells them apart: only queueing gets faster with
  // fewer calls.
  const { min } = s.settings
  if ((fastest > s.baseline || s.baseline === Infinity) && fastest * FASTER < probe.previous && probe.limit > min) {
    const limit = Math.max(min, Math.floor(probe.limit / 2))
    return make(s, s.estimate, s.baseline, s.samples, {
      startedAt: sample.at,
      limit,
      seen: 0,
      fastest: Infinity,
      previous: fastest,
      restore: probe.restore
    })
  }
  return make(s, probe.restore, Math.min(fastest, probe.previous), 0, undefined)
}

const target = (s: Gradient, sample: Sample): number => {
  if (sample.outcome !== "success") return Math.min(s.estimate, sample.inFlight * 0.5 + 1)
  // A clock in milliseconds cannot tell 0 from 0.9 ms: the baseline counts as at least 1 ms.
  const gradient = Math.max(0.5, Math.min(1, s.settings.tolerance * Math.max(1, s.baseline) / sample.latency))
  if (gradient < 1) return Math.min(s.estimate, sample.inFlight * gradient + 1)
  // No queueing at all: room to grow by √n; within the tolerance: by one.
  const step = sample.latency <= s.baseline ? Math.max(1, Math.sqrt(sample.inFlight)) : 1
  return Math.max(s.estimate, sample.inFlight + step)
}

/**
 * The limit after one sample.
 *
 * @since 0.2.0
 * @category combinators
 */
export const reduce = (s: Gradient, sample: Sample): Gradient => {
  if (sample.outcome === "failure" || sample.outcome === "rejected") return s
  if (s.probe !== undefined) return onProbe(s, s.probe, sample)
  const baseline = sample.outcome === "success" ? Math.min(s.baseline, sample.latency) : s.baseline
  const next = { ...s, baseline }
  const estimate = clamp(s.settings, s.estimate + s.settings.smoothing * (target(next, sample) - s.estimate))
  const samples = s.samples + 1
  if (samples >= s.settings.probeInterval * Math.max(1, s.limit)) {
    const probeLimit = Math.max(s.settings.min, Math.floor(estimate * 0.75))
    return make(s, estimate, baseline, 0, probeAt(s.settings, sample.at, probeLimit, estimate))
  }
  return make(s, estimate, baseline, samples, undefined)
}

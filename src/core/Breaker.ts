/**
 * The circuit breaker as an immutable state machine advanced by one pure
 * `reduce` over events. Plain data in, plain data out: no clock, no mutation,
 * no Effect.
 *
 * ```text
 *                 requests ≥ V and errors·100 ≥ P·requests
 *      ┌────────┐ ─────────────────────────────────────────▶ ┌──────┐
 *      │ Closed │                                            │ Open │◀──┐
 *      └────────┘ ◀───────┐                                  └──────┘   │ probe failed,
 *           ▲              │ probe succeeded       now − openedAt ≥ S │  timed out
 *           │ Reset        │ (fresh window)        (ProbeAdmitted)    ▼  or rejected
 *           │           ┌──────────┐ ◀─────────────────────────────────┘
 *           │           │ HalfOpen │ ── probe interrupted / ignored: slot freed, stays HalfOpen
 *           │           └──────────┘
 *      ForcedOpen / ForcedClosed: set by hand, left by Reset.
 * ```
 *
 * **Details**
 *
 * - `admit` decides what a new call may do: `"allow"`, `"probe"` (the shell
 *   then reduces `ProbeAdmitted` and runs the call as the single probe) or
 *   `"short-circuit"`.
 * - Every state change increments `generation`. A call remembers the
 *   generation it was admitted in; its outcome is counted in the window
 *   whatever it is, but moves the state only if the generation is still the
 *   current one. So a slow success from before a trip cannot close the circuit.
 * - `openings` counts consecutive openings; the n-th lasts
 *   `config.sleepWindow(n)`, or the delay the shell drew for it
 *   (`SleepDrawn`, for a jittered schedule), and at least the Retry-After of
 *   the failure that opened it. A close (or a reset) sets it back to 0; with
 *   `backoffReset: "stable"` only an opening that comes at least as long after
 *   the last close as the circuit was open before it does.
 * - Trip rules, whichever comes first, checked on an outcome of the current
 *   generation while closed: the error percentage (Hystrix's rule); with
 *   `slowCallMillis`, the slow-call percentage over the same volume; with
 *   `consecutiveFailures`, that many errors in a row (no volume needed). A slow
 *   failure counts in both percentages.
 * - With `halfOpenProbes: n`, n probes are let through; each success is
 *   counted, the n-th closes the circuit, any failure reopens it. `probing`
 *   means "no probe slot is free".
 *
 * **Gotchas**
 *
 * - `Interrupted` and `Ignored` outcomes are not requests: they are not
 *   counted, and a probe that ends that way only frees the probe slot.
 * - Fallback outcomes and short-circuits are counted but never move the state.
 *
 * @since 0.1.0
 */
import type { BreakerConfig } from "./BreakerConfig.ts"
import * as Window from "./Window.ts"

/**
 * @since 0.1.0
 * @category models
 */
export type State =
  | { readonly _tag: "Closed" }
  | { readonly _tag: "Open"; readonly openedAt: number }
  | { readonly _tag: "HalfOpen"; readonly openedAt: number; readonly probing: boolean }
  | { readonly _tag: "ForcedOpen" }
  | { readonly _tag: "ForcedClosed" }

/**
 * The state names a snapshot shows.
 *
 * @since 0.1.0
 * @category models
 */
export type StateName = "closed" | "open" | "half-open" | "forced-open" | "forced-closed"

/**
 * @since 0.1.0
 * @category models
 */
export interface Breaker {
  readonly config: BreakerConfig
  readonly state: State
  readonly window: Window.Window
  readonly generation: number
  readonly openings: number
  /** Errors in a row since the last success (or since the window was last emptied). */
  readonly streak: number
  /** What the current opening or half-open round holds besides its state. */
  readonly episode: Episode
}

/**
 * The parts of an opening and of a half-open round that the state's shape
 * does not show. Replaced only at changes of state, so a call in a closed
 * circuit copies one reference.
 *
 * @since 0.2.0
 * @category models
 */
export interface Episode {
  /** Half-open: probes running. */
  readonly probesRunning: number
  /** Half-open: probes that succeeded in this round. */
  readonly probesSucceeded: number
  /** The current opening's sleep window as the shell drew it; `undefined`: `config.sleepWindow(openings)`. */
  readonly drawnSleep: number | undefined
  /** The Retry-After of the failure that opened the circuit, in milliseconds (0: none). */
  readonly retryAfter: number
  /** `backoffReset: "stable"`: an opening from closed at or after this time counts from 1 again. */
  readonly backoffResetAt: number
}

/**
 * An outcome's optional details: how long the call took (for the slow-call
 * rule) and, for a failure, the downstream's Retry-After in milliseconds.
 *
 * @since 0.2.0
 * @category models
 */
export interface OutcomeDetails {
  readonly durationMillis?: number | undefined
  readonly retryAfterMillis?: number | undefined
}

/**
 * The outcome of a call that was admitted in `generation` and ended at `at`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcome<Tag extends string> extends OutcomeDetails {
  readonly _tag: Tag
  readonly at: number
  readonly generation: number
}

/**
 * Something that happened at time `at`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Happened<Tag extends string> {
  readonly _tag: Tag
  readonly at: number
}

/**
 * @since 0.1.0
 * @category models
 */
export type Event =
  | Outcome<"Success">
  | Outcome<"Failure">
  | Outcome<"Timeout">
  | Outcome<"Rejected">
  | Outcome<"Interrupted">
  | Outcome<"Ignored">
  | Happened<"ShortCircuited">
  | Happened<"FallbackSuccess">
  | Happened<"FallbackFailure">
  | Happened<"ProbeAdmitted">
  | Happened<"ForceOpen">
  | Happened<"ForceClosed">
  | Happened<"Reset">
  | { readonly _tag: "Reconfigure"; readonly at: number; readonly config: BreakerConfig }
  /** The shell drew the sleep window of the opening of `generation` (ignored once that opening is over). */
  | { readonly _tag: "SleepDrawn"; readonly at: number; readonly generation: number; readonly millis: number }

/**
 * What a new call may do.
 *
 * @since 0.1.0
 * @category models
 */
export type Admission = "allow" | "probe" | "short-circuit"

const make = (
  config: BreakerConfig,
  state: State,
  window: Window.Window,
  generation: number,
  openings: number,
  streak: number,
  episode: Episode
): Breaker => ({ config, state, window, generation, openings, streak, episode })

const closed: State = { _tag: "Closed" }
const forcedOpen: State = { _tag: "ForcedOpen" }
const forcedClosed: State = { _tag: "ForcedClosed" }

const noEpisode: Episode = {
  probesRunning: 0,
  probesSucceeded: 0,
  drawnSleep: undefined,
  retryAfter: 0,
  backoffResetAt: -Infinity
}

/**
 * An empty window of the shape `config` asks for, its current bucket holding `at`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const emptyWindow = (config: BreakerConfig, at: number): Window.Window =>
  config.windowCalls === undefined
    ? Window.empty(config.buckets, config.bucketMillis, at)
    : Window.emptyCount(config.windowCalls)

const probesOf = (config: BreakerConfig): number => config.halfOpenProbes ?? 1

const halfOpen = (openedAt: number, running: number, succeeded: number, config: BreakerConfig): State => ({
  _tag: "HalfOpen",
  openedAt,
  probing: running + succeeded >= probesOf(config)
})

/**
 * A closed breaker with an empty window whose current bucket holds `at`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const initial = (config: BreakerConfig, at = 0): Breaker =>
  make(config, closed, emptyWindow(config, at), 0, 0, 0, noEpisode)

/**
 * The sleep window of the current opening, in milliseconds.
 *
 * @since 0.1.0
 * @category queries
 */
export const sleepMillis = (b: Breaker): number =>
  Math.max(b.episode.drawnSleep ?? b.config.sleepWindow(Math.max(1, b.openings)), b.episode.retryAfter)

/**
 * Whether a call starting at `now` runs, runs as the probe, or is
 * short-circuited. Allocates nothing.
 *
 * @since 0.1.0
 * @category queries
 */
export const admit = (b: Breaker, now: number): Admission => {
  switch (b.state._tag) {
    case "Closed":
    case "ForcedClosed":
      return "allow"
    case "Open":
      return now - b.state.openedAt >= sleepMillis(b) ? "probe" : "short-circuit"
    case "HalfOpen":
      return b.state.probing ? "short-circuit" : "probe"
    case "ForcedOpen":
      return "short-circuit"
  }
}

/**
 * How long a short-circuited caller should wait before a call can be let
 * through: the rest of the sleep window when open, 0 while a probe runs (it
 * may end any moment), `Infinity` when forced open.
 *
 * @since 0.1.0
 * @category queries
 */
export const retryAfterMillis = (b: Breaker, now: number): number => {
  switch (b.state._tag) {
    case "Open":
      return Math.max(0, b.state.openedAt + sleepMillis(b) - now)
    case "ForcedOpen":
      return Infinity
    default:
      return 0
  }
}

/**
 * Whether the window, as it stands, trips the error-percentage rule or (when
 * on) the slow-call percentage rule.
 *
 * @since 0.1.0
 * @category queries
 */
export const exceedsThresholds = (config: BreakerConfig, w: Window.Window): boolean =>
  trips(config, Window.totalRequests(w), Window.totalErrors(w), (w.closedTotals.slow ?? 0) + (w.current.slow ?? 0))

// The percentage rules on a window's totals: `requests`, of which `errors`
// failed and `slow` were slow.
const trips = (config: BreakerConfig, requests: number, errors: number, slow: number): boolean => {
  if (requests < config.requestVolumeThreshold) return false
  if (errors * 100 >= config.errorPercentThreshold * requests) return true
  return config.slowCallMillis !== undefined && config.slowCallMillis !== Infinity &&
    slow * 100 >= (config.slowCallPercentThreshold ?? 100) * requests
}

/**
 * Whether an event that is not an outcome (a short-circuit, a fallback's
 * outcome) at `at` would land in the current bucket of `b`'s window, where
 * `countInCurrent` can add it: a count window puts such events in its
 * current bucket whenever they come; a time window, when `at` is in it.
 * Allocates nothing.
 *
 * @since 0.2.0
 * @category queries
 */
export const countsInCurrent = (b: Breaker, at: number): boolean =>
  Window.isCountWindow(b.window) || Window.bucketIndex(b.window.bucketMillis, at) === b.window.currentIndex

/**
 * Whether a `Success` of `generation` that took `durationMillis` and ended at
 * `at` would only be counted, once `pending` more successes than `b`'s window
 * holds are in its current bucket: `reduce` then gives `countInCurrent` with
 * one more success. It must land in the current bucket of a time window (a
 * count window starts a bucket per request), not be slow, and find no streak
 * to reset; and, in the generation it was admitted in, the circuit must not
 * be half-open (a probe's success moves the state) nor, closed, be tripped
 * by one more request (a success can bring the window to the request volume
 * threshold with the error or slow-call percentage above its own; a
 * `consecutiveFailures` of 0 trips on anything). Allocates nothing.
 *
 * @since 0.2.0
 * @category queries
 */
export const successOnlyCounts = (
  b: Breaker,
  at: number,
  generation: number,
  durationMillis: number,
  pending: number
): boolean => {
  const w = b.window
  const config = b.config
  if (b.streak !== 0 || Window.isCountWindow(w) || Window.bucketIndex(w.bucketMillis, at) !== w.currentIndex) return false
  if (config.slowCallMillis !== undefined && durationMillis > config.slowCallMillis) return false
  if (generation !== b.generation) return true
  switch (b.state._tag) {
    case "Closed":
      return (config.consecutiveFailures ?? Infinity) > 0 &&
        !trips(
          config,
          Window.totalRequests(w) + pending + 1,
          Window.totalErrors(w),
          (w.closedTotals.slow ?? 0) + (w.current.slow ?? 0)
        )
    case "HalfOpen":
      return false
    default:
      return true
  }
}

/**
 * Whether a `Failure` of `generation` that took `durationMillis` and ended
 * at `at` would only be counted, once `pendingRequests` more requests than
 * `b`'s window holds, `pendingErrors` of them failures, are in its current
 * bucket (and the streak is `pendingErrors` longer): `reduce` then gives
 * `countInCurrent` with one more failure. It must land in the current
 * bucket of a time window and not be slow; and, in the generation it was
 * admitted in, the circuit must not be half-open (a probe's failure reopens
 * it) nor, closed, be tripped by it (the error or slow-call percentage over
 * the request volume, or `consecutiveFailures` in a row). Its Retry-After
 * only matters to an opening, so it changes nothing here. Allocates nothing.
 *
 * @since 0.2.0
 * @category queries
 */
export const failureOnlyCounts = (
  b: Breaker,
  at: number,
  generation: number,
  durationMillis: number,
  pendingRequests: number,
  pendingErrors: number
): boolean => {
  const w = b.window
  const config = b.config
  if (Window.isCountWindow(w) || Window.bucketIndex(w.bucketMillis, at) !== w.currentIndex) return false
  if (config.slowCallMillis !== undefined && durationMillis > config.slowCallMillis) return false
  if (generation !== b.generation) return true
  switch (b.state._tag) {
    case "Closed":
      return b.streak + pendingErrors + 1 < (config.consecutiveFailures ?? Infinity) &&
        !trips(
          config,
          Window.totalRequests(w) + pendingRequests + 1,
          Window.totalErrors(w) + pendingErrors + 1,
          (w.closedTotals.slow ?? 0) + (w.current.slow ?? 0)
        )
    case "HalfOpen":
      return false
    default:
      return true
  }
}

/**
 * The breaker with `counts` added to its window's current bucket, and its
 * streak longer by the errors among them: what `reduce` gives for events
 * that only count there (short-circuits and fallback outcomes for which
 * `countsInCurrent` holds, successes for which `successOnlyCounts` holds,
 * failures for which `failureOnlyCounts` holds), in any order in which no
 * success comes after an error (a success resets the streak, so it never
 * only counts then). The shell's cell keeps such events in plain counters
 * and folds them with this.
 *
 * @since 0.2.0
 * @category combinators
 */
export const countInCurrent = (b: Breaker, counts: Window.Counts): Breaker =>
  make(
    b.config,
    b.state,
    Window.addToCurrent(b.window, counts),
    b.generation,
    b.openings,
    b.streak + Window.errors(counts),
    b.episode
  )

const open = (b: Breaker, w: Window.Window, at: number, streak: number, retryAfter: number | undefined): Breaker => {
  const episode = b.episode
  // From closed, a fresh count of openings unless the backoff survives the close.
  const openings = b.state._tag === "HalfOpen" ||
      (b.config.backoffReset === "stable" && at < episode.backoffResetAt)
    ? b.openings + 1
    : 1
  return make(b.config, { _tag: "Open", openedAt: at }, w, b.generation + 1, openings, streak, {
    probesRunning: 0,
    probesSucceeded: 0,
    drawnSleep: undefined,
    retryAfter: retryAfter !== undefined && retryAfter > 0 && retryAfter !== Infinity ? retryAfter : 0,
    backoffResetAt: episode.backoffResetAt
  })
}

const close = (b: Breaker, at: number, openedAt: number): Breaker =>
  b.config.backoffReset === "stable"
    ? make(b.config, closed, emptyWindow(b.config, at), b.generation + 1, b.openings, 0, {
      ...noEpisode,
      backoffResetAt: at + (at - openedAt)
    })
    : make(b.config, closed, emptyWindow(b.config, at), b.generation + 1, 0, 0, noEpisode)

const isSlow = (config: BreakerConfig, e: Outcome<string>): boolean =>
  config.slowCallMillis !== undefined && e.durationMillis !== undefined && e._tag !== "Rejected" &&
  e.durationMillis > config.slowCallMillis

const outcomeKind = {
  Success: "success",
  Failure: "failure",
  Timeout: "timeout",
  Rejected: "rejected"
} as const

const onOutcome = (b: Breaker, e: Outcome<"Success" | "Failure" | "Timeout" | "Rejected">): Breaker => {
  const config = b.config
  const w = Window.record(b.window, e.at, outcomeKind[e._tag], isSlow(config, e))
  const streak = e._tag === "Success" ? 0 : b.streak + 1
  if (e.generation === b.generation) {
    switch (b.state._tag) {
      case "Closed":
        return exceedsThresholds(config, w) || streak >= (config.consecutiveFailures ?? Infinity)
          ? open(b, w, e.at, streak, e.retryAfterMillis)
          : make(config, b.state, w, b.generation, b.openings, streak, b.episode)
      case "HalfOpen": {
        if (e._tag !== "Success") return open(b, w, e.at, streak, e.retryAfterMillis)
        const episode = b.episode
        const succeeded = episode.probesSucceeded + 1
        // The probes' own outcomes are not part of the fresh window.
        if (succeeded >= probesOf(config)) return close(b, e.at, b.state.openedAt)
        const running = Math.max(0, episode.probesRunning - 1)
        return make(config, halfOpen(b.state.openedAt, running, succeeded, config), w, b.generation, b.openings, streak, {
          ...episode,
          probesRunning: running,
          probesSucceeded: succeeded
        })
      }
    }
  }
  return make(config, b.state, w, b.generation, b.openings, streak, b.episode)
}

const onNotARequest = (b: Breaker, e: Outcome<"Interrupted" | "Ignored">): Breaker => {
  if (e.generation !== b.generation || b.state._tag !== "HalfOpen" || b.episode.probesRunning === 0) return b
  const running = b.episode.probesRunning - 1
  return make(
    b.config,
    halfOpen(b.state.openedAt, running, b.episode.probesSucceeded, b.config),
    b.window,
    b.generation,
    b.openings,
    b.streak,
    { ...b.episode, probesRunning: running }
  )
}

const onProbeAdmitted = (b: Breaker, at: number): Breaker => {
  if (admit(b, at) !== "probe") return b
  if (b.state._tag === "HalfOpen") {
    const { probesRunning, probesSucceeded } = b.episode
    // A fresh round (no probe running or succeeded) is a new generation, as
    // the single probe always was; later probes of a round share it.
    const fresh = probesRunning === 0 && probesSucceeded === 0
    return make(
      b.config,
      halfOpen(b.state.openedAt, probesRunning + 1, probesSucceeded, b.config),
      b.window,
      fresh ? b.generation + 1 : b.generation,
      b.openings,
      b.streak,
      { ...b.episode, probesRunning: probesRunning + 1 }
    )
  }
  const openedAt = b.state._tag === "Open" ? b.state.openedAt : at
  return make(b.config, halfOpen(openedAt, 1, 0, b.config), b.window, b.generation + 1, b.openings, b.streak, {
    ...b.episode,
    probesRunning: 1,
    probesSucceeded: 0
  })
}

const count = (b: Breaker, at: number, kind: Window.Kind): Breaker =>
  make(b.config, b.state, Window.record(b.window, at, kind), b.generation, b.openings, b.streak, b.episode)

const reconfigure = (b: Breaker, config: BreakerConfig, at: number): Breaker => {
  const sameShape = config.windowCalls === b.config.windowCalls &&
    (config.windowCalls !== undefined ||
      (config.buckets === b.config.buckets && config.bucketMillis === b.config.bucketMillis))
  // Counts cannot be re-bucketed into another shape without inventing times,
  // so a new shape starts an empty window (and a fresh streak); thresholds
  // apply from the next outcome.
  const w = sameShape ? b.window : emptyWindow(config, at)
  const streak = sameShape ? b.streak : 0
  // A new sleep window applies to the current opening too, as it always did.
  const episode = config.sleepWindow === b.config.sleepWindow || b.episode.drawnSleep === undefined
    ? b.episode
    : { ...b.episode, drawnSleep: undefined }
  if (b.state._tag !== "HalfOpen") return make(config, b.state, w, b.generation, b.openings, streak, episode)
  // Another number of probes starts the count of successes again; the probes
  // running go on and count.
  const succeeded = probesOf(config) === probesOf(b.config) ? b.episode.probesSucceeded : 0
  return make(
    config,
    halfOpen(b.state.openedAt, b.episode.probesRunning, succeeded, config),
    w,
    b.generation,
    b.openings,
    streak,
    { ...episode, probesSucceeded: succeeded }
  )
}

const onSleepDrawn = (b: Breaker, generation: number, millis: number): Breaker =>
  b.state._tag === "Open" && generation === b.generation && millis >= 0 && millis !== Infinity
    ? make(b.config, b.state, b.window, b.generation, b.openings, b.streak, { ...b.episode, drawnSleep: millis })
    : b

/**
 * The one transition function: the breaker after `event`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const reduce = (b: Breaker, event: Event): Breaker => {
  switch (event._tag) {
    case "Success":
    case "Failure":
    case "Timeout":
    case "Rejected":
      return onOutcome(b, event)
    case "Interrupted":
    case "Ignored":
      return onNotARequest(b, event)
    case "ShortCircuited":
      return count(b, event.at, "shortCircuited")
    case "FallbackSuccess":
      return count(b, event.at, "fallbackSuccess")
    case "FallbackFailure":
      return count(b, event.at, "fallbackFailure")
    case "ProbeAdmitted":
      return onProbeAdmitted(b, event.at)
    case "ForceOpen":
      return make(b.config, forcedOpen, b.window, b.generation + 1, 0, b.streak, noEpisode)
    case "ForceClosed":
      return make(b.config, forcedClosed, b.window, b.generation + 1, 0, b.streak, noEpisode)
    case "Reset":
      return make(b.config, closed, emptyWindow(b.config, event.at), b.generation + 1, 0, 0, noEpisode)
    case "Reconfigure":
      return reconfigure(b, event.config, event.at)
    case "SleepDrawn":
      return onSleepDrawn(b, event.generation, event.millis)
  }
}

/**
 * Reduces a whole trace of events, in order.
 *
 * @since 0.1.0
 * @category combinators
 */
export const reduceAll = (b: Breaker, events: Iterable<Event>): Breaker => {
  let out = b
  for (const event of events) out = reduce(out, event)
  return out
}

/**
 * The name a snapshot shows for the state. An open circuit whose sleep window
 * has passed stays `"open"` until a call is admitted as the probe.
 *
 * @since 0.1.0
 * @category queries
 */
export const stateName = (b: Breaker): StateName => {
  switch (b.state._tag) {
    case "Closed":
      return "closed"
    case "Open":
      return "open"
    case "HalfOpen":
      return "half-open"
    case "ForcedOpen":
      return "forced-open"
    case "ForcedClosed":
      return "forced-closed"
  }
}

/**
 * The window as seen at time `now`.
 *
 * @since 0.1.0
 * @category queries
 */
export const windowAt = (b: Breaker, now: number): Window.Window => Window.rollTo(b.window, now)

/**
 * The counts of the window as seen at time `now`.
 *
 * @since 0.1.0
 * @category queries
 */
export const countsAt = (b: Breaker, now: number): Window.Counts => Window.totals(windowAt(b, now))

/**
 * The window's numbers at `now`, as a snapshot shows them.
 *
 * @since 0.1.0
 * @category models
 */
export interface WindowSummary extends Window.Counts {
  readonly total: number
  readonly errors: number
  readonly errorPercentage: number
}

/**
 * @since 0.1.0
 * @category queries
 */
export const summaryAt = (b: Breaker, now: number): WindowSummary => {
  const c = countsAt(b, now)
  return {
    ...c,
    total: Window.requests(c),
    errors: Window.errors(c),
    errorPercentage: Window.errorPercentage(c)
  }
}

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
 *   `config.sleepWindow(n)`. A close (or a reset) sets it back to 0.
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
}

/**
 * The outcome of a call that was admitted in `generation` and ended at `at`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcome<Tag extends string> {
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
  openings: number
): Breaker => ({ config, state, window, generation, openings })

const closed: State = { _tag: "Closed" }
const forcedOpen: State = { _tag: "ForcedOpen" }
const forcedClosed: State = { _tag: "ForcedClosed" }

/**
 * A closed breaker with an empty window whose current bucket holds `at`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const initial = (config: BreakerConfig, at = 0): Breaker =>
  make(config, closed, Window.empty(config.buckets, config.bucketMillis, at), 0, 0)

/**
 * The sleep window of the current opening, in milliseconds.
 *
 * @since 0.1.0
 * @category queries
 */
export const sleepMillis = (b: Breaker): number => b.config.sleepWindow(Math.max(1, b.openings))

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
 * Whether the window, as it stands, trips the error-percentage rule.
 *
 * @since 0.1.0
 * @category queries
 */
export const exceedsThresholds = (config: BreakerConfig, w: Window.Window): boolean => {
  const requests = Window.totalRequests(w)
  return requests >= config.requestVolumeThreshold &&
    Window.totalErrors(w) * 100 >= config.errorPercentThreshold * requests
}

const open = (b: Breaker, w: Window.Window, at: number): Breaker =>
  make(b.config, { _tag: "Open", openedAt: at }, w, b.generation + 1, b.openings + 1)

const outcomeKind = {
  Success: "success",
  Failure: "failure",
  Timeout: "timeout",
  Rejected: "rejected"
} as const

const onOutcome = (b: Breaker, e: Outcome<"Success" | "Failure" | "Timeout" | "Rejected">): Breaker => {
  const w = Window.record(b.window, e.at, outcomeKind[e._tag])
  if (e.generation === b.generation) {
    switch (b.state._tag) {
      case "Closed":
        return exceedsThresholds(b.config, w) ? open(b, w, e.at) : make(b.config, b.state, w, b.generation, b.openings)
      case "HalfOpen":
        // The probe's own outcome is not part of the fresh window.
        return e._tag === "Success"
          ? make(b.config, closed, Window.empty(b.config.buckets, b.config.bucketMillis, e.at), b.generation + 1, 0)
          : open(b, w, e.at)
    }
  }
  return make(b.config, b.state, w, b.generation, b.openings)
}

const onNotARequest = (b: Breaker, e: Outcome<"Interrupted" | "Ignored">): Breaker =>
  e.generation === b.generation && b.state._tag === "HalfOpen" && b.state.probing
    ? make(b.config, { _tag: "HalfOpen", openedAt: b.state.openedAt, probing: false }, b.window, b.generation, b.openings)
    : b

const count = (b: Breaker, at: number, kind: Window.Kind): Breaker =>
  make(b.config, b.state, Window.record(b.window, at, kind), b.generation, b.openings)

const reconfigure = (b: Breaker, config: BreakerConfig, at: number): Breaker => {
  const sameShape = config.buckets === b.config.buckets && config.bucketMillis === b.config.bucketMillis
  // Counts cannot be re-bucketed into another shape without inventing times,
  // so a new shape starts an empty window; thresholds apply from the next outcome.
  const w = sameShape ? b.window : Window.empty(config.buckets, config.bucketMillis, at)
  return make(config, b.state, w, b.generation, b.openings)
}

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
      return admit(b, event.at) === "probe"
        ? make(
          b.config,
          { _tag: "HalfOpen", openedAt: b.state._tag === "HalfOpen" || b.state._tag === "Open" ? b.state.openedAt : event.at, probing: true },
          b.window,
          b.generation + 1,
          b.openings
        )
        : b
    case "ForceOpen":
      return make(b.config, forcedOpen, b.window, b.generation + 1, 0)
    case "ForceClosed":
      return make(b.config, forcedClosed, b.window, b.generation + 1, 0)
    case "Reset":
      return make(b.config, closed, Window.empty(b.config.buckets, b.config.bucketMillis, event.at), b.generation + 1, 0)
    case "Reconfigure":
      return reconfigure(b, event.config, event.at)
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

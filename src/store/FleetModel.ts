/**
 * The fleet store as a pure model: what one shared circuit holds and how each
 * change moves it. Plain data in, plain data out: no clock, no mutation, no
 * Effect.
 *
 * It is three things at once: the specification of the Lua scripts that run
 * the same changes inside Redis (`FleetScripts`), the oracle of the
 * differential property that runs both on a real redis-server, and the
 * in-process store (`CircuitStore.layerMemory`) that lets a test run several
 * registries as a fleet under `TestClock`.
 *
 * **Details**
 *
 * - A fleet circuit holds a state (`closed`, `open`, `half-open`), a
 *   `generation`, `openedAt`, `openings`, the probe lease (`leaseUntil`) and
 *   the rolling window. The window and the trip rule are the core's own
 *   (`Window`, `Breaker.exceedsThresholds`): the store adds no rule of its own.
 * - `record` adds a batch of counts at the store's time `now`, not at the
 *   times the calls ended: every process's batch lands in the fleet's clock,
 *   so no process's clock skew moves a bucket. The batch trips a closed
 *   circuit when the window then exceeds the thresholds, but only if it was
 *   recorded in the current generation (as `Breaker.reduce` does with one
 *   outcome): counts of an older generation are counted and change no state.
 * - `acquire` takes the probe lease: an open circuit whose sleep window has
 *   passed, or a half-open one whose lease has lapsed, becomes half-open with
 *   a new generation and a lease until `now + leaseMillis`. Exactly one
 *   caller wins it; every other is denied until the lease ends.
 * - `settle` reports the probe's outcome in the lease's generation: a success
 *   closes the circuit with an empty window; a failure, timeout or rejection
 *   opens it again from `now`; an interrupted or ignored probe frees the
 *   lease. An outcome of another generation is an ordinary count.
 * - A new window shape (`buckets`, `bucketMillis`) starts an empty window,
 *   as `Breaker.reduce` does on `Reconfigure`.
 * - Issue 12's controls that a batch can carry are shared too. Slow calls:
 *   the window keeps the batch's `slow` count, and the slow percentage trips
 *   as in `Breaker.exceedsThresholds`. Consecutive failures: the circuit
 *   keeps a `streak` of errors in a row, in the order the store receives
 *   the batches and, within a batch, its process's order (a batch says how
 *   many errors came after its last success, and whether it had one); the
 *   streak trips a closed circuit whatever the volume and starts again from
 *   0 when the window is emptied. The stable backoff: with
 *   `backoffReset: "stable"` a close keeps `openings` and remembers
 *   `backoffResetAt` (the close plus how long the circuit had been open); an
 *   opening from closed before then continues the count, one at or after it
 *   counts from 1.
 * - A failure's Retry-After, as the core applies it: an opening lasts
 *   `max(S(n), Retry-After)` of the failure that opened it. A batch carries
 *   the longest Retry-After of its failures (it cannot tell which of its
 *   outcomes crossed the fleet's thresholds, so it keeps the hint that asks
 *   for the longest wait), a probe's outcome its own; the store keeps it as
 *   `retryAfter` for the opening it starts, `acquire` waits for the longer
 *   of the two, and the view answers it so that every process reports the
 *   same wait. A batch or outcome that does not open the circuit leaves it.
 *
 * **Gotchas**
 *
 * - `forceOpen`, `forceClosed` and `reset` are not fleet states: they act on
 *   one process's circuit (its local breaker), as before.
 * - The sleep window is not stored: each process computes the length of the
 *   current opening from `openings` with its own settings and passes it to
 *   `acquire`, fenced by the generation it read it in.
 *
 * @since 0.1.0
 */
import * as Breaker from "../core/Breaker.ts"
import * as Window from "../core/Window.ts"

/**
 * The state names of a fleet circuit.
 *
 * @since 0.1.0
 * @category models
 */
export type FleetStateName = "closed" | "open" | "half-open"

/**
 * The part of a circuit's settings the store reads: the trip rule and the
 * window's shape.
 *
 * @since 0.1.0
 * @category models
 */
export interface FleetRule {
  readonly requestVolumeThreshold: number
  readonly errorPercentThreshold: number
  readonly buckets: number
  readonly bucketMillis: number
  /** Errors in a row that open whatever the volume; absent or `Infinity`: off. */
  readonly consecutiveFailures?: number | undefined
  /** 0–100: the slow percentage that opens (with the volume met); absent: the slow-call rule is off. */
  readonly slowCallPercentThreshold?: number | undefined
  /** When the count of openings restarts; absent: `"close"`. */
  readonly backoffReset?: "close" | "stable" | undefined
}

/**
 * What a batch says of errors in a row: how many errors came after its last
 * success, and whether it had a success at all.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchStreak {
  readonly trailing: number
  readonly broken: boolean
}

/**
 * A batch that says nothing of errors in a row.
 *
 * @since 0.1.0
 * @category constructors
 */
export const noStreak: BatchStreak = { trailing: 0, broken: false }

/**
 * One shared circuit, as the store holds it.
 *
 * @since 0.1.0
 * @category models
 */
export interface FleetCircuit {
  readonly state: FleetStateName
  readonly generation: number
  /** When the current opening began (kept through half-open); 0 when closed. */
  readonly openedAt: number
  /** Consecutive openings; a close sets it back to 0. */
  readonly openings: number
  /** The probe lease ends at this time; 0 when nobody holds it. */
  readonly leaseUntil: number
  readonly window: Window.Window
  /** Errors in a row since the last success or since the window was emptied. */
  readonly streak: number
  /** `backoffReset: "stable"`: an opening from closed at or after this time counts from 1 again. */
  readonly backoffResetAt: number
  /** The Retry-After of what opened the current opening, in milliseconds (0: none). */
  readonly retryAfter: number
}

/**
 * What every change answers: the circuit as it stands at the store's `now`,
 * with the window's totals.
 *
 * @since 0.1.0
 * @category models
 */
export interface FleetView {
  readonly state: FleetStateName
  readonly generation: number
  readonly openedAt: number
  readonly openings: number
  readonly leaseUntil: number
  /** The store's time of this answer (Redis `TIME` in production). */
  readonly now: number
  /** The window's totals, `slow` included. */
  readonly totals: Window.Counts
  readonly streak: number
  /** The current opening lasts at least this long (the Retry-After that opened it; 0: none). */
  readonly retryAfter: number
}

/**
 * How a probe ended.
 *
 * @since 0.1.0
 * @category models
 */
export type ProbeOutcome = "success" | "failure" | "timeout" | "rejected" | "interrupted" | "ignored"

/**
 * A fleet circuit nobody has written yet: closed, generation 0.
 *
 * @since 0.1.0
 * @category constructors
 */
export const initial = (rule: FleetRule, now: number): FleetCircuit => ({
  state: "closed",
  generation: 0,
  openedAt: 0,
  openings: 0,
  leaseUntil: 0,
  window: Window.empty(rule.buckets, rule.bucketMillis, now),
  streak: 0,
  backoffResetAt: 0,
  retryAfter: 0
})

/**
 * The circuit's answer at `now`.
 *
 * @since 0.1.0
 * @category queries
 */
export const view = (c: FleetCircuit, now: number): FleetView => ({
  state: c.state,
  generation: c.generation,
  openedAt: c.openedAt,
  openings: c.openings,
  leaseUntil: c.leaseUntil,
  now,
  totals: withSlow(Window.totals(Window.rollTo(c.window, now))),
  streak: c.streak,
  retryAfter: c.retryAfter
})

// Totals always carry `slow` (0 when none), as the scripts answer.
const withSlow = (t: Window.Counts): Window.Counts => t.slow === undefined ? { ...t, slow: 0 } : t

const isEmpty = (counts: Window.Counts): boolean => {
  for (const kind of Window.kinds) if (counts[kind] !== 0) return false
  return (counts.slow ?? 0) === 0
}

const sameShape = (c: FleetCircuit, rule: FleetRule): boolean =>
  c.window.buckets === rule.buckets && c.window.bucketMillis === rule.bucketMillis

// The window in `rule`'s shape: a new shape starts empty (as on Reconfigure).
const shaped = (c: FleetCircuit, rule: FleetRule, now: number): Window.Window =>
  sameShape(c, rule) ? c.window : Window.empty(rule.buckets, rule.bucketMillis, now)

/**
 * Adds `counts` to the window's bucket of `now`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const addAt = (w: Window.Window, now: number, counts: Window.Counts): Window.Window => {
  if (isEmpty(counts)) return Window.rollTo(w, now)
  const rolled = Window.rollTo(w, now)
  return { ...rolled, current: Window.addCounts(rolled.current, counts) }
}

/**
 * A Retry-After as the core keeps it: a positive finite number of
 * milliseconds, anything else 0 (none).
 *
 * @since 0.2.0
 * @category constructors
 */
export const retryAfterOf = (millis: number | undefined): number =>
  millis !== undefined && millis > 0 && millis !== Infinity ? millis : 0

const opened = (
  c: FleetCircuit,
  rule: FleetRule,
  window: Window.Window,
  now: number,
  streak: number,
  retryAfter: number
): FleetCircuit => {
  // From closed, a fresh count of openings unless a stable backoff survives the close.
  const continues = c.state === "half-open" || (rule.backoffReset === "stable" && now < c.backoffResetAt)
  return {
    state: "open",
    generation: c.generation + 1,
    openedAt: now,
    openings: continues ? c.openings + 1 : 1,
    leaseUntil: 0,
    window,
    streak,
    backoffResetAt: c.backoffResetAt,
    retryAfter: retryAfterOf(retryAfter)
  }
}

/**
 * Records a batch of `counts` observed in `generation`, at the store's time
 * `now`. An empty batch only reads. `retryAfter`: the longest Retry-After of
 * the batch's failures, in milliseconds (0: none); it lengthens the opening
 * if the batch opens the circuit.
 *
 * @since 0.1.0
 * @category combinators
 */
export const record = (
  c: FleetCircuit,
  rule: FleetRule,
  now: number,
  generation: number,
  counts: Window.Counts,
  batchStreak: BatchStreak = noStreak,
  retryAfter = 0
): FleetCircuit => {
  const window = addAt(shaped(c, rule, now), now, counts)
  const before = sameShape(c, rule) ? c.streak : 0
  const streak = batchStreak.broken ? batchStreak.trailing : before + batchStreak.trailing
  const trips = generation === c.generation && c.state === "closed" && Window.requests(counts) > 0 &&
    (Breaker.exceedsThresholds(ruleConfig(rule), window) || streak >= (rule.consecutiveFailures ?? Infinity))
  return trips ? opened(c, rule, window, now, streak, retryAfter) : { ...c, window, streak }
}

/**
 * The result of `acquire`: whether the caller now holds the probe lease.
 *
 * @since 0.1.0
 * @category models
 */
export type Acquired = "probe" | "denied"

/**
 * Asks for the probe lease, by a caller that saw `generation` and computed
 * the current opening's sleep window as `sleepMillis` (the opening lasts
 * the longer of that and its Retry-After).
 *
 * @since 0.1.0
 * @category combinators
 */
export const acquire = (
  c: FleetCircuit,
  now: number,
  generation: number,
  sleepMillis: number,
  leaseMillis: number
): readonly [FleetCircuit, Acquired] => {
  if (generation !== c.generation) return [c, "denied"]
  const free = (c.state === "open" && now - c.openedAt >= Math.max(sleepMillis, c.retryAfter)) ||
    (c.state === "half-open" && c.leaseUntil <= now)
  if (!free) return [c, "denied"]
  return [{ ...c, state: "half-open", generation: c.generation + 1, leaseUntil: now + leaseMillis }, "probe"]
}

const probeCounts: Record<ProbeOutcome, Window.Counts> = {
  success: Window.increment(Window.emptyCounts, "success"),
  failure: Window.increment(Window.emptyCounts, "failure"),
  timeout: Window.increment(Window.emptyCounts, "timeout"),
  rejected: Window.increment(Window.emptyCounts, "rejected"),
  interrupted: Window.emptyCounts,
  ignored: Window.emptyCounts
}

const slowProbeCounts = Object.fromEntries(
  Object.entries(probeCounts).map(([k, v]) => [k, Window.requests(v) > 0 && v.rejected === 0 ? { ...v, slow: 1 } : v])
) as Record<ProbeOutcome, Window.Counts>

/**
 * The counts one probe outcome adds to the window (`slow`: it took longer
 * than the slow-call duration; a rejection never does).
 *
 * @since 0.1.0
 * @category queries
 */
export const countsOf = (outcome: ProbeOutcome, slow = false): Window.Counts =>
  (slow ? slowProbeCounts : probeCounts)[outcome]

/**
 * What one probe outcome says of errors in a row.
 *
 * @since 0.1.0
 * @category queries
 */
export const streakOf = (outcome: ProbeOutcome): BatchStreak =>
  outcome === "success"
    ? { trailing: 0, broken: true }
    : outcome === "interrupted" || outcome === "ignored"
    ? noStreak
    : { trailing: 1, broken: false }

/**
 * Reports how the probe admitted in `generation` ended (`retryAfter`: a
 * failure's Retry-After in milliseconds, 0 for none).
 *
 * @since 0.1.0
 * @category combinators
 */
export const settle = (
  c: FleetCircuit,
  rule: FleetRule,
  now: number,
  generation: number,
  outcome: ProbeOutcome,
  slow = false,
  retryAfter = 0
): FleetCircuit => {
  if (generation !== c.generation || c.state !== "half-open") {
    return record(c, rule, now, generation, countsOf(outcome, slow), streakOf(outcome), retryAfter)
  }
  switch (outcome) {
    case "success": {
      // The probe's own outcome is not part of the fresh window.
      const stable = rule.backoffReset === "stable"
      return {
        state: "closed",
        generation: c.generation + 1,
        openedAt: 0,
        openings: stable ? c.openings : 0,
        leaseUntil: 0,
        window: Window.empty(rule.buckets, rule.bucketMillis, now),
        streak: 0,
        backoffResetAt: stable ? now + (now - c.openedAt) : 0,
        retryAfter: 0
      }
    }
    case "failure":
    case "timeout":
    case "rejected": {
      const streak = (sameShape(c, rule) ? c.streak : 0) + 1
      return opened(c, rule, addAt(shaped(c, rule, now), now, countsOf(outcome, slow)), now, streak, retryAfter)
    }
    case "interrupted":
    case "ignored":
      return { ...c, leaseUntil: 0 }
  }
}

/**
 * The core's settings for the trip rule (the sleep window is the caller's).
 *
 * @since 0.1.0
 * @category constructors
 */
export const ruleConfig = (rule: FleetRule): Parameters<typeof Breaker.exceedsThresholds>[0] => ({
  requestVolumeThreshold: rule.requestVolumeThreshold,
  errorPercentThreshold: rule.errorPercentThreshold,
  buckets: rule.buckets,
  bucketMillis: rule.bucketMillis,
  sleepWindow: noSleep,
  // The store sees counts, not durations: any finite duration turns the slow rule on.
  ...(rule.slowCallPercentThreshold === undefined
    ? {}
    : { slowCallMillis: 0, slowCallPercentThreshold: rule.slowCallPercentThreshold })
})

const noSleep = (): number => 0

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
 *   `generation`, `openedAt`, `openings`, the probe leases (`leases`) and
 *   the rolling window. The window and the trip rule are the core's own
 *   (`Window`, `Breaker.exceedsThresholds`): the store adds no rule of its own.
 * - `record` adds a batch of counts at the store's time `now`, not at the
 *   times the calls ended: every process's batch lands in the fleet's clock,
 *   so no process's clock skew moves a bucket. The batch trips a closed
 *   circuit when the window then exceeds the thresholds, but only if it was
 *   recorded in the current generation (as `Breaker.reduce` does with one
 *   outcome): counts of an older generation are counted and change no state.
 * - `acquire` takes a probe lease, as the core's `ProbeAdmitted` takes a
 *   probe slot: an open circuit whose sleep window has passed becomes
 *   half-open with a new generation and one lease until `now + leaseMillis`;
 *   a half-open one grants another lease while its leases not yet lapsed
 *   plus its probes that succeeded are fewer than `halfOpenProbes` (1 by
 *   default). A lapsed lease is a freed slot, dropped when a lease is next
 *   granted. A grant that starts a round afresh (no lease held, no success
 *   yet) is a new generation, as the core's; later leases of the round share
 *   it. Each lease has its own `ticket`, so a slot given again is never
 *   settled by its former holder.
 * - `settle` reports a probe's outcome under its lease (generation and
 *   ticket): a success counts, and the `halfOpenProbes`-th closes the
 *   circuit with an empty window; a failure, timeout or rejection opens it
 *   again from `now` (one more opening, the leases of the round void); an
 *   interrupted or ignored probe frees its lease. An outcome under a lease
 *   the circuit does not hold is an ordinary count.
 * - Another `halfOpenProbes` than the round's starts its count of successes
 *   again (the leases held go on), as the core's `Reconfigure`.
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
  /** Probes that must all succeed to close a half-open circuit; absent: 1. */
  readonly halfOpenProbes?: number | undefined
}

/**
 * A probe lease held: its ticket and when it lapses.
 *
 * @since 0.2.0
 * @category models
 */
export interface Lease {
  readonly ticket: number
  readonly until: number
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
  /** The probe leases held (lapsed ones until the next grant); none unless half-open. */
  readonly leases: ReadonlyArray<Lease>
  /** Half-open: the round's probes that succeeded. */
  readonly probesSucceeded: number
  /** The `halfOpenProbes` the round counts its successes to. */
  readonly probes: number
  /** The last lease ticket given. */
  readonly ticket: number
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
  /** The latest end of a lease held; 0 when none is. */
  readonly leaseUntil: number
  /** The leases held, lapsed ones included until the next grant. */
  readonly leases: number
  /** The earliest end of a lease held; 0 when none is. */
  readonly leaseNext: number
  /** Half-open: the round's probes that succeeded. */
  readonly probesSucceeded: number
  /** The last lease ticket given (after a grant: the caller's). */
  readonly ticket: number
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
  leases: [],
  probesSucceeded: 0,
  probes: probesOf(rule),
  ticket: 0,
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
  leaseUntil: leaseUntil(c),
  leases: c.leases.length,
  leaseNext: c.leases.reduce((min, l) => min === 0 || l.until < min ? l.until : min, 0),
  probesSucceeded: c.probesSucceeded,
  ticket: c.ticket,
  now,
  totals: withSlow(Window.totals(Window.rollTo(c.window, now))),
  streak: c.streak,
  retryAfter: c.retryAfter
})

/**
 * The latest end of a lease the circuit holds; 0 when it holds none.
 *
 * @since 0.2.0
 * @category queries
 */
export const leaseUntil = (c: FleetCircuit): number => c.leases.reduce((max, l) => l.until > max ? l.until : max, 0)

/**
 * The probes a rule asks for (`halfOpenProbes`, 1 when absent).
 *
 * @since 0.2.0
 * @category queries
 */
export const probesOf = (rule: FleetRule): number => rule.halfOpenProbes ?? 1

// Another number of probes starts the round's count of successes again (Breaker's Reconfigure).
const withProbes = (c: FleetCircuit, probes: number): FleetCircuit =>
  c.probes === probes ? c : { ...c, probes, probesSucceeded: 0 }

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
    ...c,
    state: "open",
    generation: c.generation + 1,
    openedAt: now,
    openings: continues ? c.openings + 1 : 1,
    leases: [],
    probesSucceeded: 0,
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
  c = withProbes(c, probesOf(rule))
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
 * Asks for a probe lease, by a caller that saw `generation`, computed the
 * current opening's sleep window as `sleepMillis` (the opening lasts the
 * longer of that and its Retry-After) and wants `probes` probes to succeed
 * (`halfOpenProbes`). On `"probe"` the caller's lease is the answer's
 * `ticket`, until `now + leaseMillis`.
 *
 * @since 0.1.0
 * @category combinators
 */
export const acquire = (
  c: FleetCircuit,
  now: number,
  generation: number,
  sleepMillis: number,
  leaseMillis: number,
  probes = 1
): readonly [FleetCircuit, Acquired] => {
  c = withProbes(c, probes)
  if (generation !== c.generation) return [c, "denied"]
  if (c.state === "open" && now - c.openedAt >= Math.max(sleepMillis, c.retryAfter)) {
    const ticket = c.ticket + 1
    return [{
      ...c,
      state: "half-open",
      generation: c.generation + 1,
      leases: [{ ticket, until: now + leaseMillis }],
      probesSucceeded: 0,
      ticket
    }, "probe"]
  }
  if (c.state !== "half-open") return [c, "denied"]
  // A lapsed lease is a freed slot.
  const live = c.leases.filter((l) => l.until > now)
  if (live.length + c.probesSucceeded >= c.probes) return [c, "denied"]
  // A round afresh (nothing running, nothing succeeded) is a new generation, as in the core.
  const fresh = live.length === 0 && c.probesSucceeded === 0
  const ticket = c.ticket + 1
  return [{
    ...c,
    generation: fresh ? c.generation + 1 : c.generation,
    leases: [...live, { ticket, until: now + leaseMillis }],
    ticket
  }, "probe"]
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
 * Reports how the probe admitted under the lease `ticket` in `generation`
 * ended (`retryAfter`: a failure's Retry-After in milliseconds, 0 for none).
 *
 * @since 0.1.0
 * @category combinators
 */
export const settle = (
  c: FleetCircuit,
  rule: FleetRule,
  now: number,
  generation: number,
  ticket: number,
  outcome: ProbeOutcome,
  slow = false,
  retryAfter = 0
): FleetCircuit => {
  c = withProbes(c, probesOf(rule))
  if (generation !== c.generation || c.state !== "half-open" || !c.leases.some((l) => l.ticket === ticket)) {
    return record(c, rule, now, generation, countsOf(outcome, slow), streakOf(outcome), retryAfter)
  }
  const others = c.leases.filter((l) => l.ticket !== ticket)
  switch (outcome) {
    case "success": {
      const succeeded = c.probesSucceeded + 1
      if (succeeded < c.probes) {
        // Counted (in the window too, as the core counts it); the slot is not given again.
        const window = addAt(shaped(c, rule, now), now, countsOf(outcome, slow))
        return { ...c, leases: others, probesSucceeded: succeeded, window, streak: 0 }
      }
      // The probe's own outcome is not part of the fresh window.
      const stable = rule.backoffReset === "stable"
      return {
        ...c,
        state: "closed",
        generation: c.generation + 1,
        openedAt: 0,
        openings: stable ? c.openings : 0,
        leases: [],
        probesSucceeded: 0,
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
      return { ...c, leases: others }
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

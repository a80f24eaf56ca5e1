/**
 * The one mutable cell per circuit, owned by the shell.
 *
 * The values stored here (`breaker`, `config`) are immutable and produced only
 * by the core's functions; the cell swaps them. Effect fibers of one runtime
 * run one at a time, so a synchronous read-reduce-write needs no lock.
 *
 * @internal
 */
import type { Clock } from "effect"
import { Duration, Schedule } from "effect"
import * as Breaker from "../core/Breaker.ts"
import * as Limit from "../core/Limit.ts"
import * as Window from "../core/Window.ts"
import * as Adaptive from "../config/adaptive.ts"
import type { BreakerConfig } from "../core/BreakerConfig.ts"
import type { CircuitCell } from "../CircuitCell.ts"
import type { CircuitConfig } from "../CircuitConfig.ts"
import type { CircuitLimitChange, CircuitTransition, EventKind } from "../CircuitEvent.ts"
import { CircuitOpenError } from "../errors.ts"
import { withoutStack } from "./withoutStack.ts"
import { SleepDraws } from "./sleepDraws.ts"

/**
 * What a cell asks of its wait queue (`waitQueue.ts`'s `WaitQueue`, made by
 * the first call that waits), declared here so that the cell never imports
 * the queue: the queue refuses waiters through `callPath.ts`, which reads
 * cells, so an import the other way would close a cycle.
 */
export interface Waiters {
  /** Waiters in the queue now. */
  readonly size: number
  /** Hands free permits to the first waiters, each asked to the circuit again. */
  handOff(): void
  /** Rejects the newest waiters over a lowered `queueCapacity`. */
  shrink(): void
}

/**
 * What a cell and the snapshot read of the circuit's fleet link (the store's
 * `FleetLink`, attached by the registry), declared here so that internal/
 * never imports store/ (which uses internal/'s helpers): no folder cycle.
 */
export interface FleetSide {
  /** Whether the fleet view, not the local breaker, decides admissions right now. */
  decides(): boolean
  admit(now: number): Breaker.Admission
  openError(now: number): CircuitOpenError
  event(kind: string, at: number, durationMillis: number): void
  /** The Retry-After of the outcome whose `event` comes next, in milliseconds. */
  hint(millis: number): void
  /** Stops sharing the circuit (the registry is closing, or evicted it). */
  detach(): void
  readonly state: "closed" | "open" | "half-open"
  readonly generation: number
  readonly openings: number
  /** The store's time of the last answer; `-Infinity` before the first. */
  readonly viewAt: number
  readonly totals: Window.Counts
  /** Half-open: the probe leases held fleet-wide, and the round's probes that succeeded. */
  readonly leases: number
  readonly probesSucceeded: number
  /** The Retry-After the current opening lasts at least, in milliseconds (0: none). */
  readonly retryAfter: number
  readonly storeHealthy: boolean
}

/**
 * Where a registry's cells report to. Kept as plain callbacks so that a
 * cell holds no fiber, timer or queue of its own.
 */
export interface Sink {
  /**
   * `at` is monotonic (see `time.ts`); `clock`, when known, gives the wall
   * time a published event shows.
   */
  readonly event: (
    cell: Cell,
    kind: EventKind,
    at: number,
    durationMillis: number,
    fallbackFollows: boolean,
    clock: Clock.Clock | undefined
  ) => void
  readonly transition: (cell: Cell, transition: CircuitTransition) => void
  readonly limitChange: (cell: Cell, change: CircuitLimitChange) => void
}

/**
 * What the registry asks of an observer's per-circuit state (`Cell.stats`)
 * for the events the observer only counts (see `Observer.tally`), instead of
 * calling its `event`: a short-circuit whose fallback follows adds one to
 * `shortCircuited`; a success and a fallback's success that took 0 ms are
 * offered to `tallySuccess` and `tallyFallbackSuccess`, which count them to
 * be recorded later (true), or refuse (false: the event is reported).
 */
export interface Tally {
  shortCircuited: number
  tallySuccess(cell: Cell, at: number): boolean
  tallyFallbackSuccess(at: number): boolean
}

/**
 * The observers whose per-circuit state is the cells' `stats` (a `Tally`):
 * while one of them is a registry's only observer of events, the registry
 * counts the events it only counts there instead of calling its `event`
 * (the metrics observer: an open circuit's short-circuits and instant
 * fallbacks, and a healthy one's instant successes, then cost it no call).
 * A set beside the public `Observer` type, so that no user can claim it.
 */
export const tallyObservers = new WeakSet<object>()

// The fallback permits of the circuits that have had a fallback limit, kept
// beside the cells so that a circuit without one holds nothing for them.
const fallbackPermits = new WeakMap<Cell, { active: number }>()

export class Cell implements CircuitCell {
  /** Permits in use: calls whose effect has started and not yet ended. */
  active = 0
  /** `Infinity` when off; an adaptive limit's current value. */
  maxConcurrent: number
  /** The adaptive limit, when `maxConcurrentRequests` is one. */
  adaptiveLimit: Limit.Limit | undefined
  /** `undefined` when the timeout is off. */
  timeoutMillis: number | undefined
  /**
   * Fallback permits in use: fallbacks started while `maxConcurrentFallbacks`
   * was set that have not ended yet. With the limit off nothing is counted
   * (so that it costs nothing): a limit set at run time does not see the
   * fallbacks already running.
   */
  get fallbacksActive(): number {
    return fallbackPermits.get(this)?.active ?? 0
  }
  /** `Infinity` when off. Read from the settings: a field would cost every circuit memory. */
  get maxConcurrentFallbacks(): number {
    return this.config.maxConcurrentFallbacks
  }
  /** Takes a fallback permit if one is free under the limit (only called with one set). */
  takeFallback(): boolean {
    let permits = fallbackPermits.get(this)
    if (permits === undefined) fallbackPermits.set(this, permits = { active: 0 })
    if (permits.active >= this.config.maxConcurrentFallbacks) return false
    permits.active++
    return true
  }
  /** Gives back a permit `takeFallback` took. */
  releaseFallback(): void {
    fallbackPermits.get(this)!.active--
  }
  config: CircuitConfig

  readonly name: string
  readonly sink: Sink
  /**
   * The largest `active` since the last `takePeak()`: concurrency peaks are
   * taken when a permit is taken, so a call that ends (or times out) before
   * any observer looks still counts in them.
   */
  peak = 0
  /**
   * What an observer keeps for this circuit (counts, latency percentiles),
   * created by it on the circuit's first event: a circuit that was never
   * called holds nothing here. Opaque to the shell: only the
   * observer that stored it reads it.
   */
  stats: Tally | undefined = undefined
  /** The circuit's fleet view when the registry has a `CircuitStore`; `undefined` (local only) otherwise. */
  fleet: FleetSide | undefined = undefined
  /** The peak concurrency since the last call, then starts a new peak from the calls running now. */
  takePeak(): number {
    const peak = this.peak
    this.peak = this.active
    return peak
  }
  /**
   * Returns one permit, to the first waiter if any; handed to the effect's
   * fiber as its end observer. Made by the first call that suspends: a
   * closure per circuit made when the circuit is would be two objects (96 B)
   * of every circuit, most of which never suspend.
   */
  get release(): () => void {
    return this.releaser ??= () => {
      this.active--
      if (this.waiters !== undefined) this.waiters.handOff()
    }
  }
  private releaser: (() => void) | undefined = undefined
  /** Hands free permits to waiters, if any (see `waitQueue.ts`). */
  handOff(): void {
    if (this.waiters !== undefined) this.waiters.handOff()
  }
  /**
   * The calls waiting for a permit, oldest first (see `waitQueue.ts`);
   * created by the first call that waits, so a circuit without a queue
   * holds one empty field for it.
   */
  waiters: Waiters | undefined = undefined
  /** Calls waiting in the queue for a permit now. */
  get waiting(): number {
    return this.waiters === undefined ? 0 : this.waiters.size
  }
  /** `queueCapacity`: 0 when calls never wait. */
  get queueCapacity(): number {
    return this.config.queueCapacity
  }
  /** `maxQueueWait` in milliseconds; `Infinity` when a waiter waits as long as it takes. */
  get maxQueueWaitMillis(): number {
    return Duration.toMillis(this.config.maxQueueWait)
  }
  /**
   * Set when the registry has dropped this cell (evicted, or the registry
   * closed): a caller holding it (withCircuit caches its last cell) must look
   * the name up again.
   */
  retired = false
  /** Monotonic time of the last call (or of creation); read by the registry's eviction. */
  lastUsed = 0
  /** When the registry last queued it for eviction (see `cellTable.ts`). */
  queuedAt = 0
  /**
   * Never evicted: named in the registry's `circuits`, or configured at run
   * time (its settings exist nowhere else).
   */
  pinned = false
  /** The last `openError`, and what it was made for; made by the circuit's first short-circuit. */
  private lastOpen: LastOpenError | undefined = undefined
  /** Draws each opening's delay from a `Schedule` sleep window (jitter); undefined for a fixed one. */
  private sleepDraws: SleepDraws | undefined
  /** The breaker as the core's functions produced it, without the events counted since in `pending*`. */
  private reduced: Breaker.Breaker
  // Events that only count in the reduced window's current bucket (the core's
  // `countsInCurrent`, `successOnlyCounts`, `failureOnlyCounts`), kept as
  // plain counters so that the busiest calls (successes of a healthy
  // circuit, failures that do not trip it, short-circuits and fallbacks of an
  // open one) allocate nothing. Folded in by the core's `countInCurrent`
  // before any other event and whenever `breaker` is read, so nobody sees a
  // breaker without them. A success never joins pending failures (it resets
  // the streak they lengthen), so the counters hold no order.
  private pending = false
  private pendingSuccess = 0
  private pendingFailure = 0
  private pendingShortCircuited = 0
  private pendingFallbackSuccess = 0
  private pendingFallbackFailure = 0

  /** The breaker: every event so far, reduced by the core. */
  get breaker(): Breaker.Breaker {
    if (this.pending) this.fold()
    return this.reduced
  }

  /**
   * What a call starting at `now` may do (`Breaker.admit`). Counted events
   * never change the state, settings or generation, so reading these folds nothing.
   */
  admit(now: number): Breaker.Admission {
    return Breaker.admit(this.reduced, now)
  }

  /** The breaker's generation (see `admit`). */
  get generation(): number {
    return this.reduced.generation
  }

  /** The breaker's settings (see `admit`). */
  get breakerConfig(): BreakerConfig {
    return this.reduced.config
  }

  private fold(): void {
    this.reduced = Breaker.countInCurrent(this.reduced, {
      success: this.pendingSuccess,
      failure: this.pendingFailure,
      timeout: 0,
      rejected: 0,
      shortCircuited: this.pendingShortCircuited,
      fallbackSuccess: this.pendingFallbackSuccess,
      fallbackFailure: this.pendingFallbackFailure,
      slow: 0
    })
    this.pending = false
    this.pendingSuccess = 0
    this.pendingFailure = 0
    this.pendingShortCircuited = 0
    this.pendingFallbackSuccess = 0
    this.pendingFallbackFailure = 0
  }

  /**
   * `apply` of a `Success` (admitted in `generation`, ended at `at` after
   * `durationMillis`), without allocating when the core says it only counts.
   * A shared circuit's events always go through `apply`.
   */
  success(at: number, generation: number, durationMillis: number, clock?: Clock.Clock): void {
    if (
      this.fleet === undefined && this.pendingFailure === 0 &&
      Breaker.successOnlyCounts(this.reduced, at, generation, durationMillis, this.pendingSuccess)
    ) {
      this.pendingSuccess++
      this.pending = true
    } else {
      this.apply({ _tag: "Success", at, generation, durationMillis }, clock)
    }
  }

  /** `apply` of a `Failure`, likewise (`failureOnlyCounts`). */
  failure(at: number, generation: number, durationMillis: number, retryAfterMillis?: number, clock?: Clock.Clock): void {
    const failures = this.pendingFailure
    if (
      this.fleet === undefined &&
      Breaker.failureOnlyCounts(this.reduced, at, generation, durationMillis, this.pendingSuccess + failures, failures)
    ) {
      this.pendingFailure = failures + 1
      this.pending = true
    } else {
      this.apply(
        retryAfterMillis === undefined
          ? { _tag: "Failure", at, generation, durationMillis }
          : { _tag: "Failure", at, generation, durationMillis, retryAfterMillis },
        clock
      )
    }
  }

  /** `apply` of a short-circuit or a fallback's outcome at `at`, likewise. */
  happened(tag: "ShortCircuited" | "FallbackSuccess" | "FallbackFailure", at: number, clock?: Clock.Clock): void {
    if (this.fleet === undefined && Breaker.countsInCurrent(this.reduced, at)) {
      if (tag === "ShortCircuited") this.pendingShortCircuited++
      else if (tag === "FallbackSuccess") this.pendingFallbackSuccess++
      else this.pendingFallbackFailure++
      this.pending = true
    } else {
      this.apply({ _tag: tag, at }, clock)
    }
  }

  /**
   * The error for a call short-circuited at `now`. Built without a stack (it
   * would only show the runtime's frames) and reused for every call of the
   * same millisecond and state: an open circuit can then answer millions of
   * calls a second without building millions of errors.
   */
  openError(now: number): CircuitOpenError {
    if (this.fleet !== undefined && this.fleet.decides()) return this.fleet.openError(now)
    // Counted events change nothing an open error shows: no fold.
    const breaker = this.reduced
    // Per whole millisecond: a shell on `performance.now()` reads fractions.
    const millis = Math.floor(now)
    const last = this.lastOpen
    if (
      last !== undefined && last.at === millis && last.generation === breaker.generation && last.config === breaker.config
    ) return last.error
    const state = Breaker.stateName(breaker)
    const error = withoutStack(() =>
      new CircuitOpenError({
        circuit: this.name,
        state: state === "half-open" || state === "forced-open" ? state : "open",
        retryAfter: Duration.millis(Breaker.retryAfterMillis(breaker, now))
      })
    )
    if (last === undefined) this.lastOpen = { error, at: millis, generation: breaker.generation, config: breaker.config }
    else {
      last.error = error
      last.at = millis
      last.generation = breaker.generation
      last.config = breaker.config
    }
    return error
  }

  /** Detaches the circuit from the fleet store, if shared (the registry is closing, or evicted it). */
  shutdown(): void {
    // The registry's flusher stops sending this circuit's batches.
    if (this.fleet !== undefined) this.fleet.detach()
  }

  constructor(name: string, config: CircuitConfig, breakerConfig: BreakerConfig, sink: Sink, now: number) {
    this.name = name
    this.sink = sink
    this.config = config
    const limit = config.maxConcurrentRequests
    this.adaptiveLimit = Adaptive.isAdaptive(limit) ? Limit.initial(Adaptive.toLimitSettings(limit), now) : undefined
    this.maxConcurrent = this.adaptiveLimit === undefined ? limit as number : Limit.current(this.adaptiveLimit)
    this.timeoutMillis = timeoutMillisOf(config)
    this.sleepDraws = drawsOf(config)
    this.reduced = initialBreaker(breakerConfig, now)
  }

  /**
   * Teaches the adaptive limit one call that ended at `at` (started at
   * `startedAt` with `inFlight` calls running, itself included), and reports
   * a change of the limit. Only called when `adaptiveLimit` is set.
   */
  sample(outcome: Limit.Outcome, startedAt: number, at: number, inFlight: number): void {
    const before = this.adaptiveLimit!
    const after = Limit.reduce(before, { outcome, at, latency: at - startedAt, inFlight })
    if (after === before) return
    this.adaptiveLimit = after
    const from = this.maxConcurrent
    const to = Limit.current(after)
    if (to !== from) {
      this.maxConcurrent = to
      this.sink.limitChange(this, { circuit: this.name, algorithm: Limit.algorithm(after), from, to, at })
      // A limit that grew has permits for the waiters.
      if (to > from && this.waiting !== 0) this.waiters!.handOff()
    }
  }

  /**
   * Advances the breaker by one event and reports a change of state, stamped
   * with `clock`'s wall time when given (else with the event's own time).
   */
  apply(event: Breaker.Event, clock?: Clock.Clock): Breaker.Breaker {
    const before = this.breaker
    let after = Breaker.reduce(before, event)
    this.reduced = after
    if (after.generation !== before.generation) {
      if (this.sleepDraws !== undefined && after.state._tag === "Open") {
        // A new opening: its own delay, drawn with the calling fiber's Random.
        const millis = this.sleepDraws.draw(after.openings)
        if (millis !== undefined) {
          after = Breaker.reduce(after, { _tag: "SleepDrawn", at: event.at, generation: after.generation, millis })
          this.reduced = after
        }
      }
      const from = Breaker.stateName(before)
      const to = Breaker.stateName(after)
      // A reset of a closed circuit, or the next probe after an interrupted
      // one, changes the generation but not the state a user sees.
      if (from !== to) {
        const at = clock === undefined ? event.at : clock.currentTimeMillisUnsafe()
        this.sink.transition(this, { circuit: this.name, from, to, at })
      }
    }
    return after
  }

  /** `fallbackFollows`: the call goes on to its fallback (whose outcome is a later event). */
  emit(kind: EventKind, at: number, durationMillis: number, fallbackFollows = false, clock?: Clock.Clock): void {
    if (this.fleet !== undefined) this.fleet.event(kind, at, durationMillis)
    this.sink.event(this, kind, at, durationMillis, fallbackFollows, clock)
  }

  reconfigure(config: CircuitConfig, breakerConfig: BreakerConfig, now: number): void {
    // The same schedule keeps its draws going; another one starts afresh.
    if (config.sleepWindow !== this.config.sleepWindow) this.sleepDraws = drawsOf(config)
    const previous = this.config.maxConcurrentRequests
    this.config = config
    const limit = config.maxConcurrentRequests
    // New adaptive settings start learning again; the same ones keep what was learned.
    if (!Adaptive.same(previous, limit)) {
      const from = this.maxConcurrent
      this.adaptiveLimit = Adaptive.isAdaptive(limit) ? Limit.initial(Adaptive.toLimitSettings(limit), now) : undefined
      this.maxConcurrent = this.adaptiveLimit === undefined ? limit as number : Limit.current(this.adaptiveLimit)
      if (this.adaptiveLimit !== undefined && this.maxConcurrent !== from) {
        this.sink.limitChange(this, {
          circuit: this.name,
          algorithm: Limit.algorithm(this.adaptiveLimit),
          from,
          to: this.maxConcurrent,
          at: now
        })
      }
    }
    this.timeoutMillis = timeoutMillisOf(config)
    // A new `maxQueueWait` applies to calls that queue from now on (as a new
    // timeout applies to calls that start from now on): it is read at the queueing.
    this.apply({ _tag: "Reconfigure", at: now, config: breakerConfig })
    if (this.waiting !== 0) {
      // Fewer places: the newest waiters over the capacity are rejected; a
      // higher limit: the first waiters get the new permits.
      this.waiters!.shrink()
      this.waiters!.handOff()
    }
  }
}

interface LastOpenError {
  error: CircuitOpenError
  at: number
  generation: number
  config: BreakerConfig
}

// Circuits made with the same settings in the same bucket start from the
// same breaker (`Breaker.initial` depends on the time only through the
// bucket it falls in), which the core never changes: a new circuit then
// allocates no breaker and no window of its own until its first event that
// is not only counted. One entry: circuits are mostly made on the defaults.
let lastInitial: Breaker.Breaker | undefined = undefined
const initialBreaker = (config: BreakerConfig, now: number): Breaker.Breaker => {
  const last = lastInitial
  if (
    last !== undefined && last.config === config &&
    (config.windowCalls !== undefined || last.window.currentIndex === Window.bucketIndex(config.bucketMillis, now))
  ) return last
  return lastInitial = Breaker.initial(config, now)
}

const drawsOf = (config: CircuitConfig): SleepDraws | undefined =>
  Schedule.isSchedule(config.sleepWindow) ? new SleepDraws(config.sleepWindow) : undefined

const timeoutMillisOf = (config: CircuitConfig): number | undefined =>
  Duration.isFinite(config.timeout) ? Duration.toMillis(config.timeout) : undefined

/**
 * The cell behind a `CircuitCell` the registry handed out. The registry is
 * the only maker of circuits and makes them all as `Cell`s; the public type
 * is the read-only view, so that no internal type shows in a public signature.
 */
export const cellOf = (view: CircuitCell): Cell => view as Cell

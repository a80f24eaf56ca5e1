/**
 * The reference model of one circuit, for the model-based suite
 * (`model-based.test.ts`). Written from SPEC.md section 3 and the documented
 * behaviour of `Circuit`/`withCircuit`, without reading the core: its own
 * list of timestamped outcomes, its own state machine, its own clock-driven
 * agenda of in-flight calls.
 *
 * Time is integer milliseconds. The model says, for every instant, what the
 * circuit's snapshot must be, which events and state changes must have been
 * published, and what every caller must have got.
 *
 * Interpretations (where SPEC.md leaves a choice, written down in
 * docs/reliability.md):
 * - "A state change" (SPEC 3.7) is every transition, `forceOpen`,
 *   `forceClosed` and `reset` included, even when the state's name stays the
 *   same (`reset` of a closed circuit): calls admitted before it may still
 *   count in the window, but never move the state.
 * - A probe admitted from `half-open` (after an interrupted or ignored probe)
 *   is a state change too (a new probe epoch).
 * - Changing the window's shape (buckets or bucket duration) starts an empty
 *   window; other settings keep it. New thresholds apply from the next outcome.
 * - The timeout of a call is the one configured when it was admitted.
 * - Issue 12's trip rules, off unless set: `consecutive` errors in a row (a
 *   success breaks the run; counted since the window was last emptied)
 *   open whatever the volume; a request that took longer than `slowMillis`
 *   (admission to outcome; a rejection never) is slow, and the slow
 *   percentage opens like the error percentage, with the same volume.
 * - A count window (`windowCalls`) is the last N requests, and what was
 *   recorded after the oldest of them (short-circuits, fallbacks); time never
 *   empties it. Giving `calls` makes one, giving `buckets` or `bucketDuration`
 *   makes a time window again; a new shape (or a new N) starts empty.
 * - `probes` probes are let through when half-open, all in one epoch (a new
 *   round, after every probe was interrupted or ignored, is a new epoch);
 *   each success is kept and its slot not given again; the `probes`-th
 *   success closes, the first probe error reopens. A new number of probes
 *   while half-open forgets the successes so far.
 * - The Retry-After of the failure that opens (a typed failure only, through
 *   `withCircuit`'s `retryAfter` option) makes that opening last
 *   `max(sleep(n), retryAfter)`.
 * - `backoffReset: "stable"`: a close keeps the count of openings; an opening
 *   from closed counts from 1 again only if it comes at least as long after
 *   that close as the circuit had been open before it (from the opening to
 *   the close). `forceOpen`, `forceClosed` and `reset` forget it all.
 * - The fallback limit (`maxFallbacks`, off when `Infinity`): a fallback
 *   takes a permit when it starts, without waiting, and gives it back when
 *   it ends; none free, it never runs: `fallback-rejected` (not counted in
 *   the window) and the caller gets `CircuitFallbackRejectedError` (a defect
 *   in `withCircuit`). A fallback that ends at once is refused the same way
 *   but holds no permit past its instant. With the limit off nothing is
 *   counted (a fallback started then gives nothing back). A fallback may
 *   last (`fallbackMillis`): the caller is answered, and the fallback's event
 *   recorded, when it ends; an interrupted caller interrupts it (no event) in
 *   `withCircuit`, while a Promise caller whose fallback runs waits for it.
 * - The wait queue (`queueCapacity` > 0; docs/concepts.md, "The wait
 *   queue"): the circuit check first (a short-circuit never waits, nor does
 *   a would-be probe: it is rejected); a call that finds every permit in use,
 *   or anyone waiting (no barging), joins the back if there is room
 *   (`queued`), else is rejected (`reason: "queue-full"`). A permit that
 *   comes back goes to the oldest waiter, which is asked to the circuit again
 *   then (a short-circuit passes the permit on; the waiter may become the
 *   probe) and starts its run, and its timeout, at that instant. A wait past
 *   `maxQueueWait` (read when it queued) is a rejection of the epoch it
 *   queued in (`queue-timeout`, its duration the wait). An interrupted waiter
 *   leaves with `interrupted` and takes nothing. A lower capacity rejects the
 *   newest waiters over it (`queue-full`, of their own epoch), a higher limit
 *   hands out permits at once. A refused waiter's fallback counts its
 *   duration from when it queued.
 * - When a permit comes back relative to the outcome of the call that held it
 *   (this decides whether the waiter it goes to was admitted before a trip
 *   that outcome causes): the permit first, then the outcome, for a call
 *   whose work ends (both shells) and, in `withCircuit`, for a timeout and an
 *   interrupted caller too (the effect's fiber ends when interrupted, and its
 *   end gives the permit back); in the Promise shell a timeout or an abort is
 *   recorded first and the permit comes back when the aborted work settles.
 *   A waiter whose work ends at once when handed a permit is recorded before
 *   the next waiter is asked (the hand-off loop is not re-entered).
 * - Two-step calls (`Circuit.admit`, `circuits.admit`; docs/two-step.md):
 *   `withCircuit`'s admission, waiting in the queue like any call (see
 *   `TWO_STEP_WAITS`); the timeout runs from the admission (for a waiter,
 *   from the hand-off): at the deadline
 *   `timeout` is recorded, and the permit stays taken until a report or the
 *   scope's close (Effect) or is given back then (Promise). The first report
 *   (or the scope's close, or the Promise permit's dispose or its caller's
 *   abort) gives the permit back, then records its outcome (its duration from
 *   the admission): `success`, a failure (with its Retry-After), `ignored`
 *   (an error `isFailure` refuses, `ignore`), `interrupted`; a scope closed
 *   unreported records `ignored` for a success, a failure for a failure or a
 *   defect, `interrupted` for an interruption; a Promise permit disposed
 *   unreported records `ignored`, and its caller's abort `interrupted`. A
 *   report after the outcome was decided returns false and records nothing
 *   (an Effect permit still held, after its timeout, is given back then).
 * - Same-millisecond ties the docs leave unordered are kept apart by the
 *   driver: a waiter handed a permit gets its work's duration (and its
 *   fallback's) then, so that its instants clash with nothing already
 *   scheduled; a waiter whose deadline would clash ends before it (a hanging
 *   one then succeeds): see `planHandOff`.
 */

/** What the guarded effect does. */
export type Behaviour =
  /** Sleeps `duration`, then succeeds. */
  | "succeed"
  /** Sleeps `duration`, then fails with a typed error (`Boom`). */
  | "fail"
  /** Sleeps `duration`, then dies (a defect). */
  | "die"
  /** Sleeps `duration`, then fails with an error that `isFailure` rejects. */
  | "ignored"
  /** Never ends (until interrupted). */
  | "hang"
  /** An uninterruptible sleep of `duration`, then succeeds: ignores interruption. */
  | "stubborn"

/** The call's fallback: none, one that succeeds, one that fails. */
export type FallbackKind = "none" | "ok" | "fail"

export type StateName = "closed" | "open" | "half-open" | "forced-open" | "forced-closed"

export type Kind =
  | "success"
  | "failure"
  | "timeout"
  | "rejected"
  | "shortCircuited"
  | "fallbackSuccess"
  | "fallbackFailure"

export type EventKind =
  | "success"
  | "failure"
  | "timeout"
  | "rejected"
  | "short-circuited"
  | "interrupted"
  | "ignored"
  | "fallback-success"
  | "fallback-failure"
  | "fallback-rejected"
  | "queued"
  | "queue-timeout"

export type Sleep =
  | { readonly _tag: "Fixed"; readonly millis: number }
  /** `Schedule.exponential(base)`: the n-th opening lasts base·2^(n−1). */
  | { readonly _tag: "Exponential"; readonly base: number }

export interface ModelConfig {
  /** `undefined`: no timeout. */
  readonly timeout: number | undefined
  /** `Infinity`: no limit. */
  readonly max: number
  readonly volume: number
  readonly percent: number
  readonly sleep: Sleep
  readonly buckets: number
  readonly bucketMillis: number
  /** `Infinity`: off. */
  readonly consecutive: number
  /** `Infinity`: off. */
  readonly slowMillis: number
  readonly slowPercent: number
  /** `undefined`: the time window. */
  readonly windowCalls: number | undefined
  readonly probes: number
  readonly backoffReset: "close" | "stable"
  /** `Infinity`: no fallback limit. */
  readonly maxFallbacks: number
  /** 0: no wait queue. */
  readonly queueCapacity: number
  /** Milliseconds (`Infinity`: a waiter waits as long as it takes). */
  readonly maxQueueWait: number
}

/** A change of settings, field by field (absent: unchanged). */
export interface ModelPatch {
  readonly timeout?: number | undefined | "off"
  readonly max?: number
  readonly volume?: number
  readonly percent?: number
  readonly sleep?: Sleep
  readonly buckets?: number
  readonly bucketMillis?: number
  readonly consecutive?: number
  readonly slowMillis?: number
  readonly slowPercent?: number
  /** A count window of that many requests (`buckets`/`bucketMillis` given: a time window). */
  readonly windowCalls?: number
  readonly probes?: number
  readonly backoffReset?: "close" | "stable"
  readonly maxFallbacks?: number
  readonly queueCapacity?: number
  readonly maxQueueWait?: number
}

/** A fallback running: its caller is answered when it ends. */
export interface RunningFallback {
  readonly id: number
  readonly kind: "ok" | "fail"
  /** The call's start (events' durations count from it). */
  readonly start: number
  readonly end: number
  /** It took a permit (the limit was on when it started). */
  readonly counted: boolean
}

/** What a caller must get. */
export type Expected =
  | { readonly _tag: "Success"; readonly value: "ok" | "fallback" }
  | { readonly _tag: "Open"; readonly state: "open" | "half-open" | "forced-open"; readonly retryAfter: number }
  | {
    readonly _tag: "Rejected"
    readonly max: number
    /** With a queue: the reason, and the capacity (full) or the wait (timeout). */
    readonly reason?: "queue-full" | "queue-timeout"
    readonly capacity?: number
    readonly waited?: number
  }
  | { readonly _tag: "Timeout"; readonly timeout: number }
  | { readonly _tag: "Boom" }
  | { readonly _tag: "Ignorable" }
  | { readonly _tag: "Defect" }
  | { readonly _tag: "FallbackFailed" }
  | { readonly _tag: "FallbackRejected"; readonly max: number }
  | { readonly _tag: "Interrupted" }
  /** A two-step admission that gave a permit. */
  | { readonly _tag: "Permit" }

export interface ExpectedEvent {
  readonly kind: EventKind
  readonly at: number
  readonly durationMillis: number
}

export interface ExpectedTransition {
  readonly from: StateName
  readonly to: StateName
  readonly at: number
}

export interface Summary {
  readonly success: number
  readonly failure: number
  readonly timeout: number
  readonly rejected: number
  readonly shortCircuited: number
  readonly fallbackSuccess: number
  readonly fallbackFailure: number
  readonly total: number
  readonly errors: number
  readonly errorPercentage: number
}

type State =
  | { readonly name: "closed" }
  | { readonly name: "open"; readonly openedAt: number }
  | {
    readonly name: "half-open"
    /** When the opening this round probes began. */
    readonly openedAt: number
    /** Probes running. */
    readonly running: number
    /** Probes of this round that succeeded. */
    readonly succeeded: number
  }
  | { readonly name: "forced-open" }
  | { readonly name: "forced-closed" }

/** One call whose caller has not got its answer yet, or whose effect still runs. */
export interface ModelCall {
  readonly id: number
  readonly behaviour: Behaviour
  readonly fallback: FallbackKind
  readonly start: number
  /** When the effect ends on its own (`Infinity`: never). */
  readonly end: number
  /** When the caller is answered with a timeout (`Infinity`: no timeout). */
  readonly deadline: number
  readonly timeout: number | undefined
  /** The Retry-After its typed failure carries (a "fail" only). */
  readonly retryAfter: number | undefined
  /** The epoch it was admitted in. */
  readonly epoch: number
  /** The caller has not been answered. */
  callerWaiting: boolean
  /** The effect still runs (it holds a permit). */
  effectRunning: boolean
  /** The caller was interrupted and waits for the effect to end. */
  interrupted: boolean
}

/** A call waiting in the queue for a permit. */
export interface ModelWaiter {
  readonly id: number
  /** The behaviour the driver was given (the model's own may differ, see `call`). */
  readonly given: Behaviour
  readonly duration: number
  readonly fallback: FallbackKind
  readonly retryAfter: number | undefined
  readonly queuedAt: number
  /** When its wait runs out (`Infinity`: never). */
  readonly expires: number
  /** The epoch it queued in (its expiry is a rejection of that epoch). */
  readonly epoch: number
  /** A two-step admission (handed a permit, it gets a `ModelPermit`, not a run). */
  readonly permit: boolean
}

/**
 * What the driver's work and fallback do, read when they start: a waiter's
 * are decided when it is handed a permit (see `planHandOff`).
 */
export interface Plan {
  behaviour: Behaviour
  duration: number
  fallbackMillis: number
}

/**
 * Whether a two-step admission waits in the wait queue like a `withCircuit`
 * call (docs/two-step.md, "With a wait queue", since 230c1ea), or is
 * rejected at once while every permit is in use or anyone waits (before).
 * The one place the model keeps that rule.
 */
export const TWO_STEP_WAITS: boolean = true

/** A two-step call's permit (`Circuit.admit`, `circuits.admit`). */
export interface ModelPermit {
  readonly id: number
  /** When it was admitted (its outcome's duration counts from it). */
  readonly start: number
  /** When `timeout` is recorded if nothing was by then (`Infinity`: no timeout). */
  readonly deadline: number
  readonly epoch: number
  /** Its one outcome is recorded. */
  recorded: boolean
  /** It holds a concurrency permit. */
  held: boolean
  /** Its scope is open (Effect), it was neither disposed nor aborted (Promise). */
  open: boolean
}

/** What a permit's report, or its scope's close, records if it decides the outcome. */
export type PermitOutcome = "success" | "failure" | "ignored" | "interrupted"

/** What admission decides: a call may run, as the probe, or is short-circuited with that error. */
type Admission = "allow" | "probe" | Expected

interface Entry {
  readonly at: number
  readonly kind: Kind
  readonly slow?: boolean
}

export interface Finished {
  readonly id: number
  readonly expected: Expected
  readonly at: number
}

/**
 * How often the runs reached what only issue 12's controls decide, for the
 * report: a count window tripping, a round of several probes closing, a
 * Retry-After lengthening an opening, a stable backoff continuing the count.
 */
export const controlCoverage: Record<string, number> = {}

const note = (key: string): void => {
  controlCoverage[key] = (controlCoverage[key] ?? 0) + 1
}

export const sleepMillis = (sleep: Sleep, opening: number): number =>
  sleep._tag === "Fixed" ? sleep.millis : sleep.base * 2 ** (Math.max(1, opening) - 1)

export class Model {
  now: number
  config: ModelConfig
  state: State = { name: "closed" }
  /** Bumped at every state change. */
  epoch = 0
  /** Consecutive openings (since the last close, or the last unstable opening). */
  openings = 0
  /** The Retry-After of the failure that opened the circuit. */
  openRetryAfter: number | undefined = undefined
  /** With `backoffReset: "stable"`: when the circuit last closed, and how long it had been open. */
  lastClose: { readonly at: number; readonly openFor: number } | undefined = undefined
  /** Errors in a row since the last success or since the window was emptied. */
  streak = 0
  /** Permits in use. */
  active = 0
  /** Outcomes since the window was last emptied, oldest first (old ones pruned). */
  entries: Array<Entry> = []
  /** Calls not yet settled, by id. */
  readonly calls = new Map<number, ModelCall>()
  /** Fallbacks running, by call id. */
  readonly fallbacks = new Map<number, RunningFallback>()
  /** Fallback permits in use. */
  fallbacksActive = 0
  /** How long each call's fallback lasts (0: it ends when it starts). */
  private readonly fallbackMillis = new Map<number, number>()
  /** Calls waiting for a permit, oldest first. */
  queue: Array<ModelWaiter> = []
  /** What each call's work and fallback do (read by the driver when they start). */
  readonly plans = new Map<number, Plan>()
  /**
   * Something is now scheduled at an instant something else is (a waiting
   * two-step admission's deadline, which nothing can move): the order of the
   * two is not specified, so the run compares nothing more.
   */
  ambiguous = false
  /** Two-step permits, in admission order (kept after their outcome, for late reports). */
  permits: Array<ModelPermit> = []
  /** A hand-off is running (a call that ends at once within it does not start another). */
  private handingOff = false
  nextId = 0

  // What happened since the last `drain`.
  finished: Array<Finished> = []
  events: Array<ExpectedEvent> = []
  transitions: Array<ExpectedTransition> = []

  /**
   * The shell under test. The Promise shell (`CircuitPromise.fire`) differs
   * in two documented ways: a Promise has no defects (a throw or a rejection
   * is a failure, so "die" is "fail"), and a caller's abort answers the
   * caller at once, even when the work ignores its signal ("stubborn"),
   * whose permit then comes back when it ends.
   */
  readonly shell: "effect" | "promise"

  constructor(config: ModelConfig, now: number, shell: "effect" | "promise" = "effect") {
    this.config = config
    this.now = now
    this.shell = shell
  }

  // ---------------------------------------------------------------------------
  // window
  // ---------------------------------------------------------------------------

  private inWindow(entryAt: number, now: number): boolean {
    const d = this.config.bucketMillis
    return Math.floor(entryAt / d) > Math.floor(now / d) - this.config.buckets
  }

  /** With a count window: the index of the oldest entry in it. */
  private countStart(): number {
    const n = this.config.windowCalls!
    let seen = 0
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const kind = this.entries[i]!.kind
      if ((kind === "success" || kind === "failure" || kind === "timeout" || kind === "rejected") && ++seen === n) {
        return i
      }
    }
    return 0
  }

  private prune(): void {
    let drop = 0
    if (this.config.windowCalls !== undefined) drop = this.countStart()
    else while (drop < this.entries.length && !this.inWindow(this.entries[drop]!.at, this.now)) drop++
    if (drop > 0) this.entries.splice(0, drop)
  }

  /** The entries in the window at `now`. */
  private windowAt(now: number): ReadonlyArray<Entry> {
    if (this.config.windowCalls !== undefined) return this.entries.slice(this.countStart())
    return this.entries.filter((e) => e.at <= now && this.inWindow(e.at, now))
  }

  summaryAt(now: number): Summary {
    let success = 0
    let failure = 0
    let timeout = 0
    let rejected = 0
    let shortCircuited = 0
    let fallbackSuccess = 0
    let fallbackFailure = 0
    for (const e of this.windowAt(now)) {
      switch (e.kind) {
        case "success":
          success++
          break
        case "failure":
          failure++
          break
        case "timeout":
          timeout++
          break
        case "rejected":
          rejected++
          break
        case "shortCircuited":
          shortCircuited++
          break
        case "fallbackSuccess":
          fallbackSuccess++
          break
        case "fallbackFailure":
          fallbackFailure++
          break
      }
    }
    const total = success + failure + timeout + rejected
    const errors = failure + timeout + rejected
    return {
      success,
      failure,
      timeout,
      rejected,
      shortCircuited,
      fallbackSuccess,
      fallbackFailure,
      total,
      errors,
      errorPercentage: total === 0 ? 0 : (errors * 100) / total
    }
  }

  get stateName(): StateName {
    return this.state.name
  }

  // ---------------------------------------------------------------------------
  // state machine
  // ---------------------------------------------------------------------------

  private setState(next: State, at: number): void {
    this.transitions.push({ from: this.state.name, to: next.name, at })
    this.state = next
    this.epoch++
  }

  private trip(at: number, retryAfter: number | undefined): void {
    const fromClosed = this.state.name === "closed"
    // With the stable backoff, an opening soon after a close continues the count.
    const survives = this.config.backoffReset === "stable" && this.lastClose !== undefined &&
      at - this.lastClose.at < this.lastClose.openFor
    this.openings = fromClosed && !survives ? 1 : this.openings + 1
    this.openRetryAfter = retryAfter
    if (fromClosed && survives) note("stable backoff continued the count")
    if (fromClosed && this.config.windowCalls !== undefined) note("count window opened")
    if (fromClosed && this.config.consecutive !== Infinity && this.streak >= this.config.consecutive) {
      note("consecutive failures opened")
    }
    if (retryAfter !== undefined && retryAfter > sleepMillis(this.config.sleep, this.openings)) {
      note("Retry-After lengthened an opening")
    }
    if (this.config.sleep._tag === "Exponential" && this.openings > 1) note("exponential sleep beyond the first")
    this.setState({ name: "open", openedAt: at }, at)
  }

  currentSleep(): number {
    return Math.max(sleepMillis(this.config.sleep, this.openings), this.openRetryAfter ?? 0)
  }

  private count(kind: Kind, at: number, slow = false): void {
    this.entries.push(slow ? { at, kind, slow } : { at, kind })
    // A count window is bounded by the count, not by time.
    if (this.config.windowCalls !== undefined) this.prune()
  }

  private slowAt(now: number): number {
    let n = 0
    for (const e of this.windowAt(now)) if (e.slow === true) n++
    return n
  }

  private halfOpen(openedAt: number, running: number, succeeded: number): State {
    return { name: "half-open", openedAt, running, succeeded }
  }

  /** Half-open with every probe slot taken (running or already succeeded). */
  private probesFull(): boolean {
    return this.state.name === "half-open" && this.state.running + this.state.succeeded >= this.config.probes
  }

  private emptyWindow(): void {
    this.entries = []
    this.streak = 0
  }

  private outcome(
    kind: "success" | "failure" | "timeout" | "rejected" | "interrupted" | "ignored",
    at: number,
    epoch: number,
    took = 0,
    retryAfter: number | undefined = undefined
  ): void {
    if (kind === "interrupted" || kind === "ignored") {
      // Not a request: only a probe of the current epoch cares (its slot is freed).
      if (epoch === this.epoch && this.state.name === "half-open" && this.state.running > 0) {
        this.state = this.halfOpen(this.state.openedAt, this.state.running - 1, this.state.succeeded)
      }
      return
    }
    const slow = kind !== "rejected" && took > this.config.slowMillis
    if (slow && kind !== "success") note("a slow error (counted in both rates)")
    this.count(kind, at, slow)
    this.streak = kind === "success" ? 0 : this.streak + 1
    if (epoch !== this.epoch) return
    switch (this.state.name) {
      case "closed": {
        const s = this.summaryAt(at)
        const volume = s.total >= this.config.volume
        const byErrors = volume && s.errors * 100 >= this.config.percent * s.total
        const bySlow = volume && this.config.slowMillis !== Infinity &&
          this.slowAt(at) * 100 >= this.config.slowPercent * s.total
        const byStreak = this.streak >= this.config.consecutive
        if (bySlow && !byErrors && !byStreak) note("slow calls alone opened")
        if (byErrors && !byStreak && this.config.consecutive !== Infinity) note("percentage before consecutive opened")
        if (byStreak && !byErrors && !bySlow && this.config.percent < 100) note("consecutive before percentage opened")
        if (byErrors || bySlow || byStreak) this.trip(at, retryAfter)
        return
      }
      case "half-open": {
        const { openedAt, running, succeeded } = this.state
        if (running === 0) return
        if (kind !== "success") {
          this.trip(at, retryAfter)
        } else if (succeeded + 1 < this.config.probes) {
          note("a probe succeeded, more to go")
          this.state = this.halfOpen(openedAt, running - 1, succeeded + 1)
        } else {
          if (this.config.probes > 1) note("several probes closed")
          const stable = this.config.backoffReset === "stable"
          this.emptyWindow()
          if (!stable) this.openings = 0
          this.lastClose = stable ? { at, openFor: at - openedAt } : undefined
          this.setState({ name: "closed" }, at)
        }
        return
      }
      default:
        return
    }
  }

  private emit(kind: EventKind, at: number, durationMillis: number): void {
    this.events.push({ kind, at, durationMillis })
  }

  private finish(id: number, expected: Expected, at: number): void {
    this.finished.push({ id, expected, at })
  }

  /** The circuit's own error, or what the fallback makes of it. */
  private answerWithError(id: number, fallback: FallbackKind, error: Expected, at: number, start: number): void {
    if (fallback === "none") {
      this.finish(id, error, at)
      return
    }
    const millis = this.fallbackMillis.get(id) ?? 0
    this.fallbackMillis.delete(id)
    if (this.fallbacksActive >= this.config.maxFallbacks) {
      note(millis > 0 ? "fallback rejected (one that lasts)" : "fallback rejected (one at once)")
      this.emit("fallback-rejected", at, at - start)
      this.finish(id, { _tag: "FallbackRejected", max: this.config.maxFallbacks }, at)
      return
    }
    if (millis > 0) {
      const counted = this.config.maxFallbacks !== Infinity
      if (counted) this.fallbacksActive++
      this.fallbacks.set(id, { id, kind: fallback, start, end: at + millis, counted })
      return
    }
    this.fallbackEnded(id, fallback, at, start)
  }

  private fallbackEnded(id: number, fallback: "ok" | "fail", at: number, start: number): void {
    switch (fallback) {
      case "ok":
        this.count("fallbackSuccess", at)
        this.emit("fallback-success", at, at - start)
        this.finish(id, { _tag: "Success", value: "fallback" }, at)
        return
      case "fail":
        this.count("fallbackFailure", at)
        this.emit("fallback-failure", at, at - start)
        this.finish(id, { _tag: "FallbackFailed" }, at)
        return
    }
  }

  // ---------------------------------------------------------------------------
  // commands
  // ---------------------------------------------------------------------------

  /**
   * Every instant at which something is already scheduled: a call's end or
   * deadline, the end of an effect that runs on past it (a permit comes back
   * then), a fallback's end (still to come included), a wait running out (and
   * the end of the fallback that would answer it). The order of two things
   * in one millisecond is not specified, so the driver keeps new instants off
   * these.
   */
  busyInstants(): Set<number> {
    const out = this.fallbackEnds()
    for (const c of this.calls.values()) {
      if (c.callerWaiting && !c.interrupted) {
        const first = Math.min(c.end, c.deadline)
        if (Number.isFinite(first)) out.add(first)
      }
      if (c.effectRunning && c.behaviour === "stubborn") out.add(c.end)
    }
    for (const p of this.permits) if (!p.recorded && Number.isFinite(p.deadline)) out.add(p.deadline)
    for (const w of this.queue) {
      if (!Number.isFinite(w.expires)) continue
      out.add(w.expires)
      const millis = this.fallbackMillis.get(w.id)
      if (millis !== undefined) out.add(w.expires + millis)
    }
    return out
  }

  /**
   * Would work of `behaviour` and `duration` started now do something at an
   * instant something else is already scheduled? Says what to change: the
   * duration (+2 keeps it odd, so it never equals an even timeout), the
   * deadline (start later, or end before it), or the fallback's duration.
   */
  private clash(
    behaviour: Behaviour,
    duration: number,
    fallbackMillis: number,
    reserve?: number
  ): "none" | "duration" | "deadline" | "fallback" {
    const timeout = this.config.timeout
    const end = behaviour === "hang" ? Infinity : this.now + duration
    const deadline = timeout === undefined ? Infinity : this.now + timeout
    const taken = this.busyInstants()
    if (reserve !== undefined) taken.add(this.now + reserve)
    // When the call's outcome is recorded (and its fallback, if any, starts).
    let outcomeAt: number | undefined
    if (duration === 0 && behaviour !== "hang") outcomeAt = undefined
    else if (end < deadline) {
      if (taken.has(end)) return "duration"
      outcomeAt = end
    } else if (Number.isFinite(deadline)) {
      if (taken.has(deadline)) return "deadline"
      // A stubborn effect runs on past its deadline, and its end gives the permit back.
      if (behaviour === "stubborn" && taken.has(end)) return "duration"
      outcomeAt = deadline
    }
    if (fallbackMillis > 0) {
      // The fallback starts now (short-circuited or rejected) or at the call's outcome.
      for (const start of outcomeAt === undefined ? [this.now] : [this.now, outcomeAt]) {
        const fallbackEnd = start + fallbackMillis
        if (taken.has(fallbackEnd) || fallbackEnd === outcomeAt || fallbackEnd === end) return "fallback"
      }
    }
    return "none"
  }

  /**
   * Would a call of `behaviour` and `duration` arriving now do something at an
   * instant something else is already scheduled? Returns what to change: the
   * duration, the start (advance the clock by 1 ms) or the fallback's
   * duration. A call that would wait only schedules its wait's end now.
   */
  collision(behaviour: Behaviour, duration: number, fallbackMillis = 0): "none" | "duration" | "start" | "fallback" {
    const fate = this.fate()
    if (fate === "runs") {
      const clash = this.clash(behaviour, duration, fallbackMillis)
      return clash === "deadline" ? "start" : clash
    }
    const taken = this.busyInstants()
    if (fate === "refused") return fallbackMillis > 0 && taken.has(this.now + fallbackMillis) ? "fallback" : "none"
    const expires = this.now + this.config.maxQueueWait
    if (!Number.isFinite(expires)) return "none"
    if (taken.has(expires)) return "start"
    return fallbackMillis > 0 && taken.has(expires + fallbackMillis) ? "fallback" : "none"
  }

  /**
   * Admission at `now` (the circuit check): applies what a probe's admission
   * changes, and says whether the call may run, as a probe, or is
   * short-circuited (with its error).
   */
  private admission(): Admission {
    const now = this.now
    switch (this.state.name) {
      case "closed":
      case "forced-closed":
        return "allow"
      case "open": {
        const { openedAt } = this.state
        if (now - openedAt < this.currentSleep()) {
          return { _tag: "Open", state: "open", retryAfter: openedAt + this.currentSleep() - now }
        }
        this.setState(this.halfOpen(openedAt, 1, 0), now)
        return "probe"
      }
      case "half-open": {
        if (this.probesFull()) {
          if (this.config.probes > 1) note("short-circuited with several probe slots taken")
          return { _tag: "Open", state: "half-open", retryAfter: 0 }
        }
        const { openedAt, running, succeeded } = this.state
        // A new round (every earlier probe interrupted or ignored) is a new epoch.
        if (running === 0 && succeeded === 0) this.setState(this.halfOpen(openedAt, 1, 0), now)
        else {
          note("a further probe admitted")
          this.state = this.halfOpen(openedAt, running + 1, succeeded)
        }
        return "probe"
      }
      case "forced-open":
        return { _tag: "Open", state: "forced-open", retryAfter: Infinity }
    }
  }

  /** What a call arriving now would come to, without changing anything. */
  fate(canWait = true): "refused" | "queued" | "runs" {
    let admission: "allow" | "probe" = "allow"
    switch (this.state.name) {
      case "open":
        if (this.now - this.state.openedAt < this.currentSleep()) return "refused"
        admission = "probe"
        break
      case "half-open":
        if (this.probesFull()) return "refused"
        admission = "probe"
        break
      case "forced-open":
        return "refused"
      default:
        break
    }
    if (this.queue.length > 0 || this.active >= this.config.max) {
      return canWait && admission === "allow" && this.queue.length < this.config.queueCapacity ? "queued" : "refused"
    }
    return "runs"
  }

  /** The rejection of a call that finds no permit (and no room to wait, with a queue). */
  private rejection(): Expected {
    const capacity = this.config.queueCapacity
    return capacity === 0
      ? { _tag: "Rejected", max: this.config.max }
      : { _tag: "Rejected", max: this.config.max, reason: "queue-full", capacity }
  }

  /** A new call at `now`. Returns its id. */
  call(given: Behaviour, duration: number, fallback: FallbackKind, retryAfter?: number, fallbackMillis = 0): number {
    const id = this.nextId++
    const millis = fallback === "none" ? 0 : fallbackMillis
    this.plans.set(id, { behaviour: given, duration, fallbackMillis: millis })
    if (millis > 0) this.fallbackMillis.set(id, millis)
    const now = this.now
    const admission = this.admission()
    if (typeof admission === "object") {
      this.shortCircuit(id, fallback, admission, now)
      return id
    }
    if (this.queue.length > 0 || this.active >= this.config.max) {
      if (admission === "allow" && this.queue.length < this.config.queueCapacity) {
        note(this.active < this.config.max ? "queued behind waiters with a permit free" : "queued")
        this.queue.push({
          id,
          given,
          duration,
          fallback,
          retryAfter: given === "fail" ? retryAfter : undefined,
          queuedAt: now,
          expires: now + this.config.maxQueueWait,
          epoch: this.epoch,
          permit: false
        })
        this.emit("queued", now, 0)
        return id
      }
      if (this.config.queueCapacity > 0) note(admission === "probe" ? "a probe rejected, not queued" : "queue full")
      this.outcome("rejected", now, this.epoch)
      this.emit("rejected", now, 0)
      this.answerWithError(id, fallback, this.rejection(), now, now)
      return id
    }
    this.start(id, given, duration, fallback, retryAfter)
    return id
  }

  /** Call `id` takes a permit and starts its work now. */
  private start(id: number, given: Behaviour, duration: number, fallback: FallbackKind, retryAfter: number | undefined): void {
    const behaviour: Behaviour = this.shell === "promise" && given === "die" ? "fail" : given
    const now = this.now
    this.active++
    const timeout = this.config.timeout
    const c: ModelCall = {
      id,
      behaviour,
      fallback,
      start: now,
      end: behaviour === "hang" ? Infinity : now + duration,
      deadline: timeout === undefined ? Infinity : now + timeout,
      timeout,
      retryAfter: given === "fail" ? retryAfter : undefined,
      epoch: this.epoch,
      callerWaiting: true,
      effectRunning: true,
      interrupted: false
    }
    this.calls.set(id, c)
    // An effect that ends at once ends within the call.
    if (c.end === now) this.step(c)
  }

  /** A permit comes back: to the first waiters, if any. */
  private release(): void {
    this.active--
    this.handOff()
  }

  /**
   * Hands free permits to the oldest waiters, each asked to the circuit again
   * now. A waiter's work that ends at once is recorded before the next waiter
   * is asked (its own permit then goes round this same loop).
   */
  private handOff(): void {
    if (this.handingOff) return
    this.handingOff = true
    try {
      while (this.queue.length > 0 && this.active < this.config.max) {
        const w = this.queue.shift()!
        const admission = this.admission()
        if (typeof admission === "object") {
          note("short-circuited at the hand-off")
          this.fallbackFromNow(w.id)
          this.shortCircuit(w.id, w.fallback, admission, w.queuedAt)
          continue
        }
        if (w.permit) {
          note(admission === "probe" ? "a waiting two-step admission admitted as the probe" : "a waiting two-step admission handed a permit")
          const timeout = this.config.timeout
          // Its deadline cannot be moved off an instant already taken: the
          // order of the two is not specified, so the run stops comparing.
          if (timeout !== undefined && this.busyInstants().has(this.now + timeout)) {
            note("a handed permit's deadline clashed: the run stops there")
            this.ambiguous = true
          }
          this.startPermit(w.id)
          this.finish(w.id, { _tag: "Permit" }, this.now)
          continue
        }
        note(admission === "probe" ? "a waiter admitted as the probe" : "a waiter handed a permit")
        const plan = this.planHandOff(w)
        if (plan.duration === 0 && plan.behaviour !== "hang") note("a waiter's work ended at once")
        this.start(w.id, plan.behaviour, plan.duration, w.fallback, w.retryAfter)
      }
    } finally {
      this.handingOff = false
    }
  }

  /** A waiter refused now: its fallback, starting now, ends at an instant nothing else is scheduled. */
  private fallbackFromNow(id: number): void {
    const plan = this.plans.get(id)
    // A two-step admission has no fallback.
    if (plan === undefined || plan.fallbackMillis === 0) return
    const taken = this.busyInstants()
    while (taken.has(this.now + plan.fallbackMillis)) plan.fallbackMillis += 2
    this.fallbackMillis.set(id, plan.fallbackMillis)
  }

  /**
   * Decides, now, the duration of the work (and fallback) of a waiter handed
   * a permit, so that none of its instants is one at which something else is
   * already scheduled (the order of two things in one millisecond is not
   * specified): its duration grows by 2 (staying odd); a deadline that would
   * clash is avoided by ending before it (a hanging work then succeeds).
   */
  private planHandOff(w: ModelWaiter): Plan {
    const plan = this.plans.get(w.id)!
    for (let i = 0;; i++) {
      if (i > 10_000) throw new Error(`no free instant for the waiter #${w.id}`)
      // A two-step admission handed a permit in this same hand-off gets a
      // deadline now + timeout, which nothing can move: keep the call off it.
      const reserve = this.queue.some((q) => q.permit) ? this.config.timeout : undefined
      const clash = this.clash(plan.behaviour, plan.duration, plan.fallbackMillis, reserve)
      if (clash === "none") break
      if (clash === "duration") plan.duration += 2
      else if (clash === "fallback") plan.fallbackMillis += 2
      else {
        note("a waiter's deadline clashed: it ends before it")
        if (plan.behaviour === "hang") plan.behaviour = "succeed"
        plan.duration = 1
      }
    }
    if (plan.fallbackMillis > 0) this.fallbackMillis.set(w.id, plan.fallbackMillis)
    return plan
  }

  /** `start`: when the call began (its fallback's duration counts from it). */
  private shortCircuit(id: number, fallback: FallbackKind, error: Expected, start: number): void {
    this.count("shortCircuited", this.now)
    this.emit("short-circuited", this.now, 0)
    this.answerWithError(id, fallback, error, this.now, start)
  }

  /** When call `c` next does something by itself. */
  private nextInstant(c: ModelCall): number {
    if (c.callerWaiting && !c.interrupted) return Math.min(c.end, c.deadline)
    return c.effectRunning ? c.end : Infinity
  }

  /** Call `c` does what is due at `this.now`. */
  private step(c: ModelCall): void {
    const at = this.now
    if (c.callerWaiting && !c.interrupted) {
      if (c.end <= c.deadline) {
        // The effect ended on its own before the deadline: its permit comes
        // back (to a waiter, if any) just before its outcome is recorded.
        c.effectRunning = false
        c.callerWaiting = false
        this.calls.delete(c.id)
        this.release()
        const took = at - c.start
        switch (c.behaviour) {
          case "succeed":
          case "stubborn":
            this.outcome("success", at, c.epoch, took)
            this.emit("success", at, took)
            this.finish(c.id, { _tag: "Success", value: "ok" }, at)
            return
          case "fail":
            this.outcome("failure", at, c.epoch, took, c.retryAfter)
            this.emit("failure", at, took)
            this.answerWithError(c.id, c.fallback, { _tag: "Boom" }, at, c.start)
            return
          case "die":
            // A defect counts as a failure; the fallback is only for errors.
            this.outcome("failure", at, c.epoch, took)
            this.emit("failure", at, took)
            this.finish(c.id, { _tag: "Defect" }, at)
            return
          case "ignored":
            this.outcome("ignored", at, c.epoch)
            this.emit("ignored", at, took)
            this.finish(c.id, { _tag: "Ignorable" }, at)
            return
          case "hang":
            throw new Error("a hanging effect cannot end")
        }
      }
      // The deadline: the caller is answered now; the effect is interrupted
      // and keeps its permit until it has ended. In withCircuit an effect
      // that can be interrupted ends there and then, before the timeout is
      // recorded; a Promise's work settles after its abort.
      c.callerWaiting = false
      const ends = c.behaviour !== "stubborn"
      if (ends) {
        c.effectRunning = false
        this.calls.delete(c.id)
        if (this.shell === "effect") this.release()
      }
      this.outcome("timeout", at, c.epoch, at - c.start)
      this.emit("timeout", at, at - c.start)
      this.answerWithError(c.id, c.fallback, { _tag: "Timeout", timeout: c.timeout! }, at, c.start)
      if (ends && this.shell === "promise") this.release()
      return
    }
    if (c.callerWaiting && c.interrupted) {
      // The interrupted caller was waiting for its stubborn effect to end.
      c.effectRunning = false
      c.callerWaiting = false
      this.calls.delete(c.id)
      this.release()
      this.outcome("interrupted", at, c.epoch)
      this.emit("interrupted", at, at - c.start)
      this.finish(c.id, { _tag: "Interrupted" }, at)
      return
    }
    // A timed-out stubborn effect ends: its permit comes back.
    c.effectRunning = false
    this.calls.delete(c.id)
    this.release()
  }

  /** The earliest instant something is due, if any. */
  nextDue(): number | undefined {
    let best = Infinity
    for (const c of this.calls.values()) best = Math.min(best, this.nextInstant(c))
    for (const f of this.fallbacks.values()) best = Math.min(best, f.end)
    for (const w of this.queue) best = Math.min(best, w.expires)
    for (const p of this.permits) if (!p.recorded) best = Math.min(best, p.deadline)
    return Number.isFinite(best) ? best : undefined
  }

  /** When fallbacks running end: the instants at which a fallback permit comes back. */
  fallbackEnds(): Set<number> {
    const out = new Set<number>()
    for (const f of this.fallbacks.values()) out.add(f.end)
    // And those still to come: a call in flight whose fallback lasts starts it
    // when the call ends (seed -856317557: a fallback that would end at a later
    // call's deadline, where the order of the two is not specified).
    for (const c of this.calls.values()) {
      const millis = this.fallbackMillis.get(c.id)
      if (millis === undefined || !c.callerWaiting || c.interrupted) continue
      const start = Math.min(c.end, c.deadline)
      if (Number.isFinite(start)) out.add(start + millis)
    }
    return out
  }

  /** A fallback ends: its permit comes back, its event is recorded, its caller answered. */
  private endFallback(f: RunningFallback): void {
    this.fallbacks.delete(f.id)
    if (f.counted) this.fallbacksActive--
    this.fallbackEnded(f.id, f.kind, f.end, f.start)
  }

  /** Moves the clock to `to`, doing everything due on the way, in time order (ties: admission order). */
  advanceTo(to: number): void {
    for (;;) {
      let best: ModelCall | undefined
      let bestAt = Infinity
      for (const c of this.calls.values()) {
        const at = this.nextInstant(c)
        if (at < bestAt || (at === bestAt && best !== undefined && c.id < best.id)) {
          best = c
          bestAt = at
        }
      }
      let fallback: RunningFallback | undefined
      for (const f of this.fallbacks.values()) {
        if (f.end < bestAt || (f.end === bestAt && fallback !== undefined && f.id < fallback.id)) {
          fallback = f
          bestAt = f.end
        }
      }
      let waiter: ModelWaiter | undefined
      for (const w of this.queue) {
        if (w.expires < bestAt) {
          waiter = w
          bestAt = w.expires
        }
      }
      let permit: ModelPermit | undefined
      for (const p of this.permits) {
        if (!p.recorded && p.deadline < bestAt) {
          permit = p
          bestAt = p.deadline
        }
      }
      if (bestAt > to) break
      this.now = bestAt
      if (permit !== undefined && permit.deadline === bestAt) this.expirePermit(permit)
      else if (waiter !== undefined && waiter.expires === bestAt) this.expire(waiter)
      else if (fallback !== undefined && fallback.end === bestAt) this.endFallback(fallback)
      else if (best !== undefined) this.step(best)
      else break
    }
    this.now = to
    this.prune()
  }

  // ---------------------------------------------------------------------------
  // two-step calls
  // ---------------------------------------------------------------------------

  /** Would a two-step admission now schedule its deadline at a taken instant? (Then the driver starts it 1 ms later.) */
  admitCollision(): boolean {
    const fate = this.fate(TWO_STEP_WAITS)
    if (fate === "refused") return false
    const at = fate === "runs" ? this.now + (this.config.timeout ?? Infinity) : this.now + this.config.maxQueueWait
    return Number.isFinite(at) && this.busyInstants().has(at)
  }

  /**
   * A two-step admission now (`Circuit.admit`, `circuits.admit`): answered
   * with a permit or the circuit's refusal, at once or (`TWO_STEP_WAITS`)
   * once it has waited in the queue. Returns the call's id.
   */
  admitPermit(): number {
    const id = this.nextId++
    const now = this.now
    const admission = this.admission()
    if (typeof admission === "object") {
      this.count("shortCircuited", now)
      this.emit("short-circuited", now, 0)
      this.finish(id, admission, now)
      return id
    }
    if (this.queue.length > 0 || this.active >= this.config.max) {
      if (TWO_STEP_WAITS && admission === "allow" && this.queue.length < this.config.queueCapacity) {
        note("a two-step admission queued")
        this.queue.push({
          id,
          given: "hang",
          duration: 0,
          fallback: "none",
          retryAfter: undefined,
          queuedAt: now,
          expires: now + this.config.maxQueueWait,
          epoch: this.epoch,
          permit: true
        })
        this.emit("queued", now, 0)
        return id
      }
      note(this.queue.length > 0 ? "a two-step admission rejected while calls wait" : "a two-step admission rejected")
      this.outcome("rejected", now, this.epoch)
      this.emit("rejected", now, 0)
      this.finish(id, this.rejection(), now)
      return id
    }
    if (admission === "probe") note("a permit admitted as the probe")
    this.startPermit(id)
    this.finish(id, { _tag: "Permit" }, now)
    return id
  }

  private startPermit(id: number): void {
    const now = this.now
    const timeout = this.config.timeout
    this.active++
    this.permits.push({
      id,
      start: now,
      deadline: timeout === undefined ? Infinity : now + timeout,
      epoch: this.epoch,
      recorded: false,
      held: true,
      open: true
    })
  }

  /**
   * A report of permit `p` now. Gives the concurrency permit back if still
   * held (to a waiter, if any), then records `outcome` if nothing was
   * recorded yet. Returns whether it decided the outcome.
   */
  reportPermit(p: ModelPermit, outcome: PermitOutcome, retryAfter?: number): boolean {
    const now = this.now
    if (p.held) {
      if (p.recorded) note("a permit held past its timeout given back by a report or close")
      p.held = false
      this.release()
    }
    if (p.recorded) {
      note("a report after the outcome was decided")
      return false
    }
    p.recorded = true
    const took = now - p.start
    this.outcome(outcome, now, p.epoch, took, outcome === "failure" ? retryAfter : undefined)
    this.emit(outcome, now, took)
    return true
  }

  /** Permit `p`'s scope closes (Effect), or it is disposed or its caller aborts (Promise). */
  closePermit(p: ModelPermit, outcome: PermitOutcome, retryAfter?: number): void {
    p.open = false
    if (!p.recorded) note(`a permit closed unreported: ${outcome}`)
    this.reportPermit(p, outcome, retryAfter)
  }

  /** Permit `p`'s deadline: `timeout`; the Promise permit is given back then, first. */
  private expirePermit(p: ModelPermit): void {
    note("a permit timed out")
    const at = this.now
    p.recorded = true
    if (this.shell === "promise") {
      p.held = false
      this.release()
    }
    this.outcome("timeout", at, p.epoch, at - p.start)
    this.emit("timeout", at, at - p.start)
  }

  /** Concurrency permits held by two-step permits (no effect runs for them). */
  permitsHeld(): number {
    let n = 0
    for (const p of this.permits) if (p.held) n++
    return n
  }

  /** A waiter's `maxQueueWait` ran out now: a rejection of the epoch it queued in. */
  private expire(w: ModelWaiter): void {
    note("a wait ran out")
    this.queue.splice(this.queue.indexOf(w), 1)
    const at = this.now
    const waited = at - w.queuedAt
    this.outcome("rejected", at, w.epoch)
    this.emit("queue-timeout", at, waited)
    this.answerWithError(w.id, w.fallback, { _tag: "Rejected", max: this.config.max, reason: "queue-timeout", waited }, at, w.queuedAt)
  }

  /** A lower capacity: the newest waiters over it are rejected (each of its own epoch). */
  private shrink(): void {
    const capacity = this.config.queueCapacity
    while (this.queue.length > capacity) {
      note("a waiter rejected by a lower capacity")
      const w = this.queue.pop()!
      this.fallbackFromNow(w.id)
      this.outcome("rejected", this.now, w.epoch)
      this.emit("rejected", this.now, 0)
      this.answerWithError(w.id, w.fallback, { _tag: "Rejected", max: this.config.max, reason: "queue-full", capacity }, this.now, w.queuedAt)
    }
  }

  /** Callers that can still be interrupted, in arrival order (waiters, and those waiting for a fallback, included). */
  waitingCallers(): Array<ModelCall | RunningFallback | ModelWaiter> {
    const out: Array<ModelCall | RunningFallback | ModelWaiter> = []
    for (const c of this.calls.values()) if (c.callerWaiting && !c.interrupted) out.push(c)
    // The Promise shell's caller is answered by its running fallback whatever its signal does.
    if (this.shell === "effect") for (const f of this.fallbacks.values()) out.push(f)
    for (const w of this.queue) out.push(w)
    return out.sort((a, b) => a.id - b.id)
  }

  /** The caller of `c` (a waiter, a call running, or its running fallback) is interrupted now. */
  interrupt(c: ModelCall | RunningFallback | ModelWaiter): void {
    if ("expires" in c) {
      // It leaves the queue and takes nothing: not a request, no probe slot.
      note("a waiter interrupted")
      this.queue.splice(this.queue.indexOf(c), 1)
      this.emit("interrupted", this.now, 0)
      this.finish(c.id, { _tag: "Interrupted" }, this.now)
      return
    }
    if (!("behaviour" in c)) {
      // The fallback is interrupted: its permit comes back, no event.
      note("a running fallback interrupted")
      this.fallbacks.delete(c.id)
      if (c.counted) this.fallbacksActive--
      this.finish(c.id, { _tag: "Interrupted" }, this.now)
      return
    }
    if (c.behaviour === "stubborn" && this.shell === "promise") {
      // Answered now; the work runs on, holding its permit, until it ends.
      c.callerWaiting = false
      this.outcome("interrupted", this.now, c.epoch)
      this.emit("interrupted", this.now, this.now - c.start)
      this.finish(c.id, { _tag: "Interrupted" }, this.now)
      return
    }
    if (c.behaviour === "stubborn") {
      // It waits for the effect to end; the deadline no longer applies.
      c.interrupted = true
      return
    }
    // withCircuit interrupts the effect, whose end gives the permit back,
    // then records the interruption; the Promise shell records the abort, and
    // the permit comes back when the aborted work settles.
    c.effectRunning = false
    c.callerWaiting = false
    this.calls.delete(c.id)
    if (this.shell === "effect") this.release()
    this.outcome("interrupted", this.now, c.epoch)
    this.emit("interrupted", this.now, this.now - c.start)
    this.finish(c.id, { _tag: "Interrupted" }, this.now)
    if (this.shell === "promise") this.release()
  }

  configure(patch: ModelPatch): void {
    const old = this.config
    const next: ModelConfig = {
      timeout: patch.timeout === "off" ? undefined : patch.timeout ?? old.timeout,
      max: patch.max ?? old.max,
      volume: patch.volume ?? old.volume,
      percent: patch.percent ?? old.percent,
      sleep: patch.sleep ?? old.sleep,
      buckets: patch.buckets ?? old.buckets,
      bucketMillis: patch.bucketMillis ?? old.bucketMillis,
      consecutive: patch.consecutive ?? old.consecutive,
      slowMillis: patch.slowMillis ?? old.slowMillis,
      slowPercent: patch.slowPercent ?? old.slowPercent,
      windowCalls: patch.windowCalls ??
        (patch.buckets !== undefined || patch.bucketMillis !== undefined ? undefined : old.windowCalls),
      probes: patch.probes ?? old.probes,
      backoffReset: patch.backoffReset ?? old.backoffReset,
      maxFallbacks: patch.maxFallbacks ?? old.maxFallbacks,
      queueCapacity: patch.queueCapacity ?? old.queueCapacity,
      maxQueueWait: patch.maxQueueWait ?? old.maxQueueWait
    }
    this.config = next
    const sameShape = next.windowCalls === old.windowCalls &&
      (next.windowCalls !== undefined || (next.buckets === old.buckets && next.bucketMillis === old.bucketMillis))
    if (!sameShape) this.emptyWindow()
    // A new number of probes starts the round's count of successes again.
    if (this.state.name === "half-open" && next.probes !== old.probes) {
      this.state = this.halfOpen(this.state.openedAt, this.state.running, 0)
    }
    // Fewer places reject the newest waiters; a higher limit hands out permits.
    if (this.queue.length > 0) {
      this.shrink()
      this.handOff()
    }
  }

  /** What an administrative state change forgets. */
  private calm(): void {
    this.openings = 0
    this.openRetryAfter = undefined
    this.lastClose = undefined
  }

  forceOpen(): void {
    this.calm()
    this.setState({ name: "forced-open" }, this.now)
  }

  forceClosed(): void {
    this.calm()
    this.setState({ name: "forced-closed" }, this.now)
  }

  reset(): void {
    this.calm()
    this.emptyWindow()
    this.setState({ name: "closed" }, this.now)
  }

  /** The open circuit's end of sleep window, if open. */
  sleepEnd(): number | undefined {
    return this.state.name === "open" ? this.state.openedAt + this.currentSleep() : undefined
  }

  /** Hands over (and forgets) what happened since the last call. */
  drain(): { finished: Array<Finished>; events: Array<ExpectedEvent>; transitions: Array<ExpectedTransition> } {
    const out = { finished: this.finished, events: this.events, transitions: this.transitions }
    this.finished = []
    this.events = []
    this.transitions = []
    return out
  }
}

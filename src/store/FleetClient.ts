/**
 * A registry's side of the fleet protocol: a cached view of every shared
 * circuit (`FleetLink`, one per cell) and one flusher fiber (`FleetClient`)
 * that does all of the registry's talking to the store.
 *
 * **Details**
 *
 * - Admission never waits: a closed fleet circuit allows, an open one
 *   short-circuits, from the cache. When the cached sleep window has passed
 *   (in the store's time, estimated from the last answer), or a half-open
 *   circuit has a probe slot free (`halfOpenProbes`), the link asks the
 *   flusher for a probe lease and short-circuits the call; once the lease
 *   is won, the next call of this process is one of the fleet's probes. A
 *   process holds one lease at a time: the `halfOpenProbes` probes of a
 *   round run in as many processes at once, or one after another.
 * - Every outcome is counted in the link (plain numbers, no allocation) and
 *   goes out with the next batch: every `flushMillis`, or at once when an
 *   error makes the fleet's totals plus the batch exceed the thresholds. A
 *   probe's outcome goes out at once, alone (`settle`).
 * - One round is one pipeline: every dirty circuit's batch, every lease
 *   request and every probe outcome, under one `commandTimeoutMillis`. Each
 *   answer refreshes the link's view.
 * - A round that fails or times out marks the store away: the batch is
 *   dropped (no offline queue), and every circuit admits on its local
 *   breaker, which was fed all along, until a round succeeds again; rounds
 *   are tried after a backoff that doubles from `backoffMinMillis` to
 *   `backoffMaxMillis`. The first round after that reads every circuit.
 *
 * **Gotchas**
 *
 * - A backend that announces changes (Redis pub/sub) brings every circuit
 *   of the registry up to date at the next round after a change, used or
 *   not. Without the announcement (missed while reconnecting), a circuit
 *   this process has not used since the store answered last keeps its old
 *   view until its first call: that call is admitted on it, and the round
 *   after refreshes it.
 * - A batch carries the fleet generation cached when its first outcome was
 *   counted, not each call's admission: counts of a call that outlived a
 *   fleet transition may land in the next generation's batch.
 *
 * @since 0.1.0
 */
import { Clock, Deferred, Duration, Effect, Exit } from "effect"
import * as Breaker from "../core/Breaker.ts"
import * as Window from "../core/Window.ts"
import type { BreakerConfig } from "../core/BreakerConfig.ts"
import { CircuitConfigError, CircuitOpenError } from "../errors.ts"
import { withoutStack } from "../internal/withoutStack.ts"
import { monotonicMillis } from "../internal/time.ts"
import { unsupported } from "./fleetControls.ts"
import type { FleetRule, FleetStateName, FleetView, ProbeOutcome } from "./FleetModel.ts"
import type { CircuitStoreShape, FleetBackend, FleetSettings, RecordEntry } from "./service.ts"

/**
 * What a link reads of its circuit's cell.
 *
 * @since 0.1.0
 * @category models
 */
export interface FleetCell {
  readonly name: string
  readonly breaker: Breaker.Breaker
  readonly timeoutMillis: number | undefined
}

// At most this many circuits per round: a round is one pipeline under one
// command timeout, and a registry may hold 100,000 circuits.
const maxPerRound = 256

const NONE = 0
const ASKING = 1
const GRANTED = 2
const RUNNING = 3
const SETTLING = 4

/**
 * One circuit's cached fleet view and its outcomes not yet sent.
 *
 * @since 0.1.0
 * @category models
 */
export class FleetLink {
  state: FleetStateName = "closed"
  generation = 0
  openedAt = 0
  openings = 0
  leaseUntil = 0
  /** Leases held fleet-wide, the earliest end of one, and the round's successes, as last answered. */
  leases = 0
  leaseNext = 0
  probesSucceeded = 0
  totals: Window.Counts = Window.emptyCounts
  /** The fleet's errors in a row, as last answered. */
  streak = 0
  /** The Retry-After the current opening lasts at least, as last answered. */
  retryAfter = 0
  /** The store's time of the last answer; `-Infinity` before the first. */
  viewAt = Number.NEGATIVE_INFINITY

  // Outcomes not yet sent, as plain counters.
  success = 0
  failure = 0
  timeout = 0
  rejected = 0
  shortCircuited = 0
  fallbackSuccess = 0
  fallbackFailure = 0
  slow = 0
  /** Errors after the batch's last success, and whether it had one. */
  trailing = 0
  broken = false
  /** The longest Retry-After of the batch's failures (0: none). */
  batchRetryAfter = 0
  /** The Retry-After given for the outcome whose event comes next (see `hint`). */
  private hinted = 0
  dirty = false
  /** The store announced a change: read the circuit at the next round. */
  stale = false
  /** In the client's queue for the next round. */
  queued = false
  pendingGeneration = 0

  probe = NONE
  probeGeneration = -1
  /** The lease this process won: its ticket and end (store time). */
  probeTicket = 0
  probeLeaseUntil = 0
  probeStartedAt = Number.NaN
  probeOutcome: ProbeOutcome = "interrupted"
  probeSlow = false
  probeRetryAfter = 0

  private lastError: CircuitOpenError | undefined = undefined
  private lastErrorAt = -1
  private lastErrorGeneration = -1

  readonly client: FleetClient
  readonly cell: FleetCell

  constructor(client: FleetClient, cell: FleetCell) {
    this.client = client
    this.cell = cell
  }

  /** Whether the fleet view, not the local breaker, decides admissions right now. */
  decides(): boolean {
    const tag = this.cell.breaker.state._tag
    return this.client.healthy && this.viewAt !== Number.NEGATIVE_INFINITY && tag !== "ForcedOpen" &&
      tag !== "ForcedClosed"
  }

  /** The admission of a call at local time `now`. Never waits. */
  admit(now: number): Breaker.Admission {
    if (!this.decides()) return Breaker.admit(this.cell.breaker, now)
    if (this.state === "closed") return "allow"
    const storeNow = now + this.client.offset
    if (this.probe === GRANTED) {
      if (this.state === "half-open" && this.generation === this.probeGeneration && storeNow < this.probeLeaseUntil) {
        this.probe = RUNNING
        this.probeStartedAt = now
        return "probe"
      }
      this.probe = NONE
    }
    if (this.probe === NONE) {
      // The store's rule (FleetModel.acquire): slept, or a slot free (a lapsed lease frees one).
      const due = this.state === "open"
        ? storeNow - this.openedAt >= this.sleepMillis()
        : this.leases + this.probesSucceeded < (this.cell.breaker.config.halfOpenProbes ?? 1) ||
          (this.leaseNext !== 0 && this.leaseNext <= storeNow)
      if (due) {
        this.probe = ASKING
        this.client.enqueue(this)
        this.client.wake()
      }
    }
    return "short-circuit"
  }

  /**
   * The current opening's sleep window, by this circuit's own settings, or
   * the fleet's Retry-After when longer (as `Breaker.sleepMillis`).
   */
  sleepMillis(): number {
    return Math.max(this.cell.breaker.config.sleepWindow(Math.max(1, this.openings)), this.retryAfter)
  }

  /** The Retry-After of the failure whose `event` comes next (the call path gives it just before). */
  hint(millis: number): void {
    this.hinted = millis
  }

  /** Stops sharing the circuit: the flusher forgets it. */
  detach(): void {
    this.client.detach(this)
  }

  /** Whether the store answered the last round. */
  get storeHealthy(): boolean {
    return this.client.healthy
  }

  /** The error of a call the fleet short-circuited at local time `now` (reused within a millisecond). */
  openError(now: number): CircuitOpenError {
    if (this.lastError !== undefined && this.lastErrorAt === now && this.lastErrorGeneration === this.generation) {
      return this.lastError
    }
    const storeNow = now + this.client.offset
    const open = this.state === "open"
    const error = withoutStack(() =>
      new CircuitOpenError({
        circuit: this.cell.name,
        state: open ? "open" : "half-open",
        retryAfter: Duration.millis(open ? Math.max(0, this.openedAt + this.sleepMillis() - storeNow) : 0)
      })
    )
    this.lastError = error
    this.lastErrorAt = now
    this.lastErrorGeneration = this.generation
    return error
  }

  /** Counts one event of the cell (the same parts observers get). */
  event(kind: string, at: number, durationMillis: number): void {
    const hint = this.hinted
    if (hint !== 0) this.hinted = 0
    if (this.probe === RUNNING && at - durationMillis === this.probeStartedAt) {
      switch (kind) {
        case "success":
        case "failure":
        case "timeout":
        case "rejected":
        case "interrupted":
        case "ignored":
          this.probe = SETTLING
          this.client.enqueue(this)
          this.probeOutcome = kind
          this.probeSlow = this.isSlow(kind, durationMillis)
          this.probeRetryAfter = kind === "failure" ? hint : 0
          this.client.wake()
          return
      }
    }
    if (!this.dirty) {
      this.dirty = true
      this.client.enqueue(this)
      this.pendingGeneration = this.generation
    }
    if (this.isSlow(kind, durationMillis)) this.slow++
    switch (kind) {
      case "success":
        this.success++
        this.trailing = 0
        this.broken = true
        return
      case "failure":
        this.failure++
        this.trailing++
        if (hint > this.batchRetryAfter) this.batchRetryAfter = hint
        break
      case "timeout":
        this.timeout++
        this.trailing++
        break
      case "rejected":
      // A wait in the queue that ran out is a rejection (see internal/waitQueue.ts).
      case "queue-timeout":
        this.rejected++
        this.trailing++
        break
      case "short-circuited":
        this.shortCircuited++
        return
      case "fallback-success":
        this.fallbackSuccess++
        return
      case "fallback-failure":
        this.fallbackFailure++
        return
      default:
        return
    }
    // An error: send at once if the fleet's totals and this batch together trip the circuit.
    const config = this.cell.breaker.config
    const streak = this.broken ? this.trailing : this.streak + this.trailing
    if (
      this.state === "closed" && this.client.healthy &&
      (streak >= (config.consecutiveFailures ?? Infinity) || Breaker.exceedsThresholds(config, this.window()))
    ) {
      this.client.wake()
    }
  }

  /** A request (not a rejection) slower than the slow-call duration, as the core counts it. */
  private isSlow(kind: string, durationMillis: number): boolean {
    const slowMillis = this.cell.breaker.config.slowCallMillis
    return slowMillis !== undefined && (kind === "success" || kind === "failure" || kind === "timeout") &&
      durationMillis > slowMillis
  }

  /** The fleet's last totals plus the batch, as a one-bucket window for the core's trip rule. */
  private window(): Window.Window {
    const t = this.totals
    const w = Window.empty(1, 1, 0)
    return {
      ...w,
      current: {
        success: t.success + this.success,
        failure: t.failure + this.failure,
        timeout: t.timeout + this.timeout,
        rejected: t.rejected + this.rejected,
        shortCircuited: t.shortCircuited + this.shortCircuited,
        fallbackSuccess: t.fallbackSuccess + this.fallbackSuccess,
        fallbackFailure: t.fallbackFailure + this.fallbackFailure,
        slow: (t.slow ?? 0) + this.slow
      }
    }
  }

  /** The store's view of the trip rule and window shape, from the cell's settings. */
  rule(): FleetRule {
    const c = this.cell.breaker.config
    return {
      requestVolumeThreshold: c.requestVolumeThreshold,
      errorPercentThreshold: c.errorPercentThreshold,
      buckets: c.buckets,
      bucketMillis: c.bucketMillis,
      ...(c.consecutiveFailures === undefined ? {} : { consecutiveFailures: c.consecutiveFailures }),
      ...(c.slowCallMillis === undefined || c.slowCallMillis === Infinity
        ? {}
        : { slowCallPercentThreshold: c.slowCallPercentThreshold ?? 100 }),
      ...(c.backoffReset === undefined ? {} : { backoffReset: c.backoffReset }),
      ...(c.halfOpenProbes === undefined ? {} : { halfOpenProbes: c.halfOpenProbes })
    }
  }

  /** Takes the batch (and empties it). */
  take(): RecordEntry {
    const entry: RecordEntry = {
      circuit: this.cell.name,
      rule: this.rule(),
      generation: this.dirty ? this.pendingGeneration : this.generation,
      counts: {
        success: this.success,
        failure: this.failure,
        timeout: this.timeout,
        rejected: this.rejected,
        shortCircuited: this.shortCircuited,
        fallbackSuccess: this.fallbackSuccess,
        fallbackFailure: this.fallbackFailure,
        slow: this.slow
      },
      streak: { trailing: this.trailing, broken: this.broken },
      retryAfter: this.batchRetryAfter
    }
    this.drop()
    this.stale = false
    return entry
  }

  /** Forgets the batch (the store is away: no offline queue). */
  drop(): void {
    this.success = 0
    this.failure = 0
    this.timeout = 0
    this.rejected = 0
    this.shortCircuited = 0
    this.fallbackSuccess = 0
    this.fallbackFailure = 0
    this.slow = 0
    this.trailing = 0
    this.broken = false
    this.batchRetryAfter = 0
    this.dirty = false
  }

  /** The probe lease: it outlives the probe's timeout. */
  leaseMillis(settings: FleetSettings): number {
    return settings.probeLeaseMillis ?? (this.cell.timeoutMillis ?? 9000) + settings.leaseMarginMillis
  }

  apply(view: FleetView): void {
    this.state = view.state
    this.generation = view.generation
    this.openedAt = view.openedAt
    this.openings = view.openings
    this.leaseUntil = view.leaseUntil
    this.leases = view.leases
    this.leaseNext = view.leaseNext
    this.probesSucceeded = view.probesSucceeded
    this.totals = view.totals
    this.streak = view.streak
    this.retryAfter = view.retryAfter
    this.viewAt = view.now
    // A probe this process was granted or is running belongs to its generation only.
    if ((this.probe === GRANTED || this.probe === RUNNING) && view.generation !== this.probeGeneration) this.probe = NONE
  }
}

/**
 * The flusher of one registry: every link it serves and the store's health.
 *
 * @since 0.1.0
 * @category models
 */
export class FleetClient {
  /** Whether the store answered the last round. */
  healthy = true
  /** The store's clock minus ours, from the last answer. */
  offset = 0
  failures = 0
  retryAt = 0
  rounds = 0
  /** The longest round trip so far, in milliseconds (a reader may reset it). */
  slowestRoundMillis = 0
  private resyncing = false
  readonly links = new Map<string, FleetLink>()
  /** The links the next round must send or read, each once, in the order they asked. */
  private queue: Array<FleetLink> = []
  readonly backend: FleetBackend
  readonly settings: FleetSettings
  private wanted = false
  private signal: Deferred.Deferred<void> | undefined = undefined

  constructor(store: CircuitStoreShape) {
    this.backend = store.backend
    this.settings = store.settings
  }

  /**
   * The error for settings a shared circuit cannot honour (`fleetControls`):
   * for circuit `name` unless it stays local, or for the defaults of every
   * shared circuit (`name` undefined); `undefined` when they are fine.
   */
  refuse(name: string | undefined, config: BreakerConfig): CircuitConfigError | undefined {
    if (name !== undefined && this.settings.isLocal(name)) return undefined
    const found = unsupported(config)
    if (found === undefined) return undefined
    const reason = name === undefined ? `${found.reason} (in the registry's defaults)` : found.reason
    return new CircuitConfigError({ ...(name === undefined ? {} : { circuit: name }), field: found.field, reason })
  }

  /** A link for `cell`, or `undefined` if the circuit stays local. */
  attach(cell: FleetCell): FleetLink | undefined {
    if (this.settings.isLocal(cell.name)) return undefined
    const link = new FleetLink(this, cell)
    this.links.set(cell.name, link)
    this.enqueue(link)
    this.wake()
    return link
  }

  /** Puts `link` in the next round (once). */
  enqueue(link: FleetLink): void {
    if (link.queued) return
    link.queued = true
    this.queue.push(link)
  }

  /** Forgets a link (its circuit was removed from the registry). */
  detach(link: FleetLink): void {
    if (this.links.get(link.cell.name) === link) this.links.delete(link.cell.name)
  }

  /** The store announced that `circuit` changed: read it at once. */
  changed(circuit: string): void {
    const link = this.links.get(circuit)
    if (link === undefined) return
    link.stale = true
    this.enqueue(link)
    this.wake()
  }

  /** Runs a round now rather than at the next interval. */
  wake(): void {
    this.wanted = true
    const signal = this.signal
    if (signal !== undefined) {
      this.signal = undefined
      Deferred.doneUnsafe(signal, Exit.void)
    }
  }

  /** The flusher: a round every `flushMillis`, or sooner when woken. Runs until interrupted. */
  readonly run: Effect.Effect<never> = Effect.suspend(() => {
    const wait = Effect.suspend(() => {
      if (this.wanted) return Effect.void
      const signal = Deferred.makeUnsafe<void>()
      this.signal = signal
      return Effect.raceFirst(Effect.sleep(this.settings.flushMillis), Deferred.await(signal))
    })
    return Effect.forever(Effect.andThen(wait, Effect.suspend(() => {
      this.signal = undefined
      this.wanted = false
      return this.round
    })))
  })

  /** One round trip: every batch, lease request and probe outcome, as one pipeline. */
  readonly round: Effect.Effect<void> = Effect.flatMap(Clock.clockWith(Effect.succeed), (clock) =>
    Effect.suspend(() => {
      // Local times are monotonic, as the shell's are: `offset` maps them to the store's clock.
      const now = monotonicMillis(clock)
      if (!this.healthy && now < this.retryAt) {
        // The store is away: outcomes stay with the local breakers only.
        for (const link of this.queue) {
          link.queued = false
          link.drop()
          if (link.probe === ASKING || link.probe === SETTLING) link.probe = NONE
        }
        this.queue = []
        return Effect.void
      }
      if (!this.healthy && !this.resyncing) {
        // The first round after the store was away reads every circuit (over as many rounds as it takes).
        this.resyncing = true
        for (const link of this.links.values()) {
          link.stale = true
          this.enqueue(link)
        }
      }
      // A bounded round: what does not fit waits, in order, for the next one.
      const taken = this.queue.length <= maxPerRound ? this.queue : this.queue.slice(0, maxPerRound)
      this.queue = taken === this.queue ? [] : this.queue.slice(maxPerRound)
      if (this.queue.length > 0) this.wanted = true
      const recorded: Array<FleetLink> = []
      const entries: Array<RecordEntry> = []
      const asked: Array<FleetLink> = []
      const settled: Array<FleetLink> = []
      for (const link of taken) {
        link.queued = false
        // Detached meanwhile (the circuit was removed): nothing to send.
        if (this.links.get(link.cell.name) !== link) continue
        if (link.dirty || link.stale || link.viewAt === Number.NEGATIVE_INFINITY) {
          recorded.push(link)
          entries.push(link.take())
        }
        if (link.probe === ASKING) asked.push(link)
        else if (link.probe === SETTLING) settled.push(link)
      }
      if (entries.length === 0 && asked.length === 0 && settled.length === 0) return Effect.void
      const backend = this.backend
      const all = Effect.all([
        entries.length === 0 ? Effect.succeed([]) : backend.record(entries),
        Effect.forEach(
          settled,
          (link) => backend.settle(
            link.cell.name,
            link.rule(),
            link.probeGeneration,
            link.probeTicket,
            link.probeOutcome,
            link.probeSlow,
            link.probeRetryAfter
          ),
          { concurrency: "unbounded" }
        ),
        Effect.forEach(
          asked,
          (link) =>
            backend.acquire(link.cell.name, link.rule(), link.generation, link.sleepMillis(), link.leaseMillis(this.settings)),
          { concurrency: "unbounded" }
        )
      ], { concurrency: "unbounded" })
      this.rounds++
      return Effect.map(Effect.exit(Effect.timeout(all, this.settings.commandTimeoutMillis)), (exit) => {
        const at = monotonicMillis(clock)
        if (at - now > this.slowestRoundMillis) this.slowestRoundMillis = at - now
        if (Exit.isFailure(exit)) {
          this.healthy = false
          this.resyncing = false
          this.failures++
          const backoff = Math.min(
            this.settings.backoffMaxMillis,
            this.settings.backoffMinMillis * 2 ** Math.min(30, this.failures - 1)
          )
          this.retryAt = at + backoff
          for (const link of asked) link.probe = NONE
          // The lease of an unreported probe simply runs out.
          for (const link of settled) link.probe = NONE
          return
        }
        const [records, settles, acquires] = exit.value
        if (this.queue.length === 0) this.resyncing = false
        this.healthy = true
        this.failures = 0
        let last: FleetView | undefined
        for (let i = 0; i < records.length; i++) recorded[i]!.apply(last = records[i]!)
        for (let i = 0; i < settles.length; i++) {
          settled[i]!.probe = NONE
          settled[i]!.apply(last = settles[i]!)
        }
        for (let i = 0; i < acquires.length; i++) {
          const link = asked[i]!
          const { acquired, view } = acquires[i]!
          link.probe = NONE
          link.apply(last = view)
          if (acquired === "probe") {
            link.probe = GRANTED
            link.probeGeneration = view.generation
            link.probeTicket = view.ticket
            link.probeLeaseUntil = view.now + link.leaseMillis(this.settings)
          }
        }
        if (last !== undefined) this.offset = last.now - at
      })
    }))
}

/**
 * Starts the flusher of a registry in the current scope; returns the client
 * that links the registry's cells.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (store: CircuitStoreShape) =>
  Effect.suspend(() => {
    const client = new FleetClient(store)
    const changes = store.backend.changes
    return Effect.as(
      Effect.andThen(
        Effect.forkScoped(client.run),
        changes === undefined ? Effect.void : Effect.forkScoped(changes((circuit) => client.changed(circuit)))
      ),
      client
    )
  })

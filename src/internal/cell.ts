/**
 * The one mutable cell per circuit, owned by the shell.
 *
 * The values stored here (`breaker`, `config`) are immutable and produced only
 * by the core's functions; the cell swaps them. Effect fibers of one runtime
 * run one at a time, so a synchronous read-reduce-write needs no lock.
 *
 * @internal
 */
import { Duration } from "effect"
import * as Breaker from "../core/Breaker.ts"
import * as Limit from "../core/Limit.ts"
import * as Adaptive from "../config/adaptive.ts"
import type { BreakerConfig } from "../core/BreakerConfig.ts"
import type { CircuitCell } from "../CircuitCell.ts"
import type { CircuitConfig } from "../CircuitConfig.ts"
import type { CircuitLimitChange, CircuitTransition, EventKind } from "../CircuitEvent.ts"
import type { CircuitStats } from "../observability/CircuitStats.ts"
import { Deadlines } from "./deadline.ts"
import { CircuitOpenError } from "../errors.ts"
import { withoutStack } from "./withoutStack.ts"

/**
 * Where a registry's cells report to. Kept as plain callbacks so that a
 * cell holds no fiber, timer or queue of its own (SPEC 16).
 */
export interface Sink {
  readonly event: (cell: Cell, kind: EventKind, at: number, durationMillis: number, fallbackFollows: boolean) => void
  readonly transition: (cell: Cell, transition: CircuitTransition) => void
  readonly limitChange: (cell: Cell, change: CircuitLimitChange) => void
}

export class Cell implements CircuitCell {
  /** Permits in use: calls whose effect has started and not yet ended. */
  active = 0
  /** `Infinity` when off; an adaptive limit's current value. */
  maxConcurrent: number
  /** The adaptive limit, when `maxConcurrentRequests` is one. */
  adaptiveLimit: Limit.Limit | undefined
  /** `undefined` when the timeout is off. */
  timeoutMillis: number | undefined
  breaker: Breaker.Breaker
  config: CircuitConfig

  readonly name: string
  readonly sink: Sink
  /**
   * Observability state (counts, latency percentiles), created by the
   * registry's metrics observer on the circuit's first event: a circuit that
   * was never called holds nothing here (SPEC 16).
   */
  stats: CircuitStats | undefined = undefined
  /** Returns one permit; handed to the effect's fiber as its end observer. */
  readonly release = (): void => {
    this.active--
  }
  private deadlineQueue: Deadlines | undefined = undefined
  private lastOpenError: CircuitOpenError | undefined = undefined
  private lastOpenErrorAt = -1
  private lastOpenErrorGeneration = -1
  private lastOpenErrorConfig: BreakerConfig | undefined = undefined

  /**
   * The error for a call short-circuited at `now`. Built without a stack (it
   * would only show the runtime's frames) and reused for every call of the
   * same millisecond and state: an open circuit can then answer millions of
   * calls a second without building millions of errors.
   */
  openError(now: number): CircuitOpenError {
    const breaker = this.breaker
    if (
      this.lastOpenError !== undefined && this.lastOpenErrorAt === now &&
      this.lastOpenErrorGeneration === breaker.generation && this.lastOpenErrorConfig === breaker.config
    ) return this.lastOpenError
    const state = Breaker.stateName(breaker)
    const error = withoutStack(() =>
      new CircuitOpenError({
        circuit: this.name,
        state: state === "half-open" || state === "forced-open" ? state : "open",
        retryAfter: Duration.millis(Breaker.retryAfterMillis(breaker, now))
      })
    )
    this.lastOpenError = error
    this.lastOpenErrorAt = now
    this.lastOpenErrorGeneration = breaker.generation
    this.lastOpenErrorConfig = breaker.config
    return error
  }

  /** The circuit's deadline queue, created on the first call that suspends. */
  deadlines(): Deadlines {
    return this.deadlineQueue ??= new Deadlines()
  }

  /** Stops the circuit's deadline watcher, if it has one (the registry is closing). */
  shutdown(): void {
    this.deadlineQueue?.shutdown()
  }

  constructor(name: string, config: CircuitConfig, breakerConfig: BreakerConfig, sink: Sink, now: number) {
    this.name = name
    this.sink = sink
    this.config = config
    const limit = config.maxConcurrentRequests
    this.adaptiveLimit = Adaptive.isAdaptive(limit) ? Limit.initial(Adaptive.toLimitSettings(limit), now) : undefined
    this.maxConcurrent = this.adaptiveLimit === undefined ? limit as number : Limit.current(this.adaptiveLimit)
    this.timeoutMillis = timeoutMillisOf(config)
    this.breaker = Breaker.initial(breakerConfig, now)
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
    }
  }

  /** Advances the breaker by one event and reports a change of state. */
  apply(event: Breaker.Event): Breaker.Breaker {
    const before = this.breaker
    const after = Breaker.reduce(before, event)
    this.breaker = after
    if (after.generation !== before.generation) {
      const from = Breaker.stateName(before)
      const to = Breaker.stateName(after)
      // A reset of a closed circuit, or the next probe after an interrupted
      // one, changes the generation but not the state a user sees.
      if (from !== to) this.sink.transition(this, { circuit: this.name, from, to, at: event.at })
    }
    return after
  }

  /** `fallbackFollows`: the call goes on to its fallback (whose outcome is a later event). */
  emit(kind: EventKind, at: number, durationMillis: number, fallbackFollows = false): void {
    this.sink.event(this, kind, at, durationMillis, fallbackFollows)
  }

  reconfigure(config: CircuitConfig, breakerConfig: BreakerConfig, now: number): void {
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
    this.apply({ _tag: "Reconfigure", at: now, config: breakerConfig })
  }
}

const timeoutMillisOf = (config: CircuitConfig): number | undefined =>
  Duration.isFinite(config.timeout) ? Duration.toMillis(config.timeout) : undefined

/**
 * The cell behind a `CircuitCell` the registry handed out. The registry is
 * the only maker of circuits and makes them all as `Cell`s; the public type
 * is the read-only view, so that no internal type shows in a public signature.
 */
export const cellOf = (view: CircuitCell): Cell => view as Cell

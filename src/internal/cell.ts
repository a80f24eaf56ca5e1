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
import type { BreakerConfig } from "../core/BreakerConfig.ts"
import type { CircuitConfig } from "../CircuitConfig.ts"
import type { CircuitEvent, CircuitTransition, EventKind } from "../CircuitEvent.ts"

/**
 * Where a registry's cells report to. Kept as plain callbacks so that a
 * cell holds no fiber, timer or queue of its own (SPEC 16).
 */
export interface Sink {
  readonly event: (event: CircuitEvent) => void
  readonly transition: (transition: CircuitTransition) => void
}

export class Cell {
  /** Permits in use: calls whose effect has started and not yet ended. */
  active = 0
  /** `Infinity` when off. */
  maxConcurrent: number
  /** `undefined` when the timeout is off. */
  timeoutMillis: number | undefined
  breaker: Breaker.Breaker
  config: CircuitConfig

  readonly name: string
  readonly sink: Sink

  constructor(name: string, config: CircuitConfig, breakerConfig: BreakerConfig, sink: Sink, now: number) {
    this.name = name
    this.sink = sink
    this.config = config
    this.maxConcurrent = config.maxConcurrentRequests
    this.timeoutMillis = timeoutMillisOf(config)
    this.breaker = Breaker.initial(breakerConfig, now)
  }

  /** Advances the breaker by one event and reports a change of state. */
  apply(event: Breaker.Event): Breaker.Breaker {
    const before = this.breaker
    const after = Breaker.reduce(before, event)
    this.breaker = after
    if (after.generation !== before.generation) {
      const from = Breaker.stateName(before)
      const to = Breaker.stateName(after)
      this.sink.transition({ circuit: this.name, from, to, at: event.at })
    }
    return after
  }

  emit(kind: EventKind, at: number, durationMillis: number): void {
    this.sink.event({ circuit: this.name, kind, at, durationMillis })
  }

  reconfigure(config: CircuitConfig, breakerConfig: BreakerConfig, now: number): void {
    this.config = config
    this.maxConcurrent = config.maxConcurrentRequests
    this.timeoutMillis = timeoutMillisOf(config)
    this.apply({ _tag: "Reconfigure", at: now, config: breakerConfig })
  }
}

const timeoutMillisOf = (config: CircuitConfig): number | undefined =>
  Duration.isFinite(config.timeout) ? Duration.toMillis(config.timeout) : undefined

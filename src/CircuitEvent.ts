/**
 * What the circuits of a registry report as they run: one `CircuitEvent` per
 * execution event, one `CircuitTransition` per state change.
 *
 * **Details**
 *
 * `Circuit.events` and `Circuit.transitions` stream them. Streams are backed by
 * sliding buffers: a subscriber that falls behind loses the oldest items, and
 * a call never waits for a subscriber.
 *
 * @since 0.1.0
 */
import type { StateName } from "./core/Breaker.ts"

/**
 * @since 0.1.0
 * @category models
 */
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

/**
 * One execution event of a circuit.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitEvent {
  readonly circuit: string
  readonly kind: EventKind
  /** When it happened (`Clock`, epoch millis). */
  readonly at: number
  /**
   * For an execution outcome (success, failure, timeout, interrupted,
   * ignored): how long the effect ran, from admission to its outcome. For a
   * fallback outcome: the whole call, from admission to the fallback's end
   * (for `fallback-rejected`, to the rejection: all `maxConcurrentFallbacks`
   * fallbacks were running, so this one never ran).
   * For `queue-timeout`: how long the call waited. 0 for short-circuits,
   * rejections and `queued`.
   *
   * `queued` is not an outcome: a call that waits for a permit (see
   * `queueCapacity`) is `queued`, then comes to exactly one outcome like any
   * other call: its own once it got a permit, `short-circuited` if the
   * circuit opened while it waited, `queue-timeout` (a rejection) when
   * `maxQueueWait` ran out, `rejected` if a lowered capacity left it out,
   * `interrupted` if its caller went away.
   */
  readonly durationMillis: number
}

/**
 * A change of state of a circuit.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitTransition {
  readonly circuit: string
  readonly from: StateName
  readonly to: StateName
  /** When it happened (`Clock`, epoch millis). */
  readonly at: number
}

/**
 * An adaptive concurrency limit changed (published only when the number
 * changes, not on every call it learns from).
 *
 * @since 0.2.0
 * @category models
 */
export interface CircuitLimitChange {
  readonly circuit: string
  readonly algorithm: "aimd" | "gradient"
  readonly from: number
  readonly to: number
  /** When it happened (`Clock`, epoch millis). */
  readonly at: number
}

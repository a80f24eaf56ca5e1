/**
 * The `CircuitStore` service and the backend it wraps, without any backend's
 * code: the registry imports this module only, so loading `effect-circuit`
 * loads no store (and never a Redis client).
 *
 * @since 0.1.0
 */
import { Context, type Effect, Schema } from "effect"
import type { Counts } from "../core/Window.ts"
import type { Acquired, BatchStreak, FleetRule, FleetView, ProbeOutcome } from "./FleetModel.ts"

/**
 * A store command that failed or took longer than the command timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitStoreError extends Schema.TaggedError<CircuitStoreError>()("CircuitStoreError", {
  operation: Schema.Literals(["record", "acquire", "settle"]),
  circuit: Schema.optional(Schema.String),
  cause: Schema.Defect()
}) {}

/**
 * One circuit's share of a batch.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecordEntry {
  readonly circuit: string
  readonly rule: FleetRule
  readonly generation: number
  /** The batch's counts, `slow` included. */
  readonly counts: Counts
  /** The batch's errors in a row (absent: none, and no success). */
  readonly streak?: BatchStreak | undefined
  /** The longest Retry-After of the batch's failures, in milliseconds (absent or 0: none). */
  readonly retryAfter?: number | undefined
}

/**
 * Where fleet circuits live: each operation is one atomic change of one
 * circuit (`FleetModel`), and answers the circuit as it then stands.
 *
 * @since 0.1.0
 * @category models
 */
export interface FleetBackend {
  /** One answer per entry, in order; the entries go out together (one pipeline). */
  readonly record: (entries: ReadonlyArray<RecordEntry>) => Effect.Effect<ReadonlyArray<FleetView>, CircuitStoreError>
  readonly acquire: (
    circuit: string,
    rule: FleetRule,
    generation: number,
    sleepMillis: number,
    leaseMillis: number
  ) => Effect.Effect<{ readonly acquired: Acquired; readonly view: FleetView }, CircuitStoreError>
  readonly settle: (
    circuit: string,
    rule: FleetRule,
    generation: number,
    /** The lease's ticket (`FleetView.ticket` of the grant). */
    ticket: number,
    outcome: ProbeOutcome,
    /** The probe took longer than the slow-call duration. */
    slow?: boolean,
    /** A failed probe's Retry-After, in milliseconds (0: none). */
    retryAfter?: number
  ) => Effect.Effect<FleetView, CircuitStoreError>
  /**
   * Calls `onChange(circuit)` whenever a circuit's generation changes in the
   * store (a trip, a probe taken, a close), by whichever process; runs until
   * interrupted, reconnecting by itself. Best effort: a change missed while
   * disconnected is read at the circuit's next round anyway.
   */
  readonly changes?: ((onChange: (circuit: string) => void) => Effect.Effect<never>) | undefined
}

/**
 * How a registry talks to the store (all in milliseconds).
 *
 * @since 0.1.0
 * @category models
 */
export interface FleetSettings {
  /** How often each registry sends its batch. */
  readonly flushMillis: number
  /** A command slower than this counts as a failure of the store. */
  readonly commandTimeoutMillis: number
  /** The probe lease; `undefined`: the circuit's timeout plus `leaseMarginMillis`. */
  readonly probeLeaseMillis: number | undefined
  readonly leaseMarginMillis: number
  /** The store-health breaker's first and longest wait before it tries the store again. */
  readonly backoffMinMillis: number
  readonly backoffMaxMillis: number
  /** Circuits that stay local (never shared), by name. */
  readonly isLocal: (circuit: string) => boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CircuitStoreShape {
  readonly backend: FleetBackend
  readonly settings: FleetSettings
}

/**
 * The store a `CircuitRegistry` shares its circuits through. Without it
 * (the default) every circuit is the process's own, exactly as before.
 *
 * @since 0.1.0
 * @category services
 */
export class CircuitStore extends Context.Service<CircuitStore, CircuitStoreShape>()("effect-circuit/CircuitStore") {}

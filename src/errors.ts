/**
 * The typed errors of effect-circuit. Each carries the circuit's name and what
 * a caller needs to act on it: how long to wait, what the timeout was, what
 * the limit is, which setting was wrong.
 *
 * **Details**
 *
 * They are `Schema.TaggedError` classes, so they can be matched with
 * `Effect.catchTag` and sent over the wire.
 *
 * **Example** (Waiting out an open circuit)
 *
 * ```ts
 * import { Duration, Effect } from "effect"
 * import { CircuitOpenError } from "effect-circuit"
 *
 * const describe = (error: CircuitOpenError) =>
 *   `${error.circuit}: retry in ${Duration.format(error.retryAfter)}`
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Duration, Schema } from "effect"

/**
 * The circuit is open (or half-open with its probe running, or forced open):
 * the call was short-circuited and the effect never ran.
 *
 * `retryAfter` is how long until a call can be let through: the rest of the
 * sleep window when open, zero while a probe runs, infinity when forced open.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitOpenError extends Schema.TaggedError<CircuitOpenError>()("CircuitOpenError", {
  circuit: Schema.String,
  state: Schema.Literals(["open", "half-open", "forced-open"]),
  retryAfter: Schema.Duration
}) {
  /** `retryAfter` in milliseconds (`Infinity` when forced open), for code that does not use `Duration`. */
  get retryAfterMillis(): number {
    return Duration.toMillis(this.retryAfter)
  }
  override get message(): string {
    const wait = Duration.isFinite(this.retryAfter) ? `retry after ${Duration.format(this.retryAfter)}` : "forced open"
    return `Circuit "${this.circuit}" is ${this.state}: call short-circuited (${wait})`
  }
}

/**
 * The call ran longer than the circuit's timeout. The effect was interrupted.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitTimeoutError extends Schema.TaggedError<CircuitTimeoutError>()("CircuitTimeoutError", {
  circuit: Schema.String,
  timeout: Schema.Duration
}) {
  override get message(): string {
    return `Circuit "${this.circuit}": call timed out after ${Duration.format(this.timeout)}`
  }
}

/**
 * All `maxConcurrentRequests` permits were in use: the call was refused at
 * once, without waiting, and the effect never ran. With a wait queue
 * (`queueCapacity`), `reason` says why it did not wait for a permit: the
 * queue was full, or its `maxQueueWait` ran out.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitRejectedError extends Schema.TaggedError<CircuitRejectedError>()("CircuitRejectedError", {
  circuit: Schema.String,
  maxConcurrentRequests: Schema.Number,
  /**
   * With a wait queue (`queueCapacity` > 0): `"queue-full"`, every permit in
   * use and no room to wait; `"queue-timeout"`, the call waited
   * `maxQueueWait` and no permit came free. Absent without a queue.
   */
  reason: Schema.optionalKey(Schema.Literals(["queue-full", "queue-timeout"])),
  /** The queue's capacity, for `"queue-full"`. */
  queueCapacity: Schema.optionalKey(Schema.Number),
  /** How long the call waited, for `"queue-timeout"`. */
  waited: Schema.optionalKey(Schema.Duration)
}) {
  override get message(): string {
    const permits = `all ${this.maxConcurrentRequests} concurrent permits in use`
    if (this.reason === "queue-full") {
      return `Circuit "${this.circuit}": rejected, ${permits} and its wait queue full (${this.queueCapacity} waiting)`
    }
    if (this.reason === "queue-timeout") {
      const waited = this.waited === undefined ? "" : ` after ${Duration.format(this.waited)}`
      return `Circuit "${this.circuit}": rejected, no permit came free while it waited in the queue${waited}`
    }
    return `Circuit "${this.circuit}": rejected, ${permits}`
  }
}

/**
 * The registry's scope has closed: the call was refused and the effect never
 * ran. Calls in flight when it closed were interrupted (their effects too).
 *
 * Like the other circuit errors it goes to the fallback, if one is given
 * (nothing is recorded: the circuit is gone).
 *
 * @since 0.2.0
 * @category errors
 */
export class CircuitRegistryClosedError
  extends Schema.TaggedError<CircuitRegistryClosedError>()("CircuitRegistryClosedError", {
    circuit: Schema.String
  })
{
  override get message(): string {
    return `Circuit "${this.circuit}": the CircuitRegistry is closed (its scope has ended)`
  }
}

/**
 * A setting was refused. `field` is its path (`"rollingWindow.buckets"`),
 * `reason` the rule it broke. Nothing was applied.
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitConfigError extends Schema.TaggedError<CircuitConfigError>()("CircuitConfigError", {
  circuit: Schema.optional(Schema.String),
  field: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    const where = this.circuit === undefined ? "" : `circuit "${this.circuit}": `
    const field = /^[\w.$-]+$/.test(this.field) || this.field.startsWith("(") ? this.field : JSON.stringify(this.field)
    return `Invalid circuit configuration: ${where}${field}: ${this.reason}`
  }
}

/**
 * The fallback failed too. Holds both causes: the call's (`cause`) and the
 * fallback's (`fallbackCause`).
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitFallbackError<E, E2> extends Schema.TaggedError<CircuitFallbackError<unknown, unknown>>()(
  "CircuitFallbackError",
  {
    circuit: Schema.String,
    cause: Schema.Any,
    fallbackCause: Schema.Any
  }
) {
  declare readonly cause: Cause.Cause<E>
  declare readonly fallbackCause: Cause.Cause<E2>
  override get message(): string {
    return `Circuit "${this.circuit}": the fallback failed (${Cause.pretty(this.fallbackCause)}) after ${
      Cause.pretty(this.cause)
    }`
  }
}

/**
 * All `maxConcurrentFallbacks` fallbacks of the circuit were running: this
 * call's fallback was rejected and never ran (Hystrix's
 * `REJECTED_SEMAPHORE_FALLBACK`, cep21/circuit's "throttling concurrency to
 * fallbacks"). `error` is what the fallback would have been given: the
 * effect's own failure or the circuit's error, unchanged.
 *
 * **Details**
 *
 * `withCircuit` delivers it as a defect (`Effect.catchDefect` sees it): the
 * call's type promises that its fallback answers every failure, and only a
 * limit set in the settings (at run time, possibly) can break that promise.
 * `CircuitPromise.fire` rejects with it.
 *
 * @since 0.2.0
 * @category errors
 */
export class CircuitFallbackRejectedError<E = unknown>
  extends Schema.TaggedError<CircuitFallbackRejectedError<unknown>>()("CircuitFallbackRejectedError", {
    circuit: Schema.String,
    maxConcurrentFallbacks: Schema.Number,
    error: Schema.Any
  })
{
  declare readonly error: E
  override get message(): string {
    return `Circuit "${this.circuit}": fallback rejected, all ${this.maxConcurrentFallbacks} fallbacks running`
  }
}

/**
 * The marker of a bad request (Hystrix's `HystrixBadRequestException`): an
 * error that is the caller's fault, not the dependency's.
 *
 * @since 0.2.0
 * @category bad requests
 */
export const BadRequestTypeId: unique symbol = Symbol.for("effect-circuit/BadRequest")

/**
 * An error that is the caller's fault (invalid input, a refused request). A
 * guarded call that fails with one returns it to the caller as it is; the
 * circuit does not count it (it is not a request of the window, like an
 * error `isFailure` rejects) and the fallback does not replace it.
 *
 * Mark an error class of your own with the `BadRequestTypeId` field, or wrap
 * any error in `CircuitBadRequest` (`Circuit.badRequest`).
 *
 * **Example** (An error class that is always a bad request)
 *
 * ```ts
 * import { Data } from "effect"
 * import { BadRequestTypeId } from "effect-circuit"
 *
 * class InvalidInput extends Data.TaggedError("InvalidInput")<{ readonly field: string }> {
 *   readonly [BadRequestTypeId] = true as const
 * }
 * ```
 *
 * @since 0.2.0
 * @category bad requests
 */
export interface BadRequest {
  readonly [BadRequestTypeId]: true
}

/**
 * Whether a value is a bad request (carries the `BadRequestTypeId` marker).
 *
 * @since 0.2.0
 * @category bad requests
 */
export const isBadRequest = (u: unknown): u is BadRequest =>
  typeof u === "object" && u !== null && (u as { readonly [BadRequestTypeId]?: unknown })[BadRequestTypeId] === true

/**
 * The bad requests among the errors `E`: what a guarded call with a fallback
 * can still fail with.
 *
 * @since 0.2.0
 * @category bad requests
 */
export type BadRequestOf<E> = Extract<E, BadRequest>

/**
 * Wraps an error that is the caller's fault, so that the circuit does not
 * count it and the fallback does not replace it (see `BadRequest`). The
 * caller gets this wrapper, with the original as `error`.
 *
 * @since 0.2.0
 * @category bad requests
 */
export class CircuitBadRequest<E = unknown>
  extends Schema.TaggedError<CircuitBadRequest<unknown>>()("CircuitBadRequest", { error: Schema.Any })
  implements BadRequest
{
  declare readonly error: E
  readonly [BadRequestTypeId] = true as const
  override get message(): string {
    const error: unknown = this.error
    return `Bad request: ${error instanceof Error ? error.message : String(error)}`
  }
}

/**
 * Every error that the circuit itself can raise around a call.
 *
 * @since 0.1.0
 * @category errors
 */
export type CircuitError = CircuitOpenError | CircuitTimeoutError | CircuitRejectedError | CircuitRegistryClosedError

/**
 * Runs an effect under a named circuit: `effect.pipe(withCircuit("payments"))`.
 *
 * **Details**
 *
 * One call goes through, in order:
 *
 * 1. the circuit's admission: an open circuit fails at once with
 *    `CircuitOpenError` (carrying `retryAfter`) and the effect never runs;
 *    once the sleep window has passed, one call is let through as the probe;
 * 2. a concurrency permit, without waiting: none free fails at once with
 *    `CircuitRejectedError`;
 * 3. the effect, raced against the circuit's timeout. At the deadline the
 *    caller gets `CircuitTimeoutError` even if the effect ignores
 *    interruption; the effect is interrupted and its permit comes back only
 *    once it has really ended;
 * 4. its outcome, recorded in the circuit's rolling window at the time it
 *    completes (a timeout at the deadline);
 * 5. the fallback, if one is given, for a short-circuit, a rejection, a
 *    timeout or a failure.
 *
 * **Gotchas**
 *
 * - Interrupting the caller interrupts the effect, waits for it to end,
 *   returns the permit and records no failure.
 * - `isFailure` receives the typed error when the call failed with one, and
 *   the `Cause` itself for a defect. An error it rejects is returned to the
 *   caller as it is, is not counted, and does not run the fallback.
 * - The fallback runs only for errors: a defect (a bug) is recorded as a
 *   failure and propagates as a defect.
 * - Put `Effect.retry` outside `withCircuit` so that each attempt is one
 *   request of the circuit, and retry on `CircuitOpenError` no sooner than its
 *   `retryAfter`.
 *
 * **Example** (Guarding a call)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitRegistry, withCircuit } from "effect-circuit"
 *
 * const charge = Effect.succeed({ id: "ch_1" }).pipe(
 *   withCircuit("payments", {
 *     fallback: (error) => Effect.succeed({ id: `deferred (${error._tag})` })
 *   })
 * )
 *
 * Effect.runPromise(charge.pipe(Effect.provide(CircuitRegistry.layer())))
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Duration, Effect, Exit, Fiber } from "effect"
import { dual } from "effect/Function"
import * as Breaker from "./core/Breaker.ts"
import { CircuitRegistry } from "./CircuitRegistry.ts"
import type { EventKind } from "./CircuitEvent.ts"
import {
  type CircuitError,
  CircuitFallbackError,
  CircuitOpenError,
  CircuitRejectedError,
  CircuitTimeoutError
} from "./errors.ts"
import type { Cell } from "./internal/cell.ts"

/**
 * What `isFailure` is given: the typed error of a failed call, or the whole
 * `Cause` when the call failed without one (a defect).
 *
 * @since 0.1.0
 * @category models
 */
export type Failure<E> = E | Cause.Cause<never>

/**
 * The error of a call whose fallback may fail: the fallback's typed failure
 * together with the call's own cause, or nothing if the fallback cannot fail.
 *
 * @since 0.1.0
 * @category models
 */
export type FallbackFailed<E, E2> = [E2] extends [never] ? never : CircuitFallbackError<E | CircuitError, E2>

/**
 * Options of `withCircuit` without a fallback.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<E> {
  /** What counts as a failure. Default: every typed failure and every defect. */
  readonly isFailure?: ((failure: Failure<E>) => boolean) | undefined
}

/**
 * Options of `withCircuit` with a fallback.
 *
 * @since 0.1.0
 * @category models
 */
export interface OptionsWithFallback<E, A2, E2, R2> extends Options<E> {
  /** Runs for a short-circuit, a rejection, a timeout or a failure; its result is the call's. */
  readonly fallback: (error: E | CircuitError) => Effect.Effect<A2, E2, R2>
}

type AnyOptions = {
  readonly isFailure?: ((failure: unknown) => boolean) | undefined
  readonly fallback?: ((error: unknown) => Effect.Effect<unknown, unknown, unknown>) | undefined
}

const isCircuitError = (u: unknown): u is CircuitError =>
  u instanceof CircuitOpenError || u instanceof CircuitRejectedError || u instanceof CircuitTimeoutError

/**
 * Runs an effect under the circuit `name` (created with the registry's
 * settings on first use).
 *
 * @since 0.1.0
 * @category combinators
 */
export const withCircuit: {
  <E, A2, E2, R2>(
    name: string,
    options: OptionsWithFallback<E, A2, E2, R2> & { readonly isFailure: (failure: Failure<E>) => boolean }
  ): <A, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A | A2, E | FallbackFailed<E, E2>, R | R2 | CircuitRegistry>
  <E, A2, E2, R2>(
    name: string,
    options: OptionsWithFallback<E, A2, E2, R2>
  ): <A, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A | A2, FallbackFailed<E, E2>, R | R2 | CircuitRegistry>
  <E>(
    name: string,
    options?: Options<E>
  ): <A, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitError, R | CircuitRegistry>
  <A, E, R, A2, E2, R2>(
    self: Effect.Effect<A, E, R>,
    name: string,
    options: OptionsWithFallback<E, A2, E2, R2> & { readonly isFailure: (failure: Failure<E>) => boolean }
  ): Effect.Effect<A | A2, E | FallbackFailed<E, E2>, R | R2 | CircuitRegistry>
  <A, E, R, A2, E2, R2>(
    self: Effect.Effect<A, E, R>,
    name: string,
    options: OptionsWithFallback<E, A2, E2, R2>
  ): Effect.Effect<A | A2, FallbackFailed<E, E2>, R | R2 | CircuitRegistry>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    name: string,
    options?: Options<E>
  ): Effect.Effect<A, E | CircuitError, R | CircuitRegistry>
} = dual(
  (args) => Effect.isEffect(args[0]),
  (self: Effect.Effect<unknown, unknown, unknown>, name: string, options?: AnyOptions) =>
    execute(self, name, options ?? {})
)

type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

const execute = (
  self: Effect.Effect<unknown, unknown, unknown>,
  name: string,
  options: AnyOptions
): Effect.Effect<unknown, unknown, unknown> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiber((fiber) => {
      const registry = Context.get(fiber.context as Context.Context<CircuitRegistry>, CircuitRegistry)
      const clock = fiber.getRef(Clock.Clock)
      const now = clock.currentTimeMillisUnsafe()
      const cell = registry.cell(name, now)
      const call = new Call(cell, clock, options, restore, now)

      // Admission and the permit are taken in one synchronous step: no other
      // fiber can run between the check and the update.
      const admission = Breaker.admit(cell.breaker, now)
      if (admission === "short-circuit") return call.shortCircuit()
      if (admission === "probe") cell.apply({ _tag: "ProbeAdmitted", at: now })
      call.generation = cell.breaker.generation
      if (cell.active >= cell.maxConcurrent) return call.reject()
      cell.active++
      return cell.timeoutMillis === undefined ? call.runInline(self) : call.runRaced(self, cell.timeoutMillis)
    })
  )

// One call in flight: what it needs to record its outcome.
class Call {
  generation = 0
  readonly cell: Cell
  readonly clock: Clock.Clock
  readonly options: AnyOptions
  readonly restore: Restore
  readonly startedAt: number

  constructor(cell: Cell, clock: Clock.Clock, options: AnyOptions, restore: Restore, startedAt: number) {
    this.cell = cell
    this.clock = clock
    this.options = options
    this.restore = restore
    this.startedAt = startedAt
  }

  shortCircuit(): Effect.Effect<unknown, unknown, unknown> {
    const { cell, startedAt: now } = this
    const breaker = cell.breaker
    const state = Breaker.stateName(breaker)
    cell.apply({ _tag: "ShortCircuited", at: now })
    cell.emit("short-circuited", now, 0)
    return this.fail(
      new CircuitOpenError({
        circuit: cell.name,
        state: state === "half-open" || state === "forced-open" ? state : "open",
        retryAfter: Duration.millis(Breaker.retryAfterMillis(breaker, now))
      })
    )
  }

  reject(): Effect.Effect<unknown, unknown, unknown> {
    const { cell, startedAt: now } = this
    cell.apply({ _tag: "Rejected", at: now, generation: this.generation })
    cell.emit("rejected", now, 0)
    return this.fail(new CircuitRejectedError({ circuit: cell.name, maxConcurrentRequests: cell.maxConcurrent }))
  }

  // Without a timeout the effect runs in the caller's fiber: interrupting the
  // caller interrupts it directly.
  runInline(self: Effect.Effect<unknown, unknown, unknown>): Effect.Effect<unknown, unknown, unknown> {
    return Effect.flatMap(Effect.exit(this.restore(self)), (exit) => {
      this.cell.active--
      return this.complete(exit)
    })
  }

  // With a timeout the effect runs in a fiber of its own, so that the caller
  // can be answered at the deadline even if the effect ignores interruption.
  // The permit is returned by the fiber's own end, whenever that is.
  runRaced(self: Effect.Effect<unknown, unknown, unknown>, timeoutMillis: number): Effect.Effect<unknown, unknown, unknown> {
    const cell = this.cell
    return Effect.flatMap(Effect.forkDetach(self, { uninterruptible: false }), (fiber) => {
      fiber.addObserver(() => {
        cell.active--
      })
      return Effect.flatMap(
        Effect.exit(this.restore(Effect.timeoutOption(Fiber.await(fiber), Duration.millis(timeoutMillis)))),
        (raced) => {
          if (Exit.isFailure(raced)) {
            // The caller was interrupted: interrupt the effect and wait for it.
            return Effect.flatMap(Fiber.interrupt(fiber), () => {
              this.record("Interrupted", "interrupted")
              return raced
            })
          }
          if (raced.value._tag === "Some") return this.complete(raced.value.value)
          fiber.interruptUnsafe()
          this.record("Timeout", "timeout")
          return this.fail(new CircuitTimeoutError({ circuit: cell.name, timeout: Duration.millis(timeoutMillis) }))
        }
      )
    })
  }

  private record(
    outcome: "Success" | "Failure" | "Timeout" | "Interrupted" | "Ignored",
    kind: EventKind
  ): number {
    const at = this.clock.currentTimeMillisUnsafe()
    this.cell.apply({ _tag: outcome, at, generation: this.generation })
    this.cell.emit(kind, at, at - this.startedAt)
    return at
  }

  private complete(exit: Exit.Exit<unknown, unknown>): Effect.Effect<unknown, unknown, unknown> {
    if (Exit.isSuccess(exit)) {
      this.record("Success", "success")
      return exit
    }
    const cause = exit.cause
    if (Cause.hasInterruptsOnly(cause)) {
      this.record("Interrupted", "interrupted")
      return exit
    }
    const error = Cause.findErrorOption(cause)
    const failure: unknown = error._tag === "Some" ? error.value : cause
    let counts = true
    let thrown: Cause.Cause<never> | undefined
    if (this.options.isFailure !== undefined) {
      try {
        counts = this.options.isFailure(failure) !== false
      } catch (defect) {
        // A throwing classifier counts the call as failed and surfaces the throw.
        thrown = Cause.die(defect)
      }
    }
    if (!counts) {
      this.record("Ignored", "ignored")
      return exit
    }
    this.record("Failure", "failure")
    if (thrown !== undefined) return Effect.failCause(Cause.combine(cause, thrown))
    if (error._tag === "Some" && this.options.fallback !== undefined) return this.fallback(error.value, cause)
    return exit
  }

  private fail(error: CircuitError): Effect.Effect<unknown, unknown, unknown> {
    return this.options.fallback === undefined ? Effect.fail(error) : this.fallback(error, Cause.fail(error))
  }

  private fallback(error: unknown, cause: Cause.Cause<unknown>): Effect.Effect<unknown, unknown, unknown> {
    const fallback = this.options.fallback!
    const cell = this.cell
    return Effect.flatMap(
      Effect.exit(this.restore(Effect.suspend(() => fallback(error)))),
      (exit) => {
        const at = this.clock.currentTimeMillisUnsafe()
        if (Exit.isSuccess(exit)) {
          cell.apply({ _tag: "FallbackSuccess", at })
          cell.emit("fallback-success", at, 0)
          return exit
        }
        if (Cause.hasInterruptsOnly(exit.cause)) return exit
        cell.apply({ _tag: "FallbackFailure", at })
        cell.emit("fallback-failure", at, 0)
        return Cause.findErrorOption(exit.cause)._tag === "Some"
          ? Effect.fail(new CircuitFallbackError({ circuit: cell.name, cause, fallbackCause: exit.cause }))
          : Effect.failCause(Cause.combine(cause, exit.cause))
      }
    )
  }
}

// Re-exported so that `isCircuitError` can be used to tell the circuit's own
// errors from the call's.
export { isCircuitError }

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
 *    `CircuitRejectedError`; with a wait queue (`queueCapacity`), the call
 *    waits for one, first come first served, up to `maxQueueWait`, and is
 *    asked to the circuit again when it gets it;
 * 3. the effect, raced against the circuit's timeout (which starts with the
 *    permit). At the deadline the
 *    caller gets `CircuitTimeoutError` even if the effect ignores
 *    interruption; the effect is interrupted and its permit comes back only
 *    once it has really ended;
 * 4. its outcome, recorded in the circuit's rolling window at the time it
 *    completes (a timeout at the deadline);
 * 5. the fallback, if one is given, for a short-circuit, a rejection, a
 *    timeout or a failure; with `maxConcurrentFallbacks` set, it first takes
 *    a fallback permit, without waiting: none free, the fallback never runs
 *    (a `fallback-rejected` event) and the call dies with
 *    `CircuitFallbackRejectedError`, holding the error the fallback would
 *    have been given.
 *
 * **Tracing**
 *
 * With a tracing backend installed (`OtlpTracer`, or any `Tracer` other than
 * Effect's default native one), each call is a span `circuit <name>` under the
 * caller's span, and the effect's own spans are its children. Its attributes:
 * `circuit.name`; `circuit.state` and `circuit.admission` (`allow`, `probe`,
 * `short-circuit`) at the call's start; `circuit.open` (short-circuited, as
 * Hystrix's `hystrix.circuit_open`); `circuit.outcome` (`success`, `failure`,
 * `timeout`, `rejected`, `queue-timeout`, `short-circuited`, `interrupted`, `ignored`);
 * `circuit.fallback` (`none`, `success`, `failure`, `interrupted`, `rejected`). A fallback
 * runs in a child span `circuit <name> fallback` with `circuit.fallback.reason`.
 * Without a backend, or with `References.TracerEnabled` false, nothing is
 * built: a guarded effect decides once per context. `trace: false` turns it
 * off for a call, `CircuitRegistry.layer({ tracing: false })` for a registry.
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
import { Cause, Clock, Context, type Duration, Effect, Exit, Fiber } from "effect"
import { dual } from "effect/Function"
import { CircuitRegistry, type CircuitRegistryShape } from "./CircuitRegistry.ts"
import {
  type BadRequestOf,
  type CircuitError,
  CircuitFallbackError,
  CircuitOpenError,
  CircuitRegistryClosedError,
  CircuitRejectedError,
  CircuitTimeoutError
} from "./errors.ts"
import * as CallPath from "./internal/callPath.ts"
import { type Cell, cellOf } from "./internal/cell.ts"
import { type Deadlines, deadlinesOf, type Entry } from "./internal/deadline.ts"
import { failureVerdict } from "./internal/failure.ts"
import { monotonicMillis } from "./internal/time.ts"
import * as WaitQueue from "./internal/waitQueue.ts"
import { isTracing, traced } from "./internal/tracing.ts"

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
  /**
   * The downstream's Retry-After carried by a typed failure (an HTTP 429 or
   * 503's header, say): when that failure opens the circuit, the opening
   * lasts at least this long. `undefined` (or a negative, infinite or
   * unreadable duration, or a throw) means none.
   */
  readonly retryAfter?: ((error: E) => Duration.Input | undefined) | undefined
  /**
   * Whether the call is a span when a tracer is installed (see the module's
   * notes on tracing). Default: the registry's `tracing` setting (on).
   */
  readonly trace?: boolean | undefined
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
  readonly retryAfter?: ((error: unknown) => Duration.Input | undefined) | undefined
  readonly trace?: boolean | undefined
  readonly fallback?: ((error: unknown) => Effect.Effect<unknown, unknown, unknown>) | undefined
}

/**
 * Whether a value is one of the circuit's own errors (open, rejected, timeout)
 * rather than an error of the guarded effect.
 *
 * @since 0.1.0
 * @category guards
 */
export const isCircuitError = (u: unknown): u is CircuitError =>
  u instanceof CircuitOpenError || u instanceof CircuitRejectedError || u instanceof CircuitTimeoutError ||
  u instanceof CircuitRegistryClosedError

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
  ): <A, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A | A2, BadRequestOf<E> | FallbackFailed<E, E2>, R | R2 | CircuitRegistry>
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
  ): Effect.Effect<A | A2, BadRequestOf<E> | FallbackFailed<E, E2>, R | R2 | CircuitRegistry>
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

// The path of one call. Everything up to the effect's first suspension runs in
// one synchronous step of the caller's fiber: admission, the permit, starting
// the effect's fiber, and, when the effect completes at once, recording its
// outcome. No other fiber can run in between, so no lock is needed, and a
// call that never suspends costs no timer and no wait.
//
// It all happens inside `Effect.callback`'s registration on purpose: if the
// effect's first synchronous steps wake a fiber that interrupts the caller
// there and then, the runtime delivers that interruption to the cleanup this
// registration returns, so the effect is interrupted, its permit returned and
// its outcome recorded, whatever the moment.
const execute = (
  self: Effect.Effect<unknown, unknown, unknown>,
  name: string,
  options: AnyOptions,
  // false for the untraced call inside a call's span
  traceable = true
): Effect.Effect<unknown, unknown, unknown> => {
  // The registry, clock, deadline queue and circuit of the last run of this
  // guarded effect. Contexts are immutable, so the same context means the
  // same registry and clock; a cell the registry has dropped (evicted, or the
  // registry closed) is marked `retired` and looked up again. A loop of calls
  // then skips four lookups per call.
  // (Copied into constants first: the effect may run this same guarded effect
  // again, nested, in another context, before this call has ended.)
  let lastContext: Context.Context<never> | undefined
  let lastRegistry: CircuitRegistryShape | undefined
  let lastClock: Clock.Clock | undefined
  let lastDeadlines: Deadlines | undefined
  let lastCell: Cell | undefined
  let lastRunFork: ((effect: Effect.Effect<unknown, unknown, never>) => Fiber.Fiber<unknown, unknown>) | undefined
  // Whether calls in that context are spans: decided once per context, so a
  // program without a tracing backend pays one boolean test per call.
  let lastTracing = false
  return Effect.callback<unknown, unknown, unknown>((resume) => {
    const fiber = Fiber.getCurrent()!
    if (fiber.context !== lastContext) {
      lastContext = fiber.context
      lastRegistry = Context.get(fiber.context as Context.Context<CircuitRegistry>, CircuitRegistry)
      lastClock = fiber.getRef(Clock.Clock)
      lastDeadlines = deadlinesOf(lastRegistry, lastClock)
      lastRunFork = Effect.runForkWith(fiber.context)
      lastCell = undefined
      lastTracing = traceable && (options.trace ?? lastRegistry.tracing) && isTracing(fiber)
    }
    const clock = lastClock!
    const now = monotonicMillis(clock)
    let cell = lastCell
    if (cell === undefined || cell.retired) {
      if (lastRegistry!.closed) return resume(closed(name, options))
      cell = lastCell = cellOf(lastRegistry!.cell(name, now))
    }
    cell.lastUsed = now
    if (lastTracing) return resume(traced(cell, now, options, (traceOptions) => execute(self, name, traceOptions, false)))

    const generation = CallPath.admit(cell, now, options.fallback !== undefined, clock)
    if (typeof generation !== "number") {
      if (generation === CallPath.QUEUE) return queue(self, cell, clock, lastDeadlines!, options, now, fiber.context, resume)
      return resume(fail(cell, clock, options, now, now, generation))
    }
    // Calls running now, this one included: what an adaptive limit learns the call's latency at.
    const inFlight = cell.active

    // The effect runs in a fiber of its own, started at once: the caller can
    // then be answered at the deadline even if the effect ignores interruption,
    // and the permit is returned by that fiber's own end, whenever that is.
    const child = lastRunFork!(self as Effect.Effect<unknown, unknown, never>)
    const exit = child.pollUnsafe()
    if (exit !== undefined) {
      CallPath.release(cell)
      return resume(complete(cell, clock, options, now, generation, inFlight, exit))
    }
    child.addObserver(cell.release)
    return wait(cell, clock, lastDeadlines!, options, now, generation, inFlight, child, fiber.context, resume)
  })
}

// A call after the registry closed: no circuit to run in or record to; the
// fallback, if any, still answers (the error type promises it).
const closed = (name: string, options: AnyOptions): Effect.Effect<unknown, unknown, unknown> => {
  const error = new CircuitRegistryClosedError({ circuit: name })
  if (options.fallback === undefined) return Effect.fail(error)
  let effect: Effect.Effect<unknown, unknown, unknown>
  try {
    effect = options.fallback(error)
    if (!Effect.isEffect(effect)) effect = Effect.die(new TypeError(`the fallback of circuit "${name}" did not return an Effect`))
  } catch (defect) {
    effect = Effect.die(defect)
  }
  return Effect.catchCause(effect, (fallbackCause) =>
    Cause.hasInterruptsOnly(fallbackCause)
      ? Effect.failCause(fallbackCause)
      : Cause.findErrorOption(fallbackCause)._tag === "Some"
      ? Effect.fail(new CircuitFallbackError({ circuit: name, cause: Cause.fail(error), fallbackCause }))
      : Effect.failCause(Cause.combine(Cause.fail(error), fallbackCause)))
}

// No permit free: the call waits in the circuit's queue (see
// internal/waitQueue.ts) until it is handed one, its `maxQueueWait` runs
// out, the registry closes or the caller is interrupted, whichever is first.
// Its wait has an entry in the deadline queue, as a call in flight has.
// Returns what to do if the caller is interrupted meanwhile.
const queue = (
  self: Effect.Effect<unknown, unknown, unknown>,
  cell: Cell,
  clock: Clock.Clock,
  deadlines: Deadlines,
  options: AnyOptions,
  now: number,
  context: Context.Context<never>,
  resume: (effect: Effect.Effect<unknown, unknown, unknown>) => void
): Effect.Effect<void> => {
  // What to do on interruption once the call runs.
  let running: Effect.Effect<void> | undefined
  const entry: Entry = {
    deadline: now + cell.maxQueueWaitMillis,
    live: false,
    onDeadline: () => {
      const at = monotonicMillis(clock)
      const error = WaitQueue.expire(cell, waiter, at)
      if (error !== undefined) resume(fail(cell, clock, options, waiter.queuedAt, at, error))
    },
    // The registry closed: answered with an interruption, nothing recorded.
    onClose: () => {
      if (WaitQueue.drop(cell, waiter)) resume(Effect.interrupt)
    }
  }
  const waiter: WaitQueue.Waiter = {
    prev: undefined,
    next: undefined,
    queued: false,
    generation: 0,
    queuedAt: now,
    hasFallback: options.fallback !== undefined,
    clock,
    now: () => monotonicMillis(clock),
    // The call starts now, as an admitted call does in `execute`; its timeout with it.
    admitted: (at, generation, inFlight) => {
      deadlines.cancel(entry)
      const child = Effect.runForkWith(context)(self as Effect.Effect<unknown, unknown, never>)
      const exit = child.pollUnsafe()
      if (exit !== undefined) {
        CallPath.release(cell)
        return resume(complete(cell, clock, options, at, generation, inFlight, exit))
      }
      child.addObserver(cell.release)
      running = wait(cell, clock, deadlines, options, at, generation, inFlight, child, context, resume)
    },
    refused: (at, error) => {
      deadlines.cancel(entry)
      resume(fail(cell, clock, options, waiter.queuedAt, at, error))
    }
  }
  WaitQueue.enqueue(cell, waiter, now)
  deadlines.add(entry, context)
  return Effect.suspend(() => {
    if (WaitQueue.leave(cell, waiter, monotonicMillis(clock))) {
      deadlines.cancel(entry)
      return Effect.void
    }
    return running ?? Effect.void
  })
}

// The effect suspended: wait for its end, its deadline or the registry's
// close, whichever is first. Returns what to do if the caller is interrupted
// meanwhile.
const wait = (
  cell: Cell,
  clock: Clock.Clock,
  deadlines: Deadlines,
  options: AnyOptions,
  startedAt: number,
  generation: number,
  inFlight: number,
  child: Fiber.Fiber<unknown, unknown>,
  context: Context.Context<never>,
  resume: (effect: Effect.Effect<unknown, unknown, unknown>) => void
): Effect.Effect<void> => {
  let settled = false
  const timeoutMillis = cell.timeoutMillis
  const removeObserver = child.addObserver((exit) => {
    if (settled) return
    settled = true
    deadlines.cancel(entry)
    resume(complete(cell, clock, options, startedAt, generation, inFlight, exit))
  })
  // Every call in flight has an entry, with or without a timeout, so that
  // closing the registry reaches it.
  const entry: Entry = {
    deadline: timeoutMillis === undefined ? Infinity : startedAt + timeoutMillis,
    live: false,
    onDeadline: () => {
      if (settled) return
      settled = true
      removeObserver()
      child.interruptUnsafe()
      const at = record(cell, clock, startedAt, generation, inFlight, "Timeout", options.fallback !== undefined)
      resume(fail(cell, clock, options, startedAt, at, CallPath.timeoutError(cell, timeoutMillis!)))
    },
    // The registry closed: the effect is interrupted (its permit comes back
    // when it ends), the caller is answered at once with an interruption, and
    // nothing is recorded.
    onClose: () => {
      if (settled) return
      settled = true
      removeObserver()
      child.interruptUnsafe()
      resume(Effect.interrupt)
    }
  }
  if (!settled) deadlines.add(entry, context)
  // The caller was interrupted: interrupt the effect, wait for it to end (its
  // permit is back by then), and record no failure.
  return Effect.suspend(() => {
    if (settled) return Effect.void
    settled = true
    removeObserver()
    deadlines.cancel(entry)
    return Effect.map(Fiber.interrupt(child), () => {
      record(cell, clock, startedAt, generation, inFlight, "Interrupted")
    })
  })
}

const record = (
  cell: Cell,
  clock: Clock.Clock,
  startedAt: number,
  generation: number,
  inFlight: number,
  outcome: CallPath.Outcome,
  fallbackFollows = false,
  retryAfterMillis?: number
): number => {
  const at = monotonicMillis(clock)
  CallPath.record(cell, startedAt, at, generation, outcome, fallbackFollows, inFlight, retryAfterMillis, clock)
  return at
}

// Records the outcome of an effect that ended, and says what the caller gets.
const complete = (
  cell: Cell,
  clock: Clock.Clock,
  options: AnyOptions,
  startedAt: number,
  generation: number,
  inFlight: number,
  exit: Exit.Exit<unknown, unknown>
): Effect.Effect<unknown, unknown, unknown> => {
  if (Exit.isSuccess(exit)) {
    record(cell, clock, startedAt, generation, inFlight, "Success")
    return exit
  }
  const cause = exit.cause
  if (Cause.hasInterruptsOnly(cause)) {
    record(cell, clock, startedAt, generation, inFlight, "Interrupted")
    return exit
  }
  const error = Cause.findErrorOption(cause)
  const typed = error._tag === "Some"
  // Every shell's rule (internal/failure.ts): a bad request, or an error
  // `isFailure` refuses, goes back to the caller as it is: not counted, not
  // handed to the fallback.
  const verdict = failureVerdict(options, typed ? error.value : cause, typed)
  if (verdict.outcome === "Ignored") {
    record(cell, clock, startedAt, generation, inFlight, "Ignored")
    return exit
  }
  // A throwing classifier counts the call as failed and surfaces the throw.
  const thrown = verdict.thrown === undefined ? undefined : Cause.die(verdict.thrown.thrown)
  const fallbackFollows = thrown === undefined && typed && options.fallback !== undefined
  const at = record(cell, clock, startedAt, generation, inFlight, "Failure", fallbackFollows, verdict.retryAfterMillis)
  if (thrown !== undefined) return Effect.failCause(Cause.combine(cause, thrown))
  if (fallbackFollows) {
    return fallback(cell, clock, options, startedAt, at, (error as { readonly value: unknown }).value, cause)
  }
  return exit
}

const fail = (
  cell: Cell,
  clock: Clock.Clock,
  options: AnyOptions,
  startedAt: number,
  now: number,
  error: CircuitError
): Effect.Effect<unknown, unknown, unknown> =>
  options.fallback === undefined
    ? Effect.fail(error)
    : fallback(cell, clock, options, startedAt, now, error, undefined)

// The fallback's result is the call's; it is recorded as an event and never
// moves the breaker. A fallback that is already a value (`Effect.succeed`)
// ends when it starts, at `now`, and costs no extra step (nor a permit past
// this instant, though it is refused like any other when the limit is full).
// Calling `options.fallback` only builds the effect: whether it may run is
// decided when it would start.
const fallback = (
  cell: Cell,
  clock: Clock.Clock,
  options: AnyOptions,
  startedAt: number,
  now: number,
  error: unknown,
  // The call's cause; undefined when it is just `error` (built only if the fallback fails).
  cause: Cause.Cause<unknown> | undefined
): Effect.Effect<unknown, unknown, unknown> => {
  let effect: Effect.Effect<unknown, unknown, unknown>
  try {
    effect = options.fallback!(error)
  } catch (defect) {
    effect = Effect.die(defect)
  }
  if (isExit(effect)) {
    if (CallPath.fallbacksFull(cell)) {
      CallPath.fallbackRejected(cell, startedAt, now, clock)
      return rejectedFallback(cell, error)
    }
    return fallbackEnded(cell, clock, startedAt, now, error, cause, effect)
  }
  // Only untyped code can return something else; make it a defect of the call, not of the runtime.
  if (!Effect.isEffect(effect)) effect = Effect.die(new TypeError(`the fallback of circuit "${cell.name}" did not return an Effect`))
  // The limit off (the default), nothing is counted, so nothing is given back.
  if (cell.maxConcurrentFallbacks === Infinity) {
    return Effect.flatMap(
      Effect.exit(effect),
      (exit) => fallbackEnded(cell, clock, startedAt, monotonicMillis(clock), error, cause, exit)
    )
  }
  const run = effect
  // The permit is taken when the fallback starts, in the caller's fiber, and
  // given back when it ends however it ends: taken uninterruptibly, so that
  // an interruption between the two cannot keep it.
  return Effect.uninterruptibleMask((restore) => {
    if (!CallPath.takeFallback(cell)) {
      CallPath.fallbackRejected(cell, startedAt, monotonicMillis(clock), clock)
      return rejectedFallback(cell, error)
    }
    return Effect.flatMap(Effect.exit(restore(run)), (exit) => {
      CallPath.releaseFallback(cell)
      return fallbackEnded(cell, clock, startedAt, monotonicMillis(clock), error, cause, exit)
    })
  })
}

// The call's type promises that its fallback answers, so a rejection (a limit
// in the settings) is a defect holding what the fallback would have had.
const rejectedFallback = (cell: Cell, error: unknown): Effect.Effect<never> =>
  Effect.die(CallPath.fallbackRejectedError(cell, error))

// `Exit.isExit`, with a first test that costs one prototype read: most
// fallbacks return a value (`Effect.succeed`), which is an `Exit`.
const successPrototype: unknown = Object.getPrototypeOf(Exit.void)
const failurePrototype: unknown = Object.getPrototypeOf(Exit.fail(undefined))
const isExit = (u: unknown): u is Exit.Exit<unknown, unknown> => {
  if (typeof u !== "object" || u === null) return false
  const prototype: unknown = Object.getPrototypeOf(u)
  return prototype === successPrototype || prototype === failurePrototype || Exit.isExit(u)
}

const fallbackEnded = (
  cell: Cell,
  clock: Clock.Clock,
  startedAt: number,
  at: number,
  error: unknown,
  callCause: Cause.Cause<unknown> | undefined,
  exit: Exit.Exit<unknown, unknown>
): Effect.Effect<unknown, unknown, unknown> => {
  if (Exit.isSuccess(exit)) {
    CallPath.fallbackSucceeded(cell, startedAt, at, clock)
    return exit
  }
  if (Cause.hasInterruptsOnly(exit.cause)) return exit
  CallPath.fallbackFailed(cell, startedAt, at, clock)
  const cause = callCause ?? Cause.fail(error)
  return Cause.findErrorOption(exit.cause)._tag === "Some"
    ? Effect.fail(new CircuitFallbackError({ circuit: cell.name, cause, fallbackCause: exit.cause }))
    : Effect.failCause(Cause.combine(cause, exit.cause))
}

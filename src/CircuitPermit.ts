/**
 * Two-step calls: admit now, report the outcome later. For work that is not
 * one effect — a streamed response, a callback API, a connection handed to
 * other code — as gobreaker's `TwoStepCircuitBreaker` and hystrix-go's
 * `ReportEvent` do it, in Effect's idiom: the permit is a scoped resource.
 *
 * **Details**
 *
 * - `admit(name, options?)` goes through exactly the admission of
 *   `withCircuit`: the circuit check (`CircuitOpenError`), the half-open
 *   probe, a concurrency permit (`CircuitRejectedError` when none is free),
 *   an adaptive limit, a fleet store. A refused admission is recorded as
 *   `withCircuit` records it. With a wait queue (`queueCapacity`) it waits
 *   like a `withCircuit` call, as resilience4j's `acquirePermission` waits
 *   up to `maxWaitDuration`: in the same queue, first come first served,
 *   asked to the circuit again when handed a permit, rejected when the queue
 *   is full (`reason: "queue-full"`) or after `maxQueueWait`
 *   (`"queue-timeout"`), failed with `CircuitRegistryClosedError` if the
 *   registry closes; an interrupted waiter takes nothing.
 * - The permit is reported once: `success`, `failure(error)` (classified as
 *   `withCircuit` classifies a failure: a `CircuitBadRequest` or an error
 *   `isFailure` refuses is `ignored`, `retryAfter` lengthens an opening),
 *   `ignore`, or `report(exit)` with an `Exit`. Each answers `true` if it
 *   decided the outcome and `false` if the outcome was already decided (a
 *   second report, after the timeout, after the registry closed): such a
 *   report changes nothing, but still gives the permit back.
 * - The circuit's timeout applies from the admission (for a waiter, from the
 *   moment it is handed its permit), on the registry's one
 *   queue of deadlines (no timer per permit): at the deadline the outcome
 *   `timeout` is recorded, `expired` fails with `CircuitTimeoutError` and
 *   `signal` aborts, so that the work can be stopped. The permit itself is
 *   held until a report or the scope's close, like a timed-out `withCircuit`
 *   call keeps its permit until its effect has really ended: running work
 *   never exceeds `maxConcurrentRequests`.
 * - A permit never reported is released and recorded when its scope
 *   closes, by the scope's `Exit`: an interruption is `interrupted`, a
 *   failure is classified like `failure` (a defect counts as a failure), and
 *   a success is `ignored` (the work never said how it went, so it neither
 *   counts nor changes the state; a probe's slot is freed, as
 *   resilience4j's `releasePermission`).
 * - Closing the registry answers every permit still outstanding: the
 *   outcome `interrupted` (if none was recorded), the permit back, `signal`
 *   aborted and `expired` interrupted.
 * - Exactly one outcome per admission: events, metrics, the Hystrix stream
 *   and the latency percentiles see a two-step call as any other call, its
 *   duration running from the admission to the report (or the timeout).
 *
 * **Gotchas**
 *
 * - A report after the timeout changes nothing (the call is a timeout),
 *   but it is still what gives the permit back.
 * - `expired` never completes for a permit reported in time: race work
 *   against it, do not wait for it alone.
 * - With a tracing backend installed, a two-step call is a span
 *   `circuit <name>` from the admission to its outcome, with the attributes
 *   of `withCircuit`'s span; it is not the parent of the work's own spans
 *   (the work is not one effect run under it).
 *
 * **Example** (A streamed response)
 *
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { Circuit, CircuitRegistry } from "effect-circuit"
 *
 * const chunks = Stream.make("a", "b", "c")
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const permit = yield* Circuit.admit("feed")
 *   const body = yield* Stream.runCollect(chunks).pipe(
 *     Effect.raceFirst(permit.expired),
 *     Effect.onExit(permit.report)
 *   )
 *   return body.join("")
 * }))
 *
 * Effect.runPromise(program.pipe(Effect.provide(CircuitRegistry.layer()))) // "abc"
 * ```
 *
 * @since 0.3.0
 */
import { Cause, Clock, Context, Effect, Exit, type Fiber, Option, Scope, type Tracer } from "effect"
import * as Breaker from "./core/Breaker.ts"
import { CircuitRegistry, type CircuitRegistryShape } from "./CircuitRegistry.ts"
import {
  type CircuitOpenError,
  CircuitRegistryClosedError,
  type CircuitRejectedError,
  type CircuitTimeoutError
} from "./errors.ts"
import * as CallPath from "./internal/callPath.ts"
import { type Cell, cellOf } from "./internal/cell.ts"
import { type Deadlines, deadlinesOf, type Entry } from "./internal/deadline.ts"
import { failureVerdict } from "./internal/failure.ts"
import { monotonicMillis } from "./internal/time.ts"
import { attributes, isTracing } from "./internal/tracing.ts"
import * as WaitQueue from "./internal/waitQueue.ts"
import type { Failure, Options } from "./withCircuit.ts"

/**
 * What a two-step call came to, as events name it.
 *
 * @since 0.3.0
 * @category models
 */
export type PermitOutcome = "success" | "failure" | "timeout" | "interrupted" | "ignored"

/**
 * Options of `admit`: how a reported failure is classified, as for
 * `withCircuit` (there is no fallback: the caller handles a refusal).
 *
 * @since 0.3.0
 * @category models
 */
export interface AdmitOptions<E> {
  /** What counts as a failure. Default: every reported error and every defect. */
  readonly isFailure?: ((failure: Failure<E>) => boolean) | undefined
  /** The downstream's Retry-After carried by a reported error; see `withCircuit`'s option. */
  readonly retryAfter?: Options<E>["retryAfter"]
  /**
   * Whether the call is a span when a tracer is installed: `circuit <name>`,
   * from the admission to the outcome, with `withCircuit`'s attributes.
   * Default: the registry's `tracing` setting (on).
   */
  readonly trace?: boolean | undefined
}

/**
 * A call admitted by its circuit, to be reported once.
 *
 * @since 0.3.0
 * @category models
 */
export interface CircuitPermit<E = unknown> {
  readonly circuit: string
  /** Records a success. `true` if this report decided the outcome. */
  readonly success: Effect.Effect<boolean>
  /**
   * Records a failure with the error, classified like `withCircuit`'s
   * (`isFailure`, a bad request, `retryAfter`). A classifier that throws
   * counts the call as failed, and the report dies with its throw.
   */
  readonly failure: (error: E) => Effect.Effect<boolean>
  /** Records that the call does not count (`ignored`): not a request, frees a probe's slot. */
  readonly ignore: Effect.Effect<boolean>
  /**
   * Records the outcome an `Exit` stands for, as `withCircuit` records its
   * effect's: a success, an interruption, a failure or defect (classified).
   * Fits `Effect.onExit(permit.report)`, also for work raced against
   * `expired` (its `CircuitTimeoutError` comes after the outcome `timeout`,
   * so reporting it changes nothing).
   */
  readonly report: <A>(exit: Exit.Exit<A, E | CircuitTimeoutError>) => Effect.Effect<boolean>
  /**
   * Fails with `CircuitTimeoutError` at the circuit's timeout, and is
   * interrupted if the registry closes first; never completes otherwise.
   * Race the work against it to stop the work at the deadline.
   */
  readonly expired: Effect.Effect<never, CircuitTimeoutError>
  /**
   * Aborts at the timeout (reason: the `CircuitTimeoutError`), at the
   * registry's close, or when the scope closes without a report: for
   * Promise-based work (`fetch`, streams) inside the Effect.
   */
  readonly signal: AbortSignal
  /** The outcome recorded so far, if any. */
  readonly outcome: Effect.Effect<Option.Option<PermitOutcome>>
}

type AnyOptions = AdmitOptions<unknown>

/**
 * Admits one call of the circuit `name` (created with the registry's
 * settings on first use) and returns its permit, which belongs to the
 * current `Scope`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const admit = <E = unknown>(
  name: string,
  options?: AdmitOptions<E>
): Effect.Effect<
  CircuitPermit<E>,
  CircuitOpenError | CircuitRejectedError | CircuitRegistryClosedError,
  CircuitRegistry | Scope.Scope
> =>
  // Admission and the scope's finalizer in one uninterruptible step: a
  // permit taken is always owned by the scope.
  Effect.uninterruptible(Effect.withFiber((fiber) => {
    const registry = Context.get(fiber.context as Context.Context<CircuitRegistry>, CircuitRegistry)
    const tracing = (options?.trace ?? registry.tracing) && isTracing(fiber)
    if (!tracing) return admitWith<E>(fiber, name, options, undefined)
    return Effect.flatMap(
      Effect.makeSpan(`circuit ${name}`),
      (span) => Effect.withFiber((fiber) => admitWith<E>(fiber, name, options, span))
    )
  }))

const admitWith = <E>(
  fiber: Fiber.Fiber<unknown, unknown>,
  name: string,
  options: AdmitOptions<E> | undefined,
  span: Tracer.Span | undefined
): Effect.Effect<CircuitPermit<E>, CircuitOpenError | CircuitRejectedError | CircuitRegistryClosedError> => {
  const context = fiber.context as Context.Context<CircuitRegistry | Scope.Scope>
  const registry = Context.get(context, CircuitRegistry)
  const clock = fiber.getRef(Clock.Clock)
  if (registry.closed) {
    const error = new CircuitRegistryClosedError({ circuit: name })
    span?.end(clock.currentTimeNanosUnsafe(), Exit.fail(error))
    return Effect.fail(error)
  }
  const now = monotonicMillis(clock)
  const cell = cellOf(registry.cell(name, now))
  cell.lastUsed = now
  if (span !== undefined) {
    const admission = Breaker.admit(cell.breaker, now)
    span.attribute(attributes.name, name)
    span.attribute(attributes.state, Breaker.stateName(cell.breaker))
    span.attribute(attributes.admission, admission)
    span.attribute(attributes.open, admission === "short-circuit")
  }
  const generation = CallPath.admit(cell, now, false, clock)
  if (generation === CallPath.QUEUE) return queue<E>(registry, cell, clock, context, options, now, span)
  if (typeof generation !== "number") {
    if (span !== undefined) endSpan(span, clock, refusalOutcome(generation), Exit.fail(generation))
    return Effect.fail(generation)
  }
  return grant<E>(registry, cell, clock, context, options, now, generation, cell.active, span).owned
}

// The permit of a call admitted at `now` in `generation`, with `inFlight`
// calls running (itself included): its deadline starts now. It gets a scope
// of its own inside the caller's, so that a permit reported early leaves
// nothing behind in a long-lived scope; `owned` hands it to that scope.
const grant = <E>(
  registry: CircuitRegistryShape,
  cell: Cell,
  clock: Clock.Clock,
  context: Context.Context<CircuitRegistry | Scope.Scope>,
  options: AdmitOptions<E> | undefined,
  now: number,
  generation: number,
  inFlight: number,
  span: Tracer.Span | undefined
): Permit<E> => {
  const scope = Scope.forkUnsafe(Context.get(context, Scope.Scope))
  const permit = new Permit<E>(
    cell,
    clock,
    deadlinesOf(registry, clock),
    (options ?? {}) as AnyOptions,
    now,
    generation,
    inFlight,
    scope,
    span
  )
  permit.start(context as Context.Context<never>)
  return permit
}

// Every permit in use, or calls already waiting, and a queue with room: the
// admission waits in the circuit's queue as a `withCircuit` call does (see
// internal/waitQueue.ts), first come first served, until it is handed a
// permit (asked to the circuit again then), its `maxQueueWait` runs out
// (`queue-timeout`), the registry closes (`CircuitRegistryClosedError`) or
// the caller is interrupted (it takes nothing). Only this wait is
// interruptible: a permit handed over is owned by the scope in the same
// step, so a caller interrupted right after still has it reported (as
// `interrupted`) when its scope closes.
const queue = <E>(
  registry: CircuitRegistryShape,
  cell: Cell,
  clock: Clock.Clock,
  context: Context.Context<CircuitRegistry | Scope.Scope>,
  options: AdmitOptions<E> | undefined,
  now: number,
  span: Tracer.Span | undefined
): Effect.Effect<CircuitPermit<E>, CircuitOpenError | CircuitRejectedError | CircuitRegistryClosedError> =>
  Effect.interruptible(Effect.callback<CircuitPermit<E>, CircuitOpenError | CircuitRejectedError | CircuitRegistryClosedError>((resume) => {
    const deadlines = deadlinesOf(registry, clock)
    const refuse = (error: CircuitOpenError | CircuitRejectedError | CircuitRegistryClosedError, outcome: string): void => {
      if (span !== undefined) endSpan(span, clock, outcome, Exit.fail(error))
      resume(Effect.fail(error))
    }
    const entry: Entry = {
      deadline: now + cell.maxQueueWaitMillis,
      live: false,
      onDeadline: () => {
        const error = WaitQueue.expire(cell, waiter, monotonicMillis(clock))
        if (error !== undefined) refuse(error, "queue-timeout")
      },
      // The registry closed: nothing recorded, as for a waiting `withCircuit` call.
      onClose: () => {
        if (WaitQueue.drop(cell, waiter)) refuse(new CircuitRegistryClosedError({ circuit: cell.name }), "interrupted")
      }
    }
    const waiter: WaitQueue.Waiter = {
      prev: undefined,
      next: undefined,
      queued: false,
      generation: 0,
      queuedAt: now,
      hasFallback: false,
      clock,
      now: () => monotonicMillis(clock),
      // The permit and its deadline start now, at the hand-off.
      admitted: (at, generation, inFlight) => {
        deadlines.cancel(entry)
        // Owned by the scope here, in the hand-off's step: whatever happens
        // to the caller from now on, the scope's close reports the permit.
        const permit = grant<E>(registry, cell, clock, context, options, at, generation, inFlight, span)
        resume(Effect.succeed(Effect.runSync(permit.owned)))
      },
      refused: (_at, error) => {
        deadlines.cancel(entry)
        refuse(error, refusalOutcome(error))
      }
    }
    WaitQueue.enqueue(cell, waiter, now)
    deadlines.add(entry, context as Context.Context<never>)
    return Effect.sync(() => {
      if (WaitQueue.leave(cell, waiter, monotonicMillis(clock))) {
        deadlines.cancel(entry)
        if (span !== undefined) endSpan(span, clock, "interrupted", Exit.interrupt())
      }
    })
  }))

const refusalOutcome = (error: CircuitOpenError | CircuitRejectedError): string =>
  error._tag === "CircuitOpenError" ? "short-circuited" : error.reason === "queue-timeout" ? "queue-timeout" : "rejected"

const endSpan = (span: Tracer.Span, clock: Clock.Clock, outcome: string, exit: Exit.Exit<unknown, unknown>): void => {
  span.attribute(attributes.outcome, outcome)
  span.attribute(attributes.fallback, "none")
  span.end(clock.currentTimeNanosUnsafe(), exit)
}

// A classified outcome: what to record, the Retry-After, and a classifier's throw.
interface Verdict {
  readonly outcome: CallPath.Outcome
  readonly retryAfterMillis?: number | undefined
  readonly thrown?: { readonly thrown: unknown } | undefined
}

// How `withCircuit` classifies its effect's end, for a reported Exit: a
// failure by every shell's rule (internal/failure.ts).
const exitVerdict = (options: AnyOptions, exit: Exit.Exit<unknown, unknown>): Verdict => {
  if (Exit.isSuccess(exit)) return SUCCESS
  const cause = exit.cause
  if (Cause.hasInterruptsOnly(cause)) return INTERRUPTED
  const error = Cause.findErrorOption(cause)
  return error._tag === "Some" ? failureVerdict(options, error.value, true) : failureVerdict(options, cause, false)
}

const SUCCESS: Verdict = { outcome: "Success" }
const INTERRUPTED: Verdict = { outcome: "Interrupted" }
const IGNORED: Verdict = { outcome: "Ignored" }

// One admitted call. `recorded`: its outcome (set exactly once); `held`: the
// concurrency permit is still taken (given back exactly once).
class Permit<E> implements CircuitPermit<E> {
  readonly circuit: string
  private recorded: CallPath.Outcome | undefined = undefined
  private held = true
  private closedRegistry = false
  // Why `signal` aborts, once it has to (a box: the reason may be undefined).
  private aborted: { readonly reason: unknown } | undefined = undefined
  private controller: AbortController | undefined = undefined
  private waiters: Array<(effect: Effect.Effect<never, CircuitTimeoutError>) => void> = []
  // The deadline's entry; after the timeout, an entry without a deadline
  // (only the registry's close reaches it) while the permit is still held.
  private entry: Entry
  private context: Context.Context<never> | undefined = undefined
  private readonly cell: Cell
  private readonly clock: Clock.Clock
  private readonly deadlines: Deadlines
  private readonly options: AnyOptions
  private readonly startedAt: number
  private readonly generation: number
  private readonly inFlight: number
  private readonly timeoutMillis: number | undefined
  private readonly scope: Scope.Closeable
  private readonly span: Tracer.Span | undefined

  constructor(
    cell: Cell,
    clock: Clock.Clock,
    deadlines: Deadlines,
    options: AnyOptions,
    startedAt: number,
    generation: number,
    inFlight: number,
    scope: Scope.Closeable,
    span: Tracer.Span | undefined
  ) {
    this.circuit = cell.name
    this.cell = cell
    this.clock = clock
    this.deadlines = deadlines
    this.options = options
    this.startedAt = startedAt
    this.generation = generation
    this.inFlight = inFlight
    this.scope = scope
    this.span = span
    const timeoutMillis = cell.timeoutMillis
    this.timeoutMillis = timeoutMillis
    this.entry = {
      deadline: timeoutMillis === undefined ? Infinity : startedAt + timeoutMillis,
      live: false,
      onDeadline: () => this.onDeadline(),
      onClose: () => this.onRegistryClose()
    }
  }

  // Every permit is in the queue, with or without a timeout, so that the
  // registry's close reaches it.
  start(context: Context.Context<never>): void {
    this.context = context
    this.deadlines.add(this.entry, context)
  }

  /** Hands the permit to its scope, whose close reports it if nothing else has. */
  get owned(): Effect.Effect<CircuitPermit<E>> {
    return Effect.as(Scope.addFinalizerExit(this.scope, (exit) => Effect.sync(() => this.onScopeClose(exit))), this)
  }

  get success(): Effect.Effect<boolean> {
    return this.reportWith(() => SUCCESS, Exit.void)
  }

  get ignore(): Effect.Effect<boolean> {
    return this.reportWith(() => IGNORED, Exit.void)
  }

  readonly failure = (error: E): Effect.Effect<boolean> =>
    this.reportWith(() => failureVerdict(this.options, error, true), this.span === undefined ? undefined : Exit.fail(error))

  readonly report = <A>(exit: Exit.Exit<A, E | CircuitTimeoutError>): Effect.Effect<boolean> =>
    this.reportWith(() => exitVerdict(this.options, exit), exit)

  get outcome(): Effect.Effect<Option.Option<PermitOutcome>> {
    return Effect.sync(() => this.recorded === undefined ? Option.none() : Option.some(CallPath.outcomeKinds[this.recorded]))
  }

  get expired(): Effect.Effect<never, CircuitTimeoutError> {
    return Effect.callback<never, CircuitTimeoutError>((resume) => {
      if (this.recorded === "Timeout") return resume(Effect.fail(this.timeoutError()))
      if (this.closedRegistry) return resume(Effect.interrupt)
      // Reported in time: never.
      if (this.recorded !== undefined) return
      this.waiters.push(resume)
      return Effect.sync(() => {
        const i = this.waiters.indexOf(resume)
        if (i >= 0) this.waiters.splice(i, 1)
      })
    })
  }

  get signal(): AbortSignal {
    // Made on first use: a permit whose signal nobody reads costs no controller.
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.aborted !== undefined) this.controller.abort(this.aborted.reason)
    }
    return this.controller.signal
  }

  // A report: the permit back, the outcome if none was recorded yet, and the
  // permit's scope closed (it then holds nothing of the caller's scope).
  private reportWith(verdict: () => Verdict, exit: Exit.Exit<unknown, unknown> | undefined): Effect.Effect<boolean> {
    // One synchronous step, so nothing can interrupt it halfway.
    return Effect.suspend(() => {
      this.giveBack()
      const decided = this.recorded === undefined
      let thrown: { readonly thrown: unknown } | undefined
      if (decided) {
        const v = verdict()
        thrown = v.thrown
        this.record(v.outcome, v.retryAfterMillis, exit)
        // Whoever waits for the deadline waits in vain now.
        this.waiters = []
      }
      // Detaches the permit's scope from the caller's. Its one finalizer
      // (`onScopeClose`) has nothing left to do now, so it is not run.
      Scope.closeUnsafe(this.scope, Exit.void)
      return thrown === undefined ? Effect.succeed(decided) : Effect.die(thrown.thrown)
    })
  }

  // The scope closed: after a report, nothing left to do; without one, the
  // scope's Exit decides (a success that never said how it went is ignored).
  onScopeClose(exit: Exit.Exit<unknown, unknown>): void {
    this.giveBack()
    if (this.recorded !== undefined) return
    const verdict: Verdict = Exit.isSuccess(exit) ? IGNORED : exitVerdict(this.options, exit)
    this.record(verdict.outcome, verdict.retryAfterMillis, exit)
    this.waiters = []
    this.abort(undefined)
  }

  private onDeadline(): void {
    if (this.recorded !== undefined) return
    const error = this.timeoutError()
    this.record("Timeout", undefined, Exit.fail(error))
    this.abort(error)
    this.wake(Effect.fail(error))
    // Still held (it always is here, or the outcome would be recorded).
    if (this.held) {
      this.entry = { deadline: Infinity, live: false, onDeadline: () => {}, onClose: () => this.onRegistryClose() }
      this.deadlines.add(this.entry, this.context!)
    }
  }

  private onRegistryClose(): void {
    this.closedRegistry = true
    if (this.held) {
      this.held = false
      CallPath.release(this.cell)
    }
    if (this.recorded !== undefined) return
    this.record("Interrupted", undefined, Exit.interrupt())
    this.abort(undefined)
    this.wake(Effect.interrupt)
  }

  private giveBack(): void {
    if (!this.held) return
    this.held = false
    CallPath.release(this.cell)
    this.deadlines.cancel(this.entry)
  }

  private record(
    outcome: CallPath.Outcome,
    retryAfterMillis: number | undefined,
    exit: Exit.Exit<unknown, unknown> | undefined
  ): void {
    this.recorded = outcome
    this.deadlines.cancel(this.entry)
    CallPath.record(
      this.cell,
      this.startedAt,
      monotonicMillis(this.clock),
      this.generation,
      outcome,
      false,
      this.inFlight,
      retryAfterMillis,
      this.clock
    )
    if (this.span !== undefined) endSpan(this.span, this.clock, CallPath.outcomeKinds[outcome], exit ?? Exit.void)
  }

  private abort(reason: unknown): void {
    this.aborted = { reason }
    this.controller?.abort(reason)
  }

  private wake(effect: Effect.Effect<never, CircuitTimeoutError>): void {
    const waiters = this.waiters
    this.waiters = []
    for (const resume of waiters) resume(effect)
  }

  private timeoutError(): CircuitTimeoutError {
    return CallPath.timeoutError(this.cell, this.timeoutMillis ?? 0)
  }
}

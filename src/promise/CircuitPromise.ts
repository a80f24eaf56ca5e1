/**
 * The circuits of effect-circuit for code written with Promises: a registry
 * of named circuits and `fire(name, fn)`, with no Effect in sight.
 *
 * **Details**
 *
 * - `make(options)` takes the same settings as `CircuitRegistry.layer`
 *   (`defaults`, `circuits`, every field and default the same) and throws
 *   the same `CircuitConfigError` at once if one is bad.
 * - `fire(name, fn, options?)` runs `fn(signal)` under the circuit `name`:
 *   the circuit check (open: `CircuitOpenError` with `retryAfter`, and `fn`
 *   never runs), a permit without waiting (none free: `CircuitRejectedError`;
 *   with `queueCapacity`, the call waits for one, first come first served, up
 *   to `maxQueueWait`), then `fn`, raced against the circuit's timeout
 *   (`CircuitTimeoutError`), which starts with the permit.
 *   `signal` aborts at the timeout, or when the caller's own `signal` option
 *   aborts; pass it on to `fetch` and friends so that the work really stops.
 * - A rejection of `fn` comes back as itself (the same object), and counts
 *   as a failure unless `isFailure` says otherwise; so does a synchronous
 *   throw. A bad request (`CircuitBadRequest`, `BadRequestTypeId`) never
 *   counts and never reaches the fallback, whatever `isFailure` says, as in
 *   `withCircuit`. `fallback(error)` runs for a short-circuit, a rejection,
 *   a timeout or a failure, and its result is the call's.
 * - Admission, the permit, recording and the fallback's accounting are the
 *   very functions `withCircuit` uses, over the same cells and the same pure
 *   core: the rules are the Effect API's, checked by the same
 *   model-based suite.
 * - `fromRegistry(registry)` / `fromContext(context)` give a Promise view of
 *   an Effect `CircuitRegistry`: both APIs then drive the same circuits, and
 *   metrics, the dashboard and the Hystrix stream show every call once.
 *
 * **Gotchas**
 *
 * - The permit of a call that timed out (or whose caller aborted) is kept
 *   until `fn`'s promise settles: a Promise cannot be cancelled, only asked
 *   to stop through `signal`. Running calls never exceed the limit.
 * - A caller's abort answers the call at once with the signal's `reason`,
 *   and counts as an interruption (not a failure, no fallback).
 * - Times are monotonic epoch milliseconds by default (`CircuitClock.system`). Tests
 *   pass `clock: CircuitClock.manual()` and move it with `advance`.
 *
 * **Example** (Guarding a fetch)
 *
 * ```ts
 * import { CircuitPromise } from "effect-circuit/promise"
 *
 * const circuits = CircuitPromise.make({ circuits: { users: { timeout: "2 seconds" } } })
 *
 * const user = await circuits.fire(
 *   "users",
 *   async (signal) => ({ id: 1, aborted: signal.aborted }),
 *   { fallback: () => ({ id: 0, aborted: false }) }
 * )
 * console.log(user.id) // 1
 * circuits.close()
 * ```
 *
 * @since 0.2.0
 */
import { Cause, Clock, Context, type Duration, Effect, Exit, Layer, Scope } from "effect"
import * as Breaker from "../core/Breaker.ts"
import { snapshotOf, type CircuitSnapshot } from "../Circuit.ts"
import type { CircuitConfig, CircuitConfigInput } from "../CircuitConfig.ts"
import type { CircuitEvent, CircuitTransition } from "../CircuitEvent.ts"
import * as CircuitRegistry from "../CircuitRegistry.ts"
import * as CircuitRegistryLayer from "../CircuitRegistryLayer.ts"
import {
  CircuitFallbackError,
  type CircuitOpenError,
  CircuitRegistryClosedError,
  type CircuitRejectedError,
  type CircuitConfigError
} from "../errors.ts"
import * as CallPath from "../internal/callPath.ts"
import { type Cell, cellOf } from "../internal/cell.ts"
import { failureVerdict } from "../internal/failure.ts"
import * as WaitQueue from "../internal/waitQueue.ts"
import { withoutStack } from "../internal/withoutStack.ts"
import * as CircuitClock from "./CircuitClock.ts"
import { DeadlineHeap, type HeapEntry } from "./deadlineHeap.ts"
import * as Permit from "./permit.ts"

/**
 * The name the Promise shell first gave `CircuitRegistryClosedError`: a call
 * made after `close()`, or answered by it, fails with the same class as in
 * the Effect API, so one `instanceof` (or `_tag`) check serves both.
 *
 * @deprecated Use `CircuitRegistryClosedError`.
 * @since 0.2.0
 * @category errors
 */
export const CircuitClosedError = CircuitRegistryClosedError

/**
 * @deprecated Use `CircuitRegistryClosedError`.
 * @since 0.2.0
 * @category errors
 */
export type CircuitClosedError = CircuitRegistryClosedError

/**
 * Options of one `fire`.
 *
 * @since 0.2.0
 * @category models
 */
export interface FireOptions<B> {
  /** Runs for a short-circuit, a rejection, a timeout or a failure; its result is the call's. */
  readonly fallback?: ((error: unknown) => B | PromiseLike<B>) | undefined
  /** What counts as a failure (default: every rejection and throw but a bad request). An error it refuses is returned as it is, uncounted. */
  readonly isFailure?: ((error: unknown) => boolean) | undefined
  /** The caller's own signal: aborting it answers the call with its `reason` and aborts `fn`'s signal. */
  readonly signal?: AbortSignal | undefined
  /**
   * The downstream's Retry-After carried by a failure (an HTTP 429 or 503's
   * header, say): when that failure opens the circuit, the opening lasts at
   * least this long. `undefined` (or a negative, infinite or unreadable
   * duration, or a throw) means none.
   */
  readonly retryAfter?: ((error: unknown) => Duration.Input | undefined) | undefined
}

/**
 * Listeners of `subscribe`. They run synchronously, inside the call that
 * caused them; a listener that throws has its error rethrown in a
 * microtask, and the call goes on.
 *
 * @since 0.2.0
 * @category models
 */
export interface Listeners {
  readonly event?: ((event: CircuitEvent) => void) | undefined
  readonly transition?: ((transition: CircuitTransition) => void) | undefined
}

/**
 * Named circuits for Promise code.
 *
 * @since 0.2.0
 * @category models
 */
export interface CircuitPromise {
  /** Runs `fn(signal)` under the circuit `name`. */
  fire<A, B = never>(
    name: string,
    fn: (signal: AbortSignal) => A | PromiseLike<A>,
    options?: FireOptions<B>
  ): Promise<A | B>
  /**
   * Admits one call of `name` and returns its permit, to report once the
   * work ends (`success()`, `failure(error)`, `ignore()`): the two-step form
   * of `fire`, for work that is not one function (a stream, a callback API).
   * Rejects with `CircuitOpenError`, `CircuitRejectedError` or
   * `CircuitClosedError`. With a wait queue (`queueCapacity`) it waits for a
   * permit like `fire` does, in the same queue (the option `signal` takes it
   * out, with nothing taken). The circuit's timeout bounds the permit, from
   * the moment it is handed over: at the deadline `timeout` is recorded,
   * `signal` aborts and the permit is given back, reported or not.
   */
  admit(name: string, options?: Permit.AdmitOptions): Promise<Permit.Permit>
  /** The circuit's state, window counts, permits in use and settings, now. */
  snapshot(name: string): CircuitSnapshot
  /** Snapshots of every circuit created so far. */
  snapshots(): ReadonlyArray<CircuitSnapshot>
  /** Just the state's name. */
  state(name: string): Breaker.StateName
  /** The names of every circuit created so far. */
  names(): ReadonlyArray<string>
  /** Changes a circuit's settings; throws `CircuitConfigError` and changes nothing if one is bad. */
  configure(name: string, input: CircuitConfigInput): CircuitConfig
  /** Short-circuits every call until `reset` or `forceClosed`. */
  forceOpen(name: string): void
  /** Lets every call through and never trips, until `reset` or `forceOpen`. */
  forceClosed(name: string): void
  /** Closes the circuit with an empty window and forgets its openings. */
  reset(name: string): void
  /** Every event and state change of every circuit from now on; returns the function that unsubscribes. */
  subscribe(listeners: Listeners): () => void
  /**
   * Answers every call in flight with `CircuitRegistryClosedError` (aborting its
   * signal), stops the timer and, for a registry made by `make`, closes it.
   * Later calls fail with `CircuitRegistryClosedError`. Idempotent.
   */
  close(): void
  readonly closed: boolean
  /** The registry underneath, shared with Effect code when made by `fromRegistry`. */
  readonly registry: CircuitRegistry.CircuitRegistryShape
  readonly clock: CircuitClock.CircuitClock
}

/**
 * Options of `make`: the settings of `CircuitRegistry.layer`, and the clock.
 *
 * @since 0.2.0
 * @category models
 */
export interface MakeOptions extends CircuitRegistry.CircuitRegistryOptions {
  /** Default `CircuitClock.system` (monotonic epoch milliseconds, and the runtime's timers). */
  readonly clock?: CircuitClock.CircuitClock | undefined
}

/**
 * A registry of circuits for Promise code. Throws `CircuitConfigError` if a
 * setting is bad.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: MakeOptions = {}): CircuitPromise => {
  let clock: CircuitClock.CircuitClock = CircuitClock.system
  let registryOptions: CircuitRegistry.CircuitRegistryOptions = options
  if (options !== null && typeof options === "object" && "clock" in options) {
    const { clock: given, ...rest } = options
    if (given !== undefined) clock = given
    registryOptions = rest
  }
  const scope = Effect.runSync(Scope.make())
  // The public layer (metrics on unless `metrics: false`), built at once. The
  // registry's own Effect readers (metrics) read this clock too, so that
  // every time stored in a cell is on one time line.
  const built = Effect.runSyncExit(
    Layer.buildWithScope(CircuitRegistryLayer.CircuitRegistry.layer(registryOptions), scope).pipe(
      Effect.provideService(Clock.Clock, CircuitClock.toEffect(clock))
    )
  )
  if (Exit.isFailure(built)) {
    Effect.runSync(Scope.close(scope, Exit.void))
    throw Cause.squash(built.cause)
  }
  const registry = Context.get(built.value, CircuitRegistry.CircuitRegistry)
  return new View(registry, clock, () => Effect.runSync(Scope.close(scope, Exit.void)))
}

/**
 * A Promise view of an Effect `CircuitRegistry`: calls made through it and
 * through `withCircuit` share the same circuits. `clock` must be the time the
 * Effect side records on (default: Effect's default `Clock`); `close()` ends
 * the view's calls and timer, not the registry, which its scope owns. When
 * the registry closes, the view is closed with it at once: its calls,
 * waiters and permits are answered with `CircuitRegistryClosedError`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromRegistry = (
  registry: CircuitRegistry.CircuitRegistryShape,
  options: { readonly clock?: CircuitClock.CircuitClock | undefined } = {}
): CircuitPromise =>
  new View(registry, options.clock ?? CircuitClock.fromEffect(Effect.runSync(Effect.clockWith(Effect.succeed))), () => {})

/**
 * A Promise view of the `CircuitRegistry` in a built context (for instance
 * `await runtime.context()` of a `ManagedRuntime`), on that context's `Clock`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromContext = (context: Context.Context<CircuitRegistry.CircuitRegistry>): CircuitPromise => {
  const registry = Context.get(context, CircuitRegistry.CircuitRegistry)
  const clock = Effect.runSync(Effect.provideContext(Effect.clockWith(Effect.succeed), context))
  return fromRegistry(registry, { clock: CircuitClock.fromEffect(clock, context as Context.Context<never>) })
}

type AnyOptions = FireOptions<unknown>
const noOptions: AnyOptions = {}

const isThenable = (u: unknown): u is PromiseLike<unknown> =>
  u !== null && (typeof u === "object" || typeof u === "function") &&
  typeof (u as { then?: unknown }).then === "function"

const reportListenerError = (error: unknown): void => {
  queueMicrotask(() => {
    throw error
  })
}

class View implements CircuitPromise {
  closed = false
  readonly registry: CircuitRegistry.CircuitRegistryShape
  readonly clock: CircuitClock.CircuitClock
  readonly deadlines: DeadlineHeap<Call | Waiting | Permit.PromisePermit | Permit.PermitWaiter>
  private readonly shutdown: () => void
  private readonly unobserve: () => void

  constructor(registry: CircuitRegistry.CircuitRegistryShape, clock: CircuitClock.CircuitClock, shutdown: () => void) {
    this.registry = registry
    this.clock = clock
    this.shutdown = shutdown
    this.deadlines = new DeadlineHeap<Call | Waiting | Permit.PromisePermit | Permit.PermitWaiter>(clock)
    // The registry's close answers the view's calls at once, as `close()`
    // does, rather than at their deadlines (a view of an Effect registry
    // does not own it).
    this.unobserve = registry.observe({ closed: () => this.close() })
    if (registry.closed) this.close()
  }

  fire<A, B = never>(
    name: string,
    fn: (signal: AbortSignal) => A | PromiseLike<A>,
    options?: FireOptions<B>
  ): Promise<A | B> {
    const opts = (options ?? noOptions) as AnyOptions
    if (typeof fn !== "function") {
      return Promise.reject(new TypeError(`fire("${name}", fn): fn must be a function, got ${typeof fn}`))
    }
    if (this.closed) return Promise.reject(withoutStack(() => new CircuitRegistryClosedError({ circuit: name })))
    const callerSignal = opts.signal
    // Already aborted: the caller has gone; the circuit is not asked.
    if (callerSignal !== undefined && callerSignal.aborted) return Promise.reject(callerSignal.reason)
    const clock = this.clock
    const now = clock.now()
    const cell = cellOf(this.registry.cell(name, now))
    const generation = CallPath.admit(cell, now, opts.fallback !== undefined)
    if (typeof generation !== "number") {
      if (generation === CallPath.QUEUE) return new Waiting(this, cell, fn, opts, now).promise as Promise<A | B>
      return refused(clock, cell, opts, now, generation) as Promise<A | B>
    }
    // Calls running now, this one included: what an adaptive limit learns the call's latency at.
    return run(this, cell, fn, opts, now, generation, cell.active) as Promise<A | B>
  }

  admit(name: string, options?: Permit.AdmitOptions): Promise<Permit.Permit> {
    if (this.closed) return Promise.reject(this.closedError(name))
    // Already aborted: the caller has gone; the circuit is not asked.
    if (options?.signal?.aborted === true) return Promise.reject(options.signal.reason)
    const now = this.clock.now()
    const cell = cellOf(this.registry.cell(name, now))
    const generation = CallPath.admit(cell, now)
    if (generation === CallPath.QUEUE) return new Permit.PermitWaiter(this, cell, options ?? {}, now).promise
    if (typeof generation !== "number") return Promise.reject(generation)
    const permit = new Permit.PromisePermit(this, cell, options ?? {}, now, generation, cell.active)
    permit.start()
    return Promise.resolve(permit)
  }

  readonly closedError = (circuit: string): CircuitClosedError =>
    withoutStack(() => new CircuitClosedError({ circuit }))

  snapshot(name: string): CircuitSnapshot {
    const now = this.clock.now()
    return snapshotOf(this.registry.cell(name, now), now)
  }

  snapshots(): ReadonlyArray<CircuitSnapshot> {
    const now = this.clock.now()
    return this.registry.names().map((name) => snapshotOf(this.registry.cell(name, now), now))
  }

  state(name: string): Breaker.StateName {
    return Breaker.stateName(this.registry.cell(name, this.clock.now()).breaker)
  }

  names(): ReadonlyArray<string> {
    return this.registry.names()
  }

  configure(name: string, input: CircuitConfigInput): CircuitConfig {
    const exit = this.registry.configure(name, input, this.clock.now())
    if (Exit.isSuccess(exit)) return exit.value
    throw Cause.squash(exit.cause) as CircuitConfigError
  }

  forceOpen(name: string): void {
    this.act(name, "ForceOpen")
  }

  forceClosed(name: string): void {
    this.act(name, "ForceClosed")
  }

  reset(name: string): void {
    this.act(name, "Reset")
  }

  subscribe(listeners: Listeners): () => void {
    const onEvent = listeners.event
    const onTransition = listeners.transition
    return this.registry.observe({
      event: onEvent === undefined ? undefined : (cell, kind, at, durationMillis) => {
        try {
          onEvent({ circuit: cell.name, kind, at, durationMillis })
        } catch (error) {
          reportListenerError(error)
        }
      },
      transition: onTransition === undefined ? undefined : (transition) => {
        try {
          onTransition(transition)
        } catch (error) {
          reportListenerError(error)
        }
      }
    })
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.unobserve()
    const now = this.clock.now()
    const entries = this.deadlines.drain()
    // Waiters first: a permit that a closing two-step call gives back must
    // not be handed to a waiter of this view that is about to be answered.
    for (const entry of entries) if (entry instanceof Waiting || entry instanceof Permit.PermitWaiter) entry.close(now)
    for (const entry of entries) if (!(entry instanceof Waiting || entry instanceof Permit.PermitWaiter)) entry.close(now)
    this.shutdown()
  }

  private act(name: string, tag: "ForceOpen" | "ForceClosed" | "Reset"): void {
    const now = this.clock.now()
    cellOf(this.registry.cell(name, now)).apply({ _tag: tag, at: now })
  }
}

// Runs `fn` for a call admitted at `now` in `generation` (its permit taken),
// with `inFlight` calls running, itself included.
const run = (
  view: View,
  cell: Cell,
  fn: (signal: AbortSignal) => unknown,
  opts: AnyOptions,
  now: number,
  generation: number,
  inFlight: number
): Promise<unknown> => {
  const clock = view.clock
  const callerSignal = opts.signal
  const controller = new AbortController()
  let result: unknown
  try {
    result = fn(controller.signal)
  } catch (error) {
    CallPath.release(cell)
    return failed(clock, cell, opts, now, clock.now(), generation, inFlight, error)
  }
  let thenable: boolean
  try {
    thenable = isThenable(result)
  } catch (error) {
    // A hostile `then` getter: a failure of fn like any other.
    CallPath.release(cell)
    return failed(clock, cell, opts, now, clock.now(), generation, inFlight, error)
  }
  if (!thenable) {
    CallPath.release(cell)
    CallPath.record(cell, now, clock.now(), generation, "Success", false, inFlight)
    return Promise.resolve(result)
  }
  const timeoutMillis = cell.timeoutMillis
  const call = new Call(view, cell, opts, now, generation, inFlight, controller, timeoutMillis)
  view.deadlines.add(call)
  // fn itself may have made the caller abort, before the call could listen.
  if (callerSignal !== undefined) call.listen(callerSignal)
  try {
    ;(result as PromiseLike<unknown>).then((value) => call.onValue(value), (error: unknown) => call.onError(error))
  } catch (error) {
    call.onError(error)
  }
  return call.promise
}



// A call waiting in the circuit's queue for a permit (see
// internal/waitQueue.ts). Its `maxQueueWait` is its deadline in the view's
// heap, which also reaches it when the view closes.
class Waiting implements HeapEntry, WaitQueue.Waiter {
  deadline: number
  index = -1
  prev: WaitQueue.Waiter | undefined = undefined
  next: WaitQueue.Waiter | undefined = undefined
  queued = false
  generation = 0
  queuedAt: number
  readonly hasFallback: boolean
  readonly clock = undefined
  readonly promise: Promise<unknown>
  private readonly resolve: (value: unknown) => void
  private readonly reject: (error: unknown) => void
  private readonly view: View
  private readonly cell: Cell
  private readonly fn: (signal: AbortSignal) => unknown
  private readonly options: AnyOptions
  private onAbort: (() => void) | undefined = undefined

  constructor(view: View, cell: Cell, fn: (signal: AbortSignal) => unknown, options: AnyOptions, now: number) {
    this.view = view
    this.cell = cell
    this.fn = fn
    this.options = options
    this.queuedAt = now
    this.hasFallback = options.fallback !== undefined
    this.deadline = now + cell.maxQueueWaitMillis
    this.promise = new Promise(capture)
    this.resolve = captured.resolve
    this.reject = captured.reject
    WaitQueue.enqueue(cell, this, now)
    view.deadlines.add(this)
    const signal = options.signal
    if (signal !== undefined) {
      this.onAbort = () => this.abort()
      signal.addEventListener("abort", this.onAbort, { once: true })
    }
  }

  now(): number {
    return this.view.clock.now()
  }

  admitted(now: number, generation: number, inFlight: number): void {
    this.leave()
    this.resolve(run(this.view, this.cell, this.fn, this.options, now, generation, inFlight))
  }

  refused(now: number, error: CircuitOpenError | CircuitRejectedError): void {
    this.leave()
    this.resolve(answer(this.view.clock, this.cell, this.options, this.queuedAt, now, error))
  }

  // `maxQueueWait` ran out.
  expire(now: number): void {
    const error = WaitQueue.expire(this.cell, this, now)
    if (error === undefined) return
    this.leave()
    this.resolve(answer(this.view.clock, this.cell, this.options, this.queuedAt, now, error))
  }

  // The view closed: an interruption, as for its calls in flight.
  close(now: number): void {
    if (!WaitQueue.leave(this.cell, this, now)) return
    this.leave()
    this.reject(withoutStack(() => new CircuitClosedError({ circuit: this.cell.name })))
  }

  // The caller aborted: it leaves the queue with its reason, and takes nothing.
  private abort(): void {
    if (!WaitQueue.leave(this.cell, this, this.view.clock.now())) return
    this.leave()
    this.reject(this.options.signal!.reason)
  }

  private leave(): void {
    this.view.deadlines.remove(this)
    if (this.onAbort !== undefined) {
      this.options.signal!.removeEventListener("abort", this.onAbort)
      this.onAbort = undefined
    }
  }
}

// The resolving functions of a new promise, taken by an executor that is
// not a closure (one allocation less per call).
const captured: { resolve: (value: unknown) => void; reject: (error: unknown) => void } = {
  resolve: () => {},
  reject: () => {}
}
const capture = (resolve: (value: unknown) => void, reject: (error: unknown) => void): void => {
  captured.resolve = resolve
  captured.reject = reject
}

// One call whose `fn` returned a promise. `answered`: the caller has its
// answer (outcome recorded); `ended`: `fn`'s promise settled (permit back).
class Call implements HeapEntry {
  deadline: number
  index = -1
  answered = false
  ended = false
  readonly promise: Promise<unknown>
  private readonly resolve: (value: unknown) => void
  private readonly reject: (error: unknown) => void
  private onAbort: (() => void) | undefined = undefined
  private readonly view: View
  private readonly cell: Cell
  private readonly options: AnyOptions
  private readonly startedAt: number
  private readonly generation: number
  private readonly inFlight: number
  private readonly controller: AbortController
  private readonly timeoutMillis: number | undefined
  private callerSignal: AbortSignal | undefined = undefined

  constructor(
    view: View,
    cell: Cell,
    options: AnyOptions,
    startedAt: number,
    generation: number,
    inFlight: number,
    controller: AbortController,
    timeoutMillis: number | undefined
  ) {
    this.view = view
    this.cell = cell
    this.options = options
    this.startedAt = startedAt
    this.generation = generation
    this.inFlight = inFlight
    this.controller = controller
    this.timeoutMillis = timeoutMillis
    this.deadline = timeoutMillis === undefined ? Infinity : startedAt + timeoutMillis
    this.promise = new Promise(capture)
    this.resolve = captured.resolve
    this.reject = captured.reject
  }

  listen(signal: AbortSignal): void {
    if (signal.aborted) return this.abort()
    this.callerSignal = signal
    this.onAbort = () => this.abort()
    signal.addEventListener("abort", this.onAbort, { once: true })
  }

  onValue(value: unknown): void {
    if (!this.end()) return
    const cell = this.cell
    CallPath.record(cell, this.startedAt, this.view.clock.now(), this.generation, "Success", false, this.inFlight)
    this.resolve(value)
  }

  onError(error: unknown): void {
    if (!this.end()) return
    const settled = failed(
      this.view.clock,
      this.cell,
      this.options,
      this.startedAt,
      this.view.clock.now(),
      this.generation,
      this.inFlight,
      error
    )
    this.resolve(settled)
  }

  // The deadline passed first: answer now, abort `fn`, keep the permit.
  expire(now: number): void {
    if (this.answered) return
    this.answered = true
    this.unlisten()
    const fallbackFollows = this.options.fallback !== undefined
    CallPath.record(this.cell, this.startedAt, now, this.generation, "Timeout", fallbackFollows, this.inFlight)
    const error = CallPath.timeoutError(this.cell, this.timeoutMillis!)
    this.controller.abort(error)
    this.resolve(answer(this.view.clock, this.cell, this.options, this.startedAt, now, error))
  }

  // The caller aborted: answer with its reason, abort `fn`, count no failure.
  private abort(): void {
    if (this.answered) return
    this.answered = true
    this.callerSignal = undefined
    this.view.deadlines.remove(this)
    const now = this.view.clock.now()
    CallPath.record(this.cell, this.startedAt, now, this.generation, "Interrupted", false, this.inFlight)
    const reason: unknown = this.options.signal!.reason
    this.controller.abort(reason)
    this.reject(reason)
  }

  // The registry closed under the call.
  close(now: number): void {
    if (this.answered) return
    this.answered = true
    this.unlisten()
    CallPath.record(this.cell, this.startedAt, now, this.generation, "Interrupted", false, this.inFlight)
    const error = withoutStack(() => new CircuitRegistryClosedError({ circuit: this.cell.name }))
    this.controller.abort(error)
    this.reject(error)
  }

  // `fn`'s promise settled: returns the permit; true if the caller still waits.
  private end(): boolean {
    if (this.ended) return false
    this.ended = true
    CallPath.release(this.cell)
    if (this.answered) return false
    this.answered = true
    this.view.deadlines.remove(this)
    this.unlisten()
    return true
  }

  private unlisten(): void {
    if (this.callerSignal !== undefined) {
      this.callerSignal.removeEventListener("abort", this.onAbort!)
      this.callerSignal = undefined
    }
  }
}

// A refused call (short-circuit or rejection), already recorded.
const refused = (
  clock: CircuitClock.CircuitClock,
  cell: Cell,
  options: AnyOptions,
  now: number,
  error: CircuitOpenError | CircuitRejectedError
): Promise<unknown> => {
  if (options.fallback === undefined) return Promise.reject(error)
  return Promise.resolve(runFallback(clock, cell, options, now, now, error))
}

// `fn` threw or rejected with `error` at `at`.
const failed = (
  clock: CircuitClock.CircuitClock,
  cell: Cell,
  options: AnyOptions,
  startedAt: number,
  at: number,
  generation: number,
  inFlight: number,
  error: unknown
): Promise<unknown> => {
  // Every shell's rule (internal/failure.ts): a bad request, or an error
  // `isFailure` refuses, comes back as it is, uncounted, without the fallback.
  const verdict = failureVerdict(options, error, true)
  if (verdict.outcome === "Ignored") {
    CallPath.record(cell, startedAt, at, generation, "Ignored", false, inFlight)
    return Promise.reject(error)
  }
  // A throwing classifier counts the call as failed; its throw is the answer.
  if (verdict.thrown !== undefined) {
    CallPath.record(cell, startedAt, at, generation, "Failure", false, inFlight)
    return Promise.reject(verdict.thrown.thrown)
  }
  const fallbackFollows = options.fallback !== undefined
  CallPath.record(cell, startedAt, at, generation, "Failure", fallbackFollows, inFlight, verdict.retryAfterMillis)
  return answer(clock, cell, options, startedAt, at, error)
}

const answer = (
  clock: CircuitClock.CircuitClock,
  cell: Cell,
  options: AnyOptions,
  startedAt: number,
  at: number,
  error: unknown
): Promise<unknown> =>
  options.fallback === undefined
    ? Promise.reject(error)
    : Promise.resolve(runFallback(clock, cell, options, startedAt, at, error))

// The fallback's result is the call's; it is counted and never moves the
// breaker. A fallback that returns a plain value ends when it starts. Calling
// it starts it, so its permit is taken first and given back when what it
// returned settles (a promise that never settles keeps it).
const runFallback = (
  clock: CircuitClock.CircuitClock,
  cell: Cell,
  options: AnyOptions,
  startedAt: number,
  at: number,
  error: unknown
): unknown => {
  // Counted only with a limit set, as in `withCircuit`.
  const counted = cell.maxConcurrentFallbacks !== Infinity
  if (counted && !CallPath.takeFallback(cell)) {
    CallPath.fallbackRejected(cell, startedAt, at)
    return Promise.reject(CallPath.fallbackRejectedError(cell, error))
  }
  let result: unknown
  let thenable: boolean
  try {
    result = options.fallback!(error)
    thenable = isThenable(result)
  } catch (fallbackError) {
    if (counted) CallPath.releaseFallback(cell)
    CallPath.fallbackFailed(cell, startedAt, at)
    return Promise.reject(fallbackFailure(cell, error, fallbackError))
  }
  if (!thenable) {
    if (counted) CallPath.releaseFallback(cell)
    CallPath.fallbackSucceeded(cell, startedAt, at)
    return result
  }
  return Promise.resolve(result).then(
    (value) => {
      if (counted) CallPath.releaseFallback(cell)
      CallPath.fallbackSucceeded(cell, startedAt, clock.now())
      return value
    },
    (fallbackError: unknown) => {
      if (counted) CallPath.releaseFallback(cell)
      CallPath.fallbackFailed(cell, startedAt, clock.now())
      throw fallbackFailure(cell, error, fallbackError)
    }
  )
}

const fallbackFailure = (cell: Cell, error: unknown, fallbackError: unknown) =>
  new CircuitFallbackError<unknown, unknown>({
    circuit: cell.name,
    cause: Cause.fail(error),
    fallbackCause: Cause.fail(fallbackError)
  })

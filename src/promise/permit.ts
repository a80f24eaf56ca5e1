/**
 * Two-step calls for Promise code: `circuits.admit(name)` now, a report on
 * the permit later (gobreaker's `TwoStepCircuitBreaker`, hystrix-go's
 * `ReportEvent`). The admission, the permit and the recording are the ones
 * `fire` and `withCircuit` use (`internal/callPath.ts`).
 *
 * With a wait queue (`queueCapacity`), an admission that finds every permit
 * in use (or anyone waiting) waits in the circuit's queue like a `fire`
 * call (`PermitWaiter`), and its permit's timeout starts at the hand-off.
 *
 * A Promise permit has no scope to end it, so it is bounded by the circuit's
 * timeout: at the deadline the outcome `timeout` is recorded, `signal`
 * aborts, and the concurrency permit is given back, reported or not. With
 * the timeout off, a permit is held until it is reported, disposed
 * (`using`), its caller's `signal` aborts, or the registry closes.
 *
 * @internal
 */
import type { Duration } from "effect"
import type { CircuitOpenError, CircuitRejectedError } from "../errors.ts"
import * as CallPath from "../internal/callPath.ts"
import type { Cell } from "../internal/cell.ts"
import { failureVerdict } from "../internal/failure.ts"
import * as WaitQueue from "../internal/waitQueue.ts"
import type { CircuitClock } from "./CircuitClock.ts"
import type { DeadlineHeap, HeapEntry } from "./deadlineHeap.ts"
import type { PermitOutcome } from "../CircuitPermit.ts"

// The same outcomes as the Effect shell's permit.
export type { PermitOutcome }

/**
 * Options of `admit`.
 *
 * @since 0.3.0
 * @category models
 */
export interface AdmitOptions {
  /** What counts as a failure (default: every reported error). An error it refuses is `ignored`. */
  readonly isFailure?: ((error: unknown) => boolean) | undefined
  /** The downstream's Retry-After carried by a reported error; see `FireOptions.retryAfter`. */
  readonly retryAfter?: ((error: unknown) => Duration.Input | undefined) | undefined
  /** The caller's own signal: aborting it records `interrupted` and gives the permit back. */
  readonly signal?: AbortSignal | undefined
}

/**
 * A call admitted by its circuit, to be reported once. Each report returns
 * `true` if it decided the outcome, `false` if the outcome was already
 * decided (a second report, after the timeout or the registry's close), in
 * which case it changes nothing.
 *
 * @since 0.3.0
 * @category models
 */
export interface Permit extends Disposable {
  readonly circuit: string
  /** Records a success. */
  success(): boolean
  /**
   * Records a failure, classified like `fire`'s (a bad request or an error
   * `isFailure` refuses is `ignored`; `retryAfter`).
   * A classifier that throws counts the call as failed and its throw is
   * rethrown here.
   */
  failure(error: unknown): boolean
  /** Records that the call does not count (`ignored`). */
  ignore(): boolean
  /**
   * Aborts at the timeout (reason: `CircuitTimeoutError`), the registry's
   * close (`CircuitClosedError`), the caller's abort, or a dispose without
   * a report: pass it on to `fetch` and friends.
   */
  readonly signal: AbortSignal
  /** The outcome recorded so far. */
  readonly outcome: PermitOutcome | undefined
  /** Without a report: records `ignored` and gives the permit back (`using permit = await circuits.admit(...)`). */
  [Symbol.dispose](): void
}

/** What a permit needs of its Promise registry. */
export interface Host {
  readonly clock: CircuitClock
  readonly deadlines: DeadlineHeap<HeapEntry & { close(now: number): void }>
  readonly closedError: (circuit: string) => unknown
}

/**
 * One admitted call: in the registry's deadline heap until its outcome is
 * recorded (exactly once); the concurrency permit is given back with it.
 */
export class PromisePermit implements Permit {
  deadline: number
  index = -1
  readonly circuit: string
  private recorded: CallPath.Outcome | undefined = undefined
  private aborted: { readonly reason: unknown } | undefined = undefined
  private controller: AbortController | undefined = undefined
  private callerSignal: AbortSignal | undefined = undefined
  private readonly onAbort = (): void => {
    this.end("Interrupted", undefined, this.callerSignal?.reason)
  }
  private readonly host: Host
  private readonly cell: Cell
  private readonly options: AdmitOptions
  private readonly startedAt: number
  private readonly generation: number
  private readonly inFlight: number
  private readonly timeoutMillis: number | undefined

  constructor(host: Host, cell: Cell, options: AdmitOptions, startedAt: number, generation: number, inFlight: number) {
    this.host = host
    this.cell = cell
    this.circuit = cell.name
    this.options = options
    this.startedAt = startedAt
    this.generation = generation
    this.inFlight = inFlight
    this.timeoutMillis = cell.timeoutMillis
    this.deadline = this.timeoutMillis === undefined ? Infinity : startedAt + this.timeoutMillis
  }

  /** Enters the deadline heap and listens to the caller's signal. */
  start(): void {
    this.host.deadlines.add(this)
    const signal = this.options.signal
    if (signal === undefined) return
    if (signal.aborted) return this.onAbort()
    this.callerSignal = signal
    signal.addEventListener("abort", this.onAbort, { once: true })
  }

  get outcome(): PermitOutcome | undefined {
    return this.recorded === undefined ? undefined : CallPath.outcomeKinds[this.recorded]
  }

  get signal(): AbortSignal {
    // Made on first use: a permit whose signal nobody reads costs no controller.
    if (this.controller === undefined) {
      this.controller = new AbortController()
      if (this.aborted !== undefined) this.controller.abort(this.aborted.reason)
    }
    return this.controller.signal
  }

  success(): boolean {
    return this.report("Success", undefined)
  }

  ignore(): boolean {
    return this.report("Ignored", undefined)
  }

  failure(error: unknown): boolean {
    if (this.recorded !== undefined) return false
    const verdict = failureVerdict(this.options, error, true)
    const decided = this.report(verdict.outcome, verdict.retryAfterMillis)
    if (verdict.thrown !== undefined) throw verdict.thrown.thrown
    return decided
  }

  [Symbol.dispose](): void {
    if (this.recorded === undefined) this.end("Ignored", undefined, undefined)
  }

  /** The deadline passed (the heap has already dropped the entry). */
  expire(now: number): void {
    if (this.recorded !== undefined) return
    this.finish("Timeout", now, undefined, { reason: CallPath.timeoutError(this.cell, this.timeoutMillis!) })
  }

  /** The registry closed. */
  close(now: number): void {
    if (this.recorded !== undefined) return
    this.finish("Interrupted", now, undefined, { reason: this.host.closedError(this.circuit) })
  }

  private report(outcome: CallPath.Outcome, retryAfterMillis: number | undefined): boolean {
    if (this.recorded !== undefined) return false
    this.host.deadlines.remove(this)
    this.finish(outcome, this.host.clock.now(), retryAfterMillis, undefined)
    return true
  }

  // Ended without a report: the outcome, and the work told to stop.
  private end(outcome: CallPath.Outcome, retryAfterMillis: number | undefined, reason: unknown): void {
    if (this.recorded !== undefined) return
    this.host.deadlines.remove(this)
    this.finish(outcome, this.host.clock.now(), retryAfterMillis, { reason })
  }

  // The one place an outcome is recorded and the permit given back.
  private finish(
    outcome: CallPath.Outcome,
    at: number,
    retryAfterMillis: number | undefined,
    abort: { readonly reason: unknown } | undefined
  ): void {
    this.recorded = outcome
    if (this.callerSignal !== undefined) {
      this.callerSignal.removeEventListener("abort", this.onAbort)
      this.callerSignal = undefined
    }
    CallPath.release(this.cell)
    CallPath.record(this.cell, this.startedAt, at, this.generation, outcome, false, this.inFlight, retryAfterMillis)
    if (abort !== undefined) {
      this.aborted = abort
      this.controller?.abort(abort.reason)
    }
  }
}

/**
 * An admission waiting in the circuit's queue for a permit (see
 * internal/waitQueue.ts), as a waiting `fire` call does: its `maxQueueWait`
 * is its deadline in the registry's heap, which also reaches it when the
 * registry closes; the caller's `signal` takes it out of the queue with
 * nothing taken. Handed a permit, it resolves with a started `PromisePermit`.
 */
export class PermitWaiter implements WaitQueue.Waiter {
  deadline: number
  index = -1
  prev: WaitQueue.Waiter | undefined = undefined
  next: WaitQueue.Waiter | undefined = undefined
  queued = false
  generation = 0
  queuedAt: number
  readonly hasFallback = false
  readonly clock = undefined
  readonly promise: Promise<Permit>
  private resolve!: (permit: Permit) => void
  private reject!: (error: unknown) => void
  private readonly host: Host
  private readonly cell: Cell
  private readonly options: AdmitOptions
  private onAbort: (() => void) | undefined = undefined

  constructor(host: Host, cell: Cell, options: AdmitOptions, now: number) {
    this.host = host
    this.cell = cell
    this.options = options
    this.queuedAt = now
    this.deadline = now + cell.maxQueueWaitMillis
    this.promise = new Promise<Permit>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    WaitQueue.enqueue(cell, this, now)
    host.deadlines.add(this)
    const signal = options.signal
    if (signal !== undefined) {
      this.onAbort = () => this.abort()
      signal.addEventListener("abort", this.onAbort, { once: true })
    }
  }

  now(): number {
    return this.host.clock.now()
  }

  // The permit, and its timeout, start at the hand-off.
  admitted(now: number, generation: number, inFlight: number): void {
    this.leave()
    const permit = new PromisePermit(this.host, this.cell, this.options, now, generation, inFlight)
    permit.start()
    this.resolve(permit)
  }

  refused(_now: number, error: CircuitOpenError | CircuitRejectedError): void {
    this.leave()
    this.reject(error)
  }

  /** `maxQueueWait` ran out (the heap has already dropped the entry). */
  expire(now: number): void {
    const error = WaitQueue.expire(this.cell, this, now)
    if (error === undefined) return
    this.leave()
    this.reject(error)
  }

  /** The registry closed: it leaves the queue, answered with the closed error. */
  close(now: number): void {
    if (!WaitQueue.leave(this.cell, this, now)) return
    this.leave()
    this.reject(this.host.closedError(this.cell.name))
  }

  // The caller aborted: it leaves the queue with its reason, and takes nothing.
  private abort(): void {
    if (!WaitQueue.leave(this.cell, this, this.host.clock.now())) return
    this.leave()
    this.reject(this.options.signal!.reason)
  }

  private leave(): void {
    this.host.deadlines.remove(this)
    if (this.onAbort !== undefined) {
      this.options.signal!.removeEventListener("abort", this.onAbort)
      this.onAbort = undefined
    }
  }
}

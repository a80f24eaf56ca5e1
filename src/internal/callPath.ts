/**
 * The steps of one guarded call that every shell shares: admission, the
 * permit, recording the outcome, the circuit's own errors, and the
 * fallback's accounting.
 *
 * `withCircuit` (Effect) and `CircuitPromise` (Promise) differ only in how
 * they run the work, wait for it and read the time; what a call does to its
 * circuit is decided here, in one place, by the core's `admit` and `reduce`
 * through the cell. Each function acts at a time `at` given by the caller
 * (the shell's clock, monotonic milliseconds) and runs synchronously; the
 * optional `clock` stamps what a user sees (published events, transitions)
 * with its wall-clock time.
 *
 * @internal
 */
import type { Clock } from "effect"
import { Duration } from "effect"
import type { EventKind } from "../CircuitEvent.ts"
import { CircuitFallbackRejectedError, CircuitRejectedError, CircuitTimeoutError } from "../errors.ts"
import type { CircuitOpenError } from "../errors.ts"
import type { Cell } from "./cell.ts"
import { withoutStack } from "./withoutStack.ts"

/**
 * What `admit` returns for a call that is to wait in the circuit's queue
 * (nothing is taken or recorded yet: the shell makes its waiter and calls
 * `WaitQueue.enqueue`).
 */
export const QUEUE: unique symbol = Symbol("effect-circuit/queue")

/**
 * Admits a call at `now`: the circuit check, then a permit, without waiting.
 *
 * Returns the generation the call was admitted in (a number: the permit is
 * taken, give it back with `release`), `QUEUE` when it is to wait for a
 * permit in the circuit's queue, or the circuit's refusal, already recorded
 * and emitted (a short-circuit takes no permit; a rejection is a request of
 * the window). `hasFallback`: the caller's fallback will answer a refusal
 * (observers count refusals that reach the caller).
 */
export const admit = (
  cell: Cell,
  now: number,
  hasFallback = false,
  clock?: Clock.Clock
): number | typeof QUEUE | CircuitOpenError | CircuitRejectedError => {
  // A shared circuit admits from its cached fleet view (src/store/FleetClient.ts).
  const admission = cell.fleet === undefined ? cell.admit(now) : cell.fleet.admit(now)
  if (admission === "short-circuit") return shortCircuit(cell, now, hasFallback, clock)
  // No barging: while anyone waits, a new call goes behind them. A probe
  // never waits (it would hold the half-open state with nothing running).
  const waiters = cell.waiters
  if ((waiters !== undefined && waiters.size !== 0) || cell.active >= cell.maxConcurrent) {
    if (admission === "allow" && cell.waiting < cell.queueCapacity) return QUEUE
    if (admission === "probe") cell.apply({ _tag: "ProbeAdmitted", at: now }, clock)
    return reject(cell, now, cell.generation, hasFallback, clock, cell.queueCapacity === 0 ? undefined : "queue-full")
  }
  if (admission === "probe") cell.apply({ _tag: "ProbeAdmitted", at: now }, clock)
  // The concurrency peak is taken with the permit (observers read it later).
  if (++cell.active > cell.peak) cell.peak = cell.active
  return cell.generation
}

/** Gives back the permit `admit` took (a waiter, if any, gets it). */
export const release = (cell: Cell): void => {
  cell.active--
  if (cell.waiters !== undefined) cell.handOff()
}

/** Records and emits a short-circuit at `now`, and returns its error. */
export const shortCircuit = (
  cell: Cell,
  now: number,
  hasFallback: boolean,
  clock: Clock.Clock | undefined
): CircuitOpenError => {
  const error = cell.openError(now)
  cell.happened("ShortCircuited", now, clock)
  cell.emit("short-circuited", now, 0, hasFallback, clock)
  return error
}

/**
 * Records and emits a rejection at `now` in `generation`, and returns its
 * error. `queue`: the wait queue refused it (full), or its wait ran out
 * after `waitedMillis` (a `queue-timeout` event); absent for the
 * non-blocking bulkhead.
 */
export const reject = (
  cell: Cell,
  now: number,
  generation: number,
  hasFallback: boolean,
  clock: Clock.Clock | undefined,
  queue?: "queue-full" | "queue-timeout",
  waitedMillis = 0
): CircuitRejectedError => {
  cell.apply({ _tag: "Rejected", at: now, generation }, clock)
  cell.emit(queue === "queue-timeout" ? "queue-timeout" : "rejected", now, waitedMillis, hasFallback, clock)
  const circuit = cell.name
  const maxConcurrentRequests = cell.maxConcurrent
  return withoutStack(() =>
    queue === undefined
      ? new CircuitRejectedError({ circuit, maxConcurrentRequests })
      : queue === "queue-full"
      ? new CircuitRejectedError({ circuit, maxConcurrentRequests, reason: queue, queueCapacity: cell.queueCapacity })
      : new CircuitRejectedError({ circuit, maxConcurrentRequests, reason: queue, waited: Duration.millis(waitedMillis) })
  )
}

/** What an admitted call came to. */
export type Outcome = "Success" | "Failure" | "Timeout" | "Interrupted" | "Ignored"

/** The event kind each outcome is recorded as (also a permit's reported outcome). */
export type OutcomeKind = "success" | "failure" | "timeout" | "interrupted" | "ignored"

/** The event kind of each outcome. */
export const outcomeKinds: { readonly [K in Outcome]: OutcomeKind & EventKind } = {
  Success: "success",
  Failure: "failure",
  Timeout: "timeout",
  Interrupted: "interrupted",
  Ignored: "ignored"
}

const samples = {
  Success: "success",
  Failure: "failure",
  Timeout: "timeout",
  Interrupted: undefined,
  Ignored: undefined
} as const

/**
 * Records the outcome of a call admitted at `startedAt` in `generation`, at
 * `at`. `fallbackFollows`: the call goes on to its fallback (whose outcome is
 * a later event). Exactly one outcome per admitted call.
 * `inFlight`: the calls running when it was admitted, itself included (read
 * `cell.active` right after `admit`), which an adaptive limit learns from;
 * interrupted and ignored calls teach it nothing.
 */
export const record = (
  cell: Cell,
  startedAt: number,
  at: number,
  generation: number,
  outcome: Outcome,
  fallbackFollows = false,
  inFlight = cell.active + 1,
  retryAfterMillis?: number,
  clock?: Clock.Clock
): void => {
  if (outcome === "Success") cell.success(at, generation, at - startedAt, clock)
  else {
    if (outcome === "Failure") cell.failure(at, generation, at - startedAt, retryAfterMillis, clock)
    else if (retryAfterMillis === undefined) cell.apply({ _tag: outcome, at, generation, durationMillis: at - startedAt }, clock)
    else cell.apply({ _tag: outcome, at, generation, durationMillis: at - startedAt, retryAfterMillis }, clock)
    // A shared circuit sends the hint to the store with this outcome (emitted below).
    if (retryAfterMillis !== undefined && cell.fleet !== undefined) cell.fleet.hint(retryAfterMillis)
  }
  if (cell.adaptiveLimit !== undefined) {
    const sample = samples[outcome]
    if (sample !== undefined) cell.sample(sample, startedAt, at, inFlight)
  }
  cell.emit(outcomeKinds[outcome], at, at - startedAt, fallbackFollows, clock)
}

/**
 * A failure's Retry-After, in milliseconds, by the caller's `retryAfter`
 * option; undefined for none. User code: whatever goes wrong reading it
 * (a throw, a negative, infinite or unreadable duration) means "no hint".
 */
export const retryAfterOf = (
  f: (error: never) => Duration.Input | undefined,
  error: unknown
): number | undefined => {
  try {
    const input = (f as (error: unknown) => Duration.Input | undefined)(error)
    if (input === undefined) return undefined
    const millis = Duration.toMillis(Duration.fromInputUnsafe(input))
    return Number.isFinite(millis) && millis > 0 ? millis : undefined
  } catch {
    return undefined
  }
}

/** The error a caller gets at its deadline. */
export const timeoutError = (cell: Cell, timeoutMillis: number): CircuitTimeoutError =>
  withoutStack(() => new CircuitTimeoutError({ circuit: cell.name, timeout: Duration.millis(timeoutMillis) }))

/**
 * Whether a failure counts against the circuit, by the caller's `isFailure`
 * (default: every failure). A classifier that throws counts the call as
 * failed; its throw is returned for the shell to surface.
 */
export const classify = (
  isFailure: ((failure: never) => boolean) | undefined,
  failure: unknown
): boolean | { readonly thrown: unknown } => {
  if (isFailure === undefined) return true
  try {
    return (isFailure as (failure: unknown) => boolean)(failure) !== false
  } catch (thrown) {
    return { thrown }
  }
}

/** The fallback of a call admitted (or refused) at `startedAt` succeeded at `at`. */
export const fallbackSucceeded = (cell: Cell, startedAt: number, at: number, clock?: Clock.Clock): void => {
  cell.happened("FallbackSuccess", at, clock)
  cell.emit("fallback-success", at, at - startedAt, false, clock)
}

/** The fallback failed at `at`: counted, and never moves the breaker. */
export const fallbackFailed = (cell: Cell, startedAt: number, at: number, clock?: Clock.Clock): void => {
  cell.happened("FallbackFailure", at, clock)
  cell.emit("fallback-failure", at, at - startedAt, false, clock)
}

/**
 * Takes a fallback permit before a fallback starts; only called with a
 * limit set. True: the fallback may run; give the permit back with
 * `releaseFallback` when it ends, however it ends. False: all
 * `maxConcurrentFallbacks` fallbacks are running and this one must not run
 * (record it with `fallbackRejected`).
 */
export const takeFallback = (cell: Cell): boolean => cell.takeFallback()

/**
 * Whether a fallback that would start now must be refused: a limit is set
 * and reached. With the limit off this reads one setting and nothing else.
 */
export const fallbacksFull = (cell: Cell): boolean => {
  const max = cell.maxConcurrentFallbacks
  return max !== Infinity && cell.fallbacksActive >= max
}

/**
 * The fallback of a call admitted (or refused) at `startedAt` was refused at
 * `at` (all `maxConcurrentFallbacks` running): the one fallback event of the
 * call, counted, and never moves the breaker.
 */
export const fallbackRejected = (cell: Cell, startedAt: number, at: number, clock?: Clock.Clock): void => {
  cell.emit("fallback-rejected", at, at - startedAt, false, clock)
}

/** Gives back the permit `takeFallback` took. */
export const releaseFallback = (cell: Cell): void => cell.releaseFallback()

/** What the caller of a call whose fallback was rejected gets, holding what the fallback would have been given. */
export const fallbackRejectedError = (cell: Cell, error: unknown): CircuitFallbackRejectedError =>
  withoutStack(() =>
    new CircuitFallbackRejectedError({ circuit: cell.name, maxConcurrentFallbacks: cell.maxConcurrentFallbacks, error })
  )

/**
 * How a failed call is classified: one rule for every shell. `withCircuit`,
 * `CircuitPromise.fire`, and the permits of two-step calls (`Circuit.admit`,
 * `circuits.admit`) all ask `failureVerdict`, so the same error under the same
 * options is recorded as the same event whichever way the call was made.
 *
 * In order:
 *
 * 1. A bad request (`CircuitBadRequest`, or any error carrying
 *    `BadRequestTypeId`) is the caller's fault: `ignored`, whatever
 *    `isFailure` says, and never handed to a fallback. This is Hystrix's rule
 *    for `HystrixBadRequestException`, which is not counted as a failure and
 *    does not trigger the fallback.
 * 2. `isFailure` (default: every failure counts): `false` is `ignored`, and
 *    the error goes back to the caller as it is, without a fallback.
 * 3. A classifier that throws counts the call as failed; its throw is
 *    surfaced instead of the fallback (a bug in the caller's code).
 * 4. A failure that counts carries the downstream's Retry-After, when the
 *    caller's `retryAfter` reads one.
 *
 * Only a typed error can be a bad request or carry a Retry-After; a defect
 * (the Effect shells hand `isFailure` its `Cause`) is classified by
 * `isFailure` alone.
 *
 * @internal
 */
import type { Duration } from "effect"
import { isBadRequest } from "../errors.ts"
import { classify, retryAfterOf } from "./callPath.ts"

/** The caller's options that classify a failure (every shell's options have them). */
export interface FailureOptions {
  readonly isFailure?: ((failure: never) => boolean) | undefined
  readonly retryAfter?: ((error: never) => Duration.Input | undefined) | undefined
}

/** What a failure comes to. */
export interface Verdict {
  /** `Ignored`: not a request of the window, no fallback, the error back as it is. */
  readonly outcome: "Failure" | "Ignored"
  /** The downstream's Retry-After in milliseconds, for a failure that counts. */
  readonly retryAfterMillis: number | undefined
  /** The throw of a classifier that threw (the call counts as failed). */
  readonly thrown: { readonly thrown: unknown } | undefined
}

const IGNORED: Verdict = { outcome: "Ignored", retryAfterMillis: undefined, thrown: undefined }
const FAILED: Verdict = { outcome: "Failure", retryAfterMillis: undefined, thrown: undefined }

/**
 * Classifies a failure: `typed` when `failure` is the call's error (a typed
 * failure, a rejection, a reported error), false when it is the `Cause` of
 * a defect. Allocates nothing unless a classifier throws or a Retry-After
 * is read.
 */
export const failureVerdict = (options: FailureOptions, failure: unknown, typed: boolean): Verdict => {
  if (typed && isBadRequest(failure)) return IGNORED
  const counts = classify(options.isFailure, failure)
  if (counts === false) return IGNORED
  if (counts !== true) return { outcome: "Failure", retryAfterMillis: undefined, thrown: counts }
  if (!typed || options.retryAfter === undefined) return FAILED
  const retryAfterMillis = retryAfterOf(options.retryAfter, failure)
  return retryAfterMillis === undefined ? FAILED : { outcome: "Failure", retryAfterMillis, thrown: undefined }
}

/**
 * The time every duration is measured on: the `Clock`'s monotonic time, in
 * whole milliseconds.
 *
 * Wall-clock time (`Clock.currentTimeMillis`) can be stepped either way by an
 * operator or NTP; a deadline, a sleep window, a window bucket or a
 * `retryAfter` measured on it would move with the step. Monotonic
 * time has an arbitrary origin and only ever moves forward; it is what
 * `TestClock.adjust` advances. Wall time is kept for the timestamps a user
 * sees (`CircuitEvent.at`, `CircuitTransition.at`).
 *
 * @internal
 */
import { Clock, Context, Effect } from "effect"

// The runtime's own clock (a Reference's default value is built once and
// cached), so it can be recognised.
const defaultClock: Clock.Clock = Context.get(Context.empty(), Clock.Clock)

/** Whether `clock` is Effect's default (real) clock rather than one a program or test provided. */
export const isDefaultClock = (clock: Clock.Clock): boolean => clock === defaultClock

/**
 * Monotonic milliseconds of `clock`. For the default clock, `performance.now()`
 * (also monotonic, and cheaper than converting `process.hrtime.bigint()`);
 * for any other, its `monotonicTimeNanosUnsafe()`. Both are floored: whole
 * milliseconds, as the window and the deadlines count them.
 */
export const monotonicMillis = (clock: Clock.Clock): number =>
  clock === defaultClock
    ? Math.floor(performance.now())
    : Math.floor(Number(clock.monotonicTimeNanosUnsafe()) / 1_000_000)

/** The current fiber's `Clock` and its monotonic milliseconds. */
export const withMonotonicNow = <A, E, R>(
  f: (now: number, clock: Clock.Clock) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => Clock.clockWith((clock) => f(monotonicMillis(clock), clock))

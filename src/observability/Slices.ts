/**
 * Work done a slice at a time: what lets an export of a million circuits
 * share the event loop, and the CPU, with the service it observes.
 *
 * After a slice that took `t` ms, the next one starts no sooner than `t` ms
 * later (at most `maxPauseMillis`): an export uses at most about half of the
 * process's time however big it is, and a timer that is due runs between two
 * slices. A big export then takes longer, never the service.
 *
 * @since 0.1.0
 * @internal
 */
import { Effect } from "effect"

const maxPauseMillis = 50

/**
 * When to start the next slice, given when the last one started.
 *
 * @since 0.1.0
 * @internal
 */
export const pauseAfter = (startedAt: number): number =>
  Math.min(maxPauseMillis, Math.max(0, performance.now() - startedAt))

/**
 * Gives the event loop (timers, I/O, other fibers) a turn of `millis`, or at
 * least one turn (`setImmediate`) when it is 0.
 *
 * @since 0.1.0
 * @internal
 */
export const pause = (millis: number): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (millis < 1) {
      const handle = setImmediate(() => resume(Effect.void))
      return Effect.sync(() => clearImmediate(handle))
    }
    const handle = setTimeout(() => resume(Effect.void), millis)
    return Effect.sync(() => clearTimeout(handle))
  })

/**
 * Runs `f` on the next turn of the event loop after a slice begun at `startedAt`.
 *
 * @since 0.1.0
 * @internal
 */
export const schedule = (startedAt: number, f: () => void): void => {
  const millis = pauseAfter(startedAt)
  if (millis < 1) setImmediate(f)
  else setTimeout(f, millis)
}

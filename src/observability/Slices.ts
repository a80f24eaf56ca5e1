/**
 * Work done a slice at a time: what lets an export of a million circuits
 * share the event loop with the service it observes.
 *
 * @since 0.1.0
 * @internal
 */
import { Effect } from "effect"

/**
 * Gives the event loop a turn (timers, I/O, other fibers) before going on:
 * `setImmediate`, so a timer that is due runs before the next slice.
 *
 * @since 0.1.0
 * @internal
 */
export const yieldToLoop: Effect.Effect<void> = Effect.callback<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

/**
 * The time of a Promise registry: a reading in milliseconds and one timer.
 *
 * **Details**
 *
 * - `system` reads `performance.timeOrigin + performance.now()`: monotonic (a
 *   step of the wall clock changes no deadline, sleep window or
 *   `retryAfter`), yet in epoch milliseconds like Effect's default `Clock`, so
 *   Effect code reading the registry (a metrics exporter, the Hystrix stream)
 *   sees the same windows. It arms `setTimeout`. It is the default of
 *   `CircuitPromise.make`.
 * - `manual(start)` is a clock that moves only when told: `await
 *   advance(millis)` runs every timer that falls due, earliest first, and
 *   lets promise reactions run after each one, as the event loop would.
 *   Tests of Promise code drive timeouts and sleep windows with it, without
 *   sleeping.
 * - `fromEffect(clock)` reads an Effect `Clock`, so that a Promise view of an
 *   Effect `CircuitRegistry` records on the same time as `withCircuit`.
 * - `toEffect(clock)` is the other way round: the `Clock` the registry's
 *   Effect readers (metrics, the Hystrix stream) use for a Promise registry.
 *
 * **Example** (A clock for tests)
 *
 * ```ts
 * import { CircuitClock, CircuitPromise } from "effect-circuit/promise"
 *
 * const clock = CircuitClock.manual()
 * const circuits = CircuitPromise.make({ defaults: { timeout: "100 millis" }, clock })
 * const call = circuits.fire("slow", () => new Promise(() => {})).catch((error) => error._tag)
 * await clock.advance(100)
 * console.log(await call) // "CircuitTimeoutError"
 * circuits.close()
 * ```
 *
 * @since 0.2.0
 */
import { type Clock, Context, Duration, Effect } from "effect"

/**
 * What a Promise registry needs from time.
 *
 * @since 0.2.0
 * @category models
 */
export interface CircuitClock {
  /** Milliseconds; never goes back. */
  readonly now: () => number
  /** Calls `callback` once, `millis` from now. */
  readonly setTimer: (callback: () => void, millis: number) => unknown
  /** Cancels a timer that `setTimer` returned. */
  readonly clearTimer: (handle: unknown) => void
}

/**
 * A clock that moves only when told.
 *
 * @since 0.2.0
 * @category models
 */
export interface ManualClock extends CircuitClock {
  /**
   * Moves the time forward, running every timer that falls due, earliest
   * first; after each, and at the end, waits for a macrotask so that the
   * promise reactions it caused have run.
   */
  readonly advance: (millis: number) => Promise<void>
  /** Timers armed and not yet run or cleared. */
  readonly pending: () => number
}

// setTimeout refuses delays over 2^31 - 1 ms (it fires at once instead).
const MAX_TIMER_MILLIS = 2 ** 31 - 1

// Epoch milliseconds at which `performance.now()` is 0: a constant, so the sum
// below moves exactly as the monotonic clock does.
const origin = performance.timeOrigin

/**
 * Monotonic time in epoch milliseconds, and the runtime's timers.
 *
 * @since 0.2.0
 * @category constructors
 */
export const system: CircuitClock = {
  now: () => origin + performance.now(),
  // Unref'd: a registry's timer alone never keeps the process alive (the
  // work a call waits for holds its own handle).
  setTimer: (callback, millis) => {
    const timer: unknown = setTimeout(callback, Math.min(Math.max(0, millis), MAX_TIMER_MILLIS))
    ;(timer as { unref?: () => void }).unref?.()
    return timer
  },
  clearTimer: (handle) => clearTimeout(handle as Parameters<typeof clearTimeout>[0])
}

// After every promise reaction queued so far (setImmediate where there is one).
const macrotask = (): Promise<void> =>
  new Promise((resolve) => {
    const { setImmediate } = globalThis as { setImmediate?: (callback: () => void) => unknown }
    if (setImmediate !== undefined) setImmediate(resolve)
    else setTimeout(resolve, 0)
  })

interface ManualTimer {
  readonly at: number
  readonly seq: number
  callback: (() => void) | undefined
}

/**
 * A clock at `start` that moves only by `advance`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const manual = (start = 0): ManualClock => {
  let now = start
  let seq = 0
  let timers: Array<ManualTimer> = []
  const clock: ManualClock = {
    now: () => now,
    setTimer: (callback, millis) => {
      const timer: ManualTimer = { at: now + Math.max(0, millis), seq: seq++, callback }
      timers.push(timer)
      return timer
    },
    clearTimer: (handle) => {
      const timer = handle as ManualTimer
      timer.callback = undefined
      timers = timers.filter((t) => t !== timer)
    },
    advance: async (millis) => {
      if (!(millis >= 0)) throw new RangeError(`advance: millis must be 0 or more, got ${millis}`)
      const target = now + millis
      for (;;) {
        await macrotask()
        let next: ManualTimer | undefined
        for (const t of timers) {
          if (t.at <= target && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t
        }
        if (next === undefined) break
        timers = timers.filter((t) => t !== next)
        if (next.at > now) now = next.at
        const callback = next.callback
        next.callback = undefined
        callback?.()
      }
      now = target
      await macrotask()
    },
    pending: () => timers.length
  }
  return clock
}

/**
 * Reads an Effect `Clock` (the time `withCircuit` records on) and sleeps on
 * it, in fibers that run with `context`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromEffect = (clock: Clock.Clock, context: Context.Context<never> = Context.empty()): CircuitClock => ({
  now: () => clock.currentTimeMillisUnsafe(),
  // The sleeping fiber runs with `context` (its scheduler, for instance).
  setTimer: (callback, millis) =>
    Effect.runForkWith(context)(
      Effect.andThen(clock.sleep(Duration.millis(Math.max(0, millis))), Effect.sync(callback))
    ),
  clearTimer: (handle) => (handle as { interruptUnsafe: () => void }).interruptUnsafe()
})

/**
 * The Effect `Clock` of a `CircuitClock`: what the registry's own readers
 * (metrics, snapshots taken in Effect, the Hystrix stream) use for a Promise
 * registry.
 *
 * @since 0.2.0
 * @category constructors
 */
export const toEffect = (clock: CircuitClock): Clock.Clock => {
  const nanos = () => BigInt(Math.round(clock.now() * 1_000_000))
  return {
    currentTimeMillisUnsafe: () => clock.now(),
    currentTimeMillis: Effect.sync(() => clock.now()),
    currentTimeNanosUnsafe: nanos,
    currentTimeNanos: Effect.sync(nanos),
    monotonicTimeNanosUnsafe: nanos,
    monotonicTimeNanos: Effect.sync(nanos),
    sleep: (duration) => {
      const millis = Duration.toMillis(duration)
      if (!Number.isFinite(millis)) return Effect.never
      return Effect.callback<void>((resume) => {
        const handle = clock.setTimer(() => resume(Effect.void), millis)
        return Effect.sync(() => clock.clearTimer(handle))
      })
    }
  }
}

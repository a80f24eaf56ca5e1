/**
 * The model-based suite's driver for the Promise shell: the same runtime
 * (a `TestClock`, a `CircuitRegistry`, a counting scheduler), the same
 * commands and the same model, but every call goes through
 * `CircuitPromise.fire`, and every read and setting through the
 * `CircuitPromise` view (`fromContext`), whose clock is the runtime's
 * `TestClock`.
 *
 * The guarded work is a Promise that settles when the `TestClock` reaches its
 * end (a timer of the view's clock). It listens to its signal, as well-behaved
 * Promise code does, except "stubborn" work, which ignores it. "die" is a
 * synchronous throw when the work ends at once (a rejection otherwise): a
 * Promise has no defects, so the model treats it as "fail".
 */
import { Cause, Effect, Exit } from "effect"
import type { Circuit, CircuitConfigInput, CircuitConfigError } from "../src/index.ts"
import { CircuitPromise } from "../src/promise/index.ts"
import type { Behaviour, FallbackKind } from "./mbt-model.ts"
import { Boom, type Caller, Driver, FallbackBoom, Ignorable, NAME, retryAfterOf, type Services } from "./mbt-driver.ts"

// What a caller's abort answers with: the driver maps it to an interruption.
const interruption = new Error("interrupted by the test")

// A macrotask: every promise reaction queued so far has run.
const macrotask = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

export class PromiseDriver extends Driver {
  private view: CircuitPromise.CircuitPromise | undefined
  private readonly aborters = new Map<number, AbortController>()
  private unsubscribe: (() => void) | undefined

  private circuits(): Effect.Effect<CircuitPromise.CircuitPromise, never, Services> {
    return Effect.map(Effect.context<Services>(), (context) => this.view ??= CircuitPromise.fromContext(context))
  }

  /** Runs fibers and promise reactions until none can move. */
  override readonly settle: Effect.Effect<void> = Effect.suspend(() => {
    const loop: Effect.Effect<void> = Effect.flatMap(
      Effect.andThen(macrotask, Effect.yieldNow),
      () => this.scheduler.pending > 0 ? loop : macrotask
    )
    return loop
  })

  override readonly subscribe: Effect.Effect<void, never, Services> = Effect.suspend(() =>
    Effect.flatMap(this.circuits(), (circuits) =>
      Effect.sync(() => {
        this.unsubscribe = circuits.subscribe({
          event: (e) => {
            this.events.push(e)
          },
          transition: (t) => {
            this.transitions.push(t)
          }
        })
      }))
  )

  override snapshot(): Effect.Effect<Circuit.CircuitSnapshot, never, Services> {
    return Effect.map(this.circuits(), (circuits) => circuits.snapshot(NAME))
  }

  override configure(input: CircuitConfigInput): Effect.Effect<Exit.Exit<unknown, CircuitConfigError>, never, Services> {
    return Effect.map(this.circuits(), (circuits) => {
      try {
        return Exit.succeed(circuits.configure(NAME, input))
      } catch (error) {
        return Exit.fail(error as CircuitConfigError)
      }
    })
  }

  override admin(action: "forceOpen" | "forceClosed" | "reset"): Effect.Effect<void, never, Services> {
    return Effect.map(this.circuits(), (circuits) => circuits[action](NAME))
  }

  private work(
    circuits: CircuitPromise.CircuitPromise,
    behaviour: Behaviour,
    duration: number,
    signal: AbortSignal,
    onStart: (() => void) | undefined,
    retryAfter: number | undefined
  ): unknown {
    this.running++
    onStart?.()
    const ended = () => {
      this.running--
    }
    if (duration === 0 && behaviour !== "hang") {
      ended()
      switch (behaviour) {
        case "succeed":
        case "stubborn":
          return "ok"
        case "fail":
          return Promise.reject(new Boom({ retryAfter }))
        case "die":
          throw new Boom({})
        case "ignored":
          return Promise.reject(new Ignorable())
      }
    }
    return new Promise((resolve, reject) => {
      const timer = behaviour === "hang" ? undefined : circuits.clock.setTimer(() => {
        ended()
        if (behaviour === "succeed" || behaviour === "stubborn") resolve("ok")
        else reject(behaviour === "ignored" ? new Ignorable() : new Boom(behaviour === "fail" ? { retryAfter } : {}))
      }, duration)
      if (behaviour === "stubborn") return
      signal.addEventListener("abort", () => {
        if (timer !== undefined) circuits.clock.clearTimer(timer)
        ended()
        reject(signal.reason)
      }, { once: true })
    })
  }

  /**
   * Starts a call. With `interruptAtStart`, the work's first synchronous step
   * aborts the caller's signal, while `fire` is still running it.
   */
  override call(
    id: number,
    behaviour: Behaviour,
    duration: number,
    fallback: FallbackKind,
    interruptAtStart: boolean,
    retryAfter?: number,
    // Fallbacks that last are driven through withCircuit only (the commands give 0 here).
    _fallbackMillis = 0
  ): Effect.Effect<void, never, Services> {
    this.callsMade++
    return Effect.flatMap(this.circuits(), (circuits) =>
      Effect.sync(() => {
        const aborter = new AbortController()
        this.aborters.set(id, aborter)
        const isFailure = (failure: unknown) => !(failure instanceof Ignorable)
        const onStart = interruptAtStart ? () => aborter.abort(interruption) : undefined
        const fn = (signal: AbortSignal) => this.work(circuits, behaviour, duration, signal, onStart, retryAfter)
        const options = {
          isFailure,
          retryAfter: retryAfterOf,
          signal: aborter.signal,
          ...(fallback === "ok"
            ? { fallback: () => "fallback" }
            : fallback === "fail"
            ? { fallback: () => Promise.reject(new FallbackBoom()) }
            : {})
        }
        let answer: Exit.Exit<unknown, unknown> | undefined
        const caller: Caller = { pollUnsafe: () => answer }
        this.callers.set(id, caller)
        circuits.fire(NAME, fn, options).then(
          (value) => {
            answer = Exit.succeed(value)
          },
          (error: unknown) => {
            answer = error === interruption ? Exit.failCause(Cause.interrupt()) : Exit.fail(error)
          }
        )
      }))
  }

  override interrupt(id: number): Effect.Effect<void> {
    return Effect.sync(() => {
      const aborter = this.aborters.get(id)
      if (aborter === undefined) throw new Error(`interrupt: no caller for call #${id}`)
      aborter.abort(interruption)
    })
  }

  close(): void {
    this.unsubscribe?.()
    this.view?.close()
  }
}

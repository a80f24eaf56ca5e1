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
 *
 * A call that waited in the queue starts its work when it is handed a
 * permit, inside the hand-off: work that ends at once then throws its
 * failure synchronously (a rejected promise would settle after the hand-off
 * has moved on to the next waiter, which the model, like `withCircuit`, does
 * only once the call's outcome is recorded).
 */
import { Cause, Effect, Exit } from "effect"
import type { Circuit, CircuitConfigInput, CircuitConfigError } from "../src/index.ts"
import { type CircuitPermit, CircuitPromise } from "../src/promise/index.ts"
import type { FallbackKind } from "./mbt-model.ts"
import {
  Boom,
  type Caller,
  type CloseKind,
  Driver,
  fail,
  FallbackBoom,
  Ignorable,
  NAME,
  type ReportKind,
  retryAfterOf,
  type Services
} from "./mbt-driver.ts"

// What a caller's abort answers with: the driver maps it to an interruption.
const interruption = new Error("interrupted by the test")

// A macrotask: every promise reaction queued so far has run.
const macrotask = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

export class PromiseDriver extends Driver {
  private view: CircuitPromise.CircuitPromise | undefined
  private readonly aborters = new Map<number, AbortController>()
  private unsubscribe: (() => void) | undefined
  /** Inside `fire` (work started now is the call's own, not a waiter's handed a permit). */
  private inFire = false

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
    id: number,
    signal: AbortSignal,
    onStart: (() => void) | undefined,
    retryAfter: number | undefined
  ): unknown {
    const { behaviour, duration } = this.plan(id)
    const direct = this.inFire
    this.running++
    // Only a call that runs at once is aborted at its start.
    if (direct) onStart?.()
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
          if (!direct) throw new Boom({ retryAfter })
          return Promise.reject(new Boom({ retryAfter }))
        case "die":
          throw new Boom({})
        case "ignored":
          if (!direct) throw new Ignorable()
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
   * aborts the caller's signal, while `fire` is still running it (not when
   * the call waited in the queue).
   */
  override call(
    id: number,
    fallback: FallbackKind,
    interruptAtStart: boolean,
    retryAfter?: number
  ): Effect.Effect<void, never, Services> {
    this.callsMade++
    return Effect.flatMap(this.circuits(), (circuits) =>
      Effect.sync(() => {
        const aborter = new AbortController()
        this.aborters.set(id, aborter)
        const isFailure = (failure: unknown) => !(failure instanceof Ignorable)
        const onStart = interruptAtStart ? () => aborter.abort(interruption) : undefined
        const fn = (signal: AbortSignal) => this.work(circuits, id, signal, onStart, retryAfter)
        // A fallback that lasts is a promise settled by a timer of the
        // view's clock; one that does not is a value or a throw (it ends when
        // it starts, as the model says: a rejected promise would settle a
        // microtask later, when a permit given back in the same millisecond
        // may already have been handed on). How long: the plan's, when it starts.
        const lasting = (outcome: "fallback" | FallbackBoom) => (millis: number) =>
          new Promise((resolve, reject) => {
            circuits.clock.setTimer(() => outcome === "fallback" ? resolve(outcome) : reject(outcome), millis)
          })
        const options = {
          isFailure,
          retryAfter: retryAfterOf,
          signal: aborter.signal,
          ...(fallback === "ok"
            ? {
              fallback: () => {
                const millis = this.plan(id).fallbackMillis
                return millis > 0 ? lasting("fallback")(millis) : "fallback"
              }
            }
            : fallback === "fail"
            ? {
              fallback: () => {
                const millis = this.plan(id).fallbackMillis
                if (millis > 0) return lasting(new FallbackBoom())(millis)
                throw new FallbackBoom()
              }
            }
            : {})
        }
        let answer: Exit.Exit<unknown, unknown> | undefined
        const caller: Caller = { pollUnsafe: () => answer }
        this.callers.set(id, caller)
        this.inFire = true
        let answered: Promise<unknown>
        try {
          answered = circuits.fire(NAME, fn, options)
        } finally {
          this.inFire = false
        }
        answered.then(
          (value) => {
            answer = Exit.succeed(value)
          },
          (error: unknown) => {
            answer = error === interruption ? Exit.failCause(Cause.interrupt()) : Exit.fail(error)
          }
        )
      }))
  }

  /** A two-step admission (`circuits.admit`), with a caller's signal that `closePermit` may abort. */
  override admit(id: number): Effect.Effect<void, never, Services> {
    this.callsMade++
    return Effect.flatMap(this.circuits(), (circuits) =>
      Effect.sync(() => {
        const aborter = new AbortController()
        this.aborters.set(id, aborter)
        const isFailure = (failure: unknown) => !(failure instanceof Ignorable)
        let answer: Exit.Exit<unknown, unknown> | undefined
        const caller: Caller = { pollUnsafe: () => answer }
        this.callers.set(id, caller)
        circuits.admit(NAME, { isFailure, retryAfter: retryAfterOf, signal: aborter.signal }).then(
          (permit) => {
            answer = Exit.succeed(permit)
          },
          (error: unknown) => {
            // A waiting admission whose caller aborted.
            answer = error === interruption ? Exit.failCause(Cause.interrupt()) : Exit.fail(error)
          }
        )
      }))
  }

  private promisePermit(id: number): CircuitPermit {
    const exit = this.admissionOf(id)
    if (exit === undefined || !Exit.isSuccess(exit)) return fail(`call #${id}: no permit`)
    return exit.value as CircuitPermit
  }

  /** The Promise permit has `success`, `failure` and `ignore` (the test maps the `report(exit)` kinds to them). */
  override report(id: number, kind: ReportKind, retryAfter: number | undefined): Effect.Effect<boolean> {
    return Effect.sync(() => {
      const permit = this.promisePermit(id)
      switch (kind) {
        case "success":
          return permit.success()
        case "failure":
          return permit.failure(new Boom({ retryAfter }))
        case "failure-ignorable":
          return permit.failure(new Ignorable())
        case "ignore":
          return permit.ignore()
        default:
          return fail(`the Promise permit has no report(exit): ${kind}`)
      }
    })
  }

  /** An interruption is the caller's abort; any other end, a dispose. */
  override closePermit(id: number, kind: CloseKind): Effect.Effect<void> {
    return Effect.sync(() => {
      if (kind === "interrupt") this.aborters.get(id)!.abort(interruption)
      else this.promisePermit(id)[Symbol.dispose]()
    })
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

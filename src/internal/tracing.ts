/**
 * Spans for guarded calls, when a tracing backend is installed.
 *
 * Each call becomes a span named `circuit <name>` (the parent of whatever the
 * guarded effect traces) carrying the circuit, its state and the admission
 * decision at the call's start, the outcome, and whether a fallback ran; a
 * fallback runs in a child span `circuit <name> fallback`. This follows the
 * OpenTelemetry agent's Hystrix instrumentation (a span per command and per
 * fallback, with the command's name and whether its circuit was open).
 *
 * Only Effect's default tracer (`Tracer.nativeTracer`, which exports nothing)
 * or `References.TracerEnabled = false` in a context means "no tracing": a
 * guarded effect decides once per context (it remembers the last one), so a
 * program without a tracing backend pays nothing per call.
 *
 * @internal
 */
import { Cause, Effect, Exit, type Fiber, Tracer } from "effect"
import * as Breaker from "../core/Breaker.ts"
import {
  CircuitFallbackRejectedError,
  CircuitOpenError,
  CircuitRejectedError,
  CircuitTimeoutError
} from "../errors.ts"
import type { Cell } from "./cell.ts"
import type { EventKind } from "../CircuitEvent.ts"

/**
 * Span attribute keys.
 *
 * @internal
 */
export const attributes = {
  name: "circuit.name",
  state: "circuit.state",
  admission: "circuit.admission",
  open: "circuit.open",
  outcome: "circuit.outcome",
  fallback: "circuit.fallback",
  fallbackReason: "circuit.fallback.reason"
} as const

/** What the call came to, as the metrics' event kinds name it. */
export type TracedOutcome = Exclude<EventKind, "fallback-success" | "fallback-failure" | "fallback-rejected" | "queued">

/** Whether the calls `fiber` runs in its current context should be traced. */
export const isTracing = (fiber: Fiber.Fiber<unknown, unknown>): boolean => {
  const cache = fiber.cache
  const tracer = cache.tracer
  return tracer !== undefined && tracer !== Tracer.nativeTracer && cache.tracerEnabled
}

interface TraceOptions {
  readonly isFailure?: ((failure: unknown) => boolean) | undefined
  readonly fallback?: ((error: unknown) => Effect.Effect<unknown, unknown, unknown>) | undefined
}

const circuitErrorOutcome = (name: string, error: unknown): TracedOutcome | undefined => {
  if (error instanceof CircuitOpenError) return error.circuit === name ? "short-circuited" : undefined
  if (error instanceof CircuitRejectedError) {
    return error.circuit !== name ? undefined : error.reason === "queue-timeout" ? "queue-timeout" : "rejected"
  }
  if (error instanceof CircuitTimeoutError) return error.circuit === name ? "timeout" : undefined
  return undefined
}

/**
 * The call `run(options)` in a span. `run` is the untraced guarded call; it is
 * given options whose `isFailure` and `fallback` also tell the span what they
 * decided, so the span shows what the circuit recorded without a hook in the
 * hot path.
 */
export const traced = <O extends TraceOptions>(
  cell: Cell,
  now: number,
  options: O,
  run: (options: O) => Effect.Effect<unknown, unknown, unknown>
): Effect.Effect<unknown, unknown, unknown> => {
  const name = cell.name
  const state = Breaker.stateName(cell.breaker)
  const admission = Breaker.admit(cell.breaker, now)
  let ignored = false
  let fallbackReason: TracedOutcome | undefined
  let fallbackExit: Exit.Exit<unknown, unknown> | undefined
  const isFailure = options.isFailure
  const fallback = options.fallback
  const tracedOptions = {
    ...options,
    isFailure: isFailure === undefined ? undefined : (failure: unknown) => {
      const counts = isFailure(failure)
      if (counts === false) ignored = true
      return counts
    },
    fallback: fallback === undefined ? undefined : (error: unknown) => {
      fallbackReason = circuitErrorOutcome(name, error) ?? "failure"
      const effect = fallback(error)
      // Anything else is turned into a defect by the caller, as untraced.
      if (!Effect.isEffect(effect)) return effect
      return effect.pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            fallbackExit = exit
          })
        ),
        Effect.withSpan(
          `circuit ${name} fallback`,
          { attributes: { [attributes.name]: name, [attributes.fallbackReason]: fallbackReason } },
          // The stack would show only this module's frames, and costs more than the span.
          { captureStackTrace: false }
        )
      )
    }
  } as O
  return Effect.withSpan(
    Effect.onExit(run(tracedOptions), (exit) =>
      Effect.flatMap(Effect.currentSpan, (span) =>
        Effect.sync(() => {
          // A fallback refused by the fallback limit never ran (it may not even have been built).
          const rejected = fallbackExit === undefined ? rejectedFallbackOf(name, exit) : undefined
          const outcome = rejected === undefined
            ? fallbackReason ?? outcomeOf(name, exit, ignored)
            : circuitErrorOutcome(name, rejected.error) ?? "failure"
          span.attribute(attributes.outcome, outcome)
          span.attribute(
            attributes.fallback,
            rejected !== undefined
              ? "rejected"
              : fallbackReason === undefined
              ? "none"
              : fallbackExit === undefined
              ? "interrupted"
              : Exit.isSuccess(fallbackExit)
              ? "success"
              : "failure"
          )
        })
      ).pipe(Effect.ignore)),
    `circuit ${name}`,
    {
      attributes: {
        [attributes.name]: name,
        [attributes.state]: state,
        [attributes.admission]: admission,
        [attributes.open]: admission === "short-circuit"
      },
      captureStackTrace: false
    }
  )
}

const outcomeOf = (name: string, exit: Exit.Exit<unknown, unknown>, ignored: boolean): TracedOutcome => {
  if (Exit.isSuccess(exit)) return "success"
  if (Cause.hasInterruptsOnly(exit.cause)) return "interrupted"
  if (ignored) return "ignored"
  const error = Cause.findErrorOption(exit.cause)
  return (error._tag === "Some" ? circuitErrorOutcome(name, error.value) : undefined) ?? "failure"
}

const rejectedFallbackOf = (name: string, exit: Exit.Exit<unknown, unknown>): CircuitFallbackRejectedError | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  for (const reason of exit.cause.reasons) {
    if (Cause.isDieReason(reason) && reason.defect instanceof CircuitFallbackRejectedError && reason.defect.circuit === name) {
      return reason.defect
    }
  }
  return undefined
}

/**
 * Tracing on and off (issue 14, item 7): the same guarded call with no tracer
 * (Effect's native tracer, the default), with a tracing backend installed (a
 * tracer that builds Effect's `NativeSpan`s and drops them, so only the cost of
 * the spans is measured), and with one installed but tracing turned off for the
 * call.
 */
import { Effect, Tracer } from "effect"
import { withCircuit } from "effect-circuit"
import type { BenchCase, CaseGroup } from "./types.ts"

export const names = {
  spanBaseline: "Effect.withSpan(Effect.succeed) (no stack), tracer installed",
  traced: "withCircuit (defaults), tracer installed",
  tracedOpen: "withCircuit open + fallback, tracer installed",
  tracedOff: "withCircuit (defaults), tracer installed, trace: false"
} as const

export const tracing: CaseGroup = () => {
  const tracer = Tracer.make({ span: (options) => new Tracer.NativeSpan(options) })
  const one = Effect.succeed(1)
  const withTracer = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.withTracer(effect, tracer)
  const cases: ReadonlyArray<BenchCase> = [
    {
      table: "fiber",
      name: names.spanBaseline,
      effect: Effect.withSpan(one, "work", { captureStackTrace: false }),
      around: withTracer
    },
    {
      table: "fiber",
      name: names.traced,
      registry: { circuit: "traced", eventsPerCall: 1 },
      effect: one.pipe(withCircuit("traced")),
      around: withTracer
    },
    {
      table: "fiber",
      name: names.tracedOpen,
      registry: { circuit: "open", eventsPerCall: 2 },
      effect: one.pipe(withCircuit("open", { fallback: () => Effect.succeed(0) })),
      around: withTracer
    },
    {
      table: "fiber",
      name: names.tracedOff,
      registry: { circuit: "traced-off", eventsPerCall: 1 },
      effect: one.pipe(withCircuit("traced-off", { trace: false })),
      around: withTracer
    }
  ]
  return cases
}

/**
 * effect-circuit's own cases, and the bare Effect baselines they are read against.
 */
import { Context, Effect } from "effect"
import { Circuit, withCircuit } from "effect-circuit"
import type { BenchCase, CaseGroup } from "./types.ts"

/** Circuit settings the core cases rely on (merged into both registries' options). */
export const circuits = {
  "timeout-off": { timeout: "infinity" },
  "buckets-10": { rollingWindow: { buckets: 10, bucketDuration: "1 second" } },
  "buckets-1000": { rollingWindow: { buckets: 1000, bucketDuration: "10 millis" } }
} as const

export const names = {
  succeed: "Effect.succeed",
  timeout: "Effect.timeout(1 s)",
  closed: "withCircuit (defaults, timeout on)",
  timeoutOff: "withCircuit (timeout off)",
  open: "withCircuit open + fallback",
  buckets10: "withCircuit 10 buckets",
  buckets1000: "withCircuit 1,000 buckets",
  awaitAsync: "await async () => 1",
  runSucceed: "runPromise(Effect.succeed)",
  runTimeout: "runPromise(Effect.timeout(1 s))",
  runClosed: "runPromise(withCircuit, defaults)",
  runOpen: "runPromise(withCircuit open + fallback)",
  floorClosed: "floor, closed: callback + child fiber + 2 clock reads",
  floorOpen: "floor, open + fallback: callback + clock read + fallback",
  runFloorClosed: "runPromise(floor, closed)"
} as const

// The floor of a guarded call (see bench/floor.ts): the steps a closed call
// cannot skip (a primitive that can wait, the effect's own fiber, a clock read
// at admission and one at the outcome) and those of an open call with a
// fallback (the primitive, a clock read, the fallback's value), composed with
// nothing else: no breaker, no permit, no events, no metrics.
const clockRead = () => Math.floor(performance.now())
const runFork = Effect.runForkWith(Context.empty())
let floorSink = 0
const floorClosed = (self: Effect.Effect<unknown>) =>
  Effect.callback<unknown>((resume) => {
    const start = clockRead()
    const exit = runFork(self).pollUnsafe()!
    floorSink += clockRead() - start
    resume(exit)
  })
const floorOpen = (fallback: () => Effect.Effect<unknown>) =>
  Effect.callback<unknown>((resume) => {
    floorSink += clockRead()
    resume(fallback())
  })
/** Read by nobody; keeps the floor's clock reads from being optimised away. */
export const floorReads = (): number => floorSink

export const core: CaseGroup = async (env) => {
  const one = Effect.succeed(1)
  const timeout = Effect.timeout(one, "1 second")
  const closed = one.pipe(withCircuit("default"))
  const open = one.pipe(withCircuit("open", { fallback: () => Effect.succeed(0) }))
  for (const handle of [env.on, env.off]) await handle.runPromise(Circuit.forceOpen("open"))
  const asyncOne = async () => 1
  const cases: ReadonlyArray<BenchCase> = [
    { table: "fiber", name: names.succeed, effect: one },
    { table: "fiber", name: names.timeout, effect: timeout },
    { table: "fiber", name: names.floorClosed, effect: floorClosed(one) },
    { table: "fiber", name: names.floorOpen, effect: floorOpen(() => Effect.succeed(0)) },
    { table: "fiber", name: names.closed, registry: { circuit: "default", eventsPerCall: 1 }, effect: closed },
    {
      table: "fiber",
      name: names.timeoutOff,
      registry: { circuit: "timeout-off", eventsPerCall: 1 },
      effect: one.pipe(withCircuit("timeout-off"))
    },
    { table: "fiber", name: names.open, registry: { circuit: "open", eventsPerCall: 2 }, effect: open },
    {
      table: "fiber",
      name: names.buckets10,
      registry: { circuit: "buckets-10", eventsPerCall: 1 },
      effect: one.pipe(withCircuit("buckets-10"))
    },
    {
      table: "fiber",
      name: names.buckets1000,
      registry: { circuit: "buckets-1000", eventsPerCall: 1 },
      effect: one.pipe(withCircuit("buckets-1000"))
    },
    { table: "promise", name: names.awaitAsync, make: () => asyncOne },
    { table: "promise", name: names.runSucceed, make: (h) => () => h.runPromise(one) },
    { table: "promise", name: names.runTimeout, make: (h) => () => h.runPromise(timeout) },
    { table: "promise", name: names.runFloorClosed, make: (h) => () => h.runPromise(floorClosed(one)) },
    {
      table: "promise",
      name: names.runClosed,
      registry: { circuit: "default", eventsPerCall: 1 },
      make: (h) => () => h.runPromise(closed)
    },
    {
      table: "promise",
      name: names.runOpen,
      registry: { circuit: "open", eventsPerCall: 2 },
      make: (h) => () => h.runPromise(open)
    }
  ]
  return cases
}

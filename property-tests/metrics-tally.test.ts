/**
 * The metrics observer's counted events (`Tally`): while the metrics are the
 * only observer of events, the registry counts a short-circuit whose fallback
 * follows, a fallback that succeeded at once and a success that took 0 ms in
 * the circuit's stats, without the observer's `event` call, and the stats
 * record those (histograms, peaks) before they next record or are read.
 *
 * Two properties, on random sequences of calls on the TestClock (successes
 * and failures that take 0 ms or longer, fallbacks that are a value, succeed
 * later or fail, forced opens and resets, trips and probes, the window's
 * buckets changed at run time, clock steps that cross the percentile and
 * window buckets, reads at some steps only):
 *
 * - the exported counters (`effect_circuit_events_total` in the Prometheus
 *   text) equal, kind by kind, the events a subscriber to `Circuit.events`
 *   saw;
 * - everything exported (the whole Prometheus text of the circuit series,
 *   the Hystrix command and thread-pool objects, the latency percentiles),
 *   read after every step, is the same as when another observer of events is
 *   installed too, which turns the counting off (every event then reaches the
 *   metrics observer as a call).
 */
import { describe, it } from "@effect/vitest"
import { Clock, Data, Effect, Fiber, Metric, Stream } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { Circuit, CircuitMetrics, CircuitRegistry, HystrixStream, withCircuit } from "../src/index.ts"
import { monotonicMillis } from "../src/internal/time.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}

type Fallback = "none" | "value" | "value-fail" | "later" | "later-fail"

type Step =
  | {
    readonly _tag: "call"
    readonly advance: number
    readonly succeeds: boolean
    readonly duration: number
    readonly fallback: Fallback
    readonly fallbackDuration: number
    /** The same call, this many times in a row. */
    readonly times: number
    /** While a slow success (50 ms) runs beside them, so that they see two calls running. */
    readonly overlap: boolean
    /** Read the exports after this step (reading adds what was counted to the stats). */
    readonly read: boolean
  }
  | { readonly _tag: "forceOpen" | "reset"; readonly advance: number; readonly read: boolean }
  /** New settings at run time: the window's bucket length (the rolling extras follow it). */
  | { readonly _tag: "configure"; readonly advance: number; readonly read: boolean; readonly bucketMillis: number }

const advanceArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 400 }) },
  { weight: 2, arbitrary: fc.integer({ min: 400, max: 2_500 }) },
  { weight: 1, arbitrary: fc.integer({ min: 3_000, max: 70_000 }) }
)

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      _tag: fc.constant("call" as const),
      advance: advanceArb,
      succeeds: fc.boolean(),
      duration: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 })),
      fallback: fc.constantFrom<Fallback>("none", "value", "value", "value-fail", "later", "later-fail"),
      fallbackDuration: fc.integer({ min: 0, max: 30 }),
      times: fc.integer({ min: 1, max: 4 }),
      overlap: fc.boolean(),
      read: fc.boolean()
    })
  },
  {
    weight: 1,
    arbitrary: fc.record({
      _tag: fc.constantFrom("forceOpen" as const, "reset" as const),
      advance: advanceArb,
      read: fc.boolean()
    })
  },
  {
    weight: 1,
    arbitrary: fc.record({
      _tag: fc.constant("configure" as const),
      advance: advanceArb,
      read: fc.boolean(),
      bucketMillis: fc.constantFrom(300, 500, 1_000)
    })
  }
)

const settings = {
  timeout: 1_000,
  requestVolumeThreshold: 3,
  errorPercentThreshold: 50,
  sleepWindow: 2_000,
  // Buckets shorter than the percentiles' (1 s): what is counted must stay in both.
  rollingWindow: { buckets: 3, bucketDuration: 300 }
}

const fallbackOf = (step: Extract<Step, { _tag: "call" }>) => {
  switch (step.fallback) {
    case "none":
      return undefined
    case "value":
      return () => Effect.succeed("fallback")
    case "value-fail":
      return () => Effect.fail("no cache")
    case "later":
      return () => Effect.as(Effect.sleep(step.fallbackDuration), "fallback")
    case "later-fail":
      return () => Effect.andThen(Effect.sleep(step.fallbackDuration), Effect.fail("no cache"))
  }
}

// One call, run to its end: one that takes time runs in a fiber while the clock moves.
const call = (step: Extract<Step, { _tag: "call" }>) => {
  const body: Effect.Effect<string, Boom> = step.succeeds
    ? Effect.as(Effect.sleep(step.duration), "ok")
    : Effect.andThen(Effect.sleep(step.duration), Effect.fail(new Boom()))
  const fallback = fallbackOf(step)
  const guarded: Effect.Effect<unknown, never, CircuitRegistry> = fallback === undefined
    ? Effect.exit(body.pipe(withCircuit("c")))
    : Effect.exit(body.pipe(withCircuit("c", { fallback })))
  return Effect.gen(function*() {
    const beside = step.overlap
      ? yield* Effect.forkChild(Effect.exit(Effect.sleep(50).pipe(withCircuit("c"))))
      : undefined
    yield* Effect.yieldNow
    for (let i = 0; i < step.times; i++) {
      const fiber = yield* Effect.forkChild(guarded)
      yield* Effect.yieldNow
      yield* TestClock.adjust(step.duration + step.fallbackDuration)
      yield* Fiber.join(fiber)
    }
    if (beside !== undefined) {
      yield* TestClock.adjust(50)
      yield* Fiber.join(beside)
    }
  })
}

// Everything the observability exports show of circuit "c" now.
const readings = Effect.gen(function*() {
  const registry = yield* CircuitRegistry
  const now = yield* Clock.clockWith((clock) => Effect.succeed(monotonicMillis(clock)))
  const text = (yield* PrometheusMetrics.format()).split("\n").filter((l) => l.startsWith("effect_circuit_")).join("\n")
  const cell = registry.lookup("c")
  if (cell === undefined) return text
  const command = HystrixStream.commandOf(cell, now)
  const pool = HystrixStream.threadPoolOf(cell, now)
  const latency = yield* CircuitMetrics.latency("c")
  return [text, JSON.stringify(command), JSON.stringify(pool), JSON.stringify(latency)].join("\n")
})

const run = (steps: ReadonlyArray<Step>, percentileBuckets: number, anotherObserver: boolean): Effect.Effect<{ out: Array<string>; seen: Map<string, number> }, unknown> =>
  Effect.gen(function*() {
    const registry = yield* CircuitRegistry
    if (anotherObserver) registry.observe({ event: () => {} })
    const seen = new Map<string, number>()
    const subscriber = yield* Effect.forkChild(
      Stream.runForEach(Circuit.events, (event) => Effect.sync(() => seen.set(event.kind, (seen.get(event.kind) ?? 0) + 1)))
    )
    yield* Effect.yieldNow
    const out: Array<string> = []
    for (const step of steps) {
      if (step.advance > 0) yield* TestClock.adjust(step.advance)
      if (step._tag === "call") yield* call(step)
      else if (step._tag === "forceOpen") yield* Circuit.forceOpen("c")
      else if (step._tag === "configure") {
        yield* Circuit.configure("c", { rollingWindow: { buckets: 3, bucketDuration: step.bucketMillis } })
      }
      else yield* Circuit.reset("c")
      out.push(step.read ? yield* readings : "")
    }
    out.push(yield* readings)
    yield* Effect.yieldNow
    yield* Fiber.interrupt(subscriber)
    return { out, seen }
  }).pipe(
    Effect.provide(
      CircuitRegistry.layer({
        defaults: settings,
        eventBuffer: 1 << 16,
        // A short percentile window, so that what lands in the wrong time bucket shows.
        metrics: { percentileWindow: { buckets: percentileBuckets, bucketDuration: "1 second" } }
      })
    ),
    Effect.provide(TestClock.layer()),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )

const exported = (text: string): Map<string, number> => {
  const counts = new Map<string, number>()
  for (const match of text.matchAll(/^effect_circuit_events_total\{circuit="c",event="([a-z-]+)"\} (\d+)$/gm)) {
    counts.set(match[1]!, Number(match[2]!))
  }
  return counts
}

describe("metrics counted by the registry (Tally)", () => {
  it("the exports are the same with and without the counting, after every step; the counters equal the events seen", async () => {
    let tallied = 0
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 40 }), fc.constantFrom(1, 2, 6), async (steps, buckets) => {
        const quiet = await Effect.runPromise(run(steps, buckets, false))
        const loud = await Effect.runPromise(run(steps, buckets, true))
        for (let i = 0; i < quiet.out.length; i++) {
          if (quiet.out[i] !== loud.out[i]) {
            throw new Error(`step ${i} (${JSON.stringify(steps[i])}): the exports differ\n${quiet.out[i]}\n---\n${loud.out[i]}`)
          }
        }
        const last = exported(quiet.out[quiet.out.length - 1]!)
        for (const [kind, n] of quiet.seen) {
          if ((last.get(kind) ?? 0) !== n) throw new Error(`${kind}: ${n} events seen, ${last.get(kind)} exported`)
        }
        for (const [kind, n] of last) {
          if ((quiet.seen.get(kind) ?? 0) !== n) throw new Error(`${kind}: ${n} exported, ${quiet.seen.get(kind) ?? 0} seen`)
        }
        if ((last.get("short-circuited") ?? 0) > 0 && (last.get("fallback-success") ?? 0) > 1) tallied++
      }),
      { numRuns: 120 }
    )
    // The generator must reach what is counted: open circuits answered by fallbacks.
    if (tallied < 10) throw new Error(`only ${tallied} runs had short-circuits and fallbacks`)
  })
})

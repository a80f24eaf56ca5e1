/**
 * Two-step calls are ordinary calls for everything that reads a circuit:
 * the same outcomes at the same times through `withCircuit` (circuit "a")
 * and through `Circuit.admit` (circuit "b") give the same Prometheus series
 * and the same Hystrix stream objects, latency percentiles included.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Data, Effect, Exit, Fiber, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import { Circuit, CircuitRegistry, HystrixStream, withCircuit } from "../src/index.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}

type Step = { readonly millis: number; readonly outcome: "success" | "failure" | "timeout" | "interrupted" }

const steps: ReadonlyArray<Step> = [
  { millis: 10, outcome: "success" },
  { millis: 40, outcome: "failure" },
  { millis: 250, outcome: "timeout" },
  { millis: 70, outcome: "success" },
  { millis: 5, outcome: "interrupted" },
  { millis: 120, outcome: "failure" },
  { millis: 30, outcome: "success" }
]

// Both circuits' series, with the circuit's label taken out, so that they can be compared.
const seriesOf = (text: string, circuit: string): Map<string, string> => {
  const series = new Map<string, string>()
  for (const line of text.split("\n")) {
    if (!line.includes(`circuit="${circuit}"`)) continue
    const [key, value] = line.split(" ")
    series.set(key!.replace(`circuit="${circuit}"`, "circuit=_"), value!)
  }
  return series
}

describe("two-step calls in metrics and the Hystrix stream", () => {
  it.effect("the same outcomes through withCircuit and Circuit.admit give the same series and stream objects", () =>
    Effect.gen(function*() {
      for (const step of steps) {
        const work = Effect.sleep(step.millis).pipe(
          Effect.andThen(step.outcome === "failure" ? Effect.fail(new Boom()) : Effect.void)
        )
        const guarded = yield* Effect.forkChild(Effect.exit(work.pipe(withCircuit("a"))))
        const twoStep = yield* Effect.forkChild(Effect.exit(Effect.scoped(Effect.gen(function*() {
          const permit = yield* Circuit.admit<Boom>("b")
          return yield* work.pipe(Effect.raceFirst(permit.expired), Effect.onExit(permit.report))
        }))))
        yield* Effect.yieldNow
        if (step.outcome === "interrupted") {
          yield* TestClock.adjust(step.millis - 1)
          yield* Fiber.interrupt(guarded)
          yield* Fiber.interrupt(twoStep)
          yield* TestClock.adjust(1)
        } else {
          yield* TestClock.adjust(step.millis)
        }
        const [a, b] = [yield* Fiber.await(guarded), yield* Fiber.await(twoStep)]
        assert.strictEqual(Exit.isSuccess(a), Exit.isSuccess(b), `step ${JSON.stringify(step)}`)
      }
      const text = yield* PrometheusMetrics.format()
      const a = seriesOf(text, "a")
      assert.isAbove(a.size, 10)
      assert.deepStrictEqual(seriesOf(text, "b"), a)
      const registry = yield* CircuitRegistry
      const now = Number(yield* Clock.currentTimeMillis)
      const command = (name: string) => {
        const { name: _, group: __, threadPool: ___, ...rest } = HystrixStream.commandOf(registry.lookup(name)!, now)
        return rest
      }
      const pool = (name: string) => {
        const { name: _, ...rest } = HystrixStream.threadPoolOf(registry.lookup(name)!, now)
        return rest
      }
      assert.strictEqual(command("a").rollingCountTimeout, 1)
      assert.strictEqual(command("a").rollingCountFailure, 2)
      assert.deepStrictEqual(command("b"), command("a"))
      assert.deepStrictEqual(pool("b"), pool("a"))
    }).pipe(
      Effect.provide(CircuitRegistry.layer({ defaults: { timeout: "200 millis", requestVolumeThreshold: 100 } })),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ))
})

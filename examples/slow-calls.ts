/**
 * Slow calls trip the circuit like errors (resilience4j slowCallRateThreshold
 * and slowCallDurationThreshold): a downstream that still answers, but
 * slowly, is given time to recover.
 *
 * Run: node examples/slow-calls.ts
 */
import { Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitRegistry, withCircuit } from "effect-circuit"

const search = (millis: number) => Effect.sleep(`${millis} millis`).pipe(Effect.as("hits"), withCircuit("search"))

const program = Effect.gen(function*() {
  for (const millis of [50, 900, 800, 950]) {
    const call = yield* Effect.forkChild(search(millis))
    yield* TestClock.adjust(`${millis} millis`)
    yield* Fiber.join(call)
  }
  const snapshot = yield* Circuit.snapshot("search")
  console.log(`${snapshot.window.slow} of ${snapshot.window.total} calls slower than 500 ms: ${snapshot.state}`)
}).pipe(
  Effect.provide(CircuitRegistry.layer({
    circuits: {
      search: { requestVolumeThreshold: 4, slowCallDuration: "500 millis", slowCallPercentThreshold: 75 }
    }
  })),
  Effect.provide(TestClock.layer())
)

Effect.runPromise(program)

/**
 * A jittered sleep window: each opening of each circuit draws its own delay,
 * so circuits that tripped together do not all probe at the same instant.
 * The draws use the fiber's Random: a seed makes them repeatable.
 *
 * Run: node examples/jittered-sleep-window.ts
 */
import { Data, Duration, Effect, Random, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { CircuitOpenError, CircuitRegistry, withCircuit } from "effect-circuit"

class Down extends Data.TaggedError("Down")<{}> {}

const openFor = (name: string) =>
  Effect.gen(function*() {
    yield* Effect.ignore(Effect.fail(new Down()).pipe(withCircuit(name)))
    const error = yield* Effect.flip(Effect.succeed(1).pipe(withCircuit(name)))
    return error instanceof CircuitOpenError ? Duration.toMillis(error.retryAfter) : 0
  })

// A fresh registry per run.
const delays = () => Effect.forEach(["a", "b", "c"], openFor).pipe(
  Effect.provide(CircuitRegistry.layer({
    defaults: { consecutiveFailures: 1, sleepWindow: Schedule.exponential("10 seconds").pipe(Schedule.jittered) }
  })),
  Effect.provide(TestClock.layer())
)

const program = Effect.gen(function*() {
  const first = yield* delays().pipe(Random.withSeed("demo"))
  const again = yield* delays().pipe(Random.withSeed("demo"))
  console.log(`three circuits, three delays: ${new Set(first).size === 3}`)
  console.log(`all within 10 s ± 20 %: ${first.every((d) => d >= 8000 && d <= 12000)}`)
  console.log(`same seed, same delays: ${JSON.stringify(first) === JSON.stringify(again)}`)
})

Effect.runPromise(program)

/**
 * A limit on fallbacks running at once (Hystrix's fallback semaphore,
 * cep21/circuit's Fallback.MaxConcurrentRequests): when the dependency is
 * down every call runs its fallback, and a slow fallback (a cache on another
 * host) must not pile up behind it. Past the limit the fallback does not run
 * and the call dies with CircuitFallbackRejectedError, holding the error the
 * fallback would have been given.
 *
 * Run: node examples/fallback-limit.ts
 */
import { Data, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitFallbackRejectedError, CircuitRegistry, withCircuit } from "effect-circuit"

class Down extends Data.TaggedError("Down")<{}> {}

// The fallback reads a cache that takes 100 ms.
const fromCache = Effect.sleep("100 millis").pipe(Effect.as("from the cache"))

const recommend = Effect.fail(new Down()).pipe(
  withCircuit("recommendations", { fallback: () => fromCache }),
  // A rejected fallback is a defect: the call's type promises that the fallback answers.
  Effect.catchDefect((defect) =>
    defect instanceof CircuitFallbackRejectedError
      ? Effect.succeed(`a static default (fallback rejected after ${(defect.error as Down)._tag})`)
      : Effect.die(defect)
  )
)

const program = Effect.gen(function*() {
  const calls = yield* Effect.forkChild(Effect.all([recommend, recommend, recommend, recommend], { concurrency: "unbounded" }))
  yield* Effect.yieldNow
  const { fallbacks } = yield* Circuit.snapshot("recommendations")
  console.log(`fallbacks running: ${fallbacks.active} of ${fallbacks.max}`)
  yield* TestClock.adjust("100 millis")
  for (const answer of yield* Fiber.join(calls)) console.log(answer)
  console.log(`fallbacks running after: ${(yield* Circuit.snapshot("recommendations")).fallbacks.active}`)
}).pipe(
  Effect.provide(CircuitRegistry.layer({
    circuits: { recommendations: { maxConcurrentFallbacks: 2 } }
  })),
  Effect.provide(TestClock.layer())
)

Effect.runPromise(program)

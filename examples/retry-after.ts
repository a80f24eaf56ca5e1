/**
 * A downstream's Retry-After lengthens the opening it causes
 * (effect/persistence `failure({ retryAfter })`): a 429 that says "come back
 * in 30 seconds" keeps the circuit open 30 seconds, not the 5 s sleep window.
 *
 * Run: node examples/retry-after.ts
 */
import { Data, Duration, Effect } from "effect"
import { TestClock } from "effect/testing"
import { CircuitOpenError, CircuitRegistry, withCircuit } from "effect-circuit"

class RateLimited extends Data.TaggedError("RateLimited")<{ readonly retryAfterSeconds: number }> {}

const send = Effect.fail(new RateLimited({ retryAfterSeconds: 30 })).pipe(
  withCircuit("sms", { retryAfter: (error) => Duration.seconds(error.retryAfterSeconds) })
)

const program = Effect.gen(function*() {
  yield* Effect.flip(send) // the 429 opens the circuit
  const error = yield* Effect.flip(send)
  if (error instanceof CircuitOpenError) console.log(`open, retry after ${Duration.format(error.retryAfter)}`)
}).pipe(
  Effect.provide(CircuitRegistry.layer({ circuits: { sms: { consecutiveFailures: 1, sleepWindow: "5 seconds" } } })),
  Effect.provide(TestClock.layer()) // time stands still between the two calls
)

Effect.runPromise(program)

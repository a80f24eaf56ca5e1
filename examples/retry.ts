/**
 * Composing with Effect.retry and Schedule: retry a rejected call at once
 * (a permit frees up soon), and wait at least `retryAfter` before retrying a
 * call that an open circuit short-circuited.
 *
 * Run: npm run example -- retry
 */
import { Data, Duration, Effect, Fiber, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitOpenError, CircuitRegistry, CircuitRejectedError, withCircuit } from "effect-circuit"

class SearchDown extends Data.TaggedError("SearchDown")<{}> {}

let calls = 0
// Down for the first 3 calls, then up.
const search = Effect.suspend(() => ++calls <= 3 ? Effect.fail(new SearchDown()) : Effect.succeed(["result"]))

// Wait what the circuit says (retryAfter) when open, a short jittered
// backoff otherwise; give up after 10 attempts.
const backoff = Schedule.exponential("100 millis").pipe(
  Schedule.jittered,
  Schedule.modifyDelay(({ duration, input }) =>
    Effect.succeed(input instanceof CircuitOpenError ? Duration.max(duration, input.retryAfter) : duration)
  ),
  Schedule.upTo({ times: 10 })
)

const resilientSearch = search.pipe(
  withCircuit("search"),
  Effect.retry({
    schedule: backoff,
    while: (error) => error instanceof CircuitOpenError || error instanceof CircuitRejectedError || error._tag === "SearchDown"
  })
)

const program = Effect.gen(function*() {
  const fiber = yield* Effect.forkChild(resilientSearch)
  // Let virtual time pass: the circuit trips, waits out its sleep window, probes and closes.
  for (let i = 0; i < 20; i++) yield* TestClock.adjust("500 millis")
  const result = yield* Fiber.await(fiber)
  const snapshot = yield* Circuit.snapshot("search")
  console.log(`result: ${JSON.stringify(result._tag === "Success" ? result.value : result.cause)}`)
  console.log(`calls to the downstream: ${calls}, circuit: ${snapshot.state}`)
}).pipe(
  Effect.provide(CircuitRegistry.layer({
    circuits: { search: { requestVolumeThreshold: 3, sleepWindow: "2 seconds" } }
  })),
  Effect.provide(TestClock.layer())
)

Effect.runPromise(program)

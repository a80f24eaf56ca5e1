/**
 * A backoff that survives flapping (effect/persistence): with
 * `backoffReset: "stable"` the count of openings starts again only once the
 * circuit has stayed closed as long as it was last open, so a dependency
 * that recovers for a moment and falls over again is probed ever less often.
 *
 * Run: node examples/stable-backoff.ts
 */
import { Data, Duration, Effect, Schedule } from "effect"
import { TestClock } from "effect/testing"
import { CircuitOpenError, CircuitRegistry, withCircuit } from "effect-circuit"

class Flaky extends Data.TaggedError("Flaky")<{}> {}

let up = false
const call = Effect.suspend(() => up ? Effect.succeed("ok") : Effect.fail(new Flaky())).pipe(withCircuit("geo"))
const openFor = Effect.flip(call).pipe(
  Effect.map((e) => e instanceof CircuitOpenError ? e.retryAfter : Duration.zero)
)

const program = Effect.gen(function*() {
  for (let round = 1; round <= 3; round++) {
    up = false
    yield* Effect.ignore(call) // falls over: opens
    const sleep = yield* openFor
    console.log(`opening ${round}: open for ${Duration.format(sleep)}`)
    yield* TestClock.adjust(sleep)
    up = true
    yield* call // the probe closes it ... for a moment
  }
  yield* TestClock.adjust("4 seconds") // now closed as long as it was last open
  up = false
  yield* Effect.ignore(call)
  console.log(`after 4 s closed, the next opening: open for ${Duration.format(yield* openFor)}`)
}).pipe(
  Effect.provide(CircuitRegistry.layer({
    circuits: {
      geo: { consecutiveFailures: 1, sleepWindow: Schedule.exponential("1 second"), backoffReset: "stable" }
    }
  })),
  Effect.provide(TestClock.layer())
)

Effect.runPromise(program)

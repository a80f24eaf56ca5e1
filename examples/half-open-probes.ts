/**
 * Several probes in half-open (resilience4j permittedNumberOfCallsInHalfOpenState,
 * gobreaker MaxRequests): the circuit closes only when all of them succeed,
 * and the first failure reopens it.
 *
 * Run: node examples/half-open-probes.ts
 */
import { Data, Effect } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitRegistry, withCircuit } from "effect-circuit"

class Down extends Data.TaggedError("Down")<{}> {}

let healthy = false
const fetchStock = Effect.suspend(() => healthy ? Effect.succeed(7) : Effect.fail(new Down())).pipe(
  withCircuit("inventory"),
  Effect.ignore
)
const state = Effect.map(Circuit.snapshot("inventory"), (s) => s.state)

const program = Effect.gen(function*() {
  yield* fetchStock // fails: open
  yield* TestClock.adjust("5 seconds")
  healthy = true
  yield* fetchStock
  console.log(`after 1 good probe of 3: ${yield* state}`)
  yield* fetchStock
  yield* fetchStock
  console.log(`after 3 good probes: ${yield* state}`)
}).pipe(
  Effect.provide(CircuitRegistry.layer({
    circuits: { inventory: { consecutiveFailures: 1, halfOpenProbes: 3 } }
  })),
  Effect.provide(TestClock.layer())
)

Effect.runPromise(program)

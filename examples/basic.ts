/**
 * The basics: guard a flaky call with a circuit, watch it trip, short-circuit,
 * probe and close again.
 *
 * Run: npm run example -- basic
 */
import { Data, Effect } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitRegistry, withCircuit } from "effect-circuit"

class PaymentsDown extends Data.TaggedError("PaymentsDown")<{}> {}

// A downstream that is down for the first 4 calls, then recovers.
let calls = 0
const charge = Effect.suspend(() => ++calls <= 4 ? Effect.fail(new PaymentsDown()) : Effect.succeed(`charged #${calls}`))

const guarded = charge.pipe(withCircuit("payments"))

const program = Effect.gen(function*() {
  for (let i = 0; i < 4; i++) {
    const result = yield* Effect.result(guarded)
    const snapshot = yield* Circuit.snapshot("payments")
    console.log(`call ${i + 1}: ${result._tag === "Success" ? result.success : result.failure._tag} -> ${snapshot.state}`)
  }
  // The circuit is open: the next call fails at once, the downstream is not called.
  const shortCircuited = yield* Effect.flip(guarded)
  console.log(`short-circuited: ${shortCircuited.message}`)

  // After the sleep window one call is let through as the probe.
  yield* TestClock.adjust("5 seconds")
  console.log(`probe: ${yield* guarded} -> ${yield* Circuit.state("payments")}`)
}).pipe(
  Effect.provide(CircuitRegistry.layer({
    circuits: { payments: { requestVolumeThreshold: 4, errorPercentThreshold: 50, sleepWindow: "5 seconds" } }
  })),
  // TestClock lets the example move time forward instead of waiting 5 seconds.
  Effect.provide(TestClock.layer())
)

Effect.runPromise(program).then(() => console.log("done"))

/**
 * Prometheus: every circuit's series reach Effect's metric exporters, labelled
 * with the circuit's name, so `PrometheusMetrics` from `effect/observability`
 * renders them with no extra wiring (`Observability.layerHttp()` serves the
 * same text on `/metrics`, a slice at a time).
 *
 * Run: npm run example -- prometheus
 */
import { Data, Effect } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { CircuitRegistry, withCircuit } from "effect-circuit"

class PaymentsDown extends Data.TaggedError("PaymentsDown")<{}> {}

let calls = 0
// Two good answers, then the dependency goes down.
const charge = Effect.suspend(() => ++calls <= 2 ? Effect.succeed("charged") : Effect.fail(new PaymentsDown()))

const program = Effect.gen(function*() {
  for (let i = 0; i < 5; i++) {
    // The 4th call trips the circuit (2 errors of 4 requests); the 5th is short-circuited.
    yield* charge.pipe(withCircuit("payments"), Effect.ignore)
  }
  yield* Effect.succeed("in stock").pipe(withCircuit("inventory"))

  const text = yield* PrometheusMetrics.format()
  // Only the circuit series (the registry may hold other metrics of the program).
  for (const line of text.split("\n")) {
    if (line.includes("effect_circuit_") && !line.includes("_bucket{")) console.log(line)
  }
})

Effect.runPromise(program.pipe(
  Effect.provide(CircuitRegistry.layer({
    // Metrics are on by default; `metrics: false` turns them off.
    circuits: { payments: { requestVolumeThreshold: 4, errorPercentThreshold: 50 } }
  }))
))

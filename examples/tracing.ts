/**
 * Tracing: with a tracer installed, every guarded call is a span `circuit
 * <name>` under the caller's span, carrying the circuit's state and admission
 * at the call's start, the outcome and the fallback; a fallback runs in a child
 * span. Here the spans go out through `OtlpTracer` from `effect/observability`
 * to a tiny collector on 127.0.0.1 that prints the trace it receives.
 *
 * Run: npm run example -- tracing
 */
import { Data, Effect, Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import { Circuit, CircuitRegistry, withCircuit } from "effect-circuit"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

class PaymentsDown extends Data.TaggedError("PaymentsDown")<{}> {}

const charge = (ok: boolean) =>
  (ok ? Effect.succeed("charged") : Effect.fail(new PaymentsDown())).pipe(
    Effect.withSpan("payments-api"),
    withCircuit("payments", { fallback: () => Effect.succeed("deferred") })
  )

// One request of a checkout service: a success, a failure served by the
// fallback, and a short-circuit once the circuit is forced open.
const checkout = Effect.gen(function*() {
  yield* charge(true)
  yield* charge(false)
  yield* Circuit.forceOpen("payments")
  yield* charge(true)
}).pipe(Effect.withSpan("checkout"))

interface Attribute {
  readonly key: string
  readonly value: { readonly stringValue?: string; readonly boolValue?: boolean }
}
interface OtlpSpan {
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly attributes?: ReadonlyArray<Attribute>
}

const spans: Array<OtlpSpan> = []
const collector = createServer((req, res) => {
  let body = ""
  req.on("data", (chunk) => (body += chunk))
  req.on("end", () => {
    for (const resource of JSON.parse(body).resourceSpans ?? []) {
      for (const scope of resource.scopeSpans ?? []) spans.push(...scope.spans ?? [])
    }
    res.writeHead(200, { "content-type": "application/json" }).end("{}")
  })
})
await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve))
const port = (collector.address() as AddressInfo).port

await checkout.pipe(
  Effect.provide(CircuitRegistry.layer()),
  // The exporter outside the program: its last export runs when the program ends.
  Effect.provide(
    OtlpTracer.layer({ url: `http://127.0.0.1:${port}/v1/traces`, resource: { serviceName: "checkout" } }).pipe(
      Layer.provide([FetchHttpClient.layer, OtlpSerialization.layerJson])
    )
  ),
  Effect.runPromise
)
collector.close()

// Print the trace as a tree, with the circuit's attributes.
const shown = ["circuit.state", "circuit.admission", "circuit.outcome", "circuit.fallback", "circuit.fallback.reason"]
const print = (parent: string | undefined, depth: number): void => {
  for (const span of spans.filter((s) => (s.parentSpanId || undefined) === parent)) {
    const attributes = (span.attributes ?? [])
      .filter((a) => shown.includes(a.key))
      .map((a) => `${a.key}=${a.value.stringValue ?? a.value.boolValue}`)
    console.log(`${"  ".repeat(depth)}${span.name}${attributes.length > 0 ? ` (${attributes.join(", ")})` : ""}`)
    print(span.spanId, depth + 1)
  }
}
print(undefined, 0)

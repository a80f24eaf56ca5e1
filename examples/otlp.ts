/**
 * OpenTelemetry: the circuit metrics go out through `OtlpMetrics` from
 * `effect/observability`, like any Effect metric. A tiny collector on
 * 127.0.0.1 stands in for an OpenTelemetry collector here and prints what it
 * receives; then the same program runs against a collector that is not there,
 * which costs nothing but a failed export (it neither hangs nor fails).
 *
 * Run: npm run example -- otlp
 */
import { Data, Effect, Layer } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpMetrics, OtlpSerialization } from "effect/observability"
import { CircuitRegistry, withCircuit } from "effect-circuit"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

class Down extends Data.TaggedError("Down")<{}> {}

// What a program would do: guarded calls.
const work = Effect.gen(function*() {
  for (let i = 0; i < 3; i++) yield* Effect.succeed("charged").pipe(withCircuit("payments"))
  yield* Effect.fail(new Down()).pipe(withCircuit("payments"), Effect.ignore)
})

// The exporter: OTLP/HTTP JSON to `url`, every 200 ms and once more when the program ends.
const otlp = (url: string) =>
  OtlpMetrics.layer({
    url,
    resource: { serviceName: "checkout" },
    exportInterval: "200 millis",
    shutdownTimeout: "1 second"
  }).pipe(Layer.provide([FetchHttpClient.layer, OtlpSerialization.layerJson]))

const run = (url: string) =>
  work.pipe(
    // Let one export interval pass; the final export happens when the layer closes.
    Effect.andThen(Effect.sleep("300 millis")),
    // The exporter inside the registry: its last export runs before the
    // registry closes (and removes its circuits' series).
    Effect.provide(otlp(url)),
    Effect.provide(CircuitRegistry.layer()),
    Effect.runPromise
  )

interface Attribute {
  readonly key: string
  readonly value: { readonly stringValue?: string }
}
interface DataPoint {
  readonly attributes?: ReadonlyArray<Attribute>
  readonly asInt?: number | string
  readonly asDouble?: number
  readonly count?: number | string
}

// 1. With a collector.
const received = new Map<string, string>()
const collector = createServer((req, res) => {
  let body = ""
  req.on("data", (chunk) => (body += chunk))
  req.on("end", () => {
    const payload = JSON.parse(body)
    for (const resource of payload.resourceMetrics ?? []) {
      for (const scope of resource.scopeMetrics ?? []) {
        for (const metric of scope.metrics ?? []) {
          if (!String(metric.name).startsWith("effect_circuit_")) continue
          const points: ReadonlyArray<DataPoint> = (metric.sum ?? metric.gauge ?? metric.histogram)?.dataPoints ?? []
          for (const point of points) {
            const attributes = (point.attributes ?? [])
              .map((a) => `${a.key}=${a.value.stringValue}`)
              .join(",")
            const value = point.asInt ?? point.asDouble ?? `count ${point.count}`
            received.set(`${metric.name}{${attributes}}`, `${String(value)} (unit ${metric.unit})`)
          }
        }
      }
    }
    res.writeHead(200, { "content-type": "application/json" }).end("{}")
  })
})
await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve))
const port = (collector.address() as AddressInfo).port
await run(`http://127.0.0.1:${port}/v1/metrics`)
collector.close()
for (const key of ["effect_circuit_events_total{circuit=payments,event=success}",
  "effect_circuit_events_total{circuit=payments,event=failure}", "effect_circuit_state{circuit=payments,state=closed}",
  "effect_circuit_latency_seconds{circuit=payments}"]) {
  console.log(`collector received ${key} = ${received.get(key)}`)
}

// 2. With no collector listening: the program still ends, on time.
const started = Date.now()
await run(`http://127.0.0.1:${port}/v1/metrics`)
console.log(`no collector: the program ended ${Date.now() - started < 5_000 ? "on time" : "late"}`)

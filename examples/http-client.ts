/**
 * Guarding an effect/http client, one circuit per host ("http:<host>"): a
 * downstream that fails trips its circuit; further requests fail at once
 * with CircuitOpenError (nothing is sent) and the caller falls back; after
 * the sleep window a probe finds it healthy again.
 *
 * A small downstream runs on 127.0.0.1 in the same process (a free port).
 *
 * Run: npm run example -- http-client
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { FetchHttpClient, HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { Circuit, CircuitHttpClient, CircuitRegistry } from "effect-circuit"
import { createServer } from "node:http"

// The downstream: /stock answers 503 until `healthy` is set.
let healthy = false
let received = 0
const Downstream = HttpRouter.serve(
  HttpRouter.add("GET", "/stock/:sku", Effect.sync(() => {
    received++
    return healthy
      ? HttpServerResponse.jsonUnsafe({ sku: "lamp", available: 3 })
      : HttpServerResponse.text("overloaded", { status: 503 })
  })),
  { disableLogger: true, disableListenLog: true }
).pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: 0 })))

const program = Effect.gen(function*() {
  const base = HttpServer.formatAddress((yield* HttpServer.HttpServer).address)
  const circuit = `http:${new URL(base).host}`
  // The client of the context, guarded, with the registry provided.
  const client = yield* CircuitHttpClient.make()

  const stock = (sku: string) =>
    client.get(`${base}/stock/${sku}`).pipe(
      Effect.map((response) => `HTTP ${response.status}`),
      // The circuit's errors are typed: fall back on a short-circuit.
      Effect.catchTag("CircuitOpenError", (error) => Effect.succeed(`fallback (${error._tag})`))
    )

  for (let i = 1; i <= 4; i++) {
    const result = yield* stock("lamp")
    console.log(`request ${i}: ${result}, ${circuit} is ${yield* Circuit.state(circuit)}`)
  }
  console.log(`requests that reached the downstream: ${received}`)

  healthy = true
  yield* Effect.sleep("600 millis")
  console.log(`after the sleep window: ${yield* stock("lamp")}, ${circuit} is ${yield* Circuit.state(circuit)}`)
})

Effect.runPromise(
  program.pipe(
    Effect.provide(CircuitRegistry.layer({
      // Hosts are configured by circuit name.
      defaults: { requestVolumeThreshold: 2, errorPercentThreshold: 50, sleepWindow: "500 millis", timeout: "2 seconds" }
    })),
    Effect.provide(Layer.merge(Downstream, FetchHttpClient.layer))
  )
).then(() => console.log("done"))

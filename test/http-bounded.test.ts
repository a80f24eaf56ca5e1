/**
 * Issue 11, item 2: circuits created from request data stay bounded.
 * `CircuitHttpClient` makes one circuit per host and `CircuitMiddleware.guard`
 * outside a router one per path; with the registry's `capacity`, a flood of
 * distinct hosts or paths keeps the registry within it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { HttpClient, HttpClientRequest, HttpClientResponse, HttpServerRequest, HttpServerResponse } from "effect/http"
import { Circuit, CircuitHttpClient, CircuitMiddleware, CircuitRegistry } from "../src/index.ts"

describe("circuits made from request data", () => {
  it.effect("5,000 distinct hosts through CircuitHttpClient keep the registry within capacity", () =>
    Effect.gen(function*() {
      // A transport that answers every request itself: what is under test is
      // the naming and the registry, not the network.
      const transport = HttpClient.make((request) =>
        Effect.succeed(HttpClientResponse.fromWeb(request, new Response("ok", { status: 200 })))
      )
      const client = CircuitHttpClient.withCircuit(transport)
      let most = 0
      for (let i = 0; i < 5000; i++) {
        const response = yield* client.execute(HttpClientRequest.get(`http://host-${i}.example/`))
        assert.strictEqual(response.status, 200)
        most = Math.max(most, (yield* Circuit.names).length)
      }
      assert.isAtMost(most, 50)
      assert.include(yield* Circuit.names, "http:host-4999.example")
    }).pipe(Effect.provide(CircuitRegistry.layer({ capacity: 50 }))))

  it.effect("5,000 distinct paths through CircuitMiddleware.guard outside a router keep it within capacity", () =>
    Effect.gen(function*() {
      const app = Effect.succeed(HttpServerResponse.text("ok")).pipe(CircuitMiddleware.guard())
      let most = 0
      for (let i = 0; i < 5000; i++) {
        const request = HttpServerRequest.fromWeb(new Request(`http://localhost/items/${i}`))
        const response = yield* app.pipe(Effect.provideService(HttpServerRequest.HttpServerRequest, request))
        assert.strictEqual(response.status, 200)
        most = Math.max(most, (yield* Circuit.names).length)
      }
      assert.isAtMost(most, 50)
    }).pipe(Effect.provide(CircuitRegistry.layer({ capacity: 50 }))))
})

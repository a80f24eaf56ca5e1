/**
 * Issue 11, item 10: a bad-request class (Hystrix's HystrixBadRequestException).
 *
 * An error that is the caller's fault is returned to the caller as it is,
 * never counted by the circuit (not a request of its window) and never
 * replaced by the fallback: `CircuitBadRequest` (`Circuit.badRequest`), or any
 * error of the caller's own that carries the `BadRequest` marker.
 * `CircuitMiddleware` treats client-caused failures (4xx answers, request
 * decode errors, bad-request errors) as bad requests by default.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Data, Effect, Layer, Schema } from "effect"
import { HttpClient, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import {
  BadRequestTypeId,
  Circuit,
  CircuitBadRequest,
  CircuitMiddleware,
  CircuitRegistry,
  isBadRequest,
  withCircuit
} from "../src/index.ts"

class InvalidInput extends Data.TaggedError("InvalidInput")<{ readonly field: string }> {
  readonly [BadRequestTypeId] = true as const
}
class Downstream extends Data.TaggedError("Downstream")<{}> {}

const trippy = { requestVolumeThreshold: 5, errorPercentThreshold: 50 }

describe("withCircuit and bad requests", () => {
  it.effect("100 bad requests never open the circuit, reach the caller as they are, and skip the fallback", () =>
    Effect.gen(function*() {
      let fallbacks = 0
      for (let i = 0; i < 100; i++) {
        const wrapped = yield* Circuit.badRequest(new InvalidInput({ field: "id" })).pipe(
          withCircuit("svc", { fallback: () => Effect.sync(() => (fallbacks++, "fallback")) }),
          Effect.flip
        )
        assert.instanceOf(wrapped, CircuitBadRequest)
        assert.strictEqual(wrapped.error.field, "id")
        const marked = yield* Effect.fail(new InvalidInput({ field: "name" })).pipe(withCircuit("svc"), Effect.flip)
        assert.instanceOf(marked, InvalidInput)
      }
      assert.strictEqual(fallbacks, 0)
      const snapshot = yield* Circuit.snapshot("svc")
      assert.strictEqual(snapshot.state, "closed")
      assert.strictEqual(snapshot.window.total, 0, "not requests of the window")
      // The same failures without the marker open it.
      for (let i = 0; i < 5; i++) yield* Effect.fail(new Downstream()).pipe(withCircuit("svc"), Effect.ignore)
      assert.strictEqual(yield* Circuit.state("svc"), "open")
    }).pipe(Effect.provide(CircuitRegistry.layer({ defaults: trippy }))))

  it.effect("a bad request with a fallback is in the error type, and isFailure is not asked", () =>
    Effect.gen(function*() {
      const asked: Array<unknown> = []
      const program: Effect.Effect<string, InvalidInput, CircuitRegistry> = Effect.fail(
        new InvalidInput({ field: "x" })
      ).pipe(
        withCircuit("svc", {
          isFailure: (failure) => (asked.push(failure), true),
          fallback: () => Effect.succeed("fallback")
        })
      ) as never
      const error = yield* Effect.flip(program)
      assert.instanceOf(error, InvalidInput)
      assert.deepStrictEqual(asked, [])
      assert.isTrue(isBadRequest(error))
      assert.isFalse(isBadRequest(new Downstream()))
    }).pipe(Effect.provide(CircuitRegistry.layer({ defaults: trippy }))))
})

describe("CircuitMiddleware and bad requests", () => {
  const serve = <E, R>(routes: Layer.Layer<never, E, R>, options: CircuitMiddleware.Options = {}) =>
    HttpRouter.serve(routes.pipe(Layer.provide(CircuitMiddleware.layer(options))), {
      disableLogger: true,
      disableListenLog: true
    }).pipe(
      Layer.provideMerge(CircuitRegistry.layer({ defaults: trippy })),
      Layer.provideMerge(NodeHttpServer.layerTest)
    )
  const get = (path: string) => Effect.flatMap(HttpClient.HttpClient, (client) => client.get(path))

  it.live("many bad requests never open the route's circuit; clients get 400", () => {
    const Body = Schema.Struct({ quantity: Schema.Number })
    const routes = HttpRouter.addAll([
      HttpRouter.route("GET", "/items/:id", Effect.gen(function*() {
        const { id } = yield* HttpRouter.params
        if (!/^\d+$/.test(id ?? "")) return yield* Circuit.badRequest(new InvalidInput({ field: "id" }))
        return HttpServerResponse.text(`item ${id}`)
      })),
      HttpRouter.route("POST", "/orders", Effect.gen(function*() {
        const body = yield* HttpServerRequest.schemaBodyJson(Body)
        return HttpServerResponse.text(`ordered ${body.quantity}`)
      })),
      HttpRouter.route("GET", "/answers-400", Effect.succeed(HttpServerResponse.text("no", { status: 400 })))
    ])
    return Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      for (let i = 0; i < 50; i++) {
        assert.strictEqual((yield* get(`/items/not-a-number-${i}`)).status, 400)
        const order = yield* client.post("/orders", { body: undefined }).pipe(Effect.orDie)
        assert.strictEqual(order.status, 400)
        assert.strictEqual((yield* get("/answers-400")).status, 400)
      }
      for (const name of ["GET /items/:id", "POST /orders", "GET /answers-400"]) {
        const snapshot = yield* Circuit.snapshot(name)
        assert.strictEqual(snapshot.state, "closed", name)
        assert.strictEqual(snapshot.window.total, 0, `${name}: bad requests are not requests of the window`)
      }
      assert.strictEqual((yield* get("/items/7")).status, 200)
      assert.strictEqual((yield* Circuit.snapshot("GET /items/:id")).window.success, 1)
    }).pipe(Effect.provide(serve(routes)))
  })

  it.live("isBadRequest is configurable: off, a handler's 4xx counts as a success again", () => {
    const routes = HttpRouter.add("GET", "/answers-400", Effect.succeed(HttpServerResponse.text("no", { status: 400 })))
    return Effect.gen(function*() {
      assert.strictEqual((yield* get("/answers-400")).status, 400)
      assert.strictEqual((yield* Circuit.snapshot("GET /answers-400")).window.success, 1)
    }).pipe(Effect.provide(serve(routes, { isBadRequest: () => false })))
  })
})

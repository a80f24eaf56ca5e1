/**
 * Guarding the routes of an effect/http server, one circuit per route, like a
 * hystrix-go middleware in front of gin routes: a failing route trips its own
 * circuit and answers 503 with Retry-After while it is open; the other routes
 * keep working. A real server on 127.0.0.1 (a free port), called with fetch.
 *
 * Run: npm run example -- http-server-middleware
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { Circuit, CircuitMiddleware, CircuitRegistry } from "effect-circuit"
import { createServer } from "node:http"

// The recommendations service is down until `recovered` is set.
let recovered = false

const Routes = HttpRouter.addAll([
  HttpRouter.route("GET", "/products/:id", Effect.succeed(HttpServerResponse.jsonUnsafe({ id: 1, name: "lamp" }))),
  HttpRouter.route(
    "GET",
    "/recommendations/:id",
    Effect.sync(() =>
      recovered
        ? HttpServerResponse.jsonUnsafe(["desk", "chair"])
        : HttpServerResponse.text("upstream error", { status: 502 })
    )
  )
]).pipe(
  // One circuit per route: "GET /products/:id", "GET /recommendations/:id".
  Layer.provide(CircuitMiddleware.layer())
)

const Server = HttpRouter.serve(Routes, { disableLogger: true, disableListenLog: true }).pipe(
  // Outside `serve`, so that the program below reads the same circuits.
  Layer.provideMerge(CircuitRegistry.layer({
    defaults: { requestVolumeThreshold: 4, errorPercentThreshold: 50, sleepWindow: "2 seconds" },
    circuits: { "GET /products/:id": { timeout: "500 millis" } }
  })),
  Layer.provideMerge(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: 0 }))
)

const program = Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const base = HttpServer.formatAddress(server.address)
  const get = (path: string) =>
    Effect.promise(async () => {
      const response = await fetch(`${base}${path}`)
      await response.arrayBuffer()
      const retryAfter = response.headers.get("retry-after")
      return `${response.status}${retryAfter === null ? "" : ` (Retry-After: ${retryAfter})`}`
    })

  for (let i = 1; i <= 5; i++) {
    const status = yield* get(`/recommendations/${i}`)
    console.log(`GET /recommendations/${i} -> ${status}, circuit ${yield* Circuit.state("GET /recommendations/:id")}`)
  }
  console.log(`GET /products/1 -> ${yield* get("/products/1")} (its own circuit is closed)`)

  // The upstream recovers; after the sleep window, one request is the probe.
  recovered = true
  yield* Effect.sleep("2100 millis")
  console.log(`probe: GET /recommendations/6 -> ${yield* get("/recommendations/6")}`)
  console.log(`circuit GET /recommendations/:id: ${yield* Circuit.state("GET /recommendations/:id")}`)
})

// The server closes when the program ends: the process exits by itself.
Effect.runPromise(program.pipe(Effect.provide(Server))).then(() => console.log("server closed"))

import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Data, Deferred, Effect, Fiber, Layer } from "effect"
import {
  FetchHttpClient,
  HttpClient,
  HttpClientRequest,
  type HttpClientResponse,
  HttpRouter,
  HttpServerRespondable,
  HttpServerResponse
} from "effect/http"
import {
  Circuit,
  type CircuitConfigInput,
  CircuitHttpClient,
  CircuitMiddleware,
  CircuitOpenError,
  CircuitRegistry,
  CircuitRejectedError,
  CircuitTimeoutError
} from "../src/index.ts"

// A real server on 127.0.0.1 (port 0), and a real client (fetch) whose
// requests are sent to it. Time is real: sleep windows and timeouts are short.

const settings: CircuitConfigInput = {
  requestVolumeThreshold: 2,
  errorPercentThreshold: 50,
  sleepWindow: "5 seconds",
  timeout: "1 second",
  maxConcurrentRequests: 5
}

class Boom extends Data.TaggedError("Boom")<{}> {}

class NotFound extends Data.TaggedError("NotFound")<{}> implements HttpServerRespondable.Respondable {
  [HttpServerRespondable.symbol]() {
    return Effect.succeed(HttpServerResponse.text("not found", { status: 404 }))
  }
}

const serve = <E, R>(
  routes: Layer.Layer<never, E, R>,
  circuits: Record<string, CircuitConfigInput> = {},
  options: CircuitMiddleware.Options = {},
  defaults: CircuitConfigInput = settings
) =>
  HttpRouter.serve(routes.pipe(Layer.provide(CircuitMiddleware.layer(options))), {
    disableLogger: true,
    disableListenLog: true
  }).pipe(
    Layer.provideMerge(CircuitRegistry.layer({ defaults, circuits })),
    Layer.provideMerge(NodeHttpServer.layerTest)
  )

const get = (path: string) => Effect.flatMap(HttpClient.HttpClient, (client) => client.get(path))

const body = (response: HttpClientResponse.HttpClientResponse) =>
  Effect.map(response.json, (json) => json as { readonly error: string; readonly circuit: string })

describe("CircuitMiddleware (server)", () => {
  it.live("names each circuit after the route's method and pattern, and counts successes", () => {
    let calls = 0
    const routes = HttpRouter.addAll([
      HttpRouter.route("GET", "/users/:id", Effect.sync(() => (calls++, HttpServerResponse.text("user"))))
    ])
    return Effect.gen(function*() {
      assert.strictEqual((yield* get("/users/1")).status, 200)
      assert.strictEqual((yield* get("/users/2")).status, 200)
      assert.deepStrictEqual(yield* Circuit.names, ["GET /users/:id"])
      const snap = yield* Circuit.snapshot("GET /users/:id")
      assert.strictEqual(snap.window.success, 2)
      assert.strictEqual(calls, 2)
    }).pipe(Effect.provide(serve(routes)))
  })

  it.live("5xx responses trip the circuit; then 503 with Retry-After, and the handler is not called", () => {
    let calls = 0
    const routes = HttpRouter.add(
      "GET",
      "/flaky",
      Effect.sync(() => (calls++, HttpServerResponse.text("down", { status: 502 })))
    )
    return Effect.gen(function*() {
      assert.strictEqual((yield* get("/flaky")).status, 502)
      assert.strictEqual((yield* get("/flaky")).status, 502)
      assert.strictEqual(yield* Circuit.state("GET /flaky"), "open")
      const response = yield* get("/flaky")
      assert.strictEqual(response.status, 503)
      assert.strictEqual(response.headers["retry-after"], "5")
      const json = yield* body(response)
      assert.strictEqual(json.error, "CircuitOpenError")
      assert.strictEqual(json.circuit, "GET /flaky")
      assert.strictEqual(calls, 2)
      const snap = yield* Circuit.snapshot("GET /flaky")
      assert.strictEqual(snap.window.failure, 2)
      assert.strictEqual(snap.window.shortCircuited, 1)
    }).pipe(Effect.provide(serve(routes)))
  })

  it.live("Retry-After is the rest of the sleep window, rounded up to whole seconds", () => {
    const routes = HttpRouter.add("GET", "/x", Effect.succeed(HttpServerResponse.text("x", { status: 500 })))
    return Effect.gen(function*() {
      yield* get("/x")
      yield* get("/x")
      const response = yield* get("/x")
      assert.strictEqual(response.status, 503)
      // A sleep window of 2.5 s, a few millis gone: 3 seconds.
      assert.strictEqual(response.headers["retry-after"], "3")
    }).pipe(Effect.provide(serve(routes, { "GET /x": { sleepWindow: "2500 millis" } })))
  })

  it.live("a forced-open circuit answers 503 without Retry-After", () => {
    const routes = HttpRouter.add("GET", "/x", Effect.succeed(HttpServerResponse.text("x")))
    return Effect.gen(function*() {
      yield* Circuit.forceOpen("GET /x")
      const response = yield* get("/x")
      assert.strictEqual(response.status, 503)
      assert.isUndefined(response.headers["retry-after"])
    }).pipe(Effect.provide(serve(routes)))
  })

  it.live("after the sleep window a probe goes through and a success closes the circuit", () => {
    let healthy = false
    const routes = HttpRouter.add(
      "GET",
      "/x",
      Effect.sync(() => healthy ? HttpServerResponse.text("ok") : HttpServerResponse.text("down", { status: 500 }))
    )
    return Effect.gen(function*() {
      yield* get("/x")
      yield* get("/x")
      assert.strictEqual((yield* get("/x")).status, 503)
      healthy = true
      yield* Effect.sleep("250 millis")
      const probe = yield* get("/x")
      assert.strictEqual(probe.status, 200)
      assert.strictEqual(yield* probe.text, "ok")
      assert.strictEqual(yield* Circuit.state("GET /x"), "closed")
    }).pipe(Effect.provide(serve(routes, { "GET /x": { sleepWindow: "200 millis" } })))
  })

  it.live("handler failures: defects and unrespondable errors count (500), a Respondable 404 does not", () => {
    const routes = HttpRouter.addAll([
      HttpRouter.route("GET", "/boom", Effect.fail(new Boom())),
      HttpRouter.route("GET", "/die", Effect.die("bug")),
      HttpRouter.route("GET", "/missing", Effect.fail(new NotFound())),
      HttpRouter.route("GET", "/client-error", Effect.succeed(HttpServerResponse.text("bad", { status: 400 })))
    ])
    const volume = { requestVolumeThreshold: 100 }
    return Effect.gen(function*() {
      assert.strictEqual((yield* get("/boom")).status, 500)
      assert.strictEqual((yield* get("/die")).status, 500)
      const missing = yield* get("/missing")
      assert.strictEqual(missing.status, 404)
      assert.strictEqual(yield* missing.text, "not found")
      assert.strictEqual((yield* get("/client-error")).status, 400)
      assert.strictEqual((yield* Circuit.snapshot("GET /boom")).window.failure, 1)
      assert.strictEqual((yield* Circuit.snapshot("GET /die")).window.failure, 1)
      const notFound = (yield* Circuit.snapshot("GET /missing")).window
      assert.strictEqual(notFound.total, 0)
      // A 4xx answer is a bad request (issue 11): neither a success nor a failure.
      const clientError = (yield* Circuit.snapshot("GET /client-error")).window
      assert.strictEqual(clientError.total, 0)
    }).pipe(Effect.provide(serve(routes, {}, {}, { ...settings, ...volume })))
  })

  it.live("a handler that runs past the timeout answers 504 and is interrupted", () => {
    let interrupted = false
    const routes = HttpRouter.add(
      "GET",
      "/slow",
      Effect.sleep("5 seconds").pipe(
        Effect.as(HttpServerResponse.text("late")),
        Effect.onInterrupt(() => Effect.sync(() => (interrupted = true)))
      )
    )
    return Effect.gen(function*() {
      const response = yield* get("/slow")
      assert.strictEqual(response.status, 504)
      assert.strictEqual((yield* body(response)).error, "CircuitTimeoutError")
      yield* Effect.sleep("20 millis")
      assert.isTrue(interrupted)
      const snap = yield* Circuit.snapshot("GET /slow")
      assert.strictEqual(snap.window.timeout, 1)
      assert.strictEqual(snap.concurrency.active, 0)
    }).pipe(Effect.provide(serve(routes, { "GET /slow": { timeout: "100 millis" } })))
  })

  it.live("requests over maxConcurrentRequests are rejected with 503 and Retry-After: 1 (429 on request)", () =>
    Effect.gen(function*() {
      for (const rejectedStatus of [503, 429] as const) {
        const gate = yield* Deferred.make<void>()
        const started = yield* Deferred.make<void>()
        const routes = HttpRouter.add(
          "GET",
          "/busy",
          Effect.andThen(Deferred.succeed(started, undefined), Effect.as(Deferred.await(gate), HttpServerResponse.text("done")))
        )
        yield* Effect.gen(function*() {
          const first = yield* Effect.forkChild(get("/busy"))
          yield* Deferred.await(started)
          const rejected = yield* get("/busy")
          assert.strictEqual(rejected.status, rejectedStatus)
          assert.strictEqual(rejected.headers["retry-after"], "1")
          assert.strictEqual((yield* body(rejected)).error, "CircuitRejectedError")
          yield* Deferred.succeed(gate, undefined)
          assert.strictEqual((yield* Fiber.join(first)).status, 200)
          const snap = yield* Circuit.snapshot("GET /busy")
          assert.strictEqual(snap.window.rejected, 1)
          assert.strictEqual(snap.window.success, 1)
        }).pipe(
          Effect.provide(serve(routes, { "GET /busy": { maxConcurrentRequests: 1, requestVolumeThreshold: 10 } }, {
            rejectedStatus
          }))
        )
      }
    }))

  it.live("name, isFailure and onCircuitError are configurable", () => {
    const routes = HttpRouter.addAll([
      HttpRouter.route("GET", "/a", Effect.succeed(HttpServerResponse.text("a", { status: 404 }))),
      HttpRouter.route("GET", "/b", Effect.succeed(HttpServerResponse.text("b", { status: 404 })))
    ])
    return Effect.gen(function*() {
      yield* get("/a")
      yield* get("/b")
      assert.deepStrictEqual(yield* Circuit.names, ["api"])
      const response = yield* get("/a")
      assert.strictEqual(response.status, 200)
      assert.strictEqual(yield* response.text, "cached: CircuitOpenError")
    }).pipe(Effect.provide(serve(routes, {}, {
      name: "api",
      isFailure: (response) => response.status >= 400,
      onCircuitError: (error) => HttpServerResponse.text(`cached: ${error._tag}`)
    })))
  })

  it.live("guard works on a single handler, without the route middleware", () => {
    const routes = HttpRouter.add(
      "GET",
      "/report",
      Effect.succeed(HttpServerResponse.text("report")).pipe(CircuitMiddleware.guard({ name: "reports" }))
    )
    return Effect.gen(function*() {
      assert.strictEqual((yield* get("/report")).status, 200)
      assert.strictEqual((yield* Circuit.snapshot("reports")).window.success, 1)
    }).pipe(
      Effect.provide(
        HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
          Layer.provideMerge(CircuitRegistry.layer()),
          Layer.provideMerge(NodeHttpServer.layerTest)
        )
      )
    )
  })
})

describe("CircuitHttpClient (client)", () => {
  let hits = 0
  const routes = HttpRouter.addAll([
    HttpRouter.route("GET", "/ok", Effect.sync(() => (hits++, HttpServerResponse.text("ok")))),
    HttpRouter.route("GET", "/fail", Effect.sync(() => (hits++, HttpServerResponse.text("fail", { status: 500 })))),
    HttpRouter.route("GET", "/missing", Effect.sync(() => (hits++, HttpServerResponse.text("no", { status: 404 })))),
    HttpRouter.route("GET", "/slow", Effect.as(Effect.sleep("5 seconds"), HttpServerResponse.text("late")))
  ])
  const server = (circuits: Record<string, CircuitConfigInput> = {}) =>
    HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provideMerge(CircuitRegistry.layer({ defaults: settings, circuits })),
      Layer.provideMerge(NodeHttpServer.layerTest)
    )
  const guarded = (options?: CircuitHttpClient.Options) =>
    Effect.map(HttpClient.HttpClient, (client) => CircuitHttpClient.withCircuit(client, options))

  it.live("names circuits http:<host> and counts 2xx and 4xx as successes", () =>
    Effect.gen(function*() {
      const client = yield* guarded()
      assert.strictEqual((yield* client.get("/ok")).status, 200)
      assert.strictEqual((yield* client.get("/missing")).status, 404)
      const [name] = yield* Circuit.names
      assert.match(name!, /^http:127\.0\.0\.1:\d+$/)
      const snap = yield* Circuit.snapshot(name!)
      assert.strictEqual(snap.window.success, 2)
    }).pipe(Effect.provide(server())))

  it.live("5xx responses are returned but counted; an open circuit fails with CircuitOpenError and sends nothing", () =>
    Effect.gen(function*() {
      const client = yield* guarded({ name: "backend" })
      assert.strictEqual((yield* client.get("/fail")).status, 500)
      assert.strictEqual((yield* client.get("/fail")).status, 500)
      assert.strictEqual(yield* Circuit.state("backend"), "open")
      const before = hits
      const error = yield* Effect.flip(client.get("/ok"))
      assert.instanceOf(error, CircuitOpenError)
      assert.strictEqual((error as CircuitOpenError).circuit, "backend")
      assert.strictEqual(hits, before)
    }).pipe(Effect.provide(server())))

  it.live("a request past the timeout fails with CircuitTimeoutError", () =>
    Effect.gen(function*() {
      const client = yield* guarded({ name: "slow" })
      const error = yield* Effect.flip(client.get("/slow"))
      assert.instanceOf(error, CircuitTimeoutError)
      assert.strictEqual((yield* Circuit.snapshot("slow")).window.timeout, 1)
    }).pipe(Effect.provide(server({ slow: { timeout: "100 millis" } }))))

  it.live("a refused connection is a transport error and counts as a failure", () =>
    Effect.gen(function*() {
      const client = yield* guarded()
      const error = yield* Effect.flip(client.get("http://127.0.0.1:1/nothing"))
      assert.strictEqual(error._tag, "HttpClientError")
      const snap = yield* Circuit.snapshot("http:127.0.0.1:1")
      assert.strictEqual(snap.window.failure, 1)
    }).pipe(Effect.provide(Layer.mergeAll(CircuitRegistry.layer({ defaults: settings }), FetchHttpClient.layer))))

  it.live("concurrent requests over the limit fail with CircuitRejectedError", () =>
    Effect.gen(function*() {
      const client = yield* guarded({ name: "one-at-a-time" })
      const slow = yield* Effect.forkChild(client.get("/slow"))
      yield* Effect.sleep("50 millis")
      const error = yield* Effect.flip(client.get("/ok"))
      assert.instanceOf(error, CircuitRejectedError)
      yield* Fiber.interrupt(slow)
    }).pipe(Effect.provide(server({ "one-at-a-time": { maxConcurrentRequests: 1 } }))))

  it.live("isFailure decides; make() provides the registry", () =>
    Effect.gen(function*() {
      const client = yield* CircuitHttpClient.make({
        name: (request) => `strict:${HttpClientRequest.toUrl(request)._tag}`,
        isFailure: (exit) => exit._tag === "Failure" || exit.value.status >= 400
      })
      const response = yield* client.get("/missing")
      assert.strictEqual(response.status, 404)
      const snap = yield* Circuit.snapshot("strict:Some")
      assert.strictEqual(snap.window.failure, 1)
    }).pipe(Effect.provide(server())))
})

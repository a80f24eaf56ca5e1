/**
 * Circuit breaking for `effect/http` servers: every route answers through a
 * circuit of its own, named after the route, the way Go services put a
 * hystrix-go middleware in front of each gin route.
 *
 * **Details**
 *
 * `CircuitMiddleware.layer()` is an `HttpRouter` route middleware. Provide it
 * to the route layers it should guard. Each request then goes through
 * `withCircuit`, with the circuit named `"<METHOD> <route pattern>"` (for
 * example `"GET /users/:id"`), so `/users/1` and `/users/2` share one circuit
 * and its settings can be given under that name in `CircuitRegistry.layer`.
 *
 * What the client gets when the circuit answers instead of the handler:
 *
 * | circuit error | status | headers |
 * | --- | --- | --- |
 * | `CircuitOpenError` (short-circuited) | `503 Service Unavailable` | `Retry-After`: the rest of the sleep window in whole seconds, rounded up, at least 1 (none when forced open) |
 * | `CircuitRejectedError` (all `maxConcurrentRequests` permits in use) | `503 Service Unavailable` (`rejectedStatus: 429` to change it) | `Retry-After: 1` |
 * | `CircuitTimeoutError` (the handler ran past `timeout`) | `504 Gateway Timeout` | |
 *
 * The body is JSON: `{ "error": "CircuitOpenError", "circuit": "GET /users/:id",
 * "message": "..." }`. `onCircuitError` replaces these responses (a cached
 * page, a degraded answer).
 *
 * What counts as a failure of the route is `isFailure(response, cause)`.
 * By default a response with a 5xx status and any defect count. A handler
 * that fails is classified by the response the server would send for its
 * failure (`HttpServerError.causeResponse`: a `Respondable` error's own
 * response, otherwise 500).
 *
 * A request that is the client's fault is a **bad request**
 * (`isBadRequest`, by default `isBadRequestDefault`): a 4xx answer, a body
 * or parameters that do not decode (the server answers 400), or a handler
 * that failed with `Circuit.badRequest(...)` or an error marked
 * `BadRequestTypeId` (answered 400 unless it has an answer of its own). It
 * is not a request of the circuit's window at all, so no client can open a
 * route's circuit for everyone with bad input.
 *
 * **Gotchas**
 *
 * - The circuit times the handler until it returns its response, not the
 *   streaming of the body: a streamed body is not under the timeout and its
 *   permit is back before it is sent.
 * - The registry must be shared with whatever reads the circuits (the
 *   dashboard, `Circuit.snapshot`): provide `CircuitRegistry.layer` outside
 *   `HttpRouter.serve`, not inside the app layer.
 * - A failed handler whose response `isFailure` rejects (a 404 from a
 *   `Respondable` error, say) is not counted at all, neither as a success
 *   nor as a failure, as with `withCircuit`'s `isFailure`. So is a 4xx the
 *   handler returns itself (a bad request); `isBadRequest: () => false`
 *   counts such answers as successes of the route, as before 0.2.
 * - `isFailure` is asked first: a 4xx it counts (a 429, say) is a failure,
 *   not a bad request.
 * - Route middleware sees only the routes it is provided to; a global
 *   `HttpRouter.middleware(..., { global: true })` runs before routing and
 *   could not name circuits after routes.
 *
 * **Example** (Guarding routes, answering 503 with Retry-After when open)
 *
 * ```ts
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import { HttpRouter, HttpServerResponse } from "effect/http"
 * import { CircuitMiddleware, CircuitRegistry } from "effect-circuit"
 * import { createServer } from "node:http"
 *
 * const Routes = HttpRouter.addAll([
 *   HttpRouter.route("GET", "/users/:id", Effect.succeed(HttpServerResponse.text("user"))),
 *   HttpRouter.route("POST", "/orders", Effect.succeed(HttpServerResponse.text("ordered")))
 * ]).pipe(Layer.provide(CircuitMiddleware.layer()))
 *
 * const Server = HttpRouter.serve(Routes).pipe(
 *   Layer.provide(CircuitRegistry.layer({ circuits: { "POST /orders": { timeout: "2 seconds" } } })),
 *   Layer.provide(NodeHttpServer.layer(createServer, { port: 0 }))
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Context, Duration, Effect, Exit } from "effect"
import { HttpRouter, HttpServerError, HttpServerRequest, HttpServerResponse } from "effect/http"
import { CircuitRegistry } from "../CircuitRegistry.ts"
import type { BadRequest, CircuitError } from "../errors.ts"
import { BadRequestTypeId, CircuitOpenError, CircuitRejectedError, isBadRequest } from "../errors.ts"
import { withCircuit } from "../withCircuit.ts"

/**
 * The route a request matched, as `HttpRouter` reports it (`undefined` when
 * the guarded effect runs outside a router).
 *
 * @since 0.1.0
 * @category models
 */
export type MatchedRoute = HttpRouter.Route<unknown, unknown>

/**
 * Options of `CircuitMiddleware.layer`, `make` and `guard`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The circuit of a request: a fixed name, or a function of the request and
   * the route it matched. Default: `routeName` (`"GET /users/:id"`).
   */
  readonly name?: string | ((request: HttpServerRequest.HttpServerRequest, route: MatchedRoute | undefined) => string) | undefined
  /**
   * Whether a response counts as a failure of the circuit. `cause` is the
   * handler's failure when the response is the one the server derives from
   * it, `undefined` when the handler returned the response. Default:
   * `isFailureDefault` (a 5xx status, or a defect).
   */
  readonly isFailure?: ((response: HttpServerResponse.HttpServerResponse, cause: Cause.Cause<unknown> | undefined) => boolean) | undefined
  /**
   * Whether a request that `isFailure` does not count was the client's fault
   * (a bad request): then it is not a request of the circuit's window at all,
   * neither a success nor a failure, so that no client can move a route's
   * circuit, either way, with bad input. Default: `isBadRequestDefault` (a
   * 4xx answer, or a handler that failed with a bad-request error). Pass
   * `() => false` to count 4xx answers as successes of the route.
   */
  readonly isBadRequest?:
    | ((response: HttpServerResponse.HttpServerResponse, cause: Cause.Cause<unknown> | undefined) => boolean)
    | undefined
  /**
   * The status of a rejected request (all permits in use): 503 (default) or
   * 429.
   */
  readonly rejectedStatus?: 503 | 429 | undefined
  /**
   * The response when the circuit answers instead of the handler
   * (short-circuit, rejection, timeout). Default: `defaultResponse`.
   */
  readonly onCircuitError?:
    | ((
      error: CircuitError,
      request: HttpServerRequest.HttpServerRequest
    ) => HttpServerResponse.HttpServerResponse | Effect.Effect<HttpServerResponse.HttpServerResponse>)
    | undefined
}

/**
 * The default circuit name of a request: the route's method and pattern,
 * `"GET /users/:id"`.
 *
 * **Details**
 *
 * A route registered for every method (`"*"`) uses the request's method, so
 * each method gets its own circuit. A `HEAD` request answered by a `GET`
 * route shares the `GET` circuit. Outside a router (no route matched), the
 * request's method and path without the query string are used: pass `name`
 * in that case if paths carry ids, or every id gets a circuit.
 *
 * **Example** (The names routes get)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
 * import { CircuitMiddleware } from "effect-circuit"
 *
 * const route = HttpRouter.route("GET", "/users/:id", Effect.succeed(HttpServerResponse.empty()))
 * const request = HttpServerRequest.fromWeb(new Request("http://localhost/users/42"))
 * CircuitMiddleware.routeName(request, route) // => "GET /users/:id"
 * ```
 *
 * @since 0.1.0
 * @category naming
 */
export const routeName = (request: HttpServerRequest.HttpServerRequest, route: MatchedRoute | undefined): string => {
  if (route === undefined) {
    const url = request.url
    const end = url.search(/[?#]/)
    return `${request.method} ${end === -1 ? url : url.slice(0, end)}`
  }
  return `${route.method === "*" ? request.method : route.method} ${route.path}`
}

/**
 * The default failure rule of the server middleware: a response with a
 * status of 500 or more, or a handler that died (a defect), whatever the
 * response derived from it.
 *
 * **Details**
 *
 * `cause` is `undefined` when the handler returned the response itself;
 * otherwise the response is the one the server derives from the handler's
 * failure. A 4xx response is a success of the route (it answered); a 4xx
 * derived from a failure (a `Respondable` error) is not counted.
 *
 * **Example** (Counting 429s from the handler as failures too)
 *
 * ```ts
 * import { CircuitMiddleware } from "effect-circuit"
 *
 * const Guard = CircuitMiddleware.layer({
 *   isFailure: (response, cause) => response.status === 429 || CircuitMiddleware.isFailureDefault(response, cause)
 * })
 * ```
 *
 * @since 0.1.0
 * @category classifiers
 */
export const isFailureDefault = (
  response: HttpServerResponse.HttpServerResponse,
  cause: Cause.Cause<unknown> | undefined
): boolean => response.status >= 500 || (cause !== undefined && Cause.hasDies(cause))

/**
 * The default bad-request rule of the server middleware: a 4xx answer (the
 * handler's own, or the one the server derives from its failure: a request
 * that does not decode, `HttpServerRequest.schemaBodyJson` refusing the body,
 * a `Respondable` 404), or a handler that failed with a bad-request error
 * (`Circuit.badRequest`, or an error carrying `BadRequestTypeId`), which is
 * then answered 400 unless it has its own 4xx answer.
 *
 * **Example** (Counting 429s as failures, other 4xx as bad requests)
 *
 * ```ts
 * import { CircuitMiddleware } from "effect-circuit"
 *
 * const Guard = CircuitMiddleware.layer({
 *   isFailure: (response, cause) => response.status === 429 || CircuitMiddleware.isFailureDefault(response, cause),
 *   isBadRequest: CircuitMiddleware.isBadRequestDefault
 * })
 * ```
 *
 * @since 0.2.0
 * @category classifiers
 */
export const isBadRequestDefault = (
  response: HttpServerResponse.HttpServerResponse,
  cause: Cause.Cause<unknown> | undefined
): boolean => (response.status >= 400 && response.status < 500) || (cause !== undefined && hasBadRequest(cause))

const hasBadRequest = (cause: Cause.Cause<unknown>): boolean => {
  const error = Cause.findErrorOption(cause)
  return error._tag === "Some" && isBadRequest(error.value)
}

/**
 * The `Retry-After` value, in seconds, for a short-circuited request: the
 * rest of the sleep window rounded up to a whole second, at least 1, or
 * `undefined` when the circuit is forced open (no time is known).
 *
 * **Example** (Rounding up)
 *
 * ```ts
 * import { Duration } from "effect"
 * import { CircuitMiddleware } from "effect-circuit"
 *
 * CircuitMiddleware.retryAfterSeconds(Duration.millis(2_100)) // => 3
 * CircuitMiddleware.retryAfterSeconds(Duration.zero) // => 1
 * CircuitMiddleware.retryAfterSeconds(Duration.infinity) // => undefined
 * ```
 *
 * @since 0.1.0
 * @category responses
 */
export const retryAfterSeconds = (retryAfter: Duration.Duration): number | undefined =>
  Duration.isFinite(retryAfter) ? Math.max(1, Math.ceil(Duration.toMillis(retryAfter) / 1000)) : undefined

/**
 * The response of a request the circuit answered: 503 with `Retry-After`
 * for a short-circuit, 503 (or `rejectedStatus`) with `Retry-After: 1` for a
 * rejection, 504 for a timeout; a JSON body naming the error and the circuit.
 *
 * **Details**
 *
 * 503 for a rejection rather than 429: the limit protects the server, not a
 * quota of the client, and 503 is what load balancers and retrying clients
 * treat as "try another instance / later". Pass `rejectedStatus: 429` when
 * clients expect 429 for back-pressure.
 *
 * **Example** (Adding a header to the default answer)
 *
 * ```ts
 * import { HttpServerResponse } from "effect/http"
 * import { CircuitMiddleware } from "effect-circuit"
 *
 * const Guard = CircuitMiddleware.layer({
 *   onCircuitError: (error) =>
 *     CircuitMiddleware.defaultResponse(error).pipe(HttpServerResponse.setHeader("x-circuit", error.circuit))
 * })
 * ```
 *
 * @since 0.1.0
 * @category responses
 */
export const defaultResponse = (
  error: CircuitError,
  options?: { readonly rejectedStatus?: 503 | 429 | undefined }
): HttpServerResponse.HttpServerResponse => {
  const body = { error: error._tag, circuit: error.circuit, message: error.message }
  if (error instanceof CircuitOpenError) {
    const seconds = retryAfterSeconds(error.retryAfter)
    return HttpServerResponse.jsonUnsafe(body, {
      status: 503,
      ...(seconds === undefined ? {} : { headers: { "retry-after": String(seconds) } })
    })
  }
  if (error instanceof CircuitRejectedError) {
    return HttpServerResponse.jsonUnsafe(body, {
      status: options?.rejectedStatus ?? 503,
      headers: { "retry-after": "1" }
    })
  }
  // The registry is closing (the server is shutting down): try another instance.
  if (error._tag === "CircuitRegistryClosedError") return HttpServerResponse.jsonUnsafe(body, { status: 503 })
  return HttpServerResponse.jsonUnsafe(body, { status: 504 })
}

// The handler's outcome, carried through `withCircuit`'s error channel when
// it counts as a failure, so that the circuit records it and the client still
// gets the handler's own answer.
class Counted {
  readonly exit: Exit.Exit<HttpServerResponse.HttpServerResponse, unknown>
  constructor(exit: Exit.Exit<HttpServerResponse.HttpServerResponse, unknown>) {
    this.exit = exit
  }
}

const isCounted = (u: unknown): boolean => u instanceof Counted

// A bad request's outcome, carried through `withCircuit`'s error channel as a
// bad request (not counted, whatever the classifier), so that the client
// still gets the handler's answer.
class NotCounted implements BadRequest {
  readonly [BadRequestTypeId] = true as const
  readonly exit: Exit.Exit<HttpServerResponse.HttpServerResponse, unknown>
  constructor(exit: Exit.Exit<HttpServerResponse.HttpServerResponse, unknown>) {
    this.exit = exit
  }
}

const nameOf = (
  option: Options["name"],
  request: HttpServerRequest.HttpServerRequest,
  route: MatchedRoute | undefined
): string => option === undefined ? routeName(request, route) : typeof option === "string" ? option : option(request, route)

/**
 * Guards one HTTP app (a handler's response effect) with a circuit: the
 * function that `make` installs around each route. Use it directly to guard
 * a single handler, or an app served without `HttpRouter`.
 *
 * **Details**
 *
 * The handler runs under `withCircuit`: admission, a concurrency permit, the
 * timeout, the outcome recorded. The client gets the handler's response (or
 * its failure, turned into a response by the server as usual), or the
 * circuit's response (`onCircuitError`, by default `defaultResponse`).
 *
 * **Gotchas**
 *
 * The effect requires `CircuitRegistry`. `make` provides it from the layer's
 * context; used alone, provide it yourself.
 *
 * **Example** (Guarding a single handler)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { HttpRouter, HttpServerResponse } from "effect/http"
 * import { CircuitMiddleware } from "effect-circuit"
 *
 * const Route = HttpRouter.add(
 *   "GET",
 *   "/report",
 *   Effect.succeed(HttpServerResponse.text("report")).pipe(CircuitMiddleware.guard({ name: "reports" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category middleware
 */
export const guard = (options: Options = {}) =>
<E, R>(
  app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | CircuitRegistry | HttpServerRequest.HttpServerRequest> => {
  const isFailure = options.isFailure ?? isFailureDefault
  const isClientsFault = options.isBadRequest ?? isBadRequestDefault
  const respond = options.onCircuitError ??
    ((error: CircuitError) => defaultResponse(error, { rejectedStatus: options.rejectedStatus }))
  return Effect.withFiber((fiber) => {
    const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
    const routeContext = Context.getOrUndefined(fiber.context as Context.Context<HttpRouter.RouteContext>, HttpRouter.RouteContext)
    const name = nameOf(options.name, request, routeContext?.route)

    const classified = Effect.flatMap(
      Effect.exit(app),
      (exit): Effect.Effect<Exit.Exit<HttpServerResponse.HttpServerResponse, E>, E | Counted | NotCounted> => {
        if (Exit.isSuccess(exit)) {
          if (isFailure(exit.value, undefined)) return Effect.fail(new Counted(exit))
          return isClientsFault(exit.value, undefined) ? Effect.fail(new NotCounted(exit)) : Effect.succeed(exit)
        }
        // An interruption is left to `withCircuit`, which records no failure.
        const cause = exit.cause
        if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
        return Effect.flatMap(
          HttpServerError.causeResponse(cause),
          ([response]): Effect.Effect<never, E | Counted | NotCounted> => {
            // A bad-request error without an answer of its own is the client's: 400.
            const answer = response.status >= 500 && hasBadRequest(cause)
              ? Exit.succeed(HttpServerResponse.empty({ status: 400 }))
              : exit
            if (answer === exit && isFailure(response, cause)) return Effect.fail(new Counted(exit))
            return isClientsFault(response, cause) ? Effect.fail(new NotCounted(answer)) : Effect.failCause(cause)
          }
        )
      }
    )

    return classified.pipe(
      withCircuit(name, { isFailure: isCounted }),
      Effect.matchCauseEffect({
        onSuccess: (exit) => exit,
        onFailure: (cause) => {
          const error = Cause.findErrorOption(cause)
          if (error._tag === "Some") {
            const value: unknown = error.value
            if (value instanceof Counted || value instanceof NotCounted) {
              return value.exit as Exit.Exit<HttpServerResponse.HttpServerResponse, E>
            }
            if (isCircuitErrorValue(value)) {
              const response = respond(value, request)
              return Effect.isEffect(response) ? response : Effect.succeed(response)
            }
          }
          return Effect.failCause(cause as Cause.Cause<E>)
        }
      })
    )
  })
}

const isCircuitErrorValue = (u: unknown): u is CircuitError =>
  typeof u === "object" && u !== null && "_tag" in u &&
  (u._tag === "CircuitOpenError" || u._tag === "CircuitRejectedError" || u._tag === "CircuitTimeoutError" ||
    u._tag === "CircuitRegistryClosedError")

/**
 * The route middleware: an `HttpRouter.Middleware` whose `layer` guards the
 * routes it is provided to, one circuit per route.
 *
 * **Details**
 *
 * The middleware reads `CircuitRegistry` once, when its layer is built, and
 * provides it to every request. Combine it with other route middleware
 * through `.combine`, or provide its `.layer` (see `layer`).
 *
 * **Example** (Guarding one group of routes, not another)
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { HttpRouter, HttpServerResponse } from "effect/http"
 * import { CircuitMiddleware } from "effect-circuit"
 *
 * const Guarded = HttpRouter.add("GET", "/search", Effect.succeed(HttpServerResponse.text("results"))).pipe(
 *   Layer.provide(CircuitMiddleware.make({ rejectedStatus: 429 }).layer)
 * )
 * const Health = HttpRouter.add("GET", "/health", Effect.succeed(HttpServerResponse.text("ok")))
 * const App = Layer.mergeAll(Guarded, Health)
 * ```
 *
 * @since 0.1.0
 * @category middleware
 */
export const make = (options: Options = {}) =>
  HttpRouter.middleware(
    Effect.map(Effect.service(CircuitRegistry), (registry) => {
      const guarded = guard(options)
      return (app: Effect.Effect<HttpServerResponse.HttpServerResponse, unknown>) =>
        Effect.provideService(guarded(app), CircuitRegistry, registry)
    })
  )

/**
 * The route middleware as a layer: provide it to route layers
 * (`HttpRouter.add(...).pipe(Layer.provide(CircuitMiddleware.layer()))`).
 * Requires `CircuitRegistry`.
 *
 * **Example** (Naming circuits by route pattern only, without the method)
 *
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { HttpRouter, HttpServerResponse } from "effect/http"
 * import { CircuitMiddleware } from "effect-circuit"
 *
 * const Guard = CircuitMiddleware.layer({
 *   name: (request, route) => `api:${route?.path ?? request.url}`,
 *   rejectedStatus: 429
 * })
 *
 * const Routes = HttpRouter.add("GET", "/health", Effect.succeed(HttpServerResponse.text("ok"))).pipe(
 *   Layer.provide(Guard)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}) => make(options).layer

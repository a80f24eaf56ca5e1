/**
 * Circuit breaking for `effect/http` clients: every request goes through the
 * circuit of the host it is sent to, `http:<host>`, so one failing
 * dependency is cut off without touching calls to the others.
 *
 * **Details**
 *
 * `CircuitHttpClient.withCircuit(options?)` wraps an `HttpClient` (any
 * `HttpClient.With<E, R>`): each request runs under `withCircuit` with the
 * circuit's admission, concurrency permit and timeout, and its outcome is
 * recorded. The client's error type gains the circuit's typed errors:
 * `CircuitOpenError` (short-circuited: the request was never sent),
 * `CircuitRejectedError` (all permits in use) and `CircuitTimeoutError` (the
 * request was interrupted, which aborts it).
 *
 * What counts as a failure is `isFailure(exit)`, by default
 * `isFailureDefault`:
 *
 * - a response with status 500 or more, or 408: failure (the response is
 *   still returned to the caller as it is);
 * - any other response, 4xx included: success (the dependency answered);
 * - a `TransportError`, a `StatusCodeError` of a 5xx or 408 response (after
 *   `HttpClient.filterStatusOk`), a `Cause.TimeoutError`, a defect: failure;
 * - any other typed error (`InvalidUrlError`, `EncodeError`, a decode error
 *   of your own): not counted, neither success nor failure.
 *
 * **Gotchas**
 *
 * - The circuit sees the request until its response headers arrive. Reading
 *   the body happens after, outside the circuit and its timeout.
 * - Put `HttpClient.retryTransient` and rate limiting *before*
 *   `withCircuit` in the pipe when the breaker should see one outcome per
 *   logical call, or *after* it when each attempt should count.
 *   `retryTransient` does not retry the circuit's errors (they are not
 *   `HttpClientError`s).
 * - Hosts are read from the final URL: apply `HttpClient.mapRequest
 *   (HttpClientRequest.prependUrl(...))` before or after, both work, since
 *   the request is resolved when it is executed.
 * - `withCircuit` adds `CircuitRegistry` to the client's requirements; `make`
 *   builds a client with the registry already provided.
 *
 * **Example** (A guarded client)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { FetchHttpClient, HttpClient } from "effect/http"
 * import { CircuitHttpClient, CircuitRegistry } from "effect-circuit"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* CircuitHttpClient.make()
 *   const response = yield* client.get("http://127.0.0.1:8080/inventory")
 *   return response.status
 * }).pipe(
 *   Effect.catchTag("CircuitOpenError", (error) => Effect.succeed(`${error.circuit} is open`)),
 *   Effect.provide(CircuitRegistry.layer({ circuits: { "http:127.0.0.1:8080": { timeout: "500 millis" } } })),
 *   Effect.provide(FetchHttpClient.layer)
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Cause, Effect, Exit, Option } from "effect"
import { dual } from "effect/Function"
import { HttpClient, HttpClientError, HttpClientRequest, type HttpClientResponse } from "effect/http"
import { CircuitRegistry } from "../CircuitRegistry.ts"
import type { CircuitError } from "../errors.ts"
import { withCircuit as guardWithCircuit } from "../withCircuit.ts"

/**
 * Options of `CircuitHttpClient.withCircuit` and `make`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<E = HttpClientError.HttpClientError> {
  /**
   * The circuit of a request: a fixed name, or a function of the request.
   * Default: `hostName` (`"http:<host>"`, the port included when the URL
   * has one).
   */
  readonly name?: string | ((request: HttpClientRequest.HttpClientRequest) => string) | undefined
  /**
   * Whether the result of a request counts as a failure of the circuit. A
   * successful exit it accepts is a success; a failed exit it rejects is not
   * counted. Default: `isFailureDefault`.
   */
  readonly isFailure?: ((exit: Exit.Exit<HttpClientResponse.HttpClientResponse, E>) => boolean) | undefined
}

/**
 * The default circuit name of a request, `"http:" + host`:
 * `http://api.example.com/v1/items` → `"http:api.example.com"`,
 * `http://127.0.0.1:8080/x` → `"http:127.0.0.1:8080"`. A URL that does not
 * parse uses the raw URL.
 *
 * **Example** (The name of a request)
 *
 * ```ts
 * import { HttpClientRequest } from "effect/http"
 * import { CircuitHttpClient } from "effect-circuit"
 *
 * CircuitHttpClient.hostName(HttpClientRequest.get("https://api.example.com/v1/items?page=2"))
 * // => "http:api.example.com"
 * ```
 *
 * @since 0.1.0
 * @category naming
 */
export const hostName = (request: HttpClientRequest.HttpClientRequest): string =>
  Option.match(HttpClientRequest.toUrl(request), {
    onNone: () => `http:${request.url}`,
    onSome: (url) => `http:${url.host}`
  })

const isFailureStatus = (status: number): boolean => status >= 500 || status === 408

/**
 * The default failure rule of the client wrapper: a 5xx or 408 response, a
 * transport error, a `StatusCodeError` of a 5xx or 408 response, a
 * `Cause.TimeoutError`, or a defect. Other typed errors are not counted.
 *
 * **Details**
 *
 * Unlike `HttpClient.circuitBreakerClassifier` of `effect/http`, a 429 is a
 * success here (the server answered; rate limiting is not an outage) and
 * every 5xx counts, 501 and 505 included.
 *
 * **Example** (Also counting 429 as a failure)
 *
 * ```ts
 * import { Effect, Exit } from "effect"
 * import { HttpClient } from "effect/http"
 * import { CircuitHttpClient } from "effect-circuit"
 *
 * const client = Effect.map(HttpClient.HttpClient, CircuitHttpClient.withCircuit({
 *   isFailure: (exit) =>
 *     (Exit.isSuccess(exit) && exit.value.status === 429) || CircuitHttpClient.isFailureDefault(exit)
 * }))
 * ```
 *
 * @since 0.1.0
 * @category classifiers
 */
export const isFailureDefault = <E>(exit: Exit.Exit<HttpClientResponse.HttpClientResponse, E>): boolean => {
  if (Exit.isSuccess(exit)) return isFailureStatus(exit.value.status)
  const cause = exit.cause
  if (Cause.hasDies(cause)) return true
  for (const reason of cause.reasons) {
    if (!Cause.isFailReason(reason)) continue
    const error: unknown = reason.error
    if (Cause.isTimeoutError(error)) return true
    if (HttpClientError.isHttpClientError(error)) {
      if (error.reason._tag === "TransportError") return true
      if (error.reason._tag === "StatusCodeError" && isFailureStatus(error.reason.response.status)) return true
    }
  }
  return false
}

// A result that counts as a failure, carried through `withCircuit`'s error
// channel so the circuit records it while the caller still gets it as it was.
class Counted {
  readonly exit: Exit.Exit<HttpClientResponse.HttpClientResponse, unknown>
  constructor(exit: Exit.Exit<HttpClientResponse.HttpClientResponse, unknown>) {
    this.exit = exit
  }
}

const isCounted = (u: unknown): boolean => u instanceof Counted

/**
 * Guards every request of a client with the circuit of its host.
 *
 * **Details**
 *
 * Returns a client whose requests fail, in addition to the client's own
 * errors, with `CircuitOpenError`, `CircuitRejectedError` or
 * `CircuitTimeoutError`, and require `CircuitRegistry`. Settings per host are
 * given in `CircuitRegistry.layer({ circuits: { "http:api.example.com": ... } })`.
 *
 * **Example** (Guarding the client of one service, with its own circuit name)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { HttpClient } from "effect/http"
 * import { CircuitHttpClient } from "effect-circuit"
 *
 * const inventory = Effect.map(
 *   HttpClient.HttpClient,
 *   CircuitHttpClient.withCircuit({ name: "inventory", isFailure: CircuitHttpClient.isFailureDefault })
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withCircuit: {
  <E>(
    options?: Options<E>
  ): <R>(self: HttpClient.HttpClient.With<E, R>) => HttpClient.HttpClient.With<E | CircuitError, R | CircuitRegistry>
  <E, R>(
    self: HttpClient.HttpClient.With<E, R>,
    options?: Options<E>
  ): HttpClient.HttpClient.With<E | CircuitError, R | CircuitRegistry>
} = dual(
  (args) => HttpClient.isHttpClient(args[0]),
  <E, R>(
    self: HttpClient.HttpClient.With<E, R>,
    options: Options<E> = {}
  ): HttpClient.HttpClient.With<E | CircuitError, R | CircuitRegistry> => {
    const name = options.name
    const nameOf = name === undefined ? hostName : typeof name === "string" ? () => name : name
    const isFailure = options.isFailure ?? isFailureDefault
    return HttpClient.transform(
      self,
      (effect, request): Effect.Effect<HttpClientResponse.HttpClientResponse, E | CircuitError, R | CircuitRegistry> => {
        const classified = Effect.flatMap(
          Effect.exit(effect),
          (exit): Effect.Effect<Exit.Exit<HttpClientResponse.HttpClientResponse, E>, E | Counted, R> =>
            isFailure(exit)
              ? Effect.fail(new Counted(exit))
              : Exit.isSuccess(exit)
              ? Effect.succeed(exit)
              : Effect.failCause(exit.cause)
        )
        return classified.pipe(
          guardWithCircuit(nameOf(request), { isFailure: isCounted }),
          Effect.matchCauseEffect({
            onSuccess: (exit): Effect.Effect<HttpClientResponse.HttpClientResponse, E | CircuitError> => exit,
            onFailure: (cause): Effect.Effect<HttpClientResponse.HttpClientResponse, E | CircuitError> => {
              const error = Cause.findErrorOption(cause)
              if (error._tag === "Some" && error.value instanceof Counted) {
                return error.value.exit as Exit.Exit<HttpClientResponse.HttpClientResponse, E>
              }
              return Effect.failCause(cause as Cause.Cause<E | CircuitError>)
            }
          })
        )
      }
    ) as HttpClient.HttpClient.With<E | CircuitError, R | CircuitRegistry>
  }
)

/**
 * The `HttpClient` of the context, guarded with `withCircuit`, with the
 * registry of the context already provided: a client whose requests need
 * nothing more.
 *
 * **Example** (Building a guarded client in a service)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { FetchHttpClient } from "effect/http"
 * import { CircuitHttpClient, CircuitRegistry } from "effect-circuit"
 *
 * const status = Effect.gen(function*() {
 *   const client = yield* CircuitHttpClient.make({ name: "search" })
 *   return (yield* client.get("http://127.0.0.1:9200/_health")).status
 * }).pipe(Effect.provide(CircuitRegistry.layer()), Effect.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  HttpClient.HttpClient.With<HttpClientError.HttpClientError | CircuitError>,
  never,
  HttpClient.HttpClient | CircuitRegistry
> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const registry = yield* CircuitRegistry
    return withCircuit(client, options).pipe(
      HttpClient.transformResponse(Effect.provideService(CircuitRegistry, registry))
    )
  })

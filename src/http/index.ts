/**
 * HTTP integration: `CircuitMiddleware` guards the routes of an
 * `effect/http` server, one circuit per route; `CircuitHttpClient` guards the
 * requests of an `effect/http` client, one circuit per host. Also exported
 * from the package root; this subpath (`effect-circuit/http`) is for
 * programs that want only these.
 *
 * @since 0.1.0
 */
export * as CircuitHttpClient from "./CircuitHttpClient.ts"
export * as CircuitMiddleware from "./CircuitMiddleware.ts"

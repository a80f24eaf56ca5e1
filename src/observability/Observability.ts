/**
 * Every observability endpoint at once: the dashboard page, the Hystrix
 * stream and the Prometheus scrape, on an `effect/http` router or on a plain
 * Node server.
 *
 * **Details**
 *
 * | path (default) | what |
 * | --- | --- |
 * | `GET /dashboard` | the live dashboard page (`Dashboard`) |
 * | `GET /hystrix.stream` | the Hystrix `text/event-stream` (`HystrixStream`) |
 * | `GET /metrics` | Prometheus text of every Effect metric (`PrometheusMetrics.format`) |
 *
 * Any of them can be moved with its option, or left out with `false`.
 *
 * **Gotchas**
 *
 * - `/metrics` renders the `Metric.MetricRegistry` of the context the layer
 *   (or handler) was built in: build it in the same context as the
 *   `CircuitRegistry` (the default shared registry unless you provide one).
 *
 * **Example** (A plain Node server)
 *
 * ```ts
 * import { createServer } from "node:http"
 * import { Effect } from "effect"
 * import { CircuitRegistry, Observability } from "effect-circuit"
 *
 * const program = Effect.gen(function*() {
 *   const handle = yield* Observability.nodeHandler()
 *   createServer((req, res) => {
 *     if (!handle(req, res)) res.writeHead(404).end()
 *   }).listen(8080)
 *   yield* Effect.never
 * })
 *
 * Effect.runFork(program.pipe(Effect.scoped, Effect.provide(CircuitRegistry.layer())))
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Layer, type Scope } from "effect"
import type { HttpRouter } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import type { CircuitRegistry } from "../CircuitRegistry.ts"
import * as Dashboard from "./Dashboard.ts"
import * as HystrixStream from "./HystrixStream.ts"

/**
 * Where each endpoint is served, `false` for none.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends HystrixStream.Options {
  /** Default `/dashboard`. */
  readonly dashboard?: HttpRouter.PathInput | false | undefined
  /** Default `/hystrix.stream`. */
  readonly stream?: HttpRouter.PathInput | false | undefined
  /** Default `/metrics`. */
  readonly metrics?: HttpRouter.PathInput | false | undefined
  /** The page's title. */
  readonly title?: string | undefined
}

const paths = (options: Options) => ({
  dashboard: options.dashboard ?? "/dashboard",
  stream: options.stream ?? "/hystrix.stream",
  metrics: options.metrics ?? "/metrics"
})

// The page is served next to the stream: link to it relative to the page's
// own path, so that the pair also works behind a path prefix.
const streamUrl = (dashboard: string, stream: string): string => {
  const dir = dashboard.slice(0, dashboard.lastIndexOf("/") + 1)
  return stream.startsWith(dir) ? stream.slice(dir.length) || "." : stream
}

/**
 * Adds the dashboard, the stream and `/metrics` to the `HttpRouter`.
 *
 * @since 0.1.0
 * @category http
 */
export const layerHttp = (
  options: Options = {}
): Layer.Layer<never, never, HttpRouter.HttpRouter | CircuitRegistry> => {
  const p = paths(options)
  const layers: Array<Layer.Layer<never, never, HttpRouter.HttpRouter | CircuitRegistry>> = []
  if (p.stream !== false) layers.push(HystrixStream.layerHttp({ ...options, path: p.stream }))
  if (p.dashboard !== false) {
    layers.push(Dashboard.layerHttp({
      path: p.dashboard,
      title: options.title,
      streamUrl: p.stream === false ? "/hystrix.stream" : streamUrl(p.dashboard, p.stream)
    }))
  }
  if (p.metrics !== false) layers.push(PrometheusMetrics.layerHttp({ path: p.metrics }))
  return Layer.mergeAll(Layer.empty, ...layers)
}

/**
 * A plain Node handler for the three endpoints. It answers `GET` on their
 * paths and returns `true`; for any other request it does nothing and
 * returns `false`, so it can sit in front of a program's own handler.
 *
 * @since 0.1.0
 * @category http
 */
export const nodeHandler = (
  options: Options = {}
): Effect.Effect<
  (req: HystrixStream.NodeRequest, res: HystrixStream.NodeResponse) => boolean,
  never,
  CircuitRegistry | Scope.Scope
> =>
  Effect.gen(function*() {
    const p = paths(options)
    const stream = yield* HystrixStream.nodeHandler(options)
    const page = Dashboard.nodeHandler({
      title: options.title,
      streamUrl: p.stream === false ? "/hystrix.stream" : streamUrl(p.dashboard || "/", p.stream)
    })
    const context = yield* Effect.context<never>()
    return (req, res) => {
      if (req.method !== undefined && req.method !== "GET") return false
      const path = (req.url ?? "/").split("?")[0]
      if (p.stream !== false && path === p.stream) {
        stream(req, res)
        return true
      }
      if (p.dashboard !== false && path === p.dashboard) {
        page(req, res)
        return true
      }
      if (p.metrics !== false && path === p.metrics) {
        res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" })
        res.end(PrometheusMetrics.formatUnsafe(context))
        return true
      }
      return false
    }
  })

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
 * | `GET /metrics` | Prometheus text of every Effect metric and every circuit series (`CircuitMetrics.prometheusChunks`) |
 *
 * Any of them can be moved with its option, or left out with `false`.
 *
 * `/metrics` is written a slice of circuits at a time, yielding to the event
 * loop between slices (never one string of the whole scrape), and at most
 * `maxScrapes` scrapes run at once (default 2; one more gets a 503).
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
import { type Context, Effect, Layer, type Scope, Stream } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import type { CircuitRegistry } from "../CircuitRegistry.ts"
import * as CircuitMetrics from "./CircuitMetrics.ts"
import * as Dashboard from "./Dashboard.ts"
import * as HystrixStream from "./HystrixStream.ts"
import * as Slices from "./Slices.ts"

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
  /** Scrapes of `/metrics` served at once; one more gets a 503. Default 2. */
  readonly maxScrapes?: number | undefined
}

const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

/**
 * The answer to one scrape too many.
 *
 * @since 0.1.0
 * @category constants
 */
export const tooManyScrapes = (maxScrapes: number): string =>
  `too many /metrics scrapes: ${maxScrapes} are running; try again later\n`

const chunks = (context: Context.Context<never>) =>
  CircuitMetrics.prometheusChunks(context, (c) => PrometheusMetrics.formatUnsafe(c))

/**
 * A `/metrics` route: the scrape as a stream of slices, with a bound on
 * scrapes at once.
 *
 * @since 0.1.0
 * @category http
 */
export const layerMetricsHttp = (
  options: { readonly path?: HttpRouter.PathInput | undefined; readonly maxScrapes?: number | undefined } = {}
): Layer.Layer<never, never, HttpRouter.HttpRouter> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const router = yield* HttpRouter.HttpRouter
    const context = yield* Effect.context<never>()
    const max = options.maxScrapes ?? 2
    let running = 0
    yield* router.add(
      "GET",
      options.path ?? "/metrics",
      Effect.sync(() => {
        if (running >= max) {
          return HttpServerResponse.text(tooManyScrapes(max), { status: 503, headers: { "retry-after": "1" } })
        }
        running++
        const it = chunks(context)
        // One slice per pull, each after a pause as long as the last slice took.
        let last = performance.now()
        const next = Effect.flatMap(Effect.suspend(() => Slices.pause(Slices.pauseAfter(last))), () =>
          Effect.sync(() => {
            last = performance.now()
            return it.next()
          }))
        const body = Stream.fromEffectRepeat(next).pipe(
          Stream.takeWhile((r) => r.done !== true),
          Stream.map((r) => r.value as string),
          Stream.ensuring(Effect.sync(() => {
            running--
          })),
          Stream.encodeText
        )
        return HttpServerResponse.stream(body, { contentType: metricsContentType })
      })
    )
  }))

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
  if (p.metrics !== false) layers.push(layerMetricsHttp({ path: p.metrics, maxScrapes: options.maxScrapes }))
  return Layer.mergeAll(Layer.empty, ...layers)
}

/**
 * The plain Node handler of the three endpoints; `hub` is its stream's.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeHandler {
  (req: HystrixStream.NodeRequest, res: HystrixStream.NodeResponse): boolean
  readonly hub: HystrixStream.Hub
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
): Effect.Effect<NodeHandler, never, CircuitRegistry | Scope.Scope> =>
  Effect.gen(function*() {
    const p = paths(options)
    const stream = yield* HystrixStream.nodeHandler(options)
    const page = Dashboard.nodeHandler({
      title: options.title,
      streamUrl: p.stream === false ? "/hystrix.stream" : streamUrl(p.dashboard || "/", p.stream)
    })
    const context = yield* Effect.context<never>()
    const maxScrapes = options.maxScrapes ?? 2
    let scrapes = 0
    const scrape = (res: HystrixStream.NodeResponse) => {
      if (scrapes >= maxScrapes) {
        res.writeHead(503, { "content-type": "text/plain; charset=utf-8", "retry-after": "1" })
        res.end(tooManyScrapes(maxScrapes))
        return
      }
      scrapes++
      res.writeHead(200, { "content-type": metricsContentType })
      const it = chunks(context)
      let done = false
      const finish = () => {
        if (done) return
        done = true
        scrapes--
        it.return()
      }
      res.on("close", finish)
      // One slice per turn of the event loop, waiting for the socket when its buffer is full.
      const step = () => {
        if (done) return
        const started = performance.now()
        let next: IteratorResult<string>
        try {
          next = it.next()
        } catch {
          finish()
          return void res.end()
        }
        if (next.done === true) {
          finish()
          return void res.end()
        }
        const resume = () => Slices.schedule(started, step)
        if (res.write(next.value)) resume()
        else res.once("drain", resume)
      }
      step()
    }
    const handler = (req: HystrixStream.NodeRequest, res: HystrixStream.NodeResponse): boolean => {
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
        scrape(res)
        return true
      }
      return false
    }
    return Object.assign(handler, { hub: stream.hub })
  })

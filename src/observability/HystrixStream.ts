/**
 * The Hystrix dashboard stream (SPEC 15): a `text/event-stream` that sends,
 * every interval (default 1 second), one `HystrixCommand` and one
 * `HystrixThreadPool` JSON object per circuit, each framed `data: {...}\n\n`,
 * with the field names the Hystrix dashboard, Turbine and hystrix-go's
 * consumers read.
 *
 * **Details**
 *
 * - Served as an `effect/http` route (`layerHttp`, or `response` in a route
 *   of your own) or by a plain Node `(req, res)` handler (`nodeHandler`).
 * - The numbers are real: the rolling counts come from each circuit's
 *   window, the latency percentiles from `CircuitMetrics`, the
 *   `propertyValue_*` fields from the circuit's current settings (volume
 *   threshold, sleep window, error threshold, window length, timeout,
 *   concurrency limit). Concepts this library does not have are reported as
 *   Hystrix reports them when unused (collapsed requests, responses from
 *   cache, emits, fallback rejections: 0; request cache and log: false).
 * - A circuit's bulkhead is a semaphore: rejections are
 *   `rollingCountSemaphoreRejected`, the isolation strategy `SEMAPHORE`; the
 *   `HystrixThreadPool` object describes that semaphore (pool size = limit,
 *   active count = permits in use, no queue).
 * - Ticks come from Effect's `Clock` (one fiber per connected client, none
 *   per circuit). Reading never changes or creates a circuit.
 * - Besides the Hystrix fields, each command carries `state` (`"closed"`,
 *   `"open"`, `"half-open"`, `"forced-open"`, `"forced-closed"`), which
 *   Hystrix's boolean `isCircuitBreakerOpen` cannot tell apart.
 *
 * **Gotchas**
 *
 * - Numbers are integers as Hystrix sends them: `errorPercentage` is rounded
 *   down, latencies are rounded. JSON has no infinity: no timeout is sent as
 *   a timeout of 0, no concurrency limit as 2147483647.
 * - With `metrics: false` on the registry, latencies, `rollingCountBadRequests`
 *   and the concurrency peaks are 0.
 * - A registry with no circuit yet sends a `: ping` comment each interval,
 *   which EventSource clients ignore.
 *
 * **Example** (Serving the stream with Node's http module)
 *
 * ```ts
 * import { createServer } from "node:http"
 * import { Effect, Layer } from "effect"
 * import { CircuitRegistry, HystrixStream } from "effect-circuit"
 *
 * const program = Effect.gen(function*() {
 *   const handler = yield* HystrixStream.nodeHandler()
 *   createServer(handler).listen(8080) // curl localhost:8080
 *   yield* Effect.never
 * })
 *
 * Effect.runFork(program.pipe(Effect.scoped, Effect.provide(CircuitRegistry.layer())))
 * ```
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Fiber, Layer, Schedule, type Scope, Stream } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as Breaker from "../core/Breaker.ts"
import * as Limit from "../core/Limit.ts"
import { CircuitRegistry, type CircuitRegistryShape } from "../CircuitRegistry.ts"
import type { CircuitCell } from "../CircuitCell.ts"
import { cellOf } from "../internal/cell.ts"
import type { Distribution } from "./Percentiles.ts"

/**
 * The latency percentiles of one command, keyed as Hystrix keys them.
 *
 * @since 0.1.0
 * @category models
 */
export interface HystrixLatency {
  readonly "0": number
  readonly "25": number
  readonly "50": number
  readonly "75": number
  readonly "90": number
  readonly "95": number
  readonly "99": number
  readonly "99.5": number
  readonly "100": number
}

/**
 * One `HystrixCommand` object of the stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface HystrixCommand {
  readonly type: "HystrixCommand"
  readonly name: string
  readonly group: string
  readonly currentTime: number
  readonly isCircuitBreakerOpen: boolean
  readonly errorPercentage: number
  readonly errorCount: number
  readonly requestCount: number
  readonly rollingCountBadRequests: number
  readonly rollingCountCollapsedRequests: number
  readonly rollingCountEmit: number
  readonly rollingCountExceptionsThrown: number
  readonly rollingCountFailure: number
  readonly rollingCountFallbackEmit: number
  readonly rollingCountFallbackFailure: number
  readonly rollingCountFallbackMissing: number
  readonly rollingCountFallbackRejection: number
  readonly rollingCountFallbackSuccess: number
  readonly rollingCountResponsesFromCache: number
  readonly rollingCountSemaphoreRejected: number
  readonly rollingCountShortCircuited: number
  readonly rollingCountSuccess: number
  readonly rollingCountThreadPoolRejected: number
  readonly rollingCountTimeout: number
  readonly currentConcurrentExecutionCount: number
  readonly rollingMaxConcurrentExecutionCount: number
  readonly latencyExecute_mean: number
  readonly latencyExecute: HystrixLatency
  readonly latencyTotal_mean: number
  readonly latencyTotal: HystrixLatency
  readonly propertyValue_circuitBreakerRequestVolumeThreshold: number
  readonly propertyValue_circuitBreakerSleepWindowInMilliseconds: number
  readonly propertyValue_circuitBreakerErrorThresholdPercentage: number
  readonly propertyValue_circuitBreakerForceOpen: boolean
  readonly propertyValue_circuitBreakerForceClosed: boolean
  readonly propertyValue_circuitBreakerEnabled: boolean
  readonly propertyValue_executionIsolationStrategy: "SEMAPHORE"
  readonly propertyValue_executionIsolationThreadTimeoutInMilliseconds: number
  readonly propertyValue_executionTimeoutInMilliseconds: number
  readonly propertyValue_executionIsolationThreadInterruptOnTimeout: boolean
  readonly propertyValue_executionIsolationThreadPoolKeyOverride: null
  readonly propertyValue_executionIsolationSemaphoreMaxConcurrentRequests: number
  readonly propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests: number
  readonly propertyValue_metricsRollingStatisticalWindowInMilliseconds: number
  readonly propertyValue_requestCacheEnabled: boolean
  readonly propertyValue_requestLogEnabled: boolean
  readonly reportingHosts: number
  readonly threadPool: string
  /** Not a Hystrix field: the circuit's state by name. */
  readonly state: Breaker.StateName
  /**
   * Not a Hystrix field: where `propertyValue_executionIsolationSemaphoreMaxConcurrentRequests`
   * comes from, a fixed setting or an adaptive algorithm (then it is the live limit).
   */
  readonly concurrencyLimit: "fixed" | "aimd" | "gradient"
}

/**
 * One `HystrixThreadPool` object of the stream (the circuit's bulkhead).
 *
 * @since 0.1.0
 * @category models
 */
export interface HystrixThreadPool {
  readonly type: "HystrixThreadPool"
  readonly name: string
  readonly currentTime: number
  readonly currentActiveCount: number
  readonly currentCompletedTaskCount: number
  readonly currentCorePoolSize: number
  readonly currentLargestPoolSize: number
  readonly currentMaximumPoolSize: number
  readonly currentPoolSize: number
  readonly currentQueueSize: number
  readonly currentTaskCount: number
  readonly rollingCountThreadsExecuted: number
  readonly rollingMaxActiveThreads: number
  readonly rollingCountCommandRejections: number
  readonly propertyValue_queueSizeRejectionThreshold: number
  readonly propertyValue_metricsRollingStatisticalWindowInMilliseconds: number
  readonly reportingHosts: number
}

/**
 * The fields the Hystrix dashboard requires of a `HystrixCommand`
 * (`hystrixCommand.js`'s `validateData`, plus `currentTime` and
 * `propertyValue_circuitBreakerForceClosed`, which its template reads).
 *
 * @since 0.1.0
 * @category constants
 */
export const commandFields: ReadonlyArray<keyof HystrixCommand> = [
  "reportingHosts",
  "type",
  "name",
  "group",
  "currentTime",
  "isCircuitBreakerOpen",
  "errorPercentage",
  "errorCount",
  "requestCount",
  "rollingCountCollapsedRequests",
  "rollingCountExceptionsThrown",
  "rollingCountFailure",
  "rollingCountFallbackFailure",
  "rollingCountFallbackRejection",
  "rollingCountFallbackSuccess",
  "rollingCountResponsesFromCache",
  "rollingCountSemaphoreRejected",
  "rollingCountShortCircuited",
  "rollingCountSuccess",
  "rollingCountThreadPoolRejected",
  "rollingCountTimeout",
  "rollingCountBadRequests",
  "currentConcurrentExecutionCount",
  "latencyExecute_mean",
  "latencyExecute",
  "latencyTotal_mean",
  "latencyTotal",
  "propertyValue_circuitBreakerRequestVolumeThreshold",
  "propertyValue_circuitBreakerSleepWindowInMilliseconds",
  "propertyValue_circuitBreakerErrorThresholdPercentage",
  "propertyValue_circuitBreakerForceOpen",
  "propertyValue_circuitBreakerForceClosed",
  "propertyValue_executionIsolationStrategy",
  "propertyValue_executionIsolationThreadTimeoutInMilliseconds",
  "propertyValue_executionIsolationThreadInterruptOnTimeout",
  "propertyValue_executionIsolationSemaphoreMaxConcurrentRequests",
  "propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests",
  "propertyValue_requestCacheEnabled",
  "propertyValue_requestLogEnabled",
  "propertyValue_metricsRollingStatisticalWindowInMilliseconds"
]

/**
 * The fields the Hystrix dashboard requires of a `HystrixThreadPool`
 * (`hystrixThreadPool.js`'s `validateData`, plus `currentTime`).
 *
 * @since 0.1.0
 * @category constants
 */
export const threadPoolFields: ReadonlyArray<keyof HystrixThreadPool> = [
  "type",
  "name",
  "currentTime",
  "currentActiveCount",
  "currentCompletedTaskCount",
  "currentCorePoolSize",
  "currentLargestPoolSize",
  "currentMaximumPoolSize",
  "currentPoolSize",
  "currentQueueSize",
  "currentTaskCount",
  "rollingCountThreadsExecuted",
  "rollingMaxActiveThreads",
  "reportingHosts",
  "propertyValue_queueSizeRejectionThreshold",
  "propertyValue_metricsRollingStatisticalWindowInMilliseconds"
]

/**
 * The percentile keys of `latencyExecute` / `latencyTotal`.
 *
 * @since 0.1.0
 * @category constants
 */
export const latencyKeys: ReadonlyArray<keyof HystrixLatency> = ["0", "25", "50", "75", "90", "95", "99", "99.5", "100"]

/**
 * The headers of the stream's response.
 *
 * @since 0.1.0
 * @category constants
 */
export const headers: Readonly<Record<string, string>> = {
  "content-type": "text/event-stream;charset=UTF-8",
  "cache-control": "no-cache, no-store, max-age=0, must-revalidate",
  "pragma": "no-cache",
  "connection": "keep-alive",
  "x-accel-buffering": "no"
}

/**
 * Options of the stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Time between two batches. Default 1 second. */
  readonly interval?: Duration.Input | undefined
  /** The command group of a circuit. Default: the circuit's name (as hystrix-go). */
  readonly group?: ((circuit: string) => string) | undefined
}

// JSON has no infinity: Hystrix's consumers read 32-bit integers.
const INT_MAX = 2147483647
const int = (n: number): number => (Number.isFinite(n) ? Math.round(n) : n > 0 ? INT_MAX : 0)

const latencyOf = (d: Distribution): HystrixLatency => {
  const p = d.percentiles
  return {
    "0": int(p["0"] ?? 0),
    "25": int(p["25"] ?? 0),
    "50": int(p["50"] ?? 0),
    "75": int(p["75"] ?? 0),
    "90": int(p["90"] ?? 0),
    "95": int(p["95"] ?? 0),
    "99": int(p["99"] ?? 0),
    "99.5": int(p["99.5"] ?? 0),
    "100": int(p["100"] ?? 0)
  }
}

const emptyDistribution: Distribution = { count: 0, mean: 0, min: 0, max: 0, percentiles: {} }

// A user's sleep-window Schedule may throw: the stream reports 0 rather than die.
const sleepWindowMillis = (breaker: Breaker.Breaker): number => {
  try {
    return int(Breaker.sleepMillis(breaker))
  } catch {
    return 0
  }
}

const windowMillis = (cell: CircuitCell): number => cell.breaker.config.buckets * cell.breaker.config.bucketMillis

/**
 * The `HystrixCommand` object of a circuit at `now`. Reads only.
 *
 * @since 0.1.0
 * @category constructors
 */
export const commandOf = (cell: CircuitCell, now: number, options: Options = {}): HystrixCommand => {
  const { stats, timeoutMillis } = cellOf(cell)
  const breaker = cell.breaker
  const state = Breaker.stateName(breaker)
  const window = Breaker.summaryAt(breaker, now)
  const extras = stats?.rollingExtras(now)
  const execute = stats === undefined ? emptyDistribution : stats.execute.snapshot(now)
  const total = stats === undefined ? emptyDistribution : stats.totalAt(now)
  const timeout = timeoutMillis === undefined ? 0 : int(timeoutMillis)
  return {
    type: "HystrixCommand",
    name: cell.name,
    group: options.group === undefined ? cell.name : options.group(cell.name),
    currentTime: now,
    isCircuitBreakerOpen: state === "open" || state === "half-open" || state === "forced-open",
    errorPercentage: Math.floor(window.errorPercentage),
    errorCount: window.errors,
    requestCount: window.total,
    rollingCountBadRequests: extras?.ignored ?? 0,
    rollingCountCollapsedRequests: 0,
    rollingCountEmit: 0,
    rollingCountExceptionsThrown: 0,
    rollingCountFailure: window.failure,
    rollingCountFallbackEmit: 0,
    rollingCountFallbackFailure: window.fallbackFailure,
    rollingCountFallbackMissing: 0,
    rollingCountFallbackRejection: 0,
    rollingCountFallbackSuccess: window.fallbackSuccess,
    rollingCountResponsesFromCache: 0,
    rollingCountSemaphoreRejected: window.rejected,
    rollingCountShortCircuited: window.shortCircuited,
    rollingCountSuccess: window.success,
    rollingCountThreadPoolRejected: 0,
    rollingCountTimeout: window.timeout,
    currentConcurrentExecutionCount: cell.active,
    rollingMaxConcurrentExecutionCount: Math.max(extras?.maxActive ?? 0, cell.active),
    latencyExecute_mean: int(execute.mean),
    latencyExecute: latencyOf(execute),
    latencyTotal_mean: int(total.mean),
    latencyTotal: latencyOf(total),
    propertyValue_circuitBreakerRequestVolumeThreshold: breaker.config.requestVolumeThreshold,
    propertyValue_circuitBreakerSleepWindowInMilliseconds: sleepWindowMillis(breaker),
    propertyValue_circuitBreakerErrorThresholdPercentage: breaker.config.errorPercentThreshold,
    propertyValue_circuitBreakerForceOpen: state === "forced-open",
    propertyValue_circuitBreakerForceClosed: state === "forced-closed",
    propertyValue_circuitBreakerEnabled: true,
    propertyValue_executionIsolationStrategy: "SEMAPHORE",
    propertyValue_executionIsolationThreadTimeoutInMilliseconds: timeout,
    propertyValue_executionTimeoutInMilliseconds: timeout,
    propertyValue_executionIsolationThreadInterruptOnTimeout: true,
    propertyValue_executionIsolationThreadPoolKeyOverride: null,
    propertyValue_executionIsolationSemaphoreMaxConcurrentRequests: int(cell.maxConcurrent),
    propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests: INT_MAX,
    propertyValue_metricsRollingStatisticalWindowInMilliseconds: int(windowMillis(cell)),
    propertyValue_requestCacheEnabled: false,
    propertyValue_requestLogEnabled: false,
    reportingHosts: 1,
    threadPool: cell.name,
    state,
    concurrencyLimit: cell.adaptiveLimit === undefined ? "fixed" : Limit.algorithm(cell.adaptiveLimit)
  }
}

/**
 * The `HystrixThreadPool` object of a circuit's bulkhead at `now`. Reads only.
 *
 * @since 0.1.0
 * @category constructors
 */
export const threadPoolOf = (cell: CircuitCell, now: number): HystrixThreadPool => {
  const window = Breaker.summaryAt(cell.breaker, now)
  const stats = cellOf(cell).stats
  const extras = stats?.rollingExtras(now)
  const size = int(cell.maxConcurrent)
  const completed = stats === undefined ? 0 : stats.executions()
  return {
    type: "HystrixThreadPool",
    name: cell.name,
    currentTime: now,
    currentActiveCount: cell.active,
    currentCompletedTaskCount: completed,
    currentCorePoolSize: size,
    currentLargestPoolSize: Math.max(stats?.largestActive ?? 0, cell.active),
    currentMaximumPoolSize: size,
    currentPoolSize: size,
    currentQueueSize: 0,
    currentTaskCount: completed + cell.active,
    rollingCountThreadsExecuted: window.success + window.failure + window.timeout + (extras?.ignored ?? 0) +
      (extras?.interrupted ?? 0),
    rollingMaxActiveThreads: Math.max(extras?.maxActive ?? 0, cell.active),
    rollingCountCommandRejections: window.rejected,
    propertyValue_queueSizeRejectionThreshold: 0,
    propertyValue_metricsRollingStatisticalWindowInMilliseconds: int(windowMillis(cell)),
    reportingHosts: 1
  }
}

/**
 * One server-sent event: `data: <json>\n\n`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const frame = (value: unknown): string => `data: ${JSON.stringify(value)}\n\n`

/**
 * The text of one batch at `now`: a command and a thread pool frame per
 * circuit, or a `: ping` comment when there is no circuit.
 *
 * @since 0.1.0
 * @category constructors
 */
export const batchAt = (registry: CircuitRegistryShape, now: number, options: Options = {}): string => {
  let out = ""
  for (const name of registry.names()) {
    const cell = registry.lookup(name)
    if (cell === undefined) continue
    out += frame(commandOf(cell, now, options))
    out += frame(threadPoolOf(cell, now))
  }
  return out === "" ? ": ping\n\n" : out
}

/**
 * The stream's text, one batch per interval, the first at once.
 *
 * @since 0.1.0
 * @category streams
 */
export const batches = (options: Options = {}): Stream.Stream<string, never, CircuitRegistry> =>
  Stream.unwrap(Effect.map(Effect.service(CircuitRegistry), (registry) =>
    Stream.fromEffectSchedule(
      Effect.map(Clock.currentTimeMillis, (now) => batchAt(registry, now, options)),
      Schedule.spaced(options.interval ?? Duration.seconds(1))
    )))

/**
 * The stream's bytes (UTF-8).
 *
 * @since 0.1.0
 * @category streams
 */
export const stream = (options: Options = {}): Stream.Stream<Uint8Array, never, CircuitRegistry> =>
  Stream.encodeText(batches(options))

/**
 * The `text/event-stream` response, for a route of your own.
 *
 * @since 0.1.0
 * @category http
 */
export const response = (
  options: Options = {}
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, CircuitRegistry> =>
  Effect.map(Effect.context<CircuitRegistry>(), (context) =>
    HttpServerResponse.stream(Stream.provideContext(stream(options), context), {
      contentType: headers["content-type"]!,
      headers: {
        "cache-control": headers["cache-control"]!,
        "pragma": headers["pragma"]!,
        "x-accel-buffering": headers["x-accel-buffering"]!
      }
    }))

/**
 * Adds `GET <path>` (default `/hystrix.stream`) to the `HttpRouter`.
 *
 * @since 0.1.0
 * @category http
 */
export const layerHttp = (
  options: Options & { readonly path?: HttpRouter.PathInput | undefined } = {}
): Layer.Layer<never, never, HttpRouter.HttpRouter | CircuitRegistry> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const router = yield* HttpRouter.HttpRouter
    const context = yield* Effect.context<CircuitRegistry>()
    yield* router.add("GET", options.path ?? "/hystrix.stream", Effect.provideContext(response(options), context))
  }))

/**
 * The part of Node's `http.IncomingMessage` the handlers read.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeRequest {
  readonly url?: string | undefined
  readonly method?: string | undefined
}

/**
 * The part of Node's `http.ServerResponse` the handlers use.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeResponse {
  writeHead(status: number, headers: Record<string, string>): unknown
  write(chunk: string): boolean
  end(chunk?: string): unknown
  on(event: "close", listener: () => void): unknown
  once(event: "drain", listener: () => void): unknown
  off(event: "drain", listener: () => void): unknown
  readonly writableEnded: boolean
}

// Writes one batch, waiting for the socket to drain when its buffer is full.
const write = (res: NodeResponse, text: string): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (res.writableEnded || res.write(text)) return resume(Effect.void)
    const drained = () => resume(Effect.void)
    res.once("drain", drained)
    return Effect.sync(() => res.off("drain", drained))
  })

/**
 * Streams to a Node response until the client leaves or the scope closes.
 *
 * @since 0.1.0
 * @category http
 */
export const serveNode = (
  res: NodeResponse,
  options: Options = {}
): Effect.Effect<void, never, CircuitRegistry> => {
  res.writeHead(200, { ...headers })
  return Stream.runForEach(batches(options), (text) => write(res, text))
}

/**
 * A plain Node `(req, res)` handler that streams to every request, for
 * programs that do not use `effect/http`. Each client gets one fiber, ended
 * when it disconnects or when the scope of this effect closes.
 *
 * @since 0.1.0
 * @category http
 */
export const nodeHandler = (
  options: Options = {}
): Effect.Effect<(req: NodeRequest, res: NodeResponse) => void, never, CircuitRegistry | Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<CircuitRegistry | Scope.Scope>()
    const scope = yield* Effect.scope
    const run = Effect.runForkWith(context)
    return (_req: NodeRequest, res: NodeResponse) => {
      const fiber = Fiber.runIn(
        run(Effect.ensuring(serveNode(res, options), Effect.sync(() => res.writableEnded || res.end()))),
        scope
      )
      res.on("close", () => fiber.interruptUnsafe())
    }
  })

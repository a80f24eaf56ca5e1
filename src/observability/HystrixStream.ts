/**
 * The Hystrix dashboard stream: a `text/event-stream` that sends,
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
 *   concurrency limit, fallback limit: 2147483647 when off, as for the
 *   concurrency limit). Concepts this library does not have are reported as
 *   Hystrix reports them when unused (collapsed requests, responses from
 *   cache, emits: 0; request cache and log: false).
 * - A circuit's bulkhead is a semaphore: rejections are
 *   `rollingCountSemaphoreRejected`, the isolation strategy `SEMAPHORE`; the
 *   `HystrixThreadPool` object describes that semaphore (pool size = limit,
 *   active count = permits in use) and its wait queue (`currentQueueSize` =
 *   calls waiting, `propertyValue_queueSizeRejectionThreshold` and
 *   `propertyValue_maxQueueSize` = `queueCapacity`, 0 without a queue).
 * - One batch per interval, shared by every reader of an endpoint: built
 *   once, a slice of circuits at a time (`circuitsPerSlice`), yielding to the
 *   event loop between slices, so a registry of 100,000 circuits never blocks
 *   the service for the whole batch. Ticks come from Effect's `Clock`: one
 *   fiber per endpoint, none per reader or circuit. Reading never changes or
 *   creates a circuit.
 * - At most `maxReaders` readers at once (default 16); one more gets
 *   `503 Service Unavailable` with a `Retry-After` and a one-line reason.
 * - A reader that cannot keep up loses whole frames, never memory: frames
 *   are dropped for it while more than `readerBuffer` bytes (default 1 MiB)
 *   wait for it.
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
import { Clock, Duration, Effect, Layer, Schedule, type Scope, Stream } from "effect"
import * as Slices from "./Slices.ts"
import { HttpRouter, HttpServerResponse } from "effect/http"
import * as Breaker from "../core/Breaker.ts"
import * as Limit from "../core/Limit.ts"
import { CircuitRegistry, type CircuitRegistryShape } from "../CircuitRegistry.ts"
import type { CircuitCell } from "../CircuitCell.ts"
import { type Cell, cellOf } from "../internal/cell.ts"
import { monotonicMillis } from "../internal/time.ts"
import { statsOf } from "./CircuitStats.ts"
import { type Distribution, emptyDistribution } from "./Percentiles.ts"


const monotonicNow = Clock.clockWith((clock) => Effect.succeed(monotonicMillis(clock)))

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
  /** The dashboard's "Queue Size": `queueCapacity` (a call finding this many waiting is rejected). */
  readonly propertyValue_queueSizeRejectionThreshold: number
  /** Hystrix's own `maxQueueSize` (not read by the dashboard): `queueCapacity` as well. */
  readonly propertyValue_maxQueueSize: number
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
  /** Readers served at once by an endpoint; one more gets a 503. Default 16. */
  readonly maxReaders?: number | undefined
  /** Bytes that may wait for one reader before its frames are dropped. Default 1 MiB. */
  readonly readerBuffer?: number | undefined
  /** Circuits per slice of a batch (the work done between two yields to the event loop). Default 100. */
  readonly circuitsPerSlice?: number | undefined
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

// A user's sleep-window Schedule may throw: the stream reports 0 rather than die.
const sleepWindowMillis = (breaker: Breaker.Breaker): number => {
  try {
    return int(Breaker.sleepMillis(breaker))
  } catch {
    return 0
  }
}

// A recorded peak, or the one of calls still running (taken when their
// permits were taken, not yet counted by an event).
const peakOf = (cell: Cell, recorded: number): number => {
  const live = cell.peak > cell.maxConcurrent ? cell.maxConcurrent : cell.peak
  return Math.max(recorded, live, cell.active)
}

const windowMillis = (cell: CircuitCell): number => cell.breaker.config.buckets * cell.breaker.config.bucketMillis

/**
 * The `HystrixCommand` object of a circuit at `now`. Reads only.
 *
 * @since 0.1.0
 * @category constructors
 */
export const commandOf = (cell: CircuitCell, now: number, options: Options = {}): HystrixCommand => {
  const inner = cellOf(cell)
  const timeoutMillis = inner.timeoutMillis
  const breaker = cell.breaker
  const state = Breaker.stateName(breaker)
  const window = Breaker.summaryAt(breaker, now)
  const stats = statsOf(inner)
  const extras = stats?.rollingExtras(now)
  const execute = stats === undefined ? emptyDistribution : stats.executeAt(now)
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
    rollingCountExceptionsThrown: extras?.exceptionsThrown ?? 0,
    rollingCountFailure: window.failure,
    rollingCountFallbackEmit: 0,
    rollingCountFallbackFailure: window.fallbackFailure,
    rollingCountFallbackMissing: extras?.fallbackMissing ?? 0,
    rollingCountFallbackRejection: stats === undefined ? 0 : stats.rollingFallbackRejections(now),
    rollingCountFallbackSuccess: window.fallbackSuccess,
    rollingCountResponsesFromCache: 0,
    rollingCountSemaphoreRejected: window.rejected,
    rollingCountShortCircuited: window.shortCircuited,
    rollingCountSuccess: window.success,
    rollingCountThreadPoolRejected: 0,
    rollingCountTimeout: window.timeout,
    currentConcurrentExecutionCount: cell.active,
    rollingMaxConcurrentExecutionCount: peakOf(inner, extras?.maxActive ?? 0),
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
    // Off (Infinity) reads as Integer.MAX_VALUE: Hystrix has no "unlimited", and dashboards expect an int.
    propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests: int(inner.maxConcurrentFallbacks),
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
  const inner = cellOf(cell)
  const window = Breaker.summaryAt(cell.breaker, now)
  const stats = statsOf(inner)
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
    currentLargestPoolSize: peakOf(inner, stats?.largestActive ?? 0),
    currentMaximumPoolSize: size,
    currentPoolSize: size,
    currentQueueSize: inner.waiting,
    currentTaskCount: completed + cell.active + inner.waiting,
    rollingCountThreadsExecuted: window.success + window.failure + window.timeout + (extras?.ignored ?? 0) +
      (extras?.interrupted ?? 0),
    rollingMaxActiveThreads: peakOf(inner, extras?.maxActive ?? 0),
    rollingCountCommandRejections: window.rejected,
    propertyValue_queueSizeRejectionThreshold: cell.config.queueCapacity,
    propertyValue_maxQueueSize: cell.config.queueCapacity,
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
 * The text of one batch at `now`, a slice at a time: a command and a thread
 * pool frame per circuit, `circuitsPerSlice` circuits per string, or a
 * `: ping` comment when there is no circuit. Every string holds whole frames.
 *
 * @since 0.1.0
 * @category constructors
 */
export function* batchSlices(
  registry: CircuitRegistryShape,
  now: number,
  options: Options = {}
): Generator<string, void, unknown> {
  const per = options.circuitsPerSlice ?? 50
  let out = ""
  let n = 0
  let any = false
  for (const cell of registry.cells()) {
    any = true
    out += frame(commandOf(cell, now, options)) + frame(threadPoolOf(cell, now))
    if (++n >= per) {
      yield out
      out = ""
      n = 0
    }
  }
  if (!any) yield ": ping\n\n"
  else if (out !== "") yield out
}

/**
 * The text of one batch at `now` as one string (for a small registry, or a
 * test; the endpoints send `batchSlices`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const batchAt = (registry: CircuitRegistryShape, now: number, options: Options = {}): string => {
  let out = ""
  for (const slice of batchSlices(registry, now, options)) out += slice
  return out
}

/**
 * The stream's text, one batch per interval, the first at once, each batch
 * as one string. For one reader and a small registry; the endpoints share a
 * `Hub` instead.
 *
 * @since 0.1.0
 * @category streams
 */
export const batches = (options: Options = {}): Stream.Stream<string, never, CircuitRegistry> =>
  Stream.unwrap(Effect.map(Effect.service(CircuitRegistry), (registry) =>
    Stream.fromEffectSchedule(
      Effect.map(Clock.clockWith((clock) => Effect.succeed(monotonicMillis(clock))), (now) => batchAt(registry, now, options)),
      Schedule.spaced(options.interval ?? Duration.seconds(1))
    )))

/**
 * Where a hub sends the slices of its batches. `send` must not block; it
 * may drop a slice (a reader that cannot keep up).
 *
 * @since 0.1.0
 * @category models
 */
export interface Reader {
  /** Takes one slice (whole frames, UTF-8); returns false if it dropped it. */
  readonly send: (slice: Uint8Array) => boolean
}

const encoder = new TextEncoder()

/**
 * What a hub has done so far.
 *
 * @since 0.1.0
 * @category models
 */
export interface HubStats {
  readonly readers: number
  /** Batches built (one per interval while anyone reads, whatever the number of readers). */
  readonly batches: number
  /** Slices dropped for readers that could not keep up. */
  readonly dropped: number
}

/**
 * One batch per interval for every reader of an endpoint.
 *
 * @since 0.1.0
 * @category models
 */
export interface Hub {
  /** Adds a reader; returns the function that removes it, or `undefined` if `maxReaders` are reading. */
  readonly join: (reader: Reader) => (() => void) | undefined
  readonly stats: () => HubStats
  readonly maxReaders: number
  readonly readerBuffer: number
}

/**
 * A hub over the registry, running until the scope closes. It builds
 * nothing while nobody reads; the first reader of an idle hub gets a batch
 * at once, later ones join at the next batch.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeHub = (
  options: Options = {}
): Effect.Effect<Hub, never, CircuitRegistry | Scope.Scope> =>
  Effect.gen(function*() {
    const registry = yield* CircuitRegistry
    const interval = Duration.toMillis(Duration.fromInputUnsafe(options.interval ?? Duration.seconds(1)))
    const maxReaders = options.maxReaders ?? 16
    const readerBuffer = options.readerBuffer ?? 1024 * 1024
    const readers = new Set<Reader>()
    let batches = 0
    let dropped = 0
    let wake: (() => void) | undefined
    const idle = Effect.callback<void>((resume) => {
      wake = () => {
        wake = undefined
        resume(Effect.void)
      }
      return Effect.sync(() => {
        wake = undefined
      })
    })
    const loop = Effect.gen(function*() {
      while (true) {
        if (readers.size === 0) yield* idle
        // Monotonic: the windows are read at it, and a step of the wall clock must not stretch the interval.
        const started = yield* monotonicNow
        batches++
        // The readers of this batch: one that joins meanwhile starts at the next.
        const to = Array.from(readers)
        const slices = batchSlices(registry, started, options)
        while (true) {
          const sliceStart = performance.now()
          const next = slices.next()
          if (next.done === true) break
          // Encoded once for every reader.
          const slice = encoder.encode(next.value)
          for (const reader of to) {
            if (!reader.send(slice)) dropped++
          }
          yield* Slices.pause(Slices.pauseAfter(sliceStart))
        }
        const spent = (yield* monotonicNow) - started
        yield* Effect.sleep(Duration.millis(Math.max(0, interval - spent)))
      }
    })
    yield* Effect.forkScoped(loop)
    return {
      maxReaders,
      readerBuffer,
      join: (reader) => {
        if (readers.size >= maxReaders) return undefined
        readers.add(reader)
        wake?.()
        return () => {
          readers.delete(reader)
        }
      },
      stats: () => ({ readers: readers.size, batches, dropped })
    } satisfies Hub
  })

/**
 * The answer to one reader too many.
 *
 * @since 0.1.0
 * @category constants
 */
export const tooManyReaders = (maxReaders: number): string =>
  `too many Hystrix stream readers: ${maxReaders} are reading; try again later\n`

// A reader for an Effect stream: slices wait in a buffer of at most
// `limit` bytes (one slice more at worst); past it they are dropped.
const bufferedReader = (limit: number) => {
  const slices: Array<Uint8Array> = []
  let bytes = 0
  let waiting: ((slice: Uint8Array) => void) | undefined
  const reader: Reader = {
    send: (slice) => {
      if (waiting !== undefined) {
        const resume = waiting
        waiting = undefined
        resume(slice)
        return true
      }
      if (bytes > limit) return false
      slices.push(slice)
      bytes += slice.byteLength
      return true
    }
  }
  const take = Effect.callback<Uint8Array>((resume) => {
    const slice = slices.shift()
    if (slice !== undefined) {
      bytes -= slice.byteLength
      return resume(Effect.succeed(slice))
    }
    waiting = (next) => resume(Effect.succeed(next))
    return Effect.sync(() => {
      waiting = undefined
    })
  })
  return { reader, take }
}

/**
 * The `text/event-stream` response of one reader of `hub`, or a 503 when
 * `maxReaders` are reading.
 *
 * @since 0.1.0
 * @category http
 */
export const responseFrom = (hub: Hub): HttpServerResponse.HttpServerResponse => {
  const { reader, take } = bufferedReader(hub.readerBuffer)
  const leave = hub.join(reader)
  if (leave === undefined) {
    return HttpServerResponse.text(tooManyReaders(hub.maxReaders), {
      status: 503,
      headers: { "retry-after": "5", "cache-control": "no-store" }
    })
  }
  const text = Stream.ensuring(Stream.fromEffectRepeat(take), Effect.sync(leave))
  return HttpServerResponse.stream(text, {
    contentType: headers["content-type"]!,
    headers: {
      "cache-control": headers["cache-control"]!,
      "pragma": headers["pragma"]!,
      "x-accel-buffering": headers["x-accel-buffering"]!
    }
  })
}

/**
 * The stream's bytes (UTF-8), one batch per interval, for one reader.
 *
 * @since 0.1.0
 * @category streams
 */
export const stream = (options: Options = {}): Stream.Stream<Uint8Array, never, CircuitRegistry> =>
  Stream.encodeText(batches(options))

/**
 * The `text/event-stream` response, for a route of your own. Each call
 * serves one reader from a batch built for it alone; a route serving many
 * readers should share a hub (`makeHub` and `responseFrom`, as `layerHttp`).
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
 * Adds `GET <path>` (default `/hystrix.stream`) to the `HttpRouter`: every
 * reader of the route shares one hub.
 *
 * @since 0.1.0
 * @category http
 */
export const layerHttp = (
  options: Options & { readonly path?: HttpRouter.PathInput | undefined } = {}
): Layer.Layer<never, never, HttpRouter.HttpRouter | CircuitRegistry> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const router = yield* HttpRouter.HttpRouter
    const hub = yield* makeHub(options)
    yield* router.add("GET", options.path ?? "/hystrix.stream", Effect.sync(() => responseFrom(hub)))
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
  write(chunk: string | Uint8Array): boolean
  end(chunk?: string): unknown
  on(event: "close", listener: () => void): unknown
  once(event: "drain", listener: () => void): unknown
  off(event: "drain", listener: () => void): unknown
  readonly writableEnded: boolean
  /** Bytes written but not yet sent (Node's `writableLength`). */
  readonly writableLength?: number | undefined
}

/**
 * Serves one Node response from `hub`: `true` if it joined, `false` if it
 * was answered 503 (`maxReaders` are reading).
 *
 * @since 0.1.0
 * @category http
 */
export const serveNodeFrom = (hub: Hub, res: NodeResponse): boolean => {
  if (hub.stats().readers >= hub.maxReaders) {
    res.writeHead(503, { "content-type": "text/plain; charset=utf-8", "retry-after": "5", "cache-control": "no-store" })
    res.end(tooManyReaders(hub.maxReaders))
    return false
  }
  // Headers first: joining an idle hub may send the first slice at once.
  res.writeHead(200, { ...headers })
  let leave: (() => void) | undefined
  leave = hub.join({
    send: (slice) => {
      if (res.writableEnded) return false
      // A reader that does not read: its socket's buffer fills, and the
      // slices are dropped rather than queued.
      if ((res.writableLength ?? 0) > hub.readerBuffer) return false
      res.write(slice)
      return true
    }
  })
  if (leave === undefined) {
    res.end()
    return false
  }
  res.on("close", () => {
    leave?.()
    leave = undefined
  })
  return true
}

/**
 * Streams to a Node response until the client leaves or the scope closes,
 * from a batch built for it alone (`nodeHandler` shares one hub instead).
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

// Writes one batch, waiting for the socket to drain when its buffer is full.
const write = (res: NodeResponse, text: string): Effect.Effect<void> =>
  Effect.callback<void>((resume) => {
    if (res.writableEnded || res.write(text)) return resume(Effect.void)
    const drained = () => resume(Effect.void)
    res.once("drain", drained)
    return Effect.sync(() => res.off("drain", drained))
  })

/**
 * A plain Node handler; `hub` tells what it has done.
 *
 * @since 0.1.0
 * @category models
 */
export interface NodeHandler {
  (req: NodeRequest, res: NodeResponse): void
  readonly hub: Hub
}

/**
 * A plain Node `(req, res)` handler for programs that do not use
 * `effect/http`: every request shares one hub; its responses end when the
 * scope of this effect closes.
 *
 * @since 0.1.0
 * @category http
 */
export const nodeHandler = (
  options: Options = {}
): Effect.Effect<NodeHandler, never, CircuitRegistry | Scope.Scope> =>
  Effect.gen(function*() {
    const hub = yield* makeHub(options)
    const open = new Set<NodeResponse>()
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const res of open) if (!res.writableEnded) res.end()
      })
    )
    const handler = (_req: NodeRequest, res: NodeResponse) => {
      if (!serveNodeFrom(hub, res)) return
      open.add(res)
      res.on("close", () => open.delete(res))
    }
    return Object.assign(handler, { hub })
  })

/**
 * Effect `Metric`s for every circuit, tagged with its name, and rolling
 * latency percentiles: what Prometheus (`PrometheusMetrics`), OpenTelemetry
 * (`OtlpMetrics`) and the Hystrix stream read (SPEC 14).
 *
 * **Details**
 *
 * `CircuitRegistry.layer()` installs this by default (`metrics: false` turns
 * it off). Each circuit gets, from its first event on, these series in the
 * `Metric.MetricRegistry` of the context the registry layer was built in:
 *
 * | metric | type | attributes | value |
 * | --- | --- | --- | --- |
 * | `effect_circuit_events_total` | counter | `circuit`, `event` | events of that kind since start: `success`, `failure`, `timeout`, `rejected`, `short-circuited`, `interrupted`, `ignored`, `fallback-success`, `fallback-failure` |
 * | `effect_circuit_state` | gauge | `circuit` | 0 closed, 1 open, 2 half-open, 3 forced-open, 4 forced-closed |
 * | `effect_circuit_active_calls` | gauge | `circuit` | permits in use now |
 * | `effect_circuit_error_percentage` | gauge | `circuit` | the rolling window's error percentage now (0–100) |
 * | `effect_circuit_latency_ms` | histogram | `circuit` | run time (ms) of every call whose effect ran: success, failure, timeout, ignored |
 *
 * The series are read when metrics are exported (`Metric.registerUnsafe`
 * hooks over the circuit's own counters): a call pays a few array increments
 * in the observer, never a metric-registry lookup. The gauges read the
 * circuit's live state, so they are exact at every scrape.
 *
 * Rolling latency percentiles (0, 25, 50, 75, 90, 95, 99, 99.5, 100 and the
 * mean) of run time and total time are kept over a rolling percentile window
 * (default 6 buckets of 10 seconds, as Hystrix): `latency(name)` reads them,
 * the Hystrix stream sends them. See `Percentiles` for their error bound.
 *
 * **Gotchas**
 *
 * - A circuit that was never called has no series and no memory here: its
 *   stats and series are created on its first event or state change.
 * - Total time: one sample per call. A call without a fallback counts its
 *   run time; a call that ran a fallback counts admission to the fallback's
 *   end (its run time still counts in the run-time percentiles).
 *   Short-circuits and rejections count only when they run a fallback.
 * - Series live in `Metric.MetricRegistry` (one shared default map unless
 *   the program provides its own); the registry's finalizer removes them.
 *   Two live registries with a circuit of the same name share one series name:
 *   the later one wins.
 *
 * **Example** (Scraping the circuit series)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { PrometheusMetrics } from "effect/observability"
 * import { CircuitRegistry, withCircuit } from "effect-circuit"
 *
 * const program = Effect.gen(function*() {
 *   yield* Effect.succeed("ok").pipe(withCircuit("payments"))
 *   return yield* PrometheusMetrics.format()
 * })
 *
 * Effect.runPromise(program.pipe(Effect.provide(CircuitRegistry.layer()))).then(console.log)
 * // effect_circuit_events_total{circuit="payments",event="success"} 1 ...
 * ```
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Metric, type Scope } from "effect"
import * as Breaker from "../core/Breaker.ts"
import type { CircuitRegistryShape } from "../CircuitRegistry.ts"
import { CircuitRegistry } from "../CircuitRegistry.ts"
import { CircuitConfigError } from "../errors.ts"
import type { CircuitCell } from "../CircuitCell.ts"
import { type Cell, cellOf } from "../internal/cell.ts"
import { monotonicMillis } from "../internal/time.ts"
import type { EventKind } from "../CircuitEvent.ts"
import { bucketTable, CircuitStats, eventKinds, type StatsSettings } from "./CircuitStats.ts"
import * as Percentiles from "./Percentiles.ts"

/**
 * The names of the metrics.
 *
 * @since 0.1.0
 * @category constants
 */
export const metricNames = {
  events: "effect_circuit_events_total",
  state: "effect_circuit_state",
  activeCalls: "effect_circuit_active_calls",
  errorPercentage: "effect_circuit_error_percentage",
  latency: "effect_circuit_latency_ms"
} as const

/**
 * The value of `effect_circuit_state` for each state.
 *
 * @since 0.1.0
 * @category constants
 */
export const stateValues: Readonly<Record<Breaker.StateName, number>> = {
  "closed": 0,
  "open": 1,
  "half-open": 2,
  "forced-open": 3,
  "forced-closed": 4
}

/**
 * The default upper bounds (ms) of the latency histogram's buckets.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultLatencyBoundaries: ReadonlyArray<number> = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000
]

/**
 * Settings of the metrics (`CircuitRegistry.layer({ metrics })`).
 *
 * @since 0.1.0
 * @category models
 */
export interface MetricsOptions {
  /** The rolling percentile window. Default 6 buckets of 10 seconds (Hystrix's). */
  readonly percentileWindow?: {
    readonly buckets?: number | undefined
    readonly bucketDuration?: Duration.Input | undefined
  } | undefined
  /** `log2` of the sub-buckets per power of two of the percentile histograms, 0–10. Default 5 (error ≤ 1/64). */
  readonly precision?: number | undefined
  /** Upper bounds (ms) of `effect_circuit_latency_ms`'s buckets. Default `defaultLatencyBoundaries`. */
  readonly latencyBoundaries?: ReadonlyArray<number> | undefined
  /** Register the Effect `Metric` series. Default true; false keeps only the stats the Hystrix stream reads. */
  readonly effectMetrics?: boolean | undefined
}

const invalid = (field: string, reason: string) => new CircuitConfigError({ field: `metrics.${field}`, reason })

/**
 * Checks the options and fills in the defaults.
 *
 * @since 0.1.0
 * @category constructors
 */
export const settings = (options: MetricsOptions = {}): Effect.Effect<StatsSettings, CircuitConfigError> =>
  Effect.suspend(() => {
    const buckets = options.percentileWindow?.buckets ?? 6
    if (!Number.isInteger(buckets) || buckets < 1 || buckets > 1000) {
      return Effect.fail(invalid("percentileWindow.buckets", `an integer in 1-1000, got ${String(buckets)}`))
    }
    const duration = Duration.fromInput(options.percentileWindow?.bucketDuration ?? "10 seconds")
    const bucketMillis = duration._tag === "Some" ? Duration.toMillis(duration.value) : NaN
    if (!(bucketMillis > 0 && Number.isFinite(bucketMillis))) {
      return Effect.fail(invalid("percentileWindow.bucketDuration", "a finite duration over 0"))
    }
    const precision = options.precision ?? Percentiles.defaultPrecision
    if (!Number.isInteger(precision) || precision < 0 || precision > 10) {
      return Effect.fail(invalid("precision", `an integer in 0-10, got ${String(precision)}`))
    }
    const boundaries = options.latencyBoundaries ?? defaultLatencyBoundaries
    for (let i = 0; i < boundaries.length; i++) {
      const b = boundaries[i]!
      if (!(b > 0 && Number.isFinite(b)) || (i > 0 && b <= boundaries[i - 1]!)) {
        return Effect.fail(invalid("latencyBoundaries", "finite, positive and ascending"))
      }
    }
    return Effect.succeed({
      percentileBuckets: buckets,
      percentileBucketMillis: bucketMillis,
      precision,
      boundaries,
      bucketOfIndex: bucketTable(boundaries, precision)
    })
  })

const noUpdate = () => {}

const series = <I, S>(
  stats: CircuitStats,
  context: Context.Context<never>,
  metric: Metric.Metric<I, S>,
  get: (context: Context.Context<never>) => S
): void => {
  stats.registrations.push(Metric.registerUnsafe(metric, context, { get, update: noUpdate, modify: noUpdate }))
}

// The series every circuit has from its first event: state, active calls and
// error percentage.
const registerBase = (stats: CircuitStats, cell: Cell, context: Context.Context<never>): void => {
  const circuit = cell.name
  series(
    stats,
    context,
    Metric.gauge(metricNames.state, {
      description: "Circuit state: 0 closed, 1 open, 2 half-open, 3 forced-open, 4 forced-closed",
      attributes: { circuit }
    }),
    () => ({ value: stateValues[Breaker.stateName(cell.breaker)] })
  )
  series(
    stats,
    context,
    Metric.gauge(metricNames.activeCalls, { description: "Calls of a circuit running now", attributes: { circuit } }),
    () => ({ value: cell.active })
  )
  series(
    stats,
    context,
    Metric.gauge(metricNames.errorPercentage, {
      description: "Error percentage of a circuit's rolling window",
      attributes: { circuit }
    }),
    (context) => ({
      value: Breaker.summaryAt(cell.breaker, monotonicMillis(Context.get(context, Clock.Clock))).errorPercentage
    })
  )
}

const kindIndex = Object.fromEntries(eventKinds.map((kind, i) => [kind, i])) as Record<EventKind, number>
// Kinds whose effect ran, and so feed the latency histogram.
const executedMask = (1 << kindIndex.success) | (1 << kindIndex.failure) | (1 << kindIndex.timeout) |
  (1 << kindIndex.ignored)
const LATENCY_BIT = 1 << eventKinds.length

// A kind's counter series appears at its first event, and the latency
// histogram at the first call whose effect ran: a circuit holds only the
// series it has something to report in, which keeps a registry of 100,000
// circuits that each saw one kind of event small.
const registerKind = (stats: CircuitStats, cell: Cell, context: Context.Context<never>, i: number): void => {
  const circuit = cell.name
  stats.seriesMask |= 1 << i
  series(
    stats,
    context,
    Metric.counter(metricNames.events, {
      description: "Events of a circuit since start, by kind",
      attributes: { circuit, event: eventKinds[i]! },
      incremental: true
    }),
    () => ({ count: stats.counts[i]!, incremental: true })
  )
  if ((executedMask & (1 << i)) === 0 || (stats.seriesMask & LATENCY_BIT) !== 0) return
  stats.seriesMask |= LATENCY_BIT
  const boundaries = stats.settings.boundaries
  series(
    stats,
    context,
    Metric.histogram(metricNames.latency, {
      description: "Run time of a circuit's calls in milliseconds",
      attributes: { circuit, unit: "milliseconds" },
      boundaries
    }),
    () => {
      const buckets: Array<[number, number]> = []
      let cumulative = 0
      for (let i = 0; i < boundaries.length; i++) {
        cumulative += stats.latencyCounts[i]!
        buckets.push([boundaries[i]!, cumulative])
      }
      const count = cumulative + stats.latencyCounts[boundaries.length]!
      buckets.push([Number.POSITIVE_INFINITY, count])
      return {
        buckets,
        count,
        sum: stats.latencySum,
        min: count === 0 ? Number.MAX_VALUE : stats.latencyMin,
        max: count === 0 ? -Number.MAX_VALUE : stats.latencyMax
      }
    }
  )
}

const installed = new WeakSet<CircuitRegistryShape>()

/**
 * Starts keeping stats (and, unless `effectMetrics: false`, `Metric` series)
 * for every circuit of `registry`, until the scope closes. Called by
 * `CircuitRegistry.layer`; a second call on the same registry does nothing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const install = (
  registry: CircuitRegistryShape,
  options: MetricsOptions = {}
): Effect.Effect<void, CircuitConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    if (installed.has(registry)) return
    const resolved = yield* settings(options)
    const context = yield* Effect.context<never>()
    const withMetrics = options.effectMetrics !== false
    installed.add(registry)

    const create = (cell: Cell): CircuitStats => {
      const stats = new CircuitStats(resolved)
      cell.stats = stats
      if (withMetrics) registerBase(stats, cell, context)
      return stats
    }
    const stop = registry.observe({
      event: (view, kind, at, durationMillis, fallbackFollows) => {
        const cell = cellOf(view)
        const stats = cell.stats ?? create(cell)
        stats.record(kind, at, durationMillis, cell, fallbackFollows)
        if (withMetrics) {
          const i = kindIndex[kind]
          if ((stats.seriesMask & (1 << i)) === 0) registerKind(stats, cell, context, i)
        }
      },
      transition: (_, view) => {
        const cell = cellOf(view)
        if (cell.stats === undefined) create(cell)
      },
      // An evicted circuit's series go with it.
      removed: (view) => {
        const stats = cellOf(view).stats
        if (stats === undefined) return
        for (const registration of stats.registrations) registration.remove()
        stats.registrations.length = 0
      }
    })
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        stop()
        installed.delete(registry)
        for (const name of registry.names()) {
          const view = registry.lookup(name)
          const stats = view === undefined ? undefined : cellOf(view).stats
          if (stats === undefined) continue
          for (const registration of stats.registrations) registration.remove()
          stats.registrations.length = 0
        }
      })
    )
  })

/**
 * Rolling latency percentiles of one circuit.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitLatency {
  /** Run time of calls whose effect ran. */
  readonly execute: Percentiles.Distribution
  /** Whole-call time (see the module's notes). */
  readonly total: Percentiles.Distribution
}

const empty: Percentiles.Distribution = {
  count: 0,
  mean: 0,
  min: 0,
  max: 0,
  percentiles: Object.fromEntries(Percentiles.hystrixPercentiles.map((p) => [String(p), 0]))
}

/**
 * The latency percentiles of a cell at `now` (zeros if it has no stats).
 *
 * @since 0.1.0
 * @category getters
 */
export const latencyOf = (cell: CircuitCell | undefined, now: number): CircuitLatency => {
  const stats = cell === undefined ? undefined : cellOf(cell).stats
  if (stats === undefined) return { execute: empty, total: empty }
  return { execute: stats.execute.snapshot(now), total: stats.totalAt(now) }
}

/**
 * The rolling latency percentiles of the circuit `name`, now. Reading never
 * changes a circuit, and never creates one.
 *
 * @since 0.1.0
 * @category getters
 */
export const latency = (name: string): Effect.Effect<CircuitLatency, never, CircuitRegistry> =>
  Effect.flatMap(
    Effect.service(CircuitRegistry),
    (registry) => Clock.clockWith((clock) => Effect.succeed(latencyOf(registry.lookup(name), monotonicMillis(clock))))
  )

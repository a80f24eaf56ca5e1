/**
 * Metrics of every circuit, read at export time: what Prometheus
 * (`/metrics`, `PrometheusMetrics`), OpenTelemetry (`OtlpMetrics`) and the
 * Hystrix stream read, plus rolling latency percentiles.
 *
 * **Details**
 *
 * `CircuitRegistry.layer()` installs this by default (`metrics: false` turns
 * it off). From its first event on, every circuit has these series (one
 * collector per metric name reads every circuit when metrics are exported;
 * nothing is registered per circuit):
 *
 * | metric | type | unit (OTLP) | labels | value |
 * | --- | --- | --- | --- | --- |
 * | `effect_circuit_events_total` | counter | `{event}` | `circuit`, `event` | events since the circuit's first, per kind: `success`, `failure`, `timeout`, `rejected`, `short-circuited`, `interrupted`, `ignored`, `fallback-success`, `fallback-failure`; all nine from the first call on, at 0 until their first event; `queued` and `queue-timeout`, from the first call on for a circuit with a wait queue (`queueCapacity` > 0, or once it had one); and `fallback-rejected`, from the first call on for a circuit with a `maxConcurrentFallbacks` (or once it had a rejection) |
 * | `effect_circuit_state` | gauge | `{state}` | `circuit`, `state` | 1 for the circuit's state now, 0 for the four others (`closed`, `open`, `half-open`, `forced-open`, `forced-closed`) |
 * | `effect_circuit_active_calls` | gauge | `{call}` | `circuit` | calls holding a permit now |
 * | `effect_circuit_concurrency_limit` | gauge | `{call}` | `circuit`, `algorithm` | the limit now (`algorithm`: `fixed`, `aimd` or `gradient`); no series when there is none |
 * | `effect_circuit_waiting_calls` | gauge | `{call}` | `circuit` | calls waiting in the circuit's queue for a permit now; no series for a circuit without a queue (`queueCapacity` 0) |
 * | `effect_circuit_error_ratio` | gauge | `1` | `circuit` | the rolling window's error ratio now, 0–1 |
 * | `effect_circuit_latency_seconds` | histogram | `s` | `circuit` | run time of every call whose effect ran (success, failure, timeout, ignored) |
 *
 * The names and units read the same through `/metrics` and through OTLP
 * translated to Prometheus (a unit in braces adds no suffix; `s` is already
 * `_seconds`; `1` is already `_ratio`). Points carry only their labels: the
 * unit is the metric's, never an attribute.
 *
 * Rolling latency percentiles (0, 25, 50, 75, 90, 95, 99, 99.5, 100 and the
 * mean) of run time and total time are kept over a rolling percentile window
 * (default 6 buckets of 10 seconds, as Hystrix): `latency(name)` reads them,
 * the Hystrix stream sends them. See `Percentiles` for their error bound.
 *
 * **Gotchas**
 *
 * - A circuit that was never called has no series and no memory here: its
 *   stats are created on its first event or state change; a circuit that is
 *   removed from the registry loses its series with it.
 * - Total time: one sample per call. A call without a fallback counts its
 *   run time; a call that ran a fallback counts admission to the fallback's
 *   end (its run time still counts in the run-time percentiles).
 *   Short-circuits and rejections count only when they run a fallback.
 * - The series reach Effect's exporters through the `Metric.MetricRegistry`
 *   of the context the registry was built in (the shared default unless the
 *   program provides its own): its `values()` also yields the circuit series
 *   while a registry is open. Two registries open at once on one
 *   `MetricRegistry` never share a series: the one opened while another was
 *   open labels its series `registry="2"` (then `"3"`, ...), for its whole
 *   life.
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
import * as Limit from "../core/Limit.ts"
import {
  CircuitRegistry,
  type CircuitRegistryShape,
  type MetricsInstaller,
  type MetricsOptions as RegistryMetricsOptions,
  type Observer
} from "../CircuitRegistry.ts"
import { CircuitConfigError } from "../errors.ts"
import type { CircuitCell } from "../CircuitCell.ts"
import { type Cell, cellOf, tallyObservers } from "../internal/cell.ts"
import { monotonicMillis } from "../internal/time.ts"
import { bucketTable, CircuitStats, eventKinds, type StatsSettings, statsOf } from "./CircuitStats.ts"
import * as Percentiles from "./Percentiles.ts"

/**
 * Settings of the metrics (`CircuitRegistry.layer({ metrics })`).
 *
 * @since 0.1.0
 * @category models
 */
export type MetricsOptions = RegistryMetricsOptions

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
  concurrencyLimit: "effect_circuit_concurrency_limit",
  waitingCalls: "effect_circuit_waiting_calls",
  errorRatio: "effect_circuit_error_ratio",
  latency: "effect_circuit_latency_seconds"
} as const

/**
 * The `state` label values of `effect_circuit_state`, one series each.
 *
 * @since 0.1.0
 * @category constants
 */
export const stateNames: ReadonlyArray<Breaker.StateName> = ["closed", "open", "half-open", "forced-open", "forced-closed"]

/**
 * The default upper bounds (ms) of the latency histogram's buckets; exported
 * in seconds (`le="0.001"` ... `le="60"`).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultLatencyBoundaries: ReadonlyArray<number> = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000
]

const invalid = (field: string, reason: string) => new CircuitConfigError({ field: `metrics.${field}`, reason })

/**
 * Checks the options and fills in the defaults.
 *
 * @internal
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

// -----------------------------------------------------------------------------
// Collectors: one per metric name, reading every circuit at export time
// -----------------------------------------------------------------------------

type Labels = ReadonlyArray<readonly [string, string]>

/**
 * What a collector writes for the series of one circuit; the circuit's own
 * labels (`circuit`, and `registry` when needed) are the sink's.
 *
 * @internal
 * @since 0.1.0
 * @category models
 */
export interface Sink {
  /** One sample; `key`/`label` is the series' own label beside the circuit's (`event="success"`). */
  value(value: number, key?: string, label?: string): void
  histogram(stats: CircuitStats): void
}

/** One registry whose circuits export into a `MetricRegistry`. */
interface Source {
  readonly registry: CircuitRegistryShape
  readonly settings: StatsSettings
  /** Labels added to every series of this registry (`registry="2"` when another was open first). */
  readonly labels: Labels
  /** 1 for the first registry open on the `MetricRegistry`, 2 for one opened beside it, ... */
  readonly ordinal: number
  /** The time the registry's clock reads now (the error ratio's window is read at it). */
  readonly now: () => number
}

/**
 * One collector per metric name.
 *
 * @internal
 * @since 0.1.0
 * @category models
 */
export interface Collector {
  readonly name: string
  readonly type: "counter" | "gauge" | "histogram"
  readonly help: string
  /** The OTLP (UCUM) unit. */
  readonly unit: string
  /** Writes the series of one circuit. */
  readonly collect: (cell: Cell, stats: CircuitStats, now: number, sink: Sink) => void
}

/**
 * The collectors, in the order they are exported.
 *
 * @internal
 * @since 0.1.0
 * @category constants
 */
export const collectors: ReadonlyArray<Collector> = [
  {
    name: metricNames.events,
    type: "counter",
    help: "Events of a circuit since its first call, by kind.",
    unit: "{event}",
    collect: (cell, stats, _now, sink) => {
      for (let i = 0; i < eventKinds.length; i++) sink.value(stats.counts[i]!, "event", eventKinds[i]!)
      // The queue's kinds only for a circuit with a queue (or that had one):
      // a circuit on the defaults exports exactly the series it always did.
      const queue = stats.queue
      if (queue !== undefined || cell.queueCapacity !== 0) {
        sink.value(queue === undefined ? 0 : queue.queued, "event", "queued")
        sink.value(queue === undefined ? 0 : queue.timedOut, "event", "queue-timeout")
      }
      // Only a circuit with a fallback limit (or that had one) can reject a fallback.
      const rejections = stats.fallbackRejections()
      if (rejections !== undefined || cell.maxConcurrentFallbacks !== Infinity) {
        sink.value(rejections ?? 0, "event", "fallback-rejected")
      }
    }
  },
  {
    name: metricNames.state,
    type: "gauge",
    help: "1 for the state a circuit is in now, 0 for the other states.",
    unit: "{state}",
    collect: (cell, _stats, _now, sink) => {
      const state = Breaker.stateName(cell.breaker)
      for (let i = 0; i < stateNames.length; i++) sink.value(stateNames[i] === state ? 1 : 0, "state", stateNames[i]!)
    }
  },
  {
    name: metricNames.activeCalls,
    type: "gauge",
    help: "Calls of a circuit holding a permit now.",
    unit: "{call}",
    collect: (cell, _stats, _now, sink) => sink.value(cell.active)
  },
  {
    name: metricNames.concurrencyLimit,
    type: "gauge",
    help: "Calls a circuit lets run at once now: its fixed limit, or the live value of an adaptive one.",
    unit: "{call}",
    // No series for a circuit without a limit (Infinity).
    collect: (cell, _stats, _now, sink) => {
      if (Number.isFinite(cell.maxConcurrent)) {
        sink.value(cell.maxConcurrent, "algorithm", cell.adaptiveLimit === undefined ? "fixed" : Limit.algorithm(cell.adaptiveLimit))
      }
    }
  },
  {
    name: metricNames.waitingCalls,
    type: "gauge",
    help: "Calls of a circuit waiting in its queue for a permit now.",
    unit: "{call}",
    // No series for a circuit without a queue (queueCapacity 0).
    collect: (cell, _stats, _now, sink) => {
      if (cell.waiters !== undefined || cell.queueCapacity !== 0) sink.value(cell.waiting)
    }
  },
  {
    name: metricNames.errorRatio,
    type: "gauge",
    help: "Error ratio (0-1) of a circuit's rolling window now.",
    unit: "1",
    collect: (cell, _stats, now, sink) => sink.value(Breaker.summaryAt(cell.breaker, now).errorPercentage / 100)
  },
  {
    name: metricNames.latency,
    type: "histogram",
    help: "Run time in seconds of a circuit's calls whose effect ran.",
    unit: "s",
    collect: (_cell, stats, _now, sink) => sink.histogram(stats)
  }
]

// Reads up to `max` circuits of `cells` for one collector; true when none is left.
const collectSome = (
  collector: Collector,
  now: number,
  cells: Iterator<CircuitCell>,
  max: number,
  visit: (cell: Cell) => Sink
): boolean => {
  for (let n = 0; n < max; n++) {
    const next = cells.next()
    if (next.done === true) return true
    const cell = cellOf(next.value)
    const stats = statsOf(cell)
    if (stats === undefined) continue
    collector.collect(cell, stats, now, visit(cell))
  }
  return false
}

// -----------------------------------------------------------------------------
// Effect's exporters: the circuit series as `Metric.MetricRegistry` entries
// -----------------------------------------------------------------------------

type MetricMap = Map<string, Metric.Metric.Metadata<any, any>>

interface Hub {
  readonly sources: Array<Source>
  /** >0 while our own `/metrics` writer formats Effect's other metrics. */
  suppressed: number
}

const hubs = new WeakMap<MetricMap, Hub>()
const noUpdate = () => {}

// Attributes of an exported series: its labels, and the unit as a
// non-enumerable property, which Effect's exporters read as the metric's
// unit but do not list among the point's attributes.
const attributesOf = (
  labels: Labels,
  circuit: string,
  key: string | undefined,
  label: string | undefined,
  unit: string
): Metric.Metric.AttributeSet => {
  const attributes: Record<string, string> = {}
  for (const [k, v] of labels) attributes[k] = v
  attributes["circuit"] = circuit
  if (key !== undefined) attributes[key] = label!
  Object.defineProperty(attributes, "unit", { value: unit, enumerable: false })
  return attributes
}

const histogramState = (settings: StatsSettings, stats: CircuitStats): Metric.HistogramState => {
  const boundaries = settings.boundaries
  const buckets: Array<[number, number]> = []
  let cumulative = 0
  for (let i = 0; i < boundaries.length; i++) {
    cumulative += stats.latencyCount(i)
    buckets.push([boundaries[i]! / 1000, cumulative])
  }
  const count = cumulative + stats.latencyCount(boundaries.length)
  buckets.push([Number.POSITIVE_INFINITY, count])
  return {
    buckets,
    count,
    sum: stats.latencySum / 1000,
    min: count === 0 ? 0 : stats.latencyMin / 1000,
    max: count === 0 ? 0 : stats.latencyMax / 1000
  }
}

function* metadataOf(hub: Hub): Generator<Metric.Metric.Metadata<any, any>> {
  for (const collector of collectors) {
    const type = collector.type === "counter" ? "Counter" : collector.type === "gauge" ? "Gauge" : "Histogram"
    for (const source of hub.sources) {
      const entries: Array<Metric.Metric.Metadata<any, any>> = []
      let circuit = ""
      const entry = (attributes: Metric.Metric.AttributeSet, state: unknown) =>
        entries.push({
          id: collector.name,
          type,
          description: collector.help,
          attributes,
          hooks: { get: () => state, update: noUpdate, modify: noUpdate }
        })
      const sink: Sink = {
        value: (value, key, label) =>
          entry(
            attributesOf(source.labels, circuit, key, label, collector.unit),
            type === "Counter" ? { count: value, incremental: true } : { value }
          ),
        histogram: (stats) =>
          entry(
            attributesOf(source.labels, circuit, undefined, undefined, collector.unit),
            histogramState(source.settings, stats)
          )
      }
      const visit = (cell: Cell) => {
        circuit = cell.name
        return sink
      }
      const cells = source.registry.cells()
      const now = source.now()
      while (!collectSome(collector, now, cells, 1024, visit)) {
        yield* entries
        entries.length = 0
      }
      yield* entries
    }
  }
}

const attach = (map: MetricMap, registry: CircuitRegistryShape, settings: StatsSettings, now: () => number): Source => {
  let hub = hubs.get(map)
  if (hub === undefined) {
    const created: Hub = { sources: [], suppressed: 0 }
    hub = created
    hubs.set(map, created)
    const own = Map.prototype.values
    Object.defineProperty(map, "values", {
      configurable: true,
      writable: true,
      value: function values() {
        const entries = own.call(map)
        if (created.suppressed > 0 || created.sources.length === 0) return entries
        return (function*() {
          yield* entries
          yield* metadataOf(created)
        })()
      }
    })
  }
  // The smallest ordinal no open registry holds: the first keeps its series
  // unlabelled, one opened beside it gets `registry="2"`.
  let ordinal = 1
  while (hub.sources.some((s) => s.ordinal === ordinal)) ordinal++
  const source: Source = {
    registry,
    settings,
    ordinal,
    labels: ordinal === 1 ? [] : [["registry", String(ordinal)]],
    now
  }
  hub.sources.push(source)
  return source
}

const detach = (map: MetricMap, source: Source): void => {
  const hub = hubs.get(map)
  if (hub === undefined) return
  const i = hub.sources.indexOf(source)
  if (i >= 0) hub.sources.splice(i, 1)
  if (hub.sources.length === 0) {
    hubs.delete(map)
    Reflect.deleteProperty(map, "values")
  }
}

// -----------------------------------------------------------------------------
// Prometheus text, a slice at a time
// -----------------------------------------------------------------------------

const needsEscape = /[\\"\n]/
const escapeLabel = (value: string): string =>
  needsEscape.test(value) ? value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n") : value

/**
 * Options of `prometheusChunks`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChunkOptions {
  /** Circuits read per chunk at most. Default 200. */
  readonly circuitsPerChunk?: number | undefined
}

/**
 * The Prometheus text of every metric of `context`'s `Metric.MetricRegistry`
 * (Effect's own metrics first, formatted by `formatOthers`, then the circuit
 * series of every registry exporting there), as chunks of bounded size: a
 * scrape of a million circuits is never one string, and a server can yield
 * to other work between two chunks. The circuits are read as each chunk is
 * made.
 *
 * @since 0.1.0
 * @category exporters
 */
export function* prometheusChunks(
  context: Context.Context<never>,
  formatOthers: (context: Context.Context<never>) => string,
  options: ChunkOptions = {}
): Generator<string, void, unknown> {
  const map = Context.get(context, Metric.MetricRegistry) as MetricMap
  const hub = hubs.get(map)
  if (hub !== undefined) hub.suppressed++
  let others: string
  try {
    others = formatOthers(context)
  } finally {
    if (hub !== undefined) hub.suppressed--
  }
  if (others !== "") yield others
  if (hub === undefined) return
  const per = options.circuitsPerChunk ?? 100
  const sources = hub.sources.slice()
  for (const collector of collectors) {
    const name = collector.name
    let out = `# HELP ${name} ${collector.help}\n# TYPE ${name} ${collector.type}\n`
    for (const source of sources) {
      let prefix = ""
      for (const [key, value] of source.labels) prefix += `${key}="${escapeLabel(value)}",`
      const les = source.settings.boundaries.map((b) => `,le="${String(b / 1000)}"} `)
      // `name{<base>` for the circuit being read; each sample closes it.
      let open = ""
      const sink: Sink = {
        value: (value, key, label) => {
          out += key === undefined ? `${open}} ${value}\n` : `${open},${key}="${label}"} ${value}\n`
        },
        histogram: (stats) => {
          const bucket = open.replace(name + "{", name + "_bucket{")
          let cumulative = 0
          for (let i = 0; i < les.length; i++) {
            cumulative += stats.latencyCount(i)
            out += bucket + les[i]! + cumulative + "\n"
          }
          const count = cumulative + stats.latencyCount(les.length)
          const base = open.slice(name.length)
          out += `${bucket},le="+Inf"} ${count}\n${name}_sum${base}} ${stats.latencySum / 1000}\n${name}_count${base}} ${count}\n`
        }
      }
      const visit = (cell: Cell) => {
        open = `${name}{${prefix}circuit="${escapeLabel(cell.name)}"`
        return sink
      }
      const cells = source.registry.cells()
      const now = source.now()
      while (!collectSome(collector, now, cells, per, visit)) {
        yield out
        out = ""
      }
    }
    yield out
  }
}

// -----------------------------------------------------------------------------
// Installing
// -----------------------------------------------------------------------------

const installed = new WeakSet<CircuitRegistryShape>()

/**
 * Starts keeping stats (and, unless `effectMetrics: false`, exporting the
 * circuit series) for every circuit of `registry`, until the scope closes.
 * Called by `CircuitRegistry.layer`; a second call on the same registry does
 * nothing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const install: MetricsInstaller = (registry, options = {}) =>
  Effect.gen(function*() {
    if (installed.has(registry)) return
    const resolved = yield* settings(options)
    const context = yield* Effect.context<never>()
    installed.add(registry)

    const create = (cell: Cell): CircuitStats => {
      const stats = new CircuitStats(resolved)
      cell.stats = stats
      return stats
    }
    const observer: Observer = {
      event: (view, kind, at, durationMillis, fallbackFollows) => {
        const cell = cellOf(view)
        const stats = statsOf(cell) ?? create(cell)
        stats.record(kind, at, durationMillis, cell, fallbackFollows)
      },
      transition: (_, view) => {
        const cell = cellOf(view)
        if (cell.stats === undefined) create(cell)
      }
    }
    // Short-circuits followed by a fallback and successes of 0 ms are counted
    // in the stats by the registry (see `Tally`, `CircuitStats.settle`).
    tallyObservers.add(observer)
    const stop = registry.observe(observer)
    let source: Source | undefined
    const map = Context.get(context, Metric.MetricRegistry) as MetricMap
    if (options.effectMetrics !== false) {
      const clock = Context.get(context, Clock.Clock)
      source = attach(map, registry, resolved, () => monotonicMillis(clock))
    }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        stop()
        installed.delete(registry)
        if (source !== undefined) detach(map, source)
      })
    )
  }) as Effect.Effect<void, CircuitConfigError, Scope.Scope>

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

/**
 * The latency percentiles of a cell at `now` (zeros if it has no stats).
 *
 * @since 0.1.0
 * @category getters
 */
export const latencyOf = (cell: CircuitCell | undefined, now: number): CircuitLatency => {
  const stats = cell === undefined ? undefined : statsOf(cellOf(cell))
  if (stats === undefined) return { execute: Percentiles.emptyDistribution, total: Percentiles.emptyDistribution }
  return { execute: stats.executeAt(now), total: stats.totalAt(now) }
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

/**
 * The service that owns every named circuit of a program.
 *
 * **Details**
 *
 * - A circuit is created the first time its name is used, with the settings
 *   given for that name in `circuits`, or else the `defaults`. Creation is a
 *   synchronous get-or-create, so concurrent first calls of one name share
 *   one circuit.
 * - A circuit is a small record: no fiber, timer or queue is held per circuit,
 *   so a program can hold 100,000 of them.
 * - Settings are checked when the layer is built: a bad one fails the layer
 *   with `CircuitConfigError`, naming the circuit and the field.
 * - `layerConfig` reads settings from Effect `Config` (environment variables
 *   by default): `CIRCUIT_DEFAULT_<FIELD>` for the defaults and
 *   `CIRCUIT_<NAME>_<FIELD>` for the circuits listed (see `CircuitConfig`).
 *
 * **Example** (Providing a registry)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitRegistry, withCircuit } from "effect-circuit"
 *
 * const program = Effect.succeed("charged").pipe(withCircuit("payments"))
 *
 * Effect.runPromise(program.pipe(Effect.provide(CircuitRegistry.layer({
 *   defaults: { timeout: "2 seconds" },
 *   circuits: { payments: { errorPercentThreshold: 25 } }
 * }))))
 * ```
 *
 * @since 0.1.0
 */
import { type Clock, Config, Context, Duration, Effect, Exit, Layer, Option, PubSub, type Scope, Stream } from "effect"
import type { CircuitCell } from "./CircuitCell.ts"
import * as CircuitConfig from "./CircuitConfig.ts"
import type { BreakerConfig } from "./core/BreakerConfig.ts"
import type { CircuitEvent, CircuitLimitChange, CircuitTransition, EventKind } from "./CircuitEvent.ts"
import { CircuitConfigError } from "./errors.ts"
import { Cell, type Sink, tallyObservers } from "./internal/cell.ts"
import { toDuration } from "./config/duration.ts"
import { CellTable } from "./internal/cellTable.ts"
import { Deadlines, register as registerDeadlines } from "./internal/deadline.ts"
import * as FleetClient from "./store/FleetClient.ts"
import { CircuitStore } from "./store/service.ts"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: "~effect-circuit/CircuitRegistry" = "~effect-circuit/CircuitRegistry"

/**
 * Something that wants every event and transition of every circuit as it
 * happens, synchronously (metrics, the dashboard's rolling numbers). It must
 * be cheap and must not throw.
 *
 * @since 0.1.0
 * @category models
 */
export interface Observer {
  /**
   * Called with the event's parts rather than a `CircuitEvent`, so that no
   * object is built per call for it. `at` is monotonic milliseconds (the
   * time the circuit's window uses), not a wall-clock timestamp.
   */
  readonly event?:
    | ((cell: CircuitCell, kind: EventKind, at: number, durationMillis: number, fallbackFollows: boolean) => void)
    | undefined
  readonly transition?: ((transition: CircuitTransition, cell: CircuitCell) => void) | undefined
  /** An adaptive limit changed. */
  readonly limitChange?: ((change: CircuitLimitChange, cell: CircuitCell) => void) | undefined
  /** The registry evicted the circuit (see `capacity`): forget what is kept for it. */
  readonly removed?: ((cell: CircuitCell) => void) | undefined
  /**
   * The registry is closing, its cells retired and its own calls answered:
   * answer what is kept outside it (a Promise view's calls and waiters).
   */
  readonly closed?: (() => void) | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface CircuitRegistryShape {
  readonly [TypeId]: typeof TypeId
  /** The circuit of `name`, created with its settings at `now` (monotonic) if new. */
  readonly cell: (name: string, now: number) => CircuitCell
  /** The circuit of `name` if it exists. */
  readonly lookup: (name: string) => CircuitCell | undefined
  /**
   * The circuit of `name` if it exists; otherwise the circuit a first call
   * would create at `now` (with its settings), which is not kept. What a
   * reader shows for an unknown name: reading never creates a circuit.
   */
  readonly peek: (name: string, now: number) => CircuitCell
  /** The names of every circuit created so far, in creation order. */
  readonly names: () => ReadonlyArray<string>
  /**
   * The circuits now, as a live iterator (a circuit added or removed while it
   * runs is seen or skipped, never an error): readers that visit every
   * circuit a slice at a time (metrics export, the Hystrix stream) use it.
   */
  readonly cells: () => IterableIterator<CircuitCell>
  /** Applies `input` on top of the circuit's settings, or changes nothing. */
  readonly configure: (name: string, input: unknown, now: number) => Exit.Exit<CircuitConfig.CircuitConfig, CircuitConfigError>
  /** Adds an observer; returns the function that removes it. */
  readonly observe: (observer: Observer) => () => void
  readonly events: PubSub.PubSub<CircuitEvent>
  /** The events as a stream; events are published only while such a stream runs. */
  readonly eventStream: Stream.Stream<CircuitEvent>
  readonly transitions: PubSub.PubSub<CircuitTransition>
  /** Changes of adaptive limits. */
  readonly limitChanges: PubSub.PubSub<CircuitLimitChange>
  /** True once the registry's scope has closed. */
  readonly closed: boolean
  /** Whether guarded calls are spans when a tracer is installed (`tracing` option). */
  readonly tracing: boolean
}

/**
 * Settings of the metrics (`CircuitRegistry.layer({ metrics })`), read by
 * `CircuitMetrics`.
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
  /** Upper bounds (ms) of the `effect_circuit_latency_seconds` buckets. Default `CircuitMetrics.defaultLatencyBoundaries`. */
  readonly latencyBoundaries?: ReadonlyArray<number> | undefined
  /** Export the circuit series to Effect's `Metric` exporters. Default true; false keeps only the stats the Hystrix stream reads. */
  readonly effectMetrics?: boolean | undefined
}

/**
 * Starts the observers of a registry (metrics) for as long as the scope is
 * open. The registry calls it, but never imports it: the public
 * `CircuitRegistry` of `effect-circuit` passes `CircuitMetrics.install`.
 *
 * @since 0.1.0
 * @category models
 */
export type MetricsInstaller = (
  registry: CircuitRegistryShape,
  options: MetricsOptions
) => Effect.Effect<void, CircuitConfigError, Scope.Scope>

/**
 * Options of `CircuitRegistry.layer`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitRegistryOptions {
  readonly defaults?: CircuitConfig.CircuitConfigInput | undefined
  readonly circuits?: Readonly<Record<string, CircuitConfig.CircuitConfigInput>> | undefined
  /** How many events a slow `Circuit.events` subscriber may lag before it loses the oldest. Default 1024. */
  readonly eventBuffer?: number | undefined
  /**
   * Per-circuit metrics and latency percentiles (see `CircuitMetrics`). On by
   * default; `false` turns them off (no observer, no `Metric` series, no
   * percentiles in the Hystrix stream).
   */
  readonly metrics?: boolean | MetricsOptions | undefined
  /**
   * How many circuits the registry keeps (like `Cache`'s `capacity`). Past
   * it, creating a circuit evicts the least recently used idle one: closed,
   * no call running, no error in its window, not named in `circuits` and not
   * configured at run time. Open, half-open and forced circuits are never
   * evicted, so the registry can exceed `capacity` while more than that many
   * are busy or tripped. An evicted name used again starts fresh with its
   * settings. A positive integer, or `Infinity` for no bound. Default 10,000.
   */
  readonly capacity?: number | undefined
  /**
   * How long an idle circuit is kept without a call (like `LayerMap`'s
   * `idleTimeToLive`), checked when a circuit is created; no timer is held
   * per circuit. `Duration.Input`, more than zero, or `"Infinity"`. Default 1 hour.
   */
  readonly idleTimeToLive?: Duration.Input | undefined
  /**
   * Each guarded call is a span (`circuit <name>`, with its state, admission,
   * outcome and fallback) when a tracer is installed. On by default; it costs
   * nothing without a tracer. `false` turns it off for every circuit; a call's
   * own `trace` option overrides it.
   */
  readonly tracing?: boolean | undefined
}

/** Default `capacity` of a registry. */
const defaultCapacity = 10_000
/** Default `idleTimeToLive` of a registry. */
const defaultIdleTimeToLive: Duration.Input = "1 hour"

// Publishes without waiting. `publishUnsafe` refuses an item when a
// subscriber's buffer is full, which would drop the newest; the sliding
// strategy of `PubSub.publish` drops the oldest instead, and never waits, so it
// runs (synchronously) only then. A closed registry's hub drops everything.
const publish = <A>(hub: PubSub.PubSub<A>, item: A): void => {
  if (PubSub.publishUnsafe(hub, item)) return
  try {
    Effect.runSync(PubSub.publish(hub, item))
  } catch {
    // Shut down: nobody can read it any more.
  }
}

// Reads the layer's options defensively (they may come from untyped code or
// a config file): a getter or Proxy that throws, or a bad buffer size, is a
// CircuitConfigError naming the field, never a defect.
const readOptions = (options: CircuitRegistryOptions): Exit.Exit<{
  readonly defaults: unknown
  readonly circuits: ReadonlyArray<readonly [string, unknown]>
  readonly eventBuffer: number
  readonly metrics: CircuitRegistryOptions["metrics"]
  readonly capacity: number
  readonly idleMillis: number
  readonly tracing: boolean
}, CircuitConfigError> => {
  let field = "(options)"
  try {
    if (options === null || typeof options !== "object") {
      return Exit.fail(new CircuitConfigError({ field, reason: "must be an object" }))
    }
    field = "defaults"
    const defaults = options.defaults ?? {}
    field = "circuits"
    const record: unknown = options.circuits ?? {}
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      return Exit.fail(new CircuitConfigError({ field, reason: "must be a record of circuit names to settings" }))
    }
    const circuits: Array<readonly [string, unknown]> = []
    for (const name of Object.keys(record)) {
      field = `circuits.${name}`
      circuits.push([name, (record as Record<string, unknown>)[name]])
    }
    field = "eventBuffer"
    const eventBuffer: unknown = options.eventBuffer ?? 1024
    if (typeof eventBuffer !== "number" || !Number.isInteger(eventBuffer) || eventBuffer < 1 || eventBuffer > 2 ** 24) {
      return Exit.fail(
        new CircuitConfigError({ field, reason: `must be an integer from 1 to ${2 ** 24}, got ${String(eventBuffer)}` })
      )
    }
    field = "metrics"
    const metrics = options.metrics
    field = "capacity"
    const capacity: unknown = options.capacity ?? defaultCapacity
    if (typeof capacity !== "number" || !(capacity === Infinity || (Number.isInteger(capacity) && capacity >= 1))) {
      return Exit.fail(
        new CircuitConfigError({ field, reason: `must be a positive integer or Infinity, got ${String(capacity)}` })
      )
    }
    field = "idleTimeToLive"
    const ttl: unknown = options.idleTimeToLive ?? defaultIdleTimeToLive
    const duration = toDuration(ttl)
    if (duration === undefined || !(Duration.toMillis(duration) > 0)) {
      return Exit.fail(
        new CircuitConfigError({ field, reason: `must be a duration over zero, or "Infinity", got ${String(ttl)}` })
      )
    }
    const idleMillis = Duration.toMillis(duration)
    field = "tracing"
    const tracing: unknown = options.tracing ?? true
    if (typeof tracing !== "boolean") {
      return Exit.fail(new CircuitConfigError({ field, reason: `must be a boolean, got ${String(tracing)}` }))
    }
    return Exit.succeed({ defaults, circuits, eventBuffer, metrics, capacity, idleMillis, tracing })
  } catch (error) {
    return Exit.fail(new CircuitConfigError({ field, reason: `could not be read (${String(error)})` }))
  }
}

/**
 * Builds a registry. Fails with `CircuitConfigError` if any setting is bad.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fnUntraced(function*(
  input: CircuitRegistryOptions = {},
  installMetrics?: MetricsInstaller | undefined
) {
  const options = yield* readOptions(input)
  const defaults = yield* CircuitConfig.decodeEffect(options.defaults)
  const preset = new Map<string, CircuitConfig.CircuitConfig>()
  for (const [name, settings] of options.circuits) {
    preset.set(name, yield* CircuitConfig.decodeEffect(settings, { base: defaults, circuit: name }))
  }
  const capacity = options.eventBuffer
  const events = yield* PubSub.sliding<CircuitEvent>(capacity)
  const transitions = yield* PubSub.sliding<CircuitTransition>(capacity)
  const limitChanges = yield* PubSub.sliding<CircuitLimitChange>(capacity)
  yield* Effect.addFinalizer(() =>
    Effect.andThen(
      Effect.andThen(PubSub.shutdown(events), PubSub.shutdown(transitions)),
      PubSub.shutdown(limitChanges)
    )
  )

  // Circuits on the defaults share one BreakerConfig (and one memo of a
  // sleep schedule), which keeps an idle circuit small.
  const defaultBreakerConfig = CircuitConfig.toBreakerConfig(defaults)
  let observers: ReadonlyArray<Observer> = []
  const cells = new CellTable(options.capacity, options.idleMillis, (evicted) => {
    evicted.shutdown()
    for (const observer of observers) observer.removed?.(evicted)
  })
  // One queue of calls in flight per clock (a registry can be shared by
  // fibers on different clocks, as tests with their own TestClock are).
  const queues = new WeakMap<Clock.Clock, Deadlines>()
  const busy = new Set<Deadlines>()
  const deadlines = (clock: Clock.Clock): Deadlines => {
    let queue = queues.get(clock)
    if (queue === undefined) {
      queue = new Deadlines(clock, busy)
      queues.set(clock, queue)
    }
    return queue
  }
  let closed = false
  // Closing answers every call in flight (it is interrupted, and so is its
  // effect, whose permit comes back when it ends), stops every timer, and
  // retires every cell, so that a later call fails with
  // CircuitRegistryClosedError instead of running on a dead registry.
  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      closed = true
      // Retired first: a permit that comes back while the calls are answered
      // is handed to no waiter (see internal/waitQueue.ts).
      for (const cell of cells.values()) cell.retired = true
      for (const queue of Array.from(busy)) queue.close()
      for (const observer of observers) observer.closed?.()
      for (const cell of cells.values()) cell.shutdown()
    })
  )
  // With a CircuitStore in context, circuits are shared through it (docs/fleet.md).
  const store = yield* Effect.serviceOption(CircuitStore)
  const fleet = Option.isSome(store) ? yield* FleetClient.start(store.value) : undefined
  if (fleet !== undefined) {
    // Never a setting a shared circuit would silently ignore (docs/fleet.md).
    const refused = fleet.refuse(undefined, defaultBreakerConfig) ??
      Array.from(preset, ([name, config]) => fleet.refuse(name, CircuitConfig.toBreakerConfig(config))).find((e) =>
        e !== undefined
      )
    if (refused !== undefined) return yield* refused
  }

  // An event object is built and published only while someone subscribes to
  // `Circuit.events`: a call pays nothing for a stream nobody reads.
  let eventSubscribers = 0
  let eventObservers: ReadonlyArray<NonNullable<Observer["event"]>> = []
  // The one observer of events counts some of them in its cells' `Tally`.
  let tallied = false
  const sink: Sink = {
    event: (cell, kind, at, durationMillis, fallbackFollows, clock) => {
      if (eventSubscribers > 0) {
        // A shown timestamp: wall-clock time, read only for a subscriber.
        const wall = clock === undefined ? at : clock.currentTimeMillisUnsafe()
        publish(events, { circuit: cell.name, kind, at: wall, durationMillis })
      }
      if (tallied) {
        const tally = cell.stats
        if (tally !== undefined) {
          if (kind === "success") {
            if (durationMillis === 0 && tally.tallySuccess(cell, at)) return
          } else if (kind === "short-circuited") {
            if (fallbackFollows) {
              tally.shortCircuited++
              return
            }
          } else if (kind === "fallback-success") {
            if (durationMillis === 0 && tally.tallyFallbackSuccess(at)) return
          }
        }
      }
      for (let i = 0; i < eventObservers.length; i++) eventObservers[i]!(cell, kind, at, durationMillis, fallbackFollows)
    },
    transition: (cell, transition) => {
      publish(transitions, transition)
      for (const observer of observers) {
        if (observer.transition !== undefined) observer.transition(transition, cell)
      }
    },
    limitChange: (cell, change) => {
      publish(limitChanges, change)
      for (const observer of observers) {
        if (observer.limitChange !== undefined) observer.limitChange(change, cell)
      }
    }
  }
  const eventStream = Stream.unwrap(
    Effect.as(
      Effect.acquireRelease(
        Effect.sync(() => {
          eventSubscribers++
        }),
        () =>
          Effect.sync(() => {
            eventSubscribers--
          })
      ),
      Stream.fromPubSub(events)
    )
  )

  const fresh = (name: string, now: number): Cell => {
    const config = preset.get(name)
    const breakerConfig: BreakerConfig = config === undefined
      ? defaultBreakerConfig
      : CircuitConfig.toBreakerConfig(config)
    const created = new Cell(name, config ?? defaults, breakerConfig, sink, now)
    created.pinned = config !== undefined
    return created
  }

  const cell = (name: string, now: number): Cell => {
    let found = cells.get(name)
    if (found === undefined) {
      found = fresh(name, now)
      if (fleet !== undefined) found.fleet = fleet.attach(found)
      cells.add(found, now)
    }
    return found
  }

  const configure = (name: string, input: unknown, now: number) => {
    const decoded = CircuitConfig.decode(input, { base: (cells.get(name) ?? fresh(name, now)).config, circuit: name })
    if (Exit.isSuccess(decoded)) {
      const breakerConfig = CircuitConfig.toBreakerConfig(decoded.value)
      const refused = fleet?.refuse(name, breakerConfig)
      if (refused !== undefined) return Exit.fail(refused)
      const target = cell(name, now)
      // Its settings now exist only in the circuit: never evicted.
      target.pinned = true
      target.reconfigure(decoded.value, breakerConfig, now)
    }
    return decoded
  }

  const registry = CircuitRegistry.of({
    [TypeId]: TypeId,
    cell,
    lookup: (name) => cells.get(name),
    peek: (name, now) => cells.get(name) ?? fresh(name, now),
    names: () => cells.names(),
    cells: () => cells.values(),
    configure,
    observe: (observer) => {
      const changed = () => {
        const observing = observers.filter((o) => o.event !== undefined)
        eventObservers = observing.map((o) => o.event!)
        tallied = observing.length === 1 && tallyObservers.has(observing[0]!)
      }
      observers = [...observers, observer]
      changed()
      return () => {
        observers = observers.filter((o) => o !== observer)
        changed()
      }
    },
    eventStream,
    events,
    transitions,
    limitChanges,
    tracing: options.tracing,
    get closed() {
      return closed
    }
  })
  registerDeadlines(registry, deadlines)
  if (options.metrics !== false && installMetrics !== undefined) {
    yield* installMetrics(registry, options.metrics === true || options.metrics === undefined ? {} : options.metrics)
  }
  return registry
})

/**
 * Settings read from Effect `Config`: the defaults from `CIRCUIT_DEFAULT_*`
 * and, for each name in `circuits`, that circuit's from `CIRCUIT_<NAME>_*`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const optionsFromConfig = (
  circuits: ReadonlyArray<string> = []
): Config.Config<CircuitRegistryOptions> =>
  Config.map(
    Config.all({
      defaults: CircuitConfig.defaultsFromConfig(),
      circuits: Config.all(Object.fromEntries(circuits.map((name) => [name, CircuitConfig.configForCircuit(name)])))
    }),
    ({ circuits, defaults }): CircuitRegistryOptions => ({
      defaults,
      circuits: circuits as Readonly<Record<string, CircuitConfig.CircuitConfigInput>>
    })
  )

/**
 * The service that owns every named circuit.
 *
 * @since 0.1.0
 * @category services
 */
export class CircuitRegistry extends Context.Service<CircuitRegistry, CircuitRegistryShape>()(
  "effect-circuit/CircuitRegistry"
) {
  /**
   * A registry with the given settings. Fails with `CircuitConfigError` if
   * one is bad; without options (the defaults, those of Netflix Hystrix, for every circuit) it
   * cannot fail, and its type says so.
   *
   * @since 0.1.0
   * @category layers
   */
  static layer(): Layer.Layer<CircuitRegistry>
  static layer(options: CircuitRegistryOptions): Layer.Layer<CircuitRegistry, CircuitConfigError>
  static layer(options?: CircuitRegistryOptions): Layer.Layer<CircuitRegistry, CircuitConfigError> {
    return layerWith(options, undefined)
  }

  /**
   * A registry whose settings come from Effect `Config` (environment
   * variables unless another `ConfigProvider` is installed).
   *
   * @since 0.1.0
   * @category layers
   */
  static layerConfig(options: LayerConfigOptions = {}): Layer.Layer<CircuitRegistry, CircuitConfigError | Config.ConfigError> {
    return layerConfigWith(options, undefined)
  }
}

/**
 * Options of `CircuitRegistry.layerConfig`.
 *
 * @since 0.1.0
 * @category models
 */
export interface LayerConfigOptions {
  readonly circuits?: ReadonlyArray<string> | undefined
  readonly eventBuffer?: number | undefined
  readonly metrics?: CircuitRegistryOptions["metrics"]
  readonly tracing?: boolean | undefined
  readonly capacity?: number | undefined
  readonly idleTimeToLive?: Duration.Input | undefined
}

/**
 * `CircuitRegistry.layer`, with the metrics installer to run (none: no metrics).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (
  options: CircuitRegistryOptions | undefined,
  installMetrics: MetricsInstaller | undefined
): Layer.Layer<CircuitRegistry, CircuitConfigError> =>
  // The defaults are valid: without options the layer cannot fail.
  options === undefined
    ? Layer.orDie(Layer.effect(CircuitRegistry, make({}, installMetrics)))
    : Layer.effect(CircuitRegistry, make(options, installMetrics))

/**
 * `CircuitRegistry.layerConfig`, with the metrics installer to run (none: no metrics).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfigWith = (
  options: LayerConfigOptions,
  installMetrics: MetricsInstaller | undefined
): Layer.Layer<CircuitRegistry, CircuitConfigError | Config.ConfigError> =>
  Layer.effect(
    CircuitRegistry,
    Effect.flatMap(
      optionsFromConfig(options.circuits ?? []),
      (read) =>
        make(
          {
            ...read,
            eventBuffer: options.eventBuffer,
            metrics: options.metrics,
            tracing: options.tracing,
            capacity: options.capacity,
            idleTimeToLive: options.idleTimeToLive
          },
          installMetrics
        )
    )
  )

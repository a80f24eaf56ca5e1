/**
 * Reading and steering the circuits of the `CircuitRegistry` at run time:
 * snapshots, settings, forced states, and the streams of events and
 * transitions.
 *
 * **Details**
 *
 * - `snapshot(name)` is a plain immutable value: the state, the rolling
 *   window's counts as they stand now, the permits in use and the settings.
 *   Reading it never changes a circuit.
 * - `configure(name, input)` changes any setting of a running circuit, the
 *   concurrency limit included. Fields not given keep their value. Bad input
 *   fails with `CircuitConfigError` and changes nothing. Lowering the limit
 *   never stops calls already running: new calls are rejected until the
 *   running count is under the new limit. A new window shape (buckets or
 *   bucket duration) starts an empty window. A new sleep window applies to
 *   the current opening too; new thresholds, from the next outcome.
 * - `forceOpen` short-circuits every call until `reset` (or `forceClosed`);
 *   `forceClosed` lets every call through and never trips, still counting.
 *   `reset` closes the circuit with an empty window.
 *
 * **Example** (Inspecting a circuit)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Circuit, CircuitRegistry, withCircuit } from "effect-circuit"
 *
 * const program = Effect.gen(function*() {
 *   yield* Effect.succeed(1).pipe(withCircuit("payments"))
 *   const snapshot = yield* Circuit.snapshot("payments")
 *   return `${snapshot.state}, ${snapshot.window.total} request(s)`
 * })
 *
 * Effect.runPromise(program.pipe(Effect.provide(CircuitRegistry.layer()))) // "closed, 1 request(s)"
 * ```
 *
 * @since 0.1.0
 */
import { type Clock, Effect, Stream } from "effect"
import * as Breaker from "./core/Breaker.ts"
import * as Limit from "./core/Limit.ts"
import type { CircuitConfig, CircuitConfigInput } from "./CircuitConfig.ts"
import type { CircuitEvent, CircuitLimitChange, CircuitTransition } from "./CircuitEvent.ts"
import { CircuitRegistry, type CircuitRegistryShape } from "./CircuitRegistry.ts"
import { CircuitBadRequest, type CircuitConfigError } from "./errors.ts"
import type { CircuitCell } from "./CircuitCell.ts"
import * as CircuitPermit from "./CircuitPermit.ts"
import * as Window from "./core/Window.ts"
import { type Cell, cellOf, type FleetSide } from "./internal/cell.ts"
import { withMonotonicNow } from "./internal/time.ts"

/**
 * A circuit as it stands at one instant.
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitSnapshot {
  readonly name: string
  readonly state: Breaker.StateName
  readonly window: Breaker.WindowSummary
  /**
   * Permits in use, the limit now, and where the limit comes from: `"fixed"`
   * (a number, or `Infinity`) or the adaptive algorithm that learns it.
   */
  readonly concurrency: {
    readonly active: number
    readonly max: number
    readonly algorithm: "fixed" | "aimd" | "gradient"
  }
  /**
   * Fallbacks running now (holding a fallback permit) and `maxConcurrentFallbacks`
   * (`Infinity` when off).
   */
  readonly fallbacks: {
    readonly active: number
    readonly max: number
  }
  /**
   * The wait queue in front of the permits: calls waiting for one now, and
   * how many may (`queueCapacity`; 0 when calls never wait).
   */
  readonly queue: {
    readonly waiting: number
    readonly capacity: number
  }
  readonly config: CircuitConfig
  /**
   * A shared circuit (a registry with a `CircuitStore`): the fleet's state and
   * window totals as this process last heard them. `state` and `window` above
   * stay this process's own breaker. Absent when the circuit is not shared.
   */
  readonly fleet?: FleetSnapshot | undefined
}

/**
 * A shared circuit as the store last answered this process.
 *
 * @since 0.1.0
 * @category models
 */
export interface FleetSnapshot {
  readonly state: "closed" | "open" | "half-open"
  readonly generation: number
  readonly openings: number
  /** `"away"` while the store does not answer: admissions are then this process's own. */
  readonly store: "up" | "away"
  /** The store's time of that answer (epoch millis); `undefined` before the first. */
  readonly asOf: number | undefined
  /** Every process's counts in the fleet's window. */
  readonly window: Breaker.WindowSummary
  /**
   * Half-open: the probe leases held fleet-wide (a lapsed one until the next
   * grant) and the probes of the round that succeeded (`halfOpenProbes` of
   * them close the circuit); both 0 otherwise.
   */
  readonly probes: { readonly leases: number; readonly succeeded: number }
  /** The Retry-After the current opening lasts at least, in milliseconds (0: none). */
  readonly retryAfterMillis: number
}

// Every reader and setter needs the registry and the (monotonic) time it acts at.
const withRegistry = <A, E>(
  f: (registry: CircuitRegistryShape, now: number, clock: Clock.Clock) => Effect.Effect<A, E>
): Effect.Effect<A, E, CircuitRegistry> =>
  Effect.flatMap(Effect.service(CircuitRegistry), (registry) => withMonotonicNow((now, clock) => f(registry, now, clock)))

const withCell = <A>(
  name: string,
  f: (cell: Cell, now: number, clock: Clock.Clock) => A
): Effect.Effect<A, never, CircuitRegistry> =>
  withRegistry((registry, now, clock) => Effect.succeed(f(cellOf(registry.cell(name, now)), now, clock)))

// Readers never create a circuit: an unknown name reads as the
// circuit a first call would create now, which is not kept.
const peekCell = <A>(name: string, f: (cell: CircuitCell, now: number) => A): Effect.Effect<A, never, CircuitRegistry> =>
  withRegistry((registry, now) => Effect.succeed(f(registry.peek(name, now), now)))

/**
 * The snapshot of a cell at `now`. Used by the observability layer too.
 *
 * @since 0.1.0
 * @category constructors
 */
export const snapshotOf = (cell: CircuitCell, now: number): CircuitSnapshot => {
  const inner = cellOf(cell)
  const fleet = inner.fleet
  // Frozen, so that a snapshot kept around stays what it was when taken. The
  // settings are the circuit's own immutable value, shared, not copied.
  return Object.freeze({
    name: cell.name,
    state: Breaker.stateName(cell.breaker),
    window: Object.freeze(Breaker.summaryAt(cell.breaker, now)),
    concurrency: Object.freeze({
      active: cell.active,
      max: cell.maxConcurrent,
      algorithm: cell.adaptiveLimit === undefined ? "fixed" as const : Limit.algorithm(cell.adaptiveLimit)
    }),
    fallbacks: Object.freeze({ active: inner.fallbacksActive, max: inner.maxConcurrentFallbacks }),
    queue: Object.freeze({ waiting: cellOf(cell).waiting, capacity: cell.config.queueCapacity }),
    config: cell.config,
    ...(fleet === undefined ? {} : { fleet: fleetSnapshotOf(fleet) })
  })
}

const fleetSnapshotOf = (link: FleetSide): FleetSnapshot => {
  const totals = link.totals
  return Object.freeze({
    state: link.state,
    generation: link.generation,
    openings: link.openings,
    store: link.storeHealthy ? "up" as const : "away" as const,
    asOf: link.viewAt === Number.NEGATIVE_INFINITY ? undefined : link.viewAt,
    window: Object.freeze({
      ...totals,
      total: Window.requests(totals),
      errors: Window.errors(totals),
      errorPercentage: Window.errorPercentage(totals)
    }),
    probes: Object.freeze({ leases: link.leases, succeeded: link.probesSucceeded }),
    retryAfterMillis: link.retryAfter
  })
}

/**
 * The circuit's state, window counts, permits in use and settings, now.
 *
 * @since 0.1.0
 * @category getters
 */
export const snapshot = (name: string): Effect.Effect<CircuitSnapshot, never, CircuitRegistry> =>
  peekCell(name, snapshotOf)

/**
 * Snapshots of every circuit created so far.
 *
 * @since 0.1.0
 * @category getters
 */
export const snapshots: Effect.Effect<ReadonlyArray<CircuitSnapshot>, never, CircuitRegistry> = withRegistry((
  registry,
  now
) => Effect.succeed(registry.names().map((name) => snapshotOf(registry.peek(name, now), now))))

/**
 * Just the state's name.
 *
 * @since 0.1.0
 * @category getters
 */
export const state = (name: string): Effect.Effect<Breaker.StateName, never, CircuitRegistry> =>
  peekCell(name, (cell) => Breaker.stateName(cell.breaker))

/**
 * The names of every circuit created so far.
 *
 * @since 0.1.0
 * @category getters
 */
export const names: Effect.Effect<ReadonlyArray<string>, never, CircuitRegistry> = Effect.map(
  Effect.service(CircuitRegistry),
  (registry) => registry.names()
)

/**
 * Changes a circuit's settings at run time: the fields given replace the
 * current ones, all checked first.
 *
 * @since 0.1.0
 * @category setters
 */
export const configure = (
  name: string,
  input: CircuitConfigInput
): Effect.Effect<CircuitConfig, CircuitConfigError, CircuitRegistry> =>
  withRegistry((registry, now) => registry.configure(name, input, now))

/**
 * Short-circuits every call until `reset` or `forceClosed`.
 *
 * @since 0.1.0
 * @category setters
 */
export const forceOpen = (name: string): Effect.Effect<void, never, CircuitRegistry> =>
  withCell(name, (cell, now, clock) => {
    cell.apply({ _tag: "ForceOpen", at: now }, clock)
  })

/**
 * Lets every call through and never trips, until `reset` or `forceOpen`.
 *
 * @since 0.1.0
 * @category setters
 */
export const forceClosed = (name: string): Effect.Effect<void, never, CircuitRegistry> =>
  withCell(name, (cell, now, clock) => {
    cell.apply({ _tag: "ForceClosed", at: now }, clock)
  })

/**
 * Closes the circuit with an empty window and forgets its openings.
 *
 * @since 0.1.0
 * @category setters
 */
export const reset = (name: string): Effect.Effect<void, never, CircuitRegistry> =>
  withRegistry((registry, now, clock) => {
    // An unknown name is already what a reset makes: nothing to create.
    const found = registry.lookup(name)
    if (found !== undefined) cellOf(found).apply({ _tag: "Reset", at: now }, clock)
    return Effect.void
  })

/**
 * Fails with `error` marked as a bad request (`CircuitBadRequest`): the
 * guarded call returns it to its caller, the circuit does not count it and
 * the fallback does not replace it (Hystrix's `HystrixBadRequestException`).
 *
 * **Example** (Refusing invalid input without tripping the circuit)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Circuit, CircuitRegistry, withCircuit } from "effect-circuit"
 *
 * const lookup = (id: string) =>
 *   Effect.gen(function*() {
 *     if (!/^\d+$/.test(id)) return yield* Circuit.badRequest(`not an id: ${id}`)
 *     return { id }
 *   }).pipe(withCircuit("users", { fallback: () => Effect.succeed({ id: "cached" }) }))
 *
 * // Fails with CircuitBadRequest { error: "not an id: x" }; the fallback does not run.
 * Effect.runPromiseExit(lookup("x").pipe(Effect.provide(CircuitRegistry.layer())))
 * ```
 *
 * @since 0.2.0
 * @category bad requests
 */
export const badRequest = <E>(error: E): Effect.Effect<never, CircuitBadRequest<E>> =>
  Effect.fail(new CircuitBadRequest({ error }) as CircuitBadRequest<E>)

/**
 * Every execution event of every circuit, from the moment of subscription.
 * A subscriber that falls behind loses the oldest events.
 *
 * @since 0.1.0
 * @category streams
 */
export const events: Stream.Stream<CircuitEvent, never, CircuitRegistry> = Stream.unwrap(
  Effect.map(Effect.service(CircuitRegistry), (registry) => registry.eventStream)
)

/**
 * Every change of state of every circuit, from the moment of subscription.
 *
 * @since 0.1.0
 * @category streams
 */
export const transitions: Stream.Stream<CircuitTransition, never, CircuitRegistry> = Stream.unwrap(
  Effect.map(Effect.service(CircuitRegistry), (registry) => Stream.fromPubSub(registry.transitions))
)

/**
 * Every change of an adaptive concurrency limit, of every circuit, from the
 * moment of subscription: one item each time the number changes.
 *
 * @since 0.2.0
 * @category streams
 */
export const limitChanges: Stream.Stream<CircuitLimitChange, never, CircuitRegistry> = Stream.unwrap(
  Effect.map(Effect.service(CircuitRegistry), (registry) => Stream.fromPubSub(registry.limitChanges))
)

/**
 * Admits one call of the circuit `name` and returns a permit to report its
 * outcome later, owned by the current `Scope`: the two-step form of
 * `withCircuit` for work that is not one effect. See `CircuitPermit`.
 *
 * @since 0.3.0
 * @category two-step calls
 */
export const admit: typeof CircuitPermit.admit = CircuitPermit.admit

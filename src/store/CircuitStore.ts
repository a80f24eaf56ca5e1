/**
 * Fleet circuits: one circuit shared by every replica of a service, through
 * a store, with admissions still decided in each process.
 *
 * **Details**
 *
 * - Provide a `CircuitStore` to the `CircuitRegistry` layer and every circuit
 *   of that registry becomes a fleet circuit (except those listed in
 *   `local`). Without a store nothing changes.
 * - `layerRedis` shares circuits through Redis, programmed against Effect's
 *   `Redis` service (`effect/persistence/Redis`); provide that with
 *   `NodeRedis.layer` from `@effect/platform-node` (node-redis). This module
 *   itself never loads a Redis client.
 * - `layerMemory` shares circuits between the registries of one process that
 *   use the same layer: the pure `FleetModel` in a map, on the fibers'
 *   `Clock`. It is the way to test fleet behaviour under `TestClock`.
 * - Calls never wait for the store: closed and open circuits admit from a
 *   cache each registry keeps; outcomes go out in one batch per registry
 *   every `flushInterval` (at once when they would trip the circuit); when
 *   the sleep window ends, one round trip takes the probe lease, and the
 *   next call of the process that won it is the fleet's only probe. A change
 *   of state is announced (Redis pub/sub), so idle processes hear of it at
 *   once too. See `docs/fleet.md` for the protocol and its figures.
 * - Fail-open: a command slower than `commandTimeout` or failing opens a
 *   store-health breaker in each registry; until the store answers again
 *   (tried after `backoff`, doubling up to its max) every circuit runs on its
 *   own local breaker, which is fed every outcome all along.
 *
 * **Gotchas**
 *
 * - Give node-redis `disableOfflineQueue: true`: with the offline queue, a
 *   command sent while the connection is down is replayed, late, when it
 *   comes back.
 * - `forceOpen`, `forceClosed` and `reset` act on this process's circuit only.
 * - The store shares the error-percentage rule over the rolling window; the
 *   other settings (timeout, bulkhead, fallbacks) are per process. A shared
 *   circuit also shares consecutive failures, slow calls, the stable backoff,
 *   a failure's Retry-After (the failure that opens it lengthens the opening
 *   fleet-wide) and several half-open probes (up to `halfOpenProbes` leases
 *   fleet-wide), and refuses a count window with a `CircuitConfigError`
 *   naming the field; `local` circuits keep it.
 *
 * **Example** (A fleet circuit through Redis)
 *
 * ```ts
 * import { NodeRedis } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 * import { CircuitRegistry, withCircuit } from "effect-circuit"
 * import { CircuitStore } from "effect-circuit/store"
 *
 * const Circuits = CircuitRegistry.layer({ defaults: { timeout: "2 seconds" } }).pipe(
 *   Layer.provide(CircuitStore.layerRedis({ prefix: "shop:circuits:" })),
 *   Layer.provide(NodeRedis.layer({ url: "redis://127.0.0.1:6379", disableOfflineQueue: true }))
 * )
 *
 * const program = Effect.succeed("charged").pipe(withCircuit("payments"))
 * export const main = program.pipe(Effect.provide(Circuits))
 * ```
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Exit, Layer, Queue } from "effect"
import * as Redis from "effect/persistence/Redis"
import { CircuitConfigError } from "../errors.ts"
import * as FleetModel from "./FleetModel.ts"
import * as FleetScripts from "./FleetScripts.ts"
import {
  CircuitStore,
  CircuitStoreError,
  type CircuitStoreShape,
  type FleetBackend,
  type FleetSettings,
  type RecordEntry
} from "./service.ts"

export {
  /**
   * @since 0.1.0
   * @category services
   */
  CircuitStore,
  /**
   * @since 0.1.0
   * @category errors
   */
  CircuitStoreError
}
export type {
  /**
   * @since 0.1.0
   * @category models
   */
  CircuitStoreShape,
  /**
   * @since 0.1.0
   * @category models
   */
  FleetBackend,
  /**
   * @since 0.1.0
   * @category models
   */
  FleetSettings,
  /**
   * @since 0.1.0
   * @category models
   */
  RecordEntry
}

/**
 * How a registry uses its store.
 *
 * @since 0.1.0
 * @category models
 */
export interface FleetOptions {
  /** How often each registry sends its outcomes. Default 25 ms; 1 ms to 10 s. */
  readonly flushInterval?: Duration.Input | undefined
  /** A store command slower than this fails (the store counts as away). Default 50 ms; 1 ms to 10 s. */
  readonly commandTimeout?: Duration.Input | undefined
  /**
   * How long the probe lease lasts. Default: the circuit's timeout plus one
   * second (10 seconds when its timeout is off), so the lease outlives the probe.
   */
  readonly probeLease?: Duration.Input | undefined
  /** The store-health breaker's wait before trying the store again: `min`, doubling up to `max`. Default 50 ms to 500 ms. */
  readonly backoff?: { readonly min?: Duration.Input | undefined; readonly max?: Duration.Input | undefined } | undefined
  /** Circuits that stay local to each process (never shared): names, or a predicate. */
  readonly local?: ReadonlyArray<string> | ((circuit: string) => boolean) | undefined
}

/**
 * Options of `layerRedis`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisOptions extends FleetOptions {
  /** Prepended to every key (`<prefix>{<circuit>}`). Default `"effect-circuit:"`. */
  readonly prefix?: string | undefined
  /** A circuit's key expires when no process has written it this long. Default 1 hour. */
  readonly idleTimeToLive?: Duration.Input | undefined
}

const millisIn = (
  field: string,
  input: unknown,
  fallback: number,
  min: number,
  max: number
): Exit.Exit<number, CircuitConfigError> => {
  if (input === undefined) return Exit.succeed(fallback)
  let millis = Number.NaN
  try {
    millis = Duration.toMillis(Duration.fromInputUnsafe(input as Duration.Input))
  } catch {
    // Not a duration: refused below.
  }
  return Number.isFinite(millis) && millis >= min && millis <= max
    ? Exit.succeed(millis)
    : Exit.fail(
      new CircuitConfigError({
        field,
        reason: `must be a duration from ${min} ms to ${max} ms, got ${String(input)}`
      })
    )
}

/**
 * Checks the options; bad ones fail with `CircuitConfigError` naming the field.
 *
 * @since 0.1.0
 * @category constructors
 */
export const settingsOf = Effect.fnUntraced(function*(options: FleetOptions = {}) {
  if (options === null || typeof options !== "object") {
    return yield* new CircuitConfigError({ field: "(store options)", reason: "must be an object" })
  }
  const flushMillis = yield* millisIn("flushInterval", options.flushInterval, 25, 1, 10_000)
  const commandTimeoutMillis = yield* millisIn("commandTimeout", options.commandTimeout, 50, 1, 10_000)
  const probeLeaseMillis = options.probeLease === undefined
    ? undefined
    : yield* millisIn("probeLease", options.probeLease, 0, 1, 86_400_000)
  const backoff = options.backoff ?? {}
  const backoffMinMillis = yield* millisIn("backoff.min", backoff.min, 50, 1, 60_000)
  const backoffMaxMillis = yield* millisIn("backoff.max", backoff.max, Math.max(500, backoffMinMillis), backoffMinMillis, 600_000)
  const local = options.local
  let isLocal: (circuit: string) => boolean
  if (local === undefined) isLocal = () => false
  else if (typeof local === "function") isLocal = local
  else if (Array.isArray(local) && local.every((name) => typeof name === "string")) {
    const names = new Set(local)
    isLocal = (circuit) => names.has(circuit)
  } else return yield* new CircuitConfigError({ field: "local", reason: "must be an array of circuit names or a predicate" })
  return {
    flushMillis,
    commandTimeoutMillis,
    probeLeaseMillis,
    leaseMarginMillis: 1000,
    backoffMinMillis,
    backoffMaxMillis,
    isLocal
  } satisfies FleetSettings
})

/**
 * The fleet store inside this process: `FleetModel` in a map, on the
 * fibers' `Clock`. Registries built with the same layer value share their
 * circuits; use it to test fleet behaviour under `TestClock`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: FleetOptions = {}): Layer.Layer<CircuitStore, CircuitConfigError> =>
  Layer.effect(
    CircuitStore,
    Effect.map(settingsOf(options), (settings): CircuitStoreShape => ({ backend: memoryBackend(), settings }))
  )

/**
 * A backend over `FleetModel` in a map (exported for tests and simulations).
 *
 * @since 0.1.0
 * @category constructors
 */
export const memoryBackend = (): FleetBackend => {
  const circuits = new Map<string, FleetModel.FleetCircuit>()
  const listeners = new Set<(circuit: string) => void>()
  const change = <A>(
    circuit: string,
    rule: FleetModel.FleetRule,
    f: (c: FleetModel.FleetCircuit, now: number) => readonly [FleetModel.FleetCircuit, A]
  ) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const current = circuits.get(circuit) ?? FleetModel.initial(rule, now)
      const [next, a] = f(current, now)
      circuits.set(circuit, next)
      if (next.generation !== current.generation) for (const listener of listeners) listener(circuit)
      return [FleetModel.view(next, now), a] as const
    })
  return {
    record: (entries) =>
      Effect.forEach(entries, (e) =>
        Effect.map(
          change(e.circuit, e.rule, (c, now) => [FleetModel.record(c, e.rule, now, e.generation, e.counts, e.streak, e.retryAfter), undefined]),
          ([view]) => view
        )),
    acquire: (circuit, rule, generation, sleepMillis, leaseMillis) =>
      Effect.map(
        change(circuit, rule, (c, now) =>
          FleetModel.acquire(c, now, generation, sleepMillis, leaseMillis, FleetModel.probesOf(rule))),
        ([view, acquired]) => ({ acquired, view })
      ),
    settle: (circuit, rule, generation, ticket, outcome, slow, retryAfter) =>
      Effect.map(
        change(
          circuit,
          rule,
          (c, now) => [FleetModel.settle(c, rule, now, generation, ticket, outcome, slow, retryAfter), undefined]
        ),
        ([view]) => view
      ),
    changes: (onChange) =>
      Effect.acquireUseRelease(
        Effect.sync(() => listeners.add(onChange)),
        () => Effect.never,
        () => Effect.sync(() => listeners.delete(onChange))
      )
  }
}

/**
 * Fleet circuits through Redis: one hash key per circuit, changed only by
 * the scripts of `FleetScripts` on Redis' own clock. Needs Effect's `Redis`
 * service (for example `NodeRedis.layer` from `@effect/platform-node`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedis = (options: RedisOptions = {}): Layer.Layer<CircuitStore, CircuitConfigError, Redis.Redis> =>
  Layer.effect(
    CircuitStore,
    Effect.gen(function*() {
      const settings = yield* settingsOf(options)
      const prefix = options.prefix ?? "effect-circuit:"
      if (typeof prefix !== "string" || prefix.length > 1024) {
        return yield* new CircuitConfigError({ field: "prefix", reason: "must be a string of at most 1024 characters" })
      }
      const idleMillis = yield* millisIn("idleTimeToLive", options.idleTimeToLive, 3_600_000, 1000, 30 * 86_400_000)
      const redis = yield* Redis.Redis
      return { backend: redisBackend(redis, prefix, idleMillis), settings } satisfies CircuitStoreShape
    })
  )

/**
 * A backend over a `Redis` service (exported for tests that drive the
 * scripts with their own time).
 *
 * @since 0.1.0
 * @category constructors
 */
export const redisBackend = (
  redis: Redis.Redis["Service"],
  prefix: string,
  idleMillis: number,
  now: () => number | undefined = () => undefined
): FleetBackend => {
  const record = redis.eval(FleetScripts.record)
  const acquire = redis.eval(FleetScripts.acquire)
  const settle = redis.eval(FleetScripts.settle)
  const channel = `${prefix}changes`
  const announce = (circuit: string): FleetScripts.Announce => ({ channel, circuit })
  const decode = (operation: "record" | "acquire" | "settle", circuit: string) => (reply: unknown) => {
    const decoded = FleetScripts.decodeReply(reply)
    return decoded === undefined
      ? Effect.fail(new CircuitStoreError({ operation, circuit, cause: new Error(`not a fleet reply: ${String(reply)}`) }))
      : Effect.succeed(decoded)
  }
  const failed = (operation: "record" | "acquire" | "settle", circuit: string | undefined) => (error: Redis.RedisError) =>
    new CircuitStoreError({ operation, circuit, cause: error.cause })
  return {
    record: (entries: ReadonlyArray<RecordEntry>) =>
      // Sent in one tick: node-redis writes them as one pipeline.
      Effect.forEach(entries, (e) =>
        record(
          FleetScripts.keyOf(prefix, e.circuit),
          now(),
          idleMillis,
          e.rule,
          e.generation,
          e.counts,
          announce(e.circuit),
          e.streak,
          e.retryAfter
        ).pipe(
          Effect.mapError(failed("record", e.circuit)),
          Effect.flatMap(decode("record", e.circuit)),
          Effect.map((decoded) => decoded.view)
        ), { concurrency: "unbounded" }),
    acquire: (circuit, rule, generation, sleepMillis, leaseMillis) =>
      acquire(
        FleetScripts.keyOf(prefix, circuit),
        now(),
        idleMillis,
        rule,
        generation,
        sleepMillis,
        leaseMillis,
        announce(circuit)
      ).pipe(
        Effect.mapError(failed("acquire", circuit)),
        Effect.flatMap(decode("acquire", circuit)),
        Effect.map(({ tag, view }) => ({ acquired: tag === "probe" ? "probe" as const : "denied" as const, view }))
      ),
    settle: (circuit, rule, generation, ticket, outcome, slow, retryAfter) =>
      settle(
        FleetScripts.keyOf(prefix, circuit),
        now(),
        idleMillis,
        rule,
        generation,
        ticket,
        outcome,
        announce(circuit),
        slow,
        retryAfter
      ).pipe(
        Effect.mapError(failed("settle", circuit)),
        Effect.flatMap(decode("settle", circuit)),
        Effect.map((decoded) => decoded.view)
      ),
    // One subscription per registry; after a failure it subscribes again a second later.
    changes: (onChange) =>
      Effect.forever(
        Effect.andThen(
          Effect.exit(Effect.scoped(Effect.flatMap(
            redis.subscribe(channel),
            (queue) => Effect.forever(Effect.map(Queue.take(queue), (message) => onChange(message.message)))
          ))),
          Effect.sleep(1000)
        )
      )
  }
}

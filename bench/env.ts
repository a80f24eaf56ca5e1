/**
 * The registries the benchmark measures, built as a user's program builds
 * them and kept open for the whole run: one with the defaults (metrics on),
 * one with `metrics: false`. Each has its own `Metric.MetricRegistry`, so the
 * check below sees only its own series.
 *
 * `assertMeasured` is the guard against measuring something users never run:
 * it throws when the registry was closed, or when a case meant to run with
 * metrics did not have them counted (no metrics observer), or when a
 * metrics-off registry has series after all.
 */
import { Context, Effect, Exit, Layer, Metric, PubSub, Scope } from "effect"
import { CircuitRegistry, type CircuitRegistryOptions } from "effect-circuit"

export interface RegistryHandle {
  readonly label: "metrics on" | "metrics off"
  readonly metrics: boolean
  readonly context: Context.Context<CircuitRegistry>
  readonly runPromise: <A, E>(effect: Effect.Effect<A, E, CircuitRegistry>) => Promise<A>
  readonly runSync: <A, E>(effect: Effect.Effect<A, E, CircuitRegistry>) => A
  /** Events of `circuit` counted by the metrics (summed over every counter series of that circuit). */
  readonly countedEvents: (circuit: string) => number
  /** Throws unless the registry is open and its metrics are as it says. */
  readonly assertLive: () => void
  readonly close: () => Promise<void>
}

const countedEvents = (context: Context.Context<never>, circuit: string): number => {
  let sum = 0
  for (const snapshot of Metric.snapshotUnsafe(context)) {
    if (snapshot.type !== "Counter" || snapshot.attributes?.["circuit"] !== circuit) continue
    if (!snapshot.id.startsWith("effect_circuit_")) continue
    sum += Number((snapshot.state as Metric.CounterState<number>).count)
  }
  return sum
}

const seriesCount = (context: Context.Context<never>): number =>
  Metric.snapshotUnsafe(context).filter((s) => s.id.startsWith("effect_circuit_")).length

export const makeRegistry = async (
  options: CircuitRegistryOptions
): Promise<RegistryHandle> => {
  const metrics = options.metrics !== false
  const scope = Effect.runSync(Scope.make())
  const metricRegistry = new Map()
  const metricContext = Context.make(Metric.MetricRegistry, metricRegistry) as Context.Context<never>
  // Built in an open scope that stays open until `close`: closing it would
  // remove the metrics observer and stop the registry.
  const context = await Effect.runPromise(
    Layer.buildWithScope(CircuitRegistry.layer(options), scope).pipe(
      Effect.provideService(Metric.MetricRegistry, metricRegistry)
    )
  ) as Context.Context<CircuitRegistry>
  const registry = Context.get(context, CircuitRegistry)
  const runPromise = Effect.runPromiseWith(context)
  const runSync = Effect.runSyncWith(context)
  let closed = false
  return {
    label: metrics ? "metrics on" : "metrics off",
    metrics,
    context,
    runPromise,
    runSync,
    countedEvents: (circuit) => countedEvents(metricContext, circuit),
    assertLive: () => {
      if (closed || PubSub.isShutdownUnsafe(registry.events)) {
        throw new Error(`bench: the ${metrics ? "metrics-on" : "metrics-off"} registry is closed`)
      }
      if (!metrics && seriesCount(metricContext) > 0) {
        throw new Error("bench: the metrics-off registry has metric series")
      }
    },
    close: async () => {
      closed = true
      await Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
}

/**
 * Runs `measure` and checks that the registry counted every one of its `calls`
 * calls of `circuit` (`eventsPerCall` events each) when metrics are on.
 */
export const checkedRun = async <A>(
  handle: RegistryHandle,
  circuit: string | undefined,
  calls: number,
  eventsPerCall: number,
  measure: () => Promise<A>
): Promise<A> => {
  handle.assertLive()
  const before = circuit === undefined ? 0 : handle.countedEvents(circuit)
  const result = await measure()
  handle.assertLive()
  if (circuit !== undefined && handle.metrics) {
    const counted = handle.countedEvents(circuit) - before
    if (counted < calls * eventsPerCall) {
      throw new Error(
        `bench: circuit "${circuit}" ran ${calls} calls with metrics on but its metrics counted ${counted} events` +
          ` (expected ≥ ${calls * eventsPerCall}): is the metrics observer installed and the registry open?`
      )
    }
  }
  return result
}

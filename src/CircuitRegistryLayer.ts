/**
 * The public `CircuitRegistry`: the registry service of `CircuitRegistry.ts`,
 * whose layers also install the metrics observer (`CircuitMetrics`) unless
 * `metrics: false`.
 *
 * **Details**
 *
 * - The registry never imports observability: it takes a metrics installer,
 *   and this module (which depends on both) passes `CircuitMetrics.install`.
 *   Imports then flow one way: this module → registry and observability →
 *   cells → core.
 * - It is the same service (same key, same shape) as the registry module's:
 *   a program provides it with `CircuitRegistry.layer()` and reads it with
 *   `yield* CircuitRegistry`, and `withCircuit`, `Circuit` and the
 *   observability endpoints find it.
 *
 * **Example** (A registry with its default metrics)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitRegistry, withCircuit } from "effect-circuit"
 *
 * Effect.runPromise(Effect.succeed(1).pipe(withCircuit("payments"), Effect.provide(CircuitRegistry.layer())))
 * ```
 *
 * @since 0.1.0
 */
import type { Config, Layer } from "effect"
import * as Registry from "./CircuitRegistry.ts"
import type { CircuitConfigError } from "./errors.ts"
import * as CircuitMetrics from "./observability/CircuitMetrics.ts"

/**
 * The service that owns every named circuit.
 *
 * @since 0.1.0
 * @category services
 */
export class CircuitRegistry extends Registry.CircuitRegistry {
  /**
   * A registry with the given settings, with metrics on unless
   * `metrics: false`. Fails with `CircuitConfigError` if a setting is bad;
   * without options (the defaults, those of Netflix Hystrix, for every circuit) it cannot fail, and
   * its type says so.
   *
   * @since 0.1.0
   * @category layers
   */
  static override layer(): Layer.Layer<Registry.CircuitRegistry>
  static override layer(
    options: Registry.CircuitRegistryOptions
  ): Layer.Layer<Registry.CircuitRegistry, CircuitConfigError>
  static override layer(
    options?: Registry.CircuitRegistryOptions
  ): Layer.Layer<Registry.CircuitRegistry, CircuitConfigError> {
    return Registry.layerWith(options, CircuitMetrics.install)
  }

  /**
   * A registry whose settings come from Effect `Config` (environment
   * variables unless another `ConfigProvider` is installed), with metrics on
   * unless `metrics: false`.
   *
   * @since 0.1.0
   * @category layers
   */
  static override layerConfig(
    options: Registry.LayerConfigOptions = {}
  ): Layer.Layer<Registry.CircuitRegistry, CircuitConfigError | Config.ConfigError> {
    return Registry.layerConfigWith(options, CircuitMetrics.install)
  }
}

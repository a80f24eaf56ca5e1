/**
 * effect-circuit: Hystrix-grade circuit breaking for Effect v4.
 *
 * @since 0.1.0
 */
export * as Circuit from "./Circuit.ts"
export * as CircuitPermit from "./CircuitPermit.ts"
export * as CircuitConfig from "./CircuitConfig.ts"
export type { CircuitConfigInput } from "./CircuitConfig.ts"
export type { CircuitEvent, CircuitLimitChange, CircuitTransition, EventKind } from "./CircuitEvent.ts"
export { CircuitRegistry } from "./CircuitRegistryLayer.ts"
export type { CircuitCell } from "./CircuitCell.ts"
export { TypeId as CircuitRegistryTypeId } from "./CircuitRegistry.ts"
export type {
  CircuitRegistryOptions,
  CircuitRegistryShape,
  LayerConfigOptions as CircuitRegistryLayerConfigOptions,
  MetricsInstaller as CircuitMetricsInstaller,
  MetricsOptions as CircuitMetricsOptions,
  Observer as CircuitObserver
} from "./CircuitRegistry.ts"
export * from "./errors.ts"
export { isCircuitError, withCircuit } from "./withCircuit.ts"
export type { FallbackFailed, Failure, Options as WithCircuitOptions, OptionsWithFallback } from "./withCircuit.ts"
export { Breaker, BreakerConfig, Limit, Window } from "./core/index.ts"
export * as CircuitMiddleware from "./http/CircuitMiddleware.ts"
export * as CircuitHttpClient from "./http/CircuitHttpClient.ts"
export * as Simulation from "./testing/Simulation.ts"
export * as CircuitMetrics from "./observability/CircuitMetrics.ts"
export * as Dashboard from "./observability/Dashboard.ts"
export * as HystrixStream from "./observability/HystrixStream.ts"
export * as Observability from "./observability/Observability.ts"
export * as Percentiles from "./observability/Percentiles.ts"

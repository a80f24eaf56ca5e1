/**
 * Fleet circuits: `CircuitStore` (the service, `layerRedis`, `layerMemory`),
 * the pure store model and its Lua scripts. Import it as
 * `effect-circuit/store`; the main entry never loads it.
 *
 * @since 0.1.0
 */
export * as CircuitStore from "./CircuitStore.ts"
export * as FleetModel from "./FleetModel.ts"
export * as FleetScripts from "./FleetScripts.ts"

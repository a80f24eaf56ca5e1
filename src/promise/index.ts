/**
 * effect-circuit for Promise code: `CircuitPromise.make(...)`, `fire(name, fn)`,
 * and the clocks it runs on. The errors are the Effect API's own classes.
 *
 * @since 0.2.0
 */
export * as CircuitPromise from "./CircuitPromise.ts"
export type { CircuitPromise as CircuitPromiseShape, FireOptions, Listeners, MakeOptions } from "./CircuitPromise.ts"
export { CircuitClosedError } from "./CircuitPromise.ts"
export type { AdmitOptions, Permit as CircuitPermit, PermitOutcome } from "./permit.ts"
export * as CircuitClock from "./CircuitClock.ts"
export type { CircuitClock as CircuitClockShape, ManualClock } from "./CircuitClock.ts"
export {
  type BadRequest,
  BadRequestTypeId,
  CircuitBadRequest,
  CircuitConfigError,
  type CircuitError,
  CircuitFallbackError,
  CircuitOpenError,
  CircuitRegistryClosedError,
  CircuitRejectedError,
  CircuitTimeoutError,
  isBadRequest
} from "../errors.ts"
export { isCircuitError } from "../withCircuit.ts"
export type { CircuitConfig, CircuitConfigInput } from "../CircuitConfig.ts"
export type { CircuitSnapshot } from "../Circuit.ts"
export type { CircuitEvent, CircuitTransition, EventKind } from "../CircuitEvent.ts"

/**
 * A circuit as the `CircuitRegistry` hands it out: its name, settings,
 * breaker and permits in use, read-only.
 *
 * **Details**
 *
 * - This is what an `Observer` is given with each event and transition, and
 *   what `CircuitRegistry`'s `cell` and `lookup` return. The fields are the
 *   live values of the circuit: read them when you need them, do not keep
 *   them. `Circuit.snapshot` gives a frozen copy instead.
 * - It is a view: nothing in it changes a circuit. Steer a circuit with
 *   `Circuit.configure`, `Circuit.forceOpen`, `Circuit.forceClosed` and
 *   `Circuit.reset`.
 *
 * **Example** (Reading a circuit from an observer)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { CircuitRegistry, withCircuit } from "effect-circuit"
 *
 * const program = Effect.gen(function*() {
 *   const registry = yield* CircuitRegistry
 *   const seen: Array<string> = []
 *   registry.observe({ event: (cell, kind) => seen.push(`${cell.name} ${kind} (${cell.active} running)`) })
 *   yield* Effect.succeed(1).pipe(withCircuit("payments"))
 *   return seen // ["payments success (0 running)"]
 * })
 *
 * Effect.runPromise(program.pipe(Effect.provide(CircuitRegistry.layer())))
 * ```
 *
 * @since 0.1.0
 */
import type { Breaker } from "./core/Breaker.ts"
import type { Limit } from "./core/Limit.ts"
import type { CircuitConfig } from "./CircuitConfig.ts"

/**
 * @since 0.1.0
 * @category models
 */
export interface CircuitCell {
  readonly name: string
  /** The circuit's settings, as decoded. */
  readonly config: CircuitConfig
  /** The pure breaker's current value (see `Breaker`). */
  readonly breaker: Breaker
  /** Permits in use: calls whose effect has started and not yet ended. */
  readonly active: number
  /** The bulkhead's limit now; `Infinity` when off. */
  readonly maxConcurrent: number
  /** The adaptive limit's current value (see `Limit`), when `maxConcurrentRequests` is adaptive. */
  readonly adaptiveLimit: Limit | undefined
}

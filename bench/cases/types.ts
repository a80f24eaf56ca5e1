/**
 * What a benchmark case is. `bench/suite.ts` runs every case of every group
 * listed in `bench/cases/index.ts`; to add cases, write a group (a function of
 * the environment returning cases) in a file of its own and list it there.
 */
import type { Effect, Scope } from "effect"
import type { CircuitRegistry } from "effect-circuit"
import type { RegistryHandle } from "../env.ts"

export interface BenchEnv {
  /** A registry with the defaults users get (metrics on), open for the whole run. */
  readonly on: RegistryHandle
  /** The same registry settings with `metrics: false`. */
  readonly off: RegistryHandle
  /** Open for the whole run; for whatever a group builds that needs a scope. */
  readonly scope: Scope.Scope
}

/** A case that drives a circuit of the registry: it is run once per registry (metrics on, and off). */
export interface UsesRegistry {
  /** The circuit it calls; with metrics on, the suite checks its calls were counted. */
  readonly circuit: string
  /** Metric events per call (a short-circuit served by a fallback is 2). */
  readonly eventsPerCall: number
}

/** Timed as `n` calls in a loop inside one fiber. */
export interface FiberCase {
  readonly table: "fiber"
  readonly name: string
  readonly registry?: UsesRegistry | undefined
  readonly effect: Effect.Effect<unknown, unknown, CircuitRegistry>
  /** Wraps the whole timing loop (to install a tracer once, as a program does, rather than per call). */
  readonly around?: (<A, E, R>(loop: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>) | undefined
  /** Throws if what the case measures is no longer what it says (a peer's circuit closed, ...). */
  readonly check?: (() => void) | undefined
}

/** Timed as `n` awaited promises, one per call. */
export interface PromiseCase {
  readonly table: "promise"
  readonly name: string
  readonly registry?: UsesRegistry | undefined
  readonly make: (handle: RegistryHandle) => () => Promise<unknown>
  readonly check?: (() => void) | undefined
}

export type BenchCase = FiberCase | PromiseCase

export type CaseGroup = (env: BenchEnv) => Promise<ReadonlyArray<BenchCase>> | ReadonlyArray<BenchCase>

/** The name of a case's row for a registry: the metrics-off run gets a suffix. */
export const rowName = (name: string, handle: RegistryHandle | undefined): string =>
  handle === undefined || handle.metrics ? name : `${name} · metrics off`

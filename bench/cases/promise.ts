/**
 * The Promise shell (`effect-circuit/promise`, issue 15): `CircuitPromise.fire()`
 * with the defaults users get (timeout, bulkhead, metrics on) and an open
 * circuit with a fallback, each through a Promise view of the suite's
 * registries (so the suite checks their calls were counted by the metrics,
 * and runs them with metrics on and off), plus `fire()` on a registry made by
 * `CircuitPromise.make()` (its own monotonic clock), as a Promise-only program
 * has it. Compared with opossum's and cockatiel's, in `targets`.
 */
import { CircuitPromise } from "effect-circuit/promise"
import type { RegistryHandle } from "../env.ts"
import * as Peers from "./peers.ts"
import type { BenchCase, CaseGroup } from "./types.ts"

export const names = {
  fire: "CircuitPromise fire() (defaults)",
  fireOpen: "CircuitPromise fire(), open + fallback",
  fireOwn: "CircuitPromise.make() fire() (defaults, own registry)"
} as const

const asyncOne = async () => 1
const fallback = { fallback: () => 0 }

export const promise: CaseGroup = () => {
  const views = new Map<RegistryHandle, CircuitPromise.CircuitPromise>()
  const view = (handle: RegistryHandle): CircuitPromise.CircuitPromise => {
    let found = views.get(handle)
    if (found === undefined) {
      found = CircuitPromise.fromContext(handle.context)
      found.forceOpen("promise-open")
      views.set(handle, found)
    }
    return found
  }
  const own = CircuitPromise.make()
  const cases: ReadonlyArray<BenchCase> = [
    {
      table: "promise",
      name: names.fire,
      registry: { circuit: "promise", eventsPerCall: 1 },
      make: (handle) => {
        const circuits = view(handle)
        return () => circuits.fire("promise", asyncOne)
      }
    },
    {
      table: "promise",
      name: names.fireOpen,
      registry: { circuit: "promise-open", eventsPerCall: 2 },
      make: (handle) => {
        const circuits = view(handle)
        return () => circuits.fire("promise-open", asyncOne, fallback)
      },
      check: () => {
        for (const circuits of views.values()) {
          if (circuits.state("promise-open") !== "forced-open") throw new Error("the promise-open circuit closed")
        }
      }
    },
    { table: "promise", name: names.fireOwn, make: () => () => own.fire("promise", asyncOne) }
  ]
  return cases
}

const r = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? NaN : Math.round((a / b) * 100) / 100

/** The targets, from the medians (ns per call) of the "one promise per call" table. */
export const targets = (promise: Record<string, number>) => [
  {
    target: "CircuitPromise fire() calls/s ≥ 2 × opossum fire()",
    value: r(promise[Peers.names.opossum], promise[names.fire]),
    met: (v: number) => v >= 2
  },
  {
    target: "CircuitPromise fire() calls/s ≥ cockatiel breaker alone",
    value: r(promise[Peers.names.cockatiel], promise[names.fire]),
    met: (v: number) => v >= 1
  },
  {
    target: "CircuitPromise open + fallback ≥ 20 × faster than opossum open + fallback",
    value: r(promise[Peers.names.opossumOpen], promise[names.fireOpen]),
    met: (v: number) => v >= 20
  }
]

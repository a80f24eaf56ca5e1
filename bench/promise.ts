/**
 * The Promise shell's cases of the benchmark suite (`bench/suite.ts` runs
 * them among its "one promise per call" cases): `CircuitPromise.fire()` with
 * the defaults users get (timeout, bulkhead and metrics on), and an open
 * circuit with a fallback, next to opossum's and cockatiel's.
 */
import { CircuitPromise } from "effect-circuit/promise"

const circuits = CircuitPromise.make()
circuits.forceOpen("open")
const asyncOne = async () => 1
const fallback = { fallback: () => 0 }

export const promiseShellCases: Record<string, () => Promise<unknown>> = {
  "CircuitPromise fire() (defaults)": () => circuits.fire("default", asyncOne),
  "CircuitPromise fire(), open + fallback": () => circuits.fire("open", asyncOne, fallback)
}

const r = (a: number, b: number) => Math.round((a / b) * 100) / 100

/** The targets, from the medians (ns per call) of one run. */
export const promiseShellTargets = (promise: Record<string, number>) => [
  {
    target: "CircuitPromise fire() calls/s ≥ 2 × opossum fire()",
    value: r(promise["opossum fire()"]!, promise["CircuitPromise fire() (defaults)"]!),
    met: (v: number) => v >= 2
  },
  {
    target: "CircuitPromise fire() calls/s ≥ cockatiel breaker alone",
    value: r(promise["cockatiel breaker"]!, promise["CircuitPromise fire() (defaults)"]!),
    met: (v: number) => v >= 1
  },
  {
    target: "CircuitPromise open + fallback ≥ 20 × faster than opossum open + fallback",
    value: r(promise["opossum fire(), open + fallback"]!, promise["CircuitPromise fire(), open + fallback"]!),
    met: (v: number) => v >= 20
  }
]

/**
 * The error channel of a guarded call is exactly what can happen. The
 * `exact` lines are compile-time checks: `npm test` runs `tsc --noEmit`
 * first, and a wrong type fails it. The runtime tests check that what the
 * types promise is what happens.
 */
import { assert, describe, it } from "@effect/vitest"
import { Data, Effect, type Layer } from "effect"
import {
  type CircuitConfigError,
  type CircuitError,
  type CircuitFallbackError,
  CircuitRegistry,
  withCircuit
} from "../src/index.ts"

const CircuitRegistryLayer = CircuitRegistry.layer({ metrics: false })

class Boom extends Data.TaggedError("Boom")<{}> {}
class Oops extends Data.TaggedError("Oops")<{}> {}

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
const exact = <A, B>(_: Equals<A, B>) => {}

const call: Effect.Effect<number, Boom> = Effect.fail(new Boom())

// No fallback: the effect's errors and the circuit's.
const plain = call.pipe(withCircuit("c"))
exact<typeof plain, Effect.Effect<number, Boom | CircuitError, CircuitRegistry>>(true)

// Data-first, same type.
const dataFirst = withCircuit(call, "c")
exact<typeof dataFirst, typeof plain>(true)

// A fallback that cannot fail: nothing can fail.
const total = call.pipe(withCircuit("c", { fallback: () => Effect.succeed("cached") }))
exact<typeof total, Effect.Effect<number | string, never, CircuitRegistry>>(true)

// A fallback that can fail: its failure, holding both causes.
const partial = call.pipe(withCircuit("c", { fallback: () => Effect.fail(new Oops()) }))
exact<typeof partial, Effect.Effect<number, CircuitFallbackError<Boom | CircuitError, Oops>, CircuitRegistry>>(true)

// isFailure with a fallback: rejected errors reach the caller as they are.
const classified = call.pipe(
  withCircuit("c", { isFailure: (e) => !(e instanceof Boom), fallback: () => Effect.succeed(0) })
)
exact<typeof classified, Effect.Effect<number, Boom, CircuitRegistry>>(true)

// A registry on the defaults cannot fail; one with settings can.
const onDefaults = CircuitRegistry.layer()
exact<typeof onDefaults, Layer.Layer<CircuitRegistry>>(true)
const withSettings = CircuitRegistry.layer({ defaults: { timeout: "2 seconds" } })
exact<typeof withSettings, Layer.Layer<CircuitRegistry, CircuitConfigError>>(true)

// The fallback sees the call's errors and the circuit's, typed.
call.pipe(withCircuit("c", {
  fallback: (error) => {
    exact<typeof error, Boom | CircuitError>(true)
    return Effect.succeed(0)
  }
}))

describe("what the types promise", () => {
  const run = <A, E>(effect: Effect.Effect<A, E, CircuitRegistry>) =>
    Effect.runPromise(Effect.result(effect).pipe(Effect.provide(CircuitRegistryLayer)))

  it("a fallback that cannot fail makes the call infallible", async () => {
    const result = await run(total)
    assert.deepStrictEqual(result._tag === "Success" ? result.success : undefined, "cached")
  })

  it("an error isFailure rejects reaches the caller unchanged, without the fallback", async () => {
    const result = await run(classified)
    assert.isTrue(result._tag === "Failure" && result.failure instanceof Boom)
  })

  it("a failing fallback fails with CircuitFallbackError", async () => {
    const result = await run(partial)
    assert.isTrue(result._tag === "Failure" && result.failure._tag === "CircuitFallbackError")
  })
})

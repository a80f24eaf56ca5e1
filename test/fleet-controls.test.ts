/**
 * Fleet circuits refuse the settings the shared store cannot honour (count
 * windows, consecutive failures, slow calls, several probes, the stable
 * backoff) with a `CircuitConfigError` naming the field, wherever they are
 * given: the registry's defaults, a circuit's settings, `Circuit.configure`.
 * Local circuits (the store's `local` option) and registries without a
 * store keep them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { Circuit, type CircuitConfigInput, CircuitConfigError, CircuitRegistry } from "../src/index.ts"
import { make as makeRegistry } from "../src/CircuitRegistry.ts"
import * as CircuitStore from "../src/store/CircuitStore.ts"

const controls: ReadonlyArray<readonly [field: string, input: CircuitConfigInput]> = [
  ["rollingWindow.calls", { rollingWindow: { calls: 20 } }],
  ["consecutiveFailures", { consecutiveFailures: 5 }],
  ["slowCallDuration", { slowCallDuration: "2 seconds", slowCallPercentThreshold: 50 }],
  ["halfOpenProbes", { halfOpenProbes: 3 }],
  ["backoffReset", { backoffReset: "stable" }]
]

const storeShape = (options: CircuitStore.FleetOptions = {}) =>
  Effect.map(CircuitStore.settingsOf(options), (settings) => ({ backend: CircuitStore.memoryBackend(), settings }))

const registry = (
  registryOptions: Parameters<typeof makeRegistry>[0],
  storeOptions?: CircuitStore.FleetOptions
) =>
  Effect.flatMap(
    storeShape(storeOptions),
    (shape) => makeRegistry(registryOptions).pipe(Effect.provideService(CircuitStore.CircuitStore, shape))
  )

const configError = <A>(exit: Exit.Exit<A, unknown>): CircuitConfigError => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
  assert.isTrue(error?._tag === "Some" && error.value instanceof CircuitConfigError, "expected a CircuitConfigError")
  return (error as { value: CircuitConfigError }).value
}

describe("fleet circuits refuse the controls the store cannot honour", () => {
  for (const [field, input] of controls) {
    it.effect(`${field}: refused in the defaults, in a circuit's settings and by configure; kept by local circuits`, () =>
      Effect.scoped(Effect.gen(function*() {
        const inDefaults = configError(yield* Effect.exit(registry({ defaults: input, metrics: false })))
        assert.strictEqual(inDefaults.field, field)
        assert.isUndefined(inDefaults.circuit)
        assert.include(inDefaults.reason, "fleet circuits")

        const inCircuit = configError(
          yield* Effect.exit(registry({ circuits: { payments: input }, metrics: false }))
        )
        assert.strictEqual(inCircuit.field, field)
        assert.strictEqual(inCircuit.circuit, "payments")

        const shared = yield* registry({ metrics: false }, { local: ["audit"] })
        const before = yield* Circuit.snapshot("payments").pipe(Effect.provideService(CircuitRegistry, shared))
        const atRunTime = configError(
          yield* Effect.exit(Circuit.configure("payments", input).pipe(Effect.provideService(CircuitRegistry, shared)))
        )
        assert.strictEqual(atRunTime.field, field)
        assert.strictEqual(atRunTime.circuit, "payments")
        // Nothing half-applied.
        const after = yield* Circuit.snapshot("payments").pipe(Effect.provideService(CircuitRegistry, shared))
        assert.deepStrictEqual(after.config, before.config)

        // A local circuit keeps the control, in its settings and at run time.
        yield* registry({ circuits: { audit: input }, metrics: false }, { local: ["audit"] })
        yield* Circuit.configure("audit", input).pipe(Effect.provideService(CircuitRegistry, shared))
        // Without a store, nothing is refused.
        yield* makeRegistry({ defaults: input, metrics: false })
      })))
  }

  it.effect("settings the store shares are accepted", () =>
    Effect.scoped(Effect.gen(function*() {
      const shared = yield* registry({
        defaults: { requestVolumeThreshold: 5, errorPercentThreshold: 25, rollingWindow: { buckets: 5 } },
        metrics: false
      })
      yield* Circuit.configure("payments", { sleepWindow: "2 seconds", halfOpenProbes: 1, backoffReset: "close" }).pipe(
        Effect.provideService(CircuitRegistry, shared)
      )
    })))
})

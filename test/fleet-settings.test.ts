/**
 * `CircuitStore` options: defaults, and bad input refused with a
 * `CircuitConfigError` naming the field.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { CircuitConfigError } from "../src/errors.ts"
import * as CircuitStore from "../src/store/CircuitStore.ts"

describe("CircuitStore settings", () => {
  it.effect("defaults: 25 ms flushes, 50 ms command timeout, backoff 50 to 500 ms, nothing local", () =>
    Effect.gen(function*() {
      const s = yield* CircuitStore.settingsOf()
      assert.strictEqual(s.flushMillis, 25)
      assert.strictEqual(s.commandTimeoutMillis, 50)
      assert.strictEqual(s.backoffMinMillis, 50)
      assert.strictEqual(s.backoffMaxMillis, 500)
      assert.isUndefined(s.probeLeaseMillis)
      assert.isFalse(s.isLocal("payments"))
    }))

  it.effect("local circuits by name or predicate", () =>
    Effect.gen(function*() {
      const byName = yield* CircuitStore.settingsOf({ local: ["audit"] })
      assert.isTrue(byName.isLocal("audit"))
      assert.isFalse(byName.isLocal("payments"))
      const byPredicate = yield* CircuitStore.settingsOf({ local: (name) => name.startsWith("local-") })
      assert.isTrue(byPredicate.isLocal("local-cache"))
    }))

  const bad: ReadonlyArray<readonly [string, unknown]> = [
    ["flushInterval", { flushInterval: 0 }],
    ["flushInterval", { flushInterval: "1 hour" }],
    ["flushInterval", { flushInterval: "soon" }],
    ["commandTimeout", { commandTimeout: -1 }],
    ["probeLease", { probeLease: Number.NaN }],
    ["backoff.min", { backoff: { min: 0 } }],
    ["backoff.max", { backoff: { min: 100, max: 10 } }],
    ["local", { local: [1, 2] }],
    ["(store options)", null]
  ]
  for (const [field, input] of bad) {
    it.effect(`refuses a bad ${field}: ${JSON.stringify(input)}`, () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(CircuitStore.settingsOf(input as CircuitStore.FleetOptions))
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? exit.cause.reasons[0] : undefined
        assert.isTrue(error?._tag === "Fail" && error.error instanceof CircuitConfigError)
        assert.strictEqual(error?._tag === "Fail" ? (error.error as CircuitConfigError).field : "", field)
      }))
  }
})

import { assert, describe, it } from "@effect/vitest"
import { Breaker, BreakerConfig } from "../src/core/index.ts"

describe("core smoke", () => {
  it("trips after V failures and probes after S", () => {
    const config = { ...BreakerConfig.defaultBreakerConfig, requestVolumeThreshold: 2 }
    let b = Breaker.initial(config)
    b = Breaker.reduce(b, { _tag: "Failure", at: 10, generation: b.generation })
    assert.strictEqual(Breaker.stateName(b), "closed")
    b = Breaker.reduce(b, { _tag: "Failure", at: 20, generation: b.generation })
    assert.strictEqual(Breaker.stateName(b), "open")
    assert.strictEqual(Breaker.admit(b, 5019), "short-circuit")
    assert.strictEqual(Breaker.admit(b, 5020), "probe")
  })
})

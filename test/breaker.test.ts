import { assert, describe, it } from "@effect/vitest"
import { Breaker, BreakerConfig } from "../src/core/index.ts"

const config = (overrides: Partial<BreakerConfig.BreakerConfig> = {}): BreakerConfig.BreakerConfig => ({
  ...BreakerConfig.defaultBreakerConfig,
  sleepWindow: BreakerConfig.constantSleep(5000),
  ...overrides
})

type Result = "Success" | "Failure" | "Timeout" | "Rejected" | "Interrupted" | "Ignored"

/** A call admitted now (in the current generation) that ends at `at` with `result`. */
const call = (b: Breaker.Breaker, at: number, result: Result): Breaker.Breaker =>
  Breaker.reduce(b, { _tag: result, at, generation: b.generation })

const calls = (b: Breaker.Breaker, at: number, results: ReadonlyArray<Result>): Breaker.Breaker =>
  results.reduce((acc, r) => call(acc, at, r), b)

/** Trips a V = 1, P = 50 breaker at `at`. */
const tripped = (c: BreakerConfig.BreakerConfig, at: number): Breaker.Breaker => {
  const b = call(Breaker.initial(c), at, "Failure")
  assert.deepStrictEqual(b.state, { _tag: "Open", openedAt: at })
  return b
}

/** What the shell does when `admit` says "probe": returns the breaker and the probe's generation. */
const admitProbe = (b: Breaker.Breaker, at: number): Breaker.Breaker => {
  assert.strictEqual(Breaker.admit(b, at), "probe")
  return Breaker.reduce(b, { _tag: "ProbeAdmitted", at })
}

describe("Breaker: closed → open", () => {
  it("V − 1 failures do not trip, the V-th does", () => {
    let b = calls(Breaker.initial(config({ requestVolumeThreshold: 5 })), 100, ["Failure", "Failure", "Failure", "Failure"])
    assert.strictEqual(Breaker.stateName(b), "closed")
    assert.strictEqual(Breaker.summaryAt(b, 100).errorPercentage, 100)
    b = call(b, 150, "Failure")
    assert.deepStrictEqual(b.state, { _tag: "Open", openedAt: 150 })
  })

  it("exactly P percent trips: V = 4, P = 50, 2 failures of 4 trip, 1 of 4 does not", () => {
    const c = config({ requestVolumeThreshold: 4, errorPercentThreshold: 50 })
    const oneOfFour = calls(Breaker.initial(c), 10, ["Failure", "Success", "Success", "Success"])
    assert.strictEqual(Breaker.stateName(oneOfFour), "closed")
    const twoOfFour = calls(Breaker.initial(c), 10, ["Success", "Failure", "Success", "Failure"])
    assert.strictEqual(Breaker.stateName(twoOfFour), "open")
    assert.strictEqual(Breaker.summaryAt(twoOfFour, 10).errorPercentage, 50)
  })

  it("timeouts and rejections are errors; interrupted and ignored calls are not requests", () => {
    const c = config({ requestVolumeThreshold: 3, errorPercentThreshold: 100 })
    let b = calls(Breaker.initial(c), 10, ["Timeout", "Rejected", "Interrupted", "Ignored"])
    assert.strictEqual(Breaker.summaryAt(b, 10).total, 2)
    assert.strictEqual(Breaker.stateName(b), "closed")
    b = call(b, 10, "Failure")
    assert.strictEqual(Breaker.stateName(b), "open")
  })

  it("short-circuits and fallbacks are counted but never trip", () => {
    let b = Breaker.initial(config({ requestVolumeThreshold: 0, errorPercentThreshold: 0 }))
    b = Breaker.reduce(b, { _tag: "ShortCircuited", at: 1 })
    b = Breaker.reduce(b, { _tag: "FallbackFailure", at: 1 })
    assert.strictEqual(Breaker.stateName(b), "closed")
    const s = Breaker.summaryAt(b, 1)
    assert.deepStrictEqual([s.shortCircuited, s.fallbackFailure, s.total], [1, 1, 0])
  })

  it("failures that left the window do not count towards V", () => {
    // 2 buckets of 100 ms: failures at 0..99 are gone at 200.
    const c = config({ requestVolumeThreshold: 3, buckets: 2, bucketMillis: 100 })
    let b = calls(Breaker.initial(c), 99, ["Failure", "Failure"])
    b = call(b, 200, "Failure")
    assert.strictEqual(Breaker.stateName(b), "closed")
    assert.strictEqual(Breaker.summaryAt(b, 200).total, 1)
    b = calls(Breaker.initial(c), 100, ["Failure", "Failure"])
    b = call(b, 299, "Failure")
    assert.strictEqual(Breaker.stateName(b), "open")
  })
})

describe("Breaker: open → half-open → closed / open", () => {
  const c = config({ requestVolumeThreshold: 1, errorPercentThreshold: 50 })

  it("short-circuits until openedAt + S − 1 and admits one probe at exactly openedAt + S", () => {
    const b = tripped(c, 1000)
    assert.strictEqual(Breaker.admit(b, 1000), "short-circuit")
    assert.strictEqual(Breaker.admit(b, 5999), "short-circuit")
    assert.strictEqual(Breaker.admit(b, 6000), "probe")
    const probing = admitProbe(b, 6000)
    assert.strictEqual(Breaker.stateName(probing), "half-open")
    assert.strictEqual(Breaker.admit(probing, 6000), "short-circuit")
    assert.strictEqual(Breaker.admit(probing, 60_000), "short-circuit")
  })

  it("retryAfterMillis: the rest of the sleep window, 0 while probing or closed, Infinity when forced open", () => {
    const b = tripped(c, 1000)
    assert.strictEqual(Breaker.retryAfterMillis(b, 1000), 5000)
    assert.strictEqual(Breaker.retryAfterMillis(b, 5999), 1)
    assert.strictEqual(Breaker.retryAfterMillis(b, 6000), 0)
    assert.strictEqual(Breaker.retryAfterMillis(b, 9000), 0)
    assert.strictEqual(Breaker.retryAfterMillis(admitProbe(b, 6000), 6001), 0)
    assert.strictEqual(Breaker.retryAfterMillis(Breaker.initial(c), 0), 0)
    assert.strictEqual(Breaker.retryAfterMillis(Breaker.reduce(b, { _tag: "ForceOpen", at: 2000 }), 2000), Infinity)
  })

  it("a successful probe closes the circuit with an empty window", () => {
    let b = calls(Breaker.initial(config({ requestVolumeThreshold: 3 })), 1000, ["Success", "Failure", "Failure"])
    assert.strictEqual(Breaker.stateName(b), "open")
    b = Breaker.reduce(b, { _tag: "ShortCircuited", at: 2000 })
    b = admitProbe(b, 6000)
    b = call(b, 6100, "Success")
    assert.strictEqual(Breaker.stateName(b), "closed")
    const s = Breaker.summaryAt(b, 6100)
    assert.deepStrictEqual(
      [s.success, s.failure, s.timeout, s.rejected, s.shortCircuited, s.total, s.errorPercentage],
      [0, 0, 0, 0, 0, 0, 0]
    )
    assert.strictEqual(Breaker.admit(b, 6100), "allow")
  })

  it("a timed-out probe reopens with openedAt = now and the sleep window starts again", () => {
    let b = admitProbe(tripped(c, 1000), 6000)
    b = call(b, 7500, "Timeout")
    assert.deepStrictEqual(b.state, { _tag: "Open", openedAt: 7500 })
    assert.strictEqual(Breaker.retryAfterMillis(b, 7500), 5000)
    assert.strictEqual(Breaker.admit(b, 12_499), "short-circuit")
    assert.strictEqual(Breaker.admit(b, 12_500), "probe")
    assert.strictEqual(Breaker.summaryAt(b, 7500).timeout, 1)
  })

  it("a failed or rejected probe reopens too", () => {
    for (const result of ["Failure", "Rejected"] as const) {
      const b = call(admitProbe(tripped(c, 0), 5000), 5001, result)
      assert.deepStrictEqual(b.state, { _tag: "Open", openedAt: 5001 })
    }
  })

  it("an interrupted or ignored probe frees the slot and changes nothing else", () => {
    for (const result of ["Interrupted", "Ignored"] as const) {
      const probing = admitProbe(tripped(c, 0), 5000)
      const b = call(probing, 5200, result)
      assert.strictEqual(Breaker.stateName(b), "half-open")
      assert.deepStrictEqual(Breaker.summaryAt(b, 5200), Breaker.summaryAt(probing, 5200))
      assert.strictEqual(Breaker.admit(b, 5200), "probe")
    }
  })

  it("an old-generation success does not close a half-open circuit (but is counted)", () => {
    let b = Breaker.initial(c)
    const slow = b.generation // a slow call admitted while closed
    b = call(b, 100, "Failure")
    assert.strictEqual(Breaker.stateName(b), "open")
    b = admitProbe(b, 5100)
    b = Breaker.reduce(b, { _tag: "Success", at: 5200, generation: slow })
    assert.deepStrictEqual(b.state, { _tag: "HalfOpen", openedAt: 100, probing: true })
    assert.strictEqual(Breaker.summaryAt(b, 5200).success, 1)
    assert.strictEqual(Breaker.admit(b, 5200), "short-circuit")
  })

  it("an old-generation failure does not reopen a circuit that closed", () => {
    let b = Breaker.initial(c)
    const slow = b.generation
    b = call(admitProbe(call(b, 100, "Failure"), 5100), 5200, "Success")
    assert.strictEqual(Breaker.stateName(b), "closed")
    b = Breaker.reduce(b, { _tag: "Failure", at: 5300, generation: slow })
    assert.strictEqual(Breaker.stateName(b), "closed")
    assert.strictEqual(Breaker.summaryAt(b, 5300).failure, 1)
  })

  it("an old-generation interruption does not free the probe slot", () => {
    let b = Breaker.initial(c)
    const slow = b.generation
    b = admitProbe(call(b, 100, "Failure"), 5100)
    b = Breaker.reduce(b, { _tag: "Interrupted", at: 5200, generation: slow })
    assert.deepStrictEqual(b.state, { _tag: "HalfOpen", openedAt: 100, probing: true })
    assert.strictEqual(Breaker.admit(b, 5200), "short-circuit")
  })

  it("the n-th consecutive opening lasts sleepWindow(n); a close resets n", () => {
    const growing = config({ requestVolumeThreshold: 1, sleepWindow: (n) => [100, 200, 400][Math.min(n, 3) - 1] ?? 0 })
    let b = tripped(growing, 0)
    assert.strictEqual(Breaker.retryAfterMillis(b, 0), 100)
    b = call(admitProbe(b, 100), 100, "Failure")
    assert.strictEqual(Breaker.retryAfterMillis(b, 100), 200)
    b = call(admitProbe(b, 300), 300, "Failure")
    assert.strictEqual(Breaker.retryAfterMillis(b, 300), 400)
    assert.strictEqual(Breaker.admit(b, 699), "short-circuit")
    b = call(admitProbe(b, 700), 700, "Success")
    assert.strictEqual(Breaker.stateName(b), "closed")
    b = call(b, 800, "Failure")
    assert.deepStrictEqual(b.state, { _tag: "Open", openedAt: 800 })
    assert.strictEqual(Breaker.retryAfterMillis(b, 800), 100)
  })
})

describe("Breaker: forced states, reset, reconfigure", () => {
  const c = config({ requestVolumeThreshold: 1 })

  it("ForceOpen short-circuits everything and never probes", () => {
    const b = Breaker.reduce(Breaker.initial(c), { _tag: "ForceOpen", at: 0 })
    assert.strictEqual(Breaker.stateName(b), "forced-open")
    assert.strictEqual(Breaker.admit(b, 0), "short-circuit")
    assert.strictEqual(Breaker.admit(b, 1_000_000), "short-circuit")
  })

  it("ForceClosed lets everything through and never trips", () => {
    let b = Breaker.reduce(Breaker.initial(c), { _tag: "ForceClosed", at: 0 })
    b = calls(b, 10, ["Failure", "Failure", "Timeout"])
    assert.strictEqual(Breaker.stateName(b), "forced-closed")
    assert.strictEqual(Breaker.admit(b, 10), "allow")
    assert.strictEqual(Breaker.summaryAt(b, 10).errors, 3)
  })

  it("Reset closes the circuit with an empty window and a fresh sleep window count", () => {
    const growing = config({ requestVolumeThreshold: 1, sleepWindow: (n) => n * 1000 })
    let b = call(admitProbe(tripped(growing, 0), 1000), 1000, "Failure")
    assert.strictEqual(Breaker.retryAfterMillis(b, 1000), 2000)
    b = Breaker.reduce(b, { _tag: "Reset", at: 1500 })
    assert.strictEqual(Breaker.stateName(b), "closed")
    assert.strictEqual(Breaker.summaryAt(b, 1500).total, 0)
    b = call(b, 1600, "Failure")
    assert.strictEqual(Breaker.retryAfterMillis(b, 1600), 1000)
    for (const forced of ["ForceOpen", "ForceClosed"] as const) {
      const reset = Breaker.reduce(Breaker.reduce(b, { _tag: forced, at: 1700 }), { _tag: "Reset", at: 1800 })
      assert.strictEqual(Breaker.stateName(reset), "closed")
      assert.strictEqual(Breaker.admit(reset, 1800), "allow")
    }
  })

  it("a failure of a call admitted before a Reset is counted but does not trip the reset circuit", () => {
    let b = Breaker.initial(c)
    const before = b.generation
    b = Breaker.reduce(b, { _tag: "Reset", at: 10 })
    b = Breaker.reduce(b, { _tag: "Failure", at: 20, generation: before })
    assert.strictEqual(Breaker.stateName(b), "closed")
    assert.strictEqual(Breaker.summaryAt(b, 20).failure, 1)
    b = call(b, 30, "Success") // the next current outcome sees the window as it is: 1 failure of 2
    assert.strictEqual(Breaker.stateName(b), "open")
  })

  it("Reconfigure with a new window shape starts an empty window of that shape; the state stays", () => {
    let b = calls(Breaker.initial(config({ requestVolumeThreshold: 10 })), 500, ["Failure", "Failure"])
    b = Breaker.reduce(b, { _tag: "Reconfigure", at: 600, config: config({ requestVolumeThreshold: 10, buckets: 4, bucketMillis: 250 }) })
    assert.strictEqual(Breaker.stateName(b), "closed")
    assert.strictEqual(Breaker.summaryAt(b, 600).total, 0)
    assert.strictEqual(b.window.buckets, 4)
    assert.strictEqual(b.window.bucketMillis, 250)
    b = call(b, 700, "Failure")
    // 4 buckets of 250 ms: the failure at 700 (bucket 2) is gone at 1500 (bucket 6).
    assert.strictEqual(Breaker.summaryAt(b, 1499).failure, 1)
    assert.strictEqual(Breaker.summaryAt(b, 1500).failure, 0)
  })

  it("Reconfigure with the same shape keeps the counts; new thresholds apply from the next outcome", () => {
    let b = calls(Breaker.initial(config({ requestVolumeThreshold: 10 })), 500, ["Failure", "Failure"])
    b = Breaker.reduce(b, { _tag: "Reconfigure", at: 600, config: config({ requestVolumeThreshold: 2 }) })
    assert.strictEqual(Breaker.stateName(b), "closed")
    assert.strictEqual(Breaker.summaryAt(b, 600).failure, 2)
    b = call(b, 700, "Success")
    assert.strictEqual(Breaker.stateName(b), "open")
  })

  it("Reconfigure of an open circuit keeps it open; the new sleep window applies to the current opening", () => {
    let b = tripped(c, 0)
    b = Breaker.reduce(b, { _tag: "Reconfigure", at: 10, config: config({ requestVolumeThreshold: 1, sleepWindow: BreakerConfig.constantSleep(100) }) })
    assert.deepStrictEqual(b.state, { _tag: "Open", openedAt: 0 })
    assert.strictEqual(Breaker.admit(b, 99), "short-circuit")
    assert.strictEqual(Breaker.admit(b, 100), "probe")
  })
})

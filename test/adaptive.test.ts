/**
 * Adaptive `maxConcurrentRequests` in the shell, by example (TestClock): the
 * settings (decode, refusals, environment, configure), the live limit in
 * snapshots, rejections, limit-change events and the Hystrix stream. The
 * algorithms themselves are properties in property-tests/limit.test.ts, and
 * their behaviour against a dependency in property-tests/adaptive.test.ts.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Exit, Fiber, Metric, Stream } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import {
  Circuit,
  type CircuitConfigInput,
  CircuitConfig,
  CircuitConfigError,
  CircuitRegistry,
  type CircuitLimitChange,
  CircuitRejectedError,
  HystrixStream,
  withCircuit
} from "../src/index.ts"

const refusal = (input: unknown, base?: CircuitConfig.CircuitConfig) => {
  const exit = CircuitConfig.decode(input, base === undefined ? undefined : { base })
  if (Exit.isSuccess(exit)) return undefined
  const error = exit.cause.reasons[0]
  assert.isTrue(error?._tag === "Fail" && error.error instanceof CircuitConfigError)
  const e = (error as { readonly error: CircuitConfigError }).error
  return { field: e.field, reason: e.reason }
}

const decoded = (input: CircuitConfigInput, base?: CircuitConfig.CircuitConfig) => {
  const exit = CircuitConfig.decode(input, base === undefined ? undefined : { base })
  assert.isTrue(Exit.isSuccess(exit), JSON.stringify(Exit.isFailure(exit) ? exit.cause : ""))
  return (exit as Exit.Success<CircuitConfig.CircuitConfig>).value
}

describe("adaptive maxConcurrentRequests: settings", () => {
  it("decodes with the defaults of each algorithm", () => {
    assert.deepStrictEqual(decoded({ maxConcurrentRequests: { adaptive: "gradient" } }).maxConcurrentRequests, {
      adaptive: "gradient",
      min: 1,
      max: 1000,
      initial: 10,
      tolerance: 1.1,
      smoothing: 0.2,
      probeInterval: 50
    })
    const aimd = decoded({ maxConcurrentRequests: { adaptive: "aimd", min: 2, max: 5, latencyThreshold: "250 millis" } })
      .maxConcurrentRequests
    assert.isTrue(CircuitConfig.isAdaptive(aimd))
    if (!CircuitConfig.isAdaptive(aimd) || aimd.adaptive !== "aimd") return
    assert.deepStrictEqual([aimd.min, aimd.max, aimd.initial, aimd.backoffRatio], [2, 5, 5, 0.9])
    assert.strictEqual(Duration.toMillis(aimd.latencyThreshold), 250)
    // A fixed limit is still the default, and still a number.
    assert.strictEqual(decoded({}).maxConcurrentRequests, 10)
  })

  it("refuses bad adaptive settings with the field and the reason, and applies nothing", () => {
    const cases: ReadonlyArray<readonly [unknown, string, string]> = [
      [{ adaptive: "vegas" }, "maxConcurrentRequests.adaptive", "must be \"aimd\" or \"gradient\", got \"vegas\""],
      [{ max: 5 }, "maxConcurrentRequests.adaptive", "the algorithm must be named"],
      [{ adaptive: "aimd", min: 0 }, "maxConcurrentRequests.min", "must be an integer ≥ 1, got 0"],
      [{ adaptive: "aimd", min: 1.5 }, "maxConcurrentRequests.min", "got 1.5"],
      [{ adaptive: "aimd", min: 5, max: 4 }, "maxConcurrentRequests.max", "between min and 1000000, got 4"],
      [{ adaptive: "aimd", min: 2, max: 4, initial: 9 }, "maxConcurrentRequests.initial", "between min and max, got 9"],
      [{ adaptive: "aimd", backoffRatio: 1 }, "maxConcurrentRequests.backoffRatio", "got 1"],
      [{ adaptive: "aimd", latencyThreshold: 0 }, "maxConcurrentRequests.latencyThreshold", "got 0"],
      [{ adaptive: "aimd", tolerance: 2 }, "maxConcurrentRequests.tolerance", "applies to the gradient algorithm only"],
      [{ adaptive: "gradient", backoffRatio: 0.5 }, "maxConcurrentRequests.backoffRatio", "applies to the aimd algorithm only"],
      [{ adaptive: "gradient", tolerance: 0.9 }, "maxConcurrentRequests.tolerance", "between 1 and 10, got 0.9"],
      [{ adaptive: "gradient", smoothing: 0 }, "maxConcurrentRequests.smoothing", "got 0"],
      [{ adaptive: "gradient", probeInterval: NaN }, "maxConcurrentRequests.probeInterval", "got NaN"],
      [{ adaptive: "gradient", window: 3 }, "maxConcurrentRequests.window", "unknown field"],
      [[1, 2], "maxConcurrentRequests", "must be an integer ≥ 1, Infinity, or an adaptive limit"]
    ]
    for (const [limit, field, reason] of cases) {
      const refused = refusal({ maxConcurrentRequests: limit, timeout: "2 seconds" })
      assert.isDefined(refused, JSON.stringify(limit))
      assert.strictEqual(refused!.field, field)
      assert.include(refused!.reason, reason)
    }
  })

  it("on top of an adaptive base, given fields replace the base's; another algorithm starts from its defaults", () => {
    const base = decoded({ maxConcurrentRequests: { adaptive: "gradient", max: 50, tolerance: 1.5 } })
    assert.deepStrictEqual(decoded({ maxConcurrentRequests: { initial: 20 } }, base).maxConcurrentRequests, {
      adaptive: "gradient",
      min: 1,
      max: 50,
      initial: 20,
      tolerance: 1.5,
      smoothing: 0.2,
      probeInterval: 50
    })
    const aimd = decoded({ maxConcurrentRequests: { adaptive: "aimd" } }, base).maxConcurrentRequests
    assert.isTrue(CircuitConfig.isAdaptive(aimd) && aimd.adaptive === "aimd" && aimd.max === 1000)
    assert.strictEqual(decoded({ maxConcurrentRequests: 7 }, base).maxConcurrentRequests, 7)
  })

  it.effect("reads the adaptive setting from environment variables", () =>
    Effect.gen(function*() {
      const read = (env: Record<string, string>) =>
        CircuitConfig.configForCircuit("payments").parse(ConfigProvider.fromEnv({ env }))
      const input = yield* read({
        CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS: "aimd",
        CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS_MIN: "2",
        CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS_MAX: "64",
        CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS_BACKOFF_RATIO: "0.75",
        CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS_LATENCY_THRESHOLD: "300 millis"
      })
      const limit = decoded(input).maxConcurrentRequests
      assert.isTrue(CircuitConfig.isAdaptive(limit) && limit.adaptive === "aimd")
      if (!CircuitConfig.isAdaptive(limit) || limit.adaptive !== "aimd") return
      assert.deepStrictEqual([limit.min, limit.max, limit.initial, limit.backoffRatio], [2, 64, 10, 0.75])
      assert.strictEqual(Duration.toMillis(limit.latencyThreshold), 300)

      const gradient = yield* read({
        CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS: "Gradient",
        CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS_PROBE_INTERVAL: "20"
      })
      const g = decoded(gradient).maxConcurrentRequests
      assert.isTrue(CircuitConfig.isAdaptive(g) && g.adaptive === "gradient" && g.probeInterval === 20)

      // Sub-settings with a fixed number: refused by decode, naming the algorithm field.
      const mixed = yield* read({
        CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS: "20",
        CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS_MAX: "40"
      })
      assert.strictEqual(refusal(mixed)?.field, "maxConcurrentRequests.adaptive")
      // A fixed number alone is unchanged.
      assert.strictEqual(decoded(yield* read({ CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS: "20" })).maxConcurrentRequests, 20)
      const bad = yield* Effect.exit(read({ CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS: "lots" }))
      assert.isTrue(Exit.isFailure(bad))
    }))
})

// A call that holds its permit for `millis`.
const slow = (millis: number, name = "a") => Effect.sleep(millis).pipe(withCircuit(name))

describe("adaptive maxConcurrentRequests: in the shell", () => {
  it.effect("a fixed limit shows as \"fixed\"; an adaptive one shows its algorithm and live value", () =>
    Effect.gen(function*() {
      const fixed = yield* Circuit.snapshot("f")
      assert.deepStrictEqual(fixed.concurrency, { active: 0, max: 10, algorithm: "fixed" })
      const aimd = yield* Circuit.snapshot("a")
      assert.deepStrictEqual(aimd.concurrency, { active: 0, max: 3, algorithm: "aimd" })
      // The gradient limit starts by measuring the no-load latency at `initial`.
      const gradient = yield* Circuit.snapshot("g")
      assert.deepStrictEqual(gradient.concurrency, { active: 0, max: 5, algorithm: "gradient" })
    }).pipe(
      Effect.provide(CircuitRegistry.layer({
        circuits: {
          a: { maxConcurrentRequests: { adaptive: "aimd", min: 1, max: 10, initial: 3 } },
          g: { maxConcurrentRequests: { adaptive: "gradient", min: 2, max: 10, initial: 5 } }
        }
      }))
    ))

  it.effect("rejects at the live limit, and a timeout lowers an AIMD limit (once per round trip)", () =>
    Effect.gen(function*() {
      const running = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(Effect.exit(slow(5_000))))
      yield* Effect.yieldNow
      const rejected = yield* Effect.flip(slow(10))
      assert.instanceOf(rejected, CircuitRejectedError)
      assert.strictEqual((rejected as CircuitRejectedError).maxConcurrentRequests, 3)
      // All three time out at 1 s: one decrease (3 · 0.5 → 1), not three.
      yield* TestClock.adjust("1 second")
      yield* Effect.forEach(running, Fiber.join)
      const snap = yield* Circuit.snapshot("a")
      assert.strictEqual(snap.concurrency.max, 1)
    }).pipe(
      Effect.provide(CircuitRegistry.layer({
        defaults: { timeout: "1 second", maxConcurrentRequests: { adaptive: "aimd", min: 1, max: 10, initial: 3, backoffRatio: 0.5 } }
      }))
    ))

  it.effect("publishes a limit change only when the number changes, and the changes chain to the snapshot's value", () =>
    Effect.gen(function*() {
      const changes: Array<CircuitLimitChange> = []
      const collector = yield* Circuit.limitChanges.pipe(
        Stream.runForEach((c) => Effect.sync(() => changes.push(c))),
        Effect.forkChild
      )
      yield* Effect.yieldNow
      // Growth: 2 in use, one success per round trip raises it by one every `limit` successes.
      for (let round = 0; round < 12; round++) {
        const calls = yield* Effect.forEach([1, 2], () => Effect.forkChild(slow(100)))
        yield* TestClock.adjust(100)
        yield* Effect.forEach(calls, Fiber.join)
      }
      yield* Effect.yieldNow
      yield* Fiber.interrupt(collector)
      const snap = yield* Circuit.snapshot("a")
      assert.isAbove(changes.length, 0)
      let from = 2
      for (const change of changes) {
        assert.deepStrictEqual([change.circuit, change.algorithm], ["a", "aimd"])
        assert.notStrictEqual(change.to, change.from)
        assert.strictEqual(change.from, from)
        from = change.to
      }
      assert.strictEqual(from, snap.concurrency.max)
      // Only changes: with 2 calls at a time the limit grows 2 → 3 → 4 → 5 and stops there
      // (2 in use is less than half of 5), however many more rounds succeed.
      assert.deepStrictEqual(changes.map((c) => c.to), [3, 4, 5])
    }).pipe(
      Effect.provide(CircuitRegistry.layer({
        defaults: { maxConcurrentRequests: { adaptive: "aimd", min: 1, max: 10, initial: 2 } }
      }))
    ))

  it.effect("configure: other fields keep the learned limit; new limit settings start again; a number turns it off", () =>
    Effect.gen(function*() {
      yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(Effect.exit(slow(5_000))))
      yield* TestClock.adjust("1 second") // three timeouts: one decrease, 4 → 2
      assert.strictEqual((yield* Circuit.snapshot("a")).concurrency.max, 2)
      yield* Circuit.configure("a", { errorPercentThreshold: 90 })
      assert.strictEqual((yield* Circuit.snapshot("a")).concurrency.max, 2)
      yield* Circuit.configure("a", { maxConcurrentRequests: { initial: 6 } })
      assert.deepStrictEqual((yield* Circuit.snapshot("a")).concurrency, { active: 0, max: 6, algorithm: "aimd" })
      yield* Circuit.configure("a", { maxConcurrentRequests: 7 })
      assert.deepStrictEqual((yield* Circuit.snapshot("a")).concurrency, { active: 0, max: 7, algorithm: "fixed" })
      const refused = yield* Effect.flip(Circuit.configure("a", { maxConcurrentRequests: { min: 3 } }))
      assert.strictEqual(refused.field, "maxConcurrentRequests.adaptive")
      assert.strictEqual((yield* Circuit.snapshot("a")).concurrency.max, 7)
    }).pipe(
      Effect.provide(CircuitRegistry.layer({
        defaults: { timeout: "1 second", maxConcurrentRequests: { adaptive: "aimd", min: 1, max: 10, initial: 4, backoffRatio: 0.5 } }
      }))
    ))

  it.effect("the Hystrix stream's semaphore limit is the live limit, and says where it comes from", () =>
    Effect.gen(function*() {
      yield* Effect.forEach([1, 2, 3, 4], () => Effect.forkChild(Effect.exit(slow(5_000))))
      yield* TestClock.adjust("1 second")
      const registry = yield* CircuitRegistry
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      const command = HystrixStream.commandOf(registry.lookup("a")!, now)
      assert.strictEqual(command.propertyValue_executionIsolationSemaphoreMaxConcurrentRequests, 2)
      assert.strictEqual(command.concurrencyLimit, "aimd")
      const pool = HystrixStream.threadPoolOf(registry.lookup("a")!, now)
      assert.strictEqual(pool.currentMaximumPoolSize, 2)
      const fixed = HystrixStream.commandOf(registry.cell("f", now), now)
      assert.deepStrictEqual([fixed.propertyValue_executionIsolationSemaphoreMaxConcurrentRequests, fixed.concurrencyLimit], [10, "fixed"])
    }).pipe(
      Effect.provide(CircuitRegistry.layer({
        circuits: {
          a: { timeout: "1 second", maxConcurrentRequests: { adaptive: "aimd", min: 1, max: 10, initial: 4, backoffRatio: 0.5 } }
        }
      }))
    ))

  it.effect("the concurrency-limit gauge reads the live limit and its algorithm; a circuit without a limit has no series", () =>
    Effect.gen(function*() {
      const gauge = Effect.map(PrometheusMetrics.format(), (text) => {
        const series = new Map<string, number>()
        for (const line of text.split("\n")) {
          const match = /^(effect_circuit_concurrency_limit\{[^}]*\}) (\S+)$/.exec(line)
          if (match !== null) series.set(match[1]!, Number(match[2]!))
        }
        return series
      })
      yield* Effect.forEach(["a", "f", "u"], (name) => Effect.exit(slow(0, name)))
      assert.deepStrictEqual(
        yield* gauge,
        new Map([
          ["effect_circuit_concurrency_limit{circuit=\"a\",algorithm=\"aimd\"}", 4],
          ["effect_circuit_concurrency_limit{circuit=\"f\",algorithm=\"fixed\"}", 10]
        ])
      )
      yield* Effect.forEach([1, 2, 3, 4], () => Effect.forkChild(Effect.exit(slow(5_000))))
      yield* TestClock.adjust("1 second") // four timeouts: one decrease, 4 → 2
      assert.strictEqual((yield* gauge).get("effect_circuit_concurrency_limit{circuit=\"a\",algorithm=\"aimd\"}"), 2)
    }).pipe(
      Effect.provide(CircuitRegistry.layer({
        circuits: {
          a: { timeout: "1 second", maxConcurrentRequests: { adaptive: "aimd", min: 1, max: 10, initial: 4, backoffRatio: 0.5 } },
          u: { maxConcurrentRequests: Infinity }
        }
      })),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ))
})

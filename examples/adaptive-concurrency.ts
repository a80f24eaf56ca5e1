/**
 * An adaptive concurrency limit: instead of a fixed `maxConcurrentRequests`,
 * the circuit learns how many calls a dependency can take, and follows it
 * when that changes.
 *
 * The dependency here serves 20 calls at once in 100 ms; past that, calls
 * share it and each takes longer (queueing). It gets 30 calls per 100 ms,
 * more than it can serve, and after 5 seconds its capacity halves to 10.
 * The gradient limit compares each call's latency with the no-load latency:
 * it settles near 20, then near 10, and keeps latency close to 100 ms. A
 * fixed limit of 80 under the same load lets every call queue into its
 * timeout, until the breaker opens and cuts the dependency off entirely.
 * Runs on `TestClock`, so it takes no real time.
 *
 * Run: npm run example -- adaptive-concurrency
 */
import { Effect, Exit, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, type CircuitConfigInput, CircuitRegistry, withCircuit } from "effect-circuit"

const latency = 100
const dependency = { capacity: 20, inFlight: 0 }

// The dependency: 100 ms alone, longer once more than `capacity` calls share it.
const callDependency = Effect.suspend(() => {
  dependency.inFlight++
  const millis = Math.round(latency * Math.max(1, dependency.inFlight / dependency.capacity))
  return Effect.sleep(millis).pipe(Effect.ensuring(Effect.sync(() => dependency.inFlight--)))
})

const run = (maxConcurrentRequests: CircuitConfigInput["maxConcurrentRequests"]) =>
  Effect.gen(function*() {
    dependency.capacity = 20
    const guarded = callDependency.pipe(withCircuit("inventory"))
    const results: Array<{ readonly ok: boolean; readonly millis: number; readonly at: number }> = []
    const call = Effect.gen(function*() {
      const start = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      const exit = yield* Effect.exit(guarded)
      const end = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      if (Exit.isSuccess(exit) || exit.cause.reasons.some((r) => r._tag === "Fail" && r.error._tag === "CircuitTimeoutError")) {
        results.push({ ok: Exit.isSuccess(exit), millis: end - start, at: start })
      }
    })
    let changes = 0
    const watcher = yield* Circuit.limitChanges.pipe(Stream.runForEach(() => Effect.sync(() => changes++)), Effect.forkChild)
    yield* Effect.yieldNow

    const summary = (from: number, to: number) => {
      const window = results.filter((r) => r.at >= from && r.at < to)
      const sorted = window.map((r) => r.millis).sort((a, b) => a - b)
      const p99 = sorted[Math.ceil(0.99 * sorted.length) - 1] ?? 0
      const ok = window.filter((r) => r.ok).length
      return window.length === 0
        ? "no call reached the dependency"
        : `p99 ${p99} ms, ${(ok / ((to - from) / 1000)).toFixed(0)} successes/s`
    }
    for (let at = 0; at < 8_000; at += 10) {
      if (at === 5_000) dependency.capacity = 10
      for (let i = 0; i < 3; i++) yield* Effect.forkChild(call)
      yield* TestClock.adjust(10)
      if (at === 4_990 || at === 7_990) {
        const snapshot = yield* Circuit.snapshot("inventory")
        console.log(
          `capacity ${dependency.capacity}: limit ${snapshot.concurrency.max} (${snapshot.concurrency.algorithm}), circuit ${snapshot.state}, ${
            summary(at - 2_000, at)
          }`
        )
      }
    }
    yield* TestClock.adjust(1_000)
    yield* Fiber.interrupt(watcher)
    if (typeof maxConcurrentRequests === "object") console.log(`${changes} limit changes published`)
  }).pipe(
    // Rejections count as errors of the window, as in Hystrix: a limit that
    // sheds two thirds of the load would trip the default 50 % (and so would
    // the first round trip, when nothing has succeeded yet). This circuit
    // trips only when 80 % of at least 100 calls fail, time out or are rejected.
    Effect.provide(CircuitRegistry.layer({
      defaults: { maxConcurrentRequests, timeout: "300 millis", errorPercentThreshold: 80, requestVolumeThreshold: 100 }
    })),
    Effect.provide(TestClock.layer())
  )

const program = Effect.gen(function*() {
  console.log("gradient:")
  yield* run({ adaptive: "gradient", min: 1, max: 200, initial: 10 })
  console.log("fixed limit of 80:")
  yield* run(80)
})

Effect.runPromise(program)

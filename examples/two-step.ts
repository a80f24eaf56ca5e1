/**
 * Two-step calls: admit, then report, for work that is not one effect
 * (gobreaker's TwoStepCircuitBreaker, hystrix-go's ReportEvent).
 *
 * 1. A streamed response (Effect): the permit covers the whole stream, not
 *    just the first byte. A stream that stalls past the circuit's timeout is
 *    stopped by racing it against `permit.expired`, and counts as a timeout.
 * 2. A callback API (Promise code): `circuits.admit` before the call, a
 *    report in the callback. A callback that never comes is bounded by the
 *    timeout: `timeout` recorded, `signal` aborted, the permit given back.
 *
 * Run: node examples/two-step.ts
 */
import { Effect, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitRegistry } from "effect-circuit"
import { CircuitClock, CircuitPromise } from "effect-circuit/promise"

// 1. A streamed response -----------------------------------------------------

// A feed that sends `chunks` chunks, one every 100 ms, then ends.
const feed = (chunks: number) =>
  Stream.range(1, chunks).pipe(Stream.tap(() => Effect.sleep("100 millis")), Stream.map((n) => `chunk ${n}`))

// The permit is scoped: whatever happens, the call has exactly one outcome.
const readFeed = (chunks: number) =>
  Effect.scoped(Effect.gen(function*() {
    const permit = yield* Circuit.admit("feed")
    const body = yield* Stream.runCollect(feed(chunks)).pipe(
      Effect.raceFirst(permit.expired), // stop the stream at the circuit's timeout
      Effect.onExit(permit.report) // success, or the failure, once
    )
    return `${body.length} chunks`
  }))

const streamed = Effect.gen(function*() {
  const short = yield* Effect.forkChild(readFeed(3))
  yield* TestClock.adjust("1 second")
  console.log(`short feed: ${yield* Fiber.join(short)}`)
  const stalled = yield* Effect.forkChild(Effect.flip(readFeed(50)))
  yield* TestClock.adjust("1 second")
  console.log(`stalled feed: ${(yield* Fiber.join(stalled))._tag}`)
  const { window } = yield* Circuit.snapshot("feed")
  console.log(`feed window: ${window.success} success, ${window.timeout} timeout`)
}).pipe(
  Effect.provide(CircuitRegistry.layer({ circuits: { feed: { timeout: "1 second" } } })),
  Effect.provide(TestClock.layer())
)

// 2. A callback API ----------------------------------------------------------

// A legacy client that answers through a callback, after `millis` (or never).
const legacyLookup = (
  clock: CircuitClock.ManualClock,
  millis: number | undefined,
  callback: (error: Error | null, value?: string) => void
): void => {
  if (millis !== undefined) clock.setTimer(() => callback(null, "found"), millis)
}

const callbacks = async () => {
  const clock = CircuitClock.manual()
  const circuits = CircuitPromise.make({ clock, circuits: { directory: { timeout: "500 millis" } } })
  circuits.subscribe({ event: (event) => console.log(`directory event: ${event.kind}`) })

  for (const millis of [100, undefined]) {
    const permit = await circuits.admit("directory")
    permit.signal.addEventListener("abort", () => console.log("directory: no answer, call abandoned"))
    legacyLookup(clock, millis, (error, value) => {
      if (error !== null) permit.failure(error)
      else if (permit.success()) console.log(`directory: ${value}`)
    })
    await clock.advance(600)
  }
  console.log(`directory permits in use: ${circuits.snapshot("directory").concurrency.active}`)
  circuits.close()
}

await Effect.runPromise(streamed)
await callbacks()

/**
 * A count window: the circuit judges the last N calls, however far apart in
 * time (resilience4j COUNT_BASED, cockatiel CountBreaker). Useful for a
 * downstream called a few times an hour, which a 10 s time window never sees.
 *
 * Run: node examples/count-window.ts
 */
import { Data, Effect } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitRegistry, withCircuit } from "effect-circuit"

class ReportFailed extends Data.TaggedError("ReportFailed")<{}> {}

const report = (ok: boolean): Effect.Effect<string, ReportFailed> =>
  ok ? Effect.succeed("report") : Effect.fail(new ReportFailed())
const nightly = (ok: boolean) => report(ok).pipe(withCircuit("reports"), Effect.ignore)

const program = Effect.gen(function*() {
  for (const ok of [true, false, true, false]) {
    yield* nightly(ok)
    yield* TestClock.adjust("6 hours") // a time window would have forgotten every call
  }
  const snapshot = yield* Circuit.snapshot("reports")
  console.log(`last ${snapshot.window.total} calls, ${snapshot.window.errors} failed: ${snapshot.state}`)
}).pipe(
  Effect.provide(CircuitRegistry.layer({
    circuits: { reports: { rollingWindow: { calls: 4 }, requestVolumeThreshold: 4, sleepWindow: "1 hour" } }
  })),
  Effect.provide(TestClock.layer())
)

Effect.runPromise(program)

/**
 * Trip after N failures in a row (gobreaker ReadyToTrip, cockatiel
 * ConsecutiveBreaker, effect/persistence `consecutive(n)`), alongside the
 * error percentage: whichever comes first.
 *
 * Run: node examples/consecutive-failures.ts
 */
import { Data, Effect } from "effect"
import { Circuit, CircuitRegistry, withCircuit } from "effect-circuit"

class LedgerDown extends Data.TaggedError("LedgerDown")<{}> {}

const entry = (ok: boolean): Effect.Effect<string, LedgerDown> =>
  ok ? Effect.succeed("posted") : Effect.fail(new LedgerDown())
const post = (ok: boolean) => entry(ok).pipe(withCircuit("ledger"), Effect.ignore)

const program = Effect.gen(function*() {
  for (const ok of [false, false, true, false, false]) yield* post(ok)
  console.log(`2 in a row, a success, 2 in a row: ${(yield* Circuit.snapshot("ledger")).state}`)
  yield* post(false)
  console.log(`3 in a row: ${(yield* Circuit.snapshot("ledger")).state}`)
}).pipe(
  // 20 requests would be needed for the percentage rule; 3 failures in a row are enough.
  Effect.provide(CircuitRegistry.layer({ circuits: { ledger: { consecutiveFailures: 3 } } }))
)

Effect.runPromise(program)

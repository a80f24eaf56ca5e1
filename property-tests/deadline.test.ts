/**
 * The deadline queue (src/internal/deadline.ts) on its own, under TestClock:
 * random deadlines in any order (as a shorter timeout set at run time makes
 * them), cancellations and clock moves. After every move, exactly the live
 * entries whose deadline has passed have fired, each once; cancelled ones
 * never fire; and once nothing is pending no watcher is left.
 */
import { describe, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { Deadlines, type Entry } from "../src/internal/deadline.ts"

type Step =
  | { readonly _tag: "Add"; readonly delay: number }
  | { readonly _tag: "Cancel"; readonly pick: number }
  | { readonly _tag: "Advance"; readonly millis: number }

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ _tag: fc.constant("Add" as const), delay: fc.integer({ min: 0, max: 1000 }) }),
  fc.record({ _tag: fc.constant("Cancel" as const), pick: fc.nat() }),
  fc.record({ _tag: fc.constant("Advance" as const), millis: fc.integer({ min: 0, max: 400 }) })
)

interface Tracked {
  readonly deadline: number
  readonly entry: Entry
  cancelled: boolean
  fired: number
}

const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)

describe("the deadline queue", () => {
  it("fires exactly the live entries whose deadline has passed, once each", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 60 }), async (steps) => {
        const program = Effect.gen(function*() {
          const context = yield* Effect.context<never>()
          const clock = yield* Effect.withFiber((fiber) => Effect.succeed(fiber.getRef(Clock.Clock)))
          const queue = new Deadlines()
          const tracked: Array<Tracked> = []
          const check = (now: number, where: string) => {
            for (const [i, t] of tracked.entries()) {
              const due = !t.cancelled && t.deadline <= now
              if (t.fired > 1) throw new Error(`${where}: entry ${i} fired ${t.fired} times`)
              if (t.cancelled && t.fired > 0) throw new Error(`${where}: cancelled entry ${i} fired`)
              if (due && t.fired !== 1) throw new Error(`${where}: entry ${i} (deadline ${t.deadline}) not fired at ${now}`)
              if (!t.cancelled && t.deadline > now && t.fired !== 0) {
                throw new Error(`${where}: entry ${i} (deadline ${t.deadline}) fired early, at ${now}`)
              }
            }
          }
          for (const step of steps) {
            const now = yield* Clock.currentTimeMillis
            if (step._tag === "Add") {
              const t: Tracked = { deadline: now + step.delay, entry: undefined!, cancelled: false, fired: 0 }
              ;(t as { entry: Entry }).entry = queue.add(now + step.delay, () => {
                t.fired++
              }, context, clock)
              tracked.push(t)
            } else if (step._tag === "Cancel") {
              const live = tracked.filter((t) => !t.cancelled && t.fired === 0)
              const t = live[step.pick % Math.max(1, live.length)]
              if (t !== undefined) {
                t.cancelled = true
                queue.cancel(t.entry)
              }
            } else {
              yield* TestClock.adjust(step.millis)
            }
            yield* settle
            check(yield* Clock.currentTimeMillis, step._tag)
          }
          // Everything still pending fires; then nothing is left behind.
          yield* TestClock.adjust(2000)
          yield* settle
          check(yield* Clock.currentTimeMillis, "end")
          if (queue.size !== 0) throw new Error(`${queue.size} entries left`)
          if (queue.armed) throw new Error("a watcher is left with nothing pending")
        })
        await Effect.runPromise(program.pipe(Effect.provide(TestClock.layer())))
      }),
      { numRuns: 500 }
    )
  })
})

/**
 * The deadline queue (src/internal/deadline.ts) on its own, under two
 * TestClocks at once (a registry shared by fibers on different clocks keeps
 * one queue per clock): random deadlines in any order (circuits have
 * different timeouts, and a timeout can be lowered while calls run), calls
 * without a timeout, cancellations and moves of either clock. After every
 * step, under each clock:
 *
 * - exactly the live entries whose deadline has passed on *their* clock have
 *   fired, each once; cancelled ones never fire, and no entry fires early;
 * - a timer (or watcher fiber) is held while an entry with a finite deadline
 *   is live, and none once nothing is pending (issue 11, item 7);
 * - the heap holds no more than about twice the live entries (dead ones are
 *   dropped), and the registry's set of busy queues is exactly the queues
 *   with a call in flight;
 * - `close` answers every live entry once and leaves nothing.
 */
import { describe, it } from "@effect/vitest"
import { Clock, Context, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { Deadlines, type Entry } from "../src/internal/deadline.ts"

type Step =
  | { readonly _tag: "Add"; readonly clock: 0 | 1; readonly delay: number }
  | { readonly _tag: "Cancel"; readonly pick: number }
  | { readonly _tag: "Advance"; readonly clock: 0 | 1; readonly millis: number }

const clockArb = fc.constantFrom(0 as const, 1 as const)
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    arbitrary: fc.record({
      _tag: fc.constant("Add" as const),
      clock: clockArb,
      delay: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 1000 }), weight: 9 }, {
        arbitrary: fc.constant(Infinity),
        weight: 1
      })
    }),
    weight: 3
  },
  { arbitrary: fc.record({ _tag: fc.constant("Cancel" as const), pick: fc.nat() }), weight: 2 },
  {
    arbitrary: fc.record({
      _tag: fc.constant("Advance" as const),
      clock: clockArb,
      millis: fc.integer({ min: 0, max: 400 })
    }),
    weight: 2
  }
)

interface Tracked {
  readonly clock: 0 | 1
  readonly deadline: number
  readonly entry: Entry
  cancelled: boolean
  fired: number
  closed: number
}

const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)

describe("the deadline queue", () => {
  it("fires exactly the live entries whose deadline has passed on their clock, once each, and holds no timer when idle", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 80 }), fc.boolean(), async (steps, closeAtEnd) => {
        const program = Effect.gen(function*() {
          const contexts = [yield* Layer.build(TestClock.layer()), yield* Layer.build(TestClock.layer())] as const
          const clocks = contexts.map((c) => Context.get(c as Context.Context<never>, Clock.Clock))
          const busy = new Set<Deadlines>()
          const queues = clocks.map((clock) => new Deadlines(clock, busy))
          const nowOf = (i: 0 | 1) => Clock.currentTimeMillis.pipe(Effect.provide(contexts[i]))
          const tracked: Array<Tracked> = []
          const check = (now: ReadonlyArray<number>, where: string) => {
            for (const [i, t] of tracked.entries()) {
              const at = now[t.clock]!
              const due = !t.cancelled && t.deadline <= at
              if (t.fired > 1) throw new Error(`${where}: entry ${i} fired ${t.fired} times`)
              if (t.cancelled && t.fired > 0) throw new Error(`${where}: cancelled entry ${i} fired`)
              if (due && t.fired !== 1) {
                throw new Error(`${where}: entry ${i} (clock ${t.clock}, deadline ${t.deadline}) not fired at ${at}`)
              }
              if (!t.cancelled && t.deadline > at && t.fired !== 0) {
                throw new Error(`${where}: entry ${i} (clock ${t.clock}, deadline ${t.deadline}) fired early, at ${at}`)
              }
            }
            for (const c of [0, 1] as const) {
              const pending = tracked.filter((t) => t.clock === c && !t.cancelled && t.fired === 0)
              const queue = queues[c]!
              if (queue.size !== pending.length) throw new Error(`${where}: queue ${c} has ${queue.size}, expected ${pending.length}`)
              const timed = pending.some((t) => t.deadline !== Infinity)
              // Armed whenever a deadline is pending; never with nothing pending. (A
              // timer armed for a call that ended early may stay until that
              // deadline, where it re-arms for the next or stops: re-arming at
              // every early end would cost a timer per call.)
              if (timed && !queue.armed) throw new Error(`${where}: queue ${c} not armed with a deadline pending`)
              if (pending.length === 0 && queue.armed) throw new Error(`${where}: queue ${c} armed with nothing pending`)
              if (queue.held > 2 * pending.length + 65) throw new Error(`${where}: queue ${c} holds ${queue.held} for ${pending.length}`)
              if (busy.has(queue) !== pending.length > 0) throw new Error(`${where}: busy set wrong for queue ${c}`)
            }
          }
          const now = () => Effect.all([nowOf(0), nowOf(1)])
          for (const step of steps) {
            if (step._tag === "Add") {
              const start = yield* nowOf(step.clock)
              const t: Tracked = {
                clock: step.clock,
                deadline: start + step.delay,
                entry: undefined!,
                cancelled: false,
                fired: 0,
                closed: 0
              }
              const entry: Entry = {
                deadline: start + step.delay,
                live: false,
                onDeadline: () => {
                  t.fired++
                },
                onClose: () => {
                  t.closed++
                }
              }
              ;(t as { entry: Entry }).entry = entry
              tracked.push(t)
              queues[step.clock]!.add(entry, contexts[step.clock] as Context.Context<never>)
            } else if (step._tag === "Cancel") {
              const live = tracked.filter((t) => !t.cancelled && t.fired === 0)
              const t = live[step.pick % Math.max(1, live.length)]
              if (t !== undefined) {
                t.cancelled = true
                queues[t.clock]!.cancel(t.entry)
              }
            } else {
              yield* TestClock.adjust(step.millis).pipe(Effect.provide(contexts[step.clock]))
            }
            yield* settle
            check(yield* now(), step._tag)
          }
          if (closeAtEnd) {
            const pending = tracked.filter((t) => !t.cancelled && t.fired === 0)
            for (const queue of Array.from(busy)) queue.close()
            for (const t of tracked) {
              const expected = pending.includes(t) ? 1 : 0
              if (t.closed !== expected) throw new Error(`close: entry answered ${t.closed} times, expected ${expected}`)
            }
            for (const t of pending) t.cancelled = true
          } else {
            // Everything with a deadline still pending fires; then nothing is left behind.
            for (const c of [0, 1] as const) yield* TestClock.adjust(2000).pipe(Effect.provide(contexts[c]))
            yield* settle
            for (const t of tracked) if (t.deadline === Infinity && !t.cancelled) {
              t.cancelled = true
              queues[t.clock]!.cancel(t.entry)
            }
          }
          check(yield* now(), "end")
          for (const queue of queues) {
            if (queue.size !== 0 || queue.armed || busy.size !== 0) throw new Error("something left behind")
          }
        })
        await Effect.runPromise(Effect.scoped(program))
      }),
      { numRuns: 500 }
    )
  })
})

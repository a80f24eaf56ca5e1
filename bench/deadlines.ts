/**
 * Deadline bookkeeping under a timeout lowered at run time (issue 11, item 9).
 *
 * `n` calls are queued with a 10 s timeout, then the timeout is lowered to
 * 1 s and `n` more are queued: each of the second batch's deadlines is
 * earlier than every deadline already queued. That is the worst case for a
 * queue kept sorted by insertion (each add shifts the queue: O(n)) and an
 * ordinary case for a heap (O(log n)). Timed: the adds alone, on the
 * registry's internal queue (no fibers, so the figure is the bookkeeping and
 * not the runtime), then the cancellation of every entry.
 *
 * Run: `node bench/deadlines.ts [n]` (default 30,000). It also runs against
 * the queue of before issue 11 (one FIFO per circuit with sorted inserts),
 * whose `add` took four arguments.
 */
import { Clock, Effect } from "effect"
import { Deadlines } from "../src/internal/deadline.ts"

const n = Number(process.argv[2] ?? 30_000)
const context = Effect.runSync(Effect.context<never>())
const clock = Effect.runSync(Clock.clockWith(Effect.succeed))
// The queue of before issue 11 measured deadlines on wall time, this one on
// monotonic time (`performance.now()` for the default clock): deadlines in
// the future on each.
const oldShape = (new (Deadlines as unknown as new(...args: Array<unknown>) => { add: { length: number } })(clock)).add.length === 4
const base = oldShape ? Date.now() : performance.now()

// Both shapes of the queue's API.
const make = (): { add: (deadline: number) => unknown; cancel: (entry: unknown) => void } => {
  const Queue = Deadlines as unknown as new(...args: Array<unknown>) => {
    add: (...args: Array<unknown>) => unknown
    cancel: (entry: unknown) => void
  }
  const queue = new Queue(clock)
  if (oldShape) {
    return { add: (deadline) => queue.add(deadline, () => {}, context, clock), cancel: (e) => queue.cancel(e) }
  }
  return {
    add: (deadline) => {
      const entry = { deadline, live: false, onDeadline: () => {}, onClose: () => {} }
      queue.add(entry, context)
      return entry
    },
    cancel: (e) => queue.cancel(e)
  }
}

for (let round = 0; round < 3; round++) {
  const queue = make()
  const entries: Array<unknown> = []
  let t = performance.now()
  for (let i = 0; i < n; i++) entries.push(queue.add(base + 10_000 + i / 1000))
  const first = performance.now() - t
  t = performance.now()
  for (let i = 0; i < n; i++) entries.push(queue.add(base + 1_000 + i / 1000))
  const second = performance.now() - t
  t = performance.now()
  for (const entry of entries) queue.cancel(entry)
  if (round === 2) (queue as unknown as { shutdown?: () => void }).shutdown?.()
  const cancel = performance.now() - t
  const per = (ms: number) => `${(ms * 1e6 / n).toFixed(0)} ns/op`
  console.log(
    `n=${n} round ${round + 1}: adds at 10 s ${first.toFixed(1)} ms (${per(first)}); ` +
      `adds at 1 s after them ${second.toFixed(1)} ms (${per(second)}); cancel all ${cancel.toFixed(1)} ms (${per(cancel / 2)})`
  )
}

/**
 * The calls in flight of a registry under one `Clock`, and one timer over
 * their deadlines, instead of a timer (and a racing fiber) per call.
 *
 * - A binary min-heap on the deadline: adding is O(log n) whatever the order
 *   of the deadlines (circuits have different timeouts, and a timeout can be
 *   lowered while calls run). A call that ends first is only marked dead
 *   (O(1)); dead entries are dropped when they reach the top, or all at once
 *   when they outnumber the live ones (O(n) then, O(1) amortised per call),
 *   so the heap never holds more than about twice the calls in flight.
 * - One timer, armed for the earliest live deadline and re-armed only for an
 *   earlier one. When no call is left in flight the timer is cancelled at
 *   once: an idle registry holds no timer and no fiber.
 * - Times are the clock's monotonic milliseconds (see `time.ts`). One queue
 *   per clock: a registry shared by fibers on different clocks (tests that each
 *   have a `TestClock`) keeps each clock's deadlines on that clock.
 * - On Effect's default clock the timer is a plain `setTimeout`; on any other
 *   clock it is a fiber sleeping on that clock, so `TestClock` drives it.
 * - Every call in flight is here, with or without a timeout (`Infinity`): the
 *   registry's close answers them all (`close`).
 *
 * @internal
 */
import { type Clock, type Context, Effect, type Fiber } from "effect"
import { isDefaultClock, monotonicMillis } from "./time.ts"

/** One call in flight. */
export interface Entry {
  /** Monotonic milliseconds; `Infinity` when the call has no timeout. */
  readonly deadline: number
  /** True from `add` until it fires, is cancelled or is closed. */
  live: boolean
  /** Called once, at the deadline. */
  readonly onDeadline: () => void
  /** Called once, if the registry closes while the call is in flight. */
  readonly onClose: () => void
}

// setTimeout's largest delay; a longer one wakes early and re-arms.
const MAX_TIMER_MILLIS = 2 ** 31 - 1

export class Deadlines {
  private heap: Array<Entry> = []
  private liveCount = 0
  private armedFor = Infinity
  private timer: ReturnType<typeof setTimeout> | undefined = undefined
  private watcher: Fiber.Fiber<void> | undefined = undefined
  private context: Context.Context<never> | undefined = undefined
  private readonly native: boolean
  readonly clock: Clock.Clock
  private readonly busy: Set<Deadlines> | undefined

  /**
   * @param busy the registry's set of queues with calls in flight: a queue
   * is in it exactly while it has one.
   */
  constructor(clock: Clock.Clock, busy?: Set<Deadlines>) {
    this.clock = clock
    this.busy = busy
    this.native = isDefaultClock(clock)
  }

  /**
   * Adds a call in flight. `context` (whose Clock is this queue's) runs the
   * watcher fiber on a non-default clock.
   */
  add(entry: Entry, context: Context.Context<never>): void {
    entry.live = true
    this.push(entry)
    if (this.liveCount++ === 0) this.busy?.add(this)
    if (entry.deadline < this.armedFor) {
      this.context = context
      this.arm()
    }
  }

  /** The call ended before its deadline. */
  cancel(entry: Entry): void {
    if (!entry.live) return
    entry.live = false
    if (--this.liveCount === 0) return this.idle()
    const heap = this.heap
    // Dead entries outnumber live ones: rebuild from the live ones.
    if (heap.length > 64 && heap.length > 2 * this.liveCount) {
      this.heap = heap.filter((e) => e.live)
      for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i)
    }
  }

  /**
   * The registry is closing: answers every call in flight (`onClose`), then
   * holds nothing.
   */
  close(): void {
    const entries = this.heap
    this.heap = []
    this.liveCount = 0
    this.idle()
    for (const entry of entries) {
      if (!entry.live) continue
      entry.live = false
      entry.onClose()
    }
  }

  /** Calls in flight. */
  get size(): number {
    return this.liveCount
  }

  /** Entries held, dead ones included (for tests of the bound). */
  get held(): number {
    return this.heap.length
  }

  /** Whether a timer or watcher fiber is held. */
  get armed(): boolean {
    return this.timer !== undefined || this.watcher !== undefined
  }

  private idle(): void {
    this.heap = []
    this.disarm()
    this.busy?.delete(this)
  }

  private disarm(): void {
    this.armedFor = Infinity
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    const watcher = this.watcher
    if (watcher !== undefined) {
      this.watcher = undefined
      watcher.interruptUnsafe()
    }
  }

  // Arms the timer for the earliest live deadline, if it is not armed for it already.
  private arm(): void {
    const heap = this.heap
    while (heap.length > 0 && !heap[0]!.live) this.pop()
    const next = heap[0]
    if (next === undefined || next.deadline === Infinity) return this.disarm()
    if (next.deadline === this.armedFor && this.armed) return
    this.disarm()
    this.armedFor = next.deadline
    const delay = Math.max(0, next.deadline - monotonicMillis(this.clock))
    if (this.native) {
      this.timer = setTimeout(this.wake, Math.min(delay, MAX_TIMER_MILLIS))
    } else {
      const watcher = Effect.runForkWith(this.context!)(Effect.andThen(Effect.sleep(delay), Effect.sync(this.wake)))
      // It may have run to its end at once (no delay).
      if (watcher.pollUnsafe() === undefined && this.armedFor === next.deadline) this.watcher = watcher
    }
  }

  private readonly wake = (): void => {
    this.timer = undefined
    this.watcher = undefined
    this.armedFor = Infinity
    const now = monotonicMillis(this.clock)
    // Taken out first, then answered: an answer may add or cancel entries.
    const expired: Array<Entry> = []
    while (this.heap.length > 0) {
      const top = this.heap[0]!
      if (top.live && top.deadline > now) break
      this.pop()
      if (!top.live) continue
      top.live = false
      this.liveCount--
      expired.push(top)
    }
    if (this.liveCount === 0) this.idle()
    else this.arm()
    for (let i = 0; i < expired.length; i++) expired[i]!.onDeadline()
  }

  private push(entry: Entry): void {
    const heap = this.heap
    let i = heap.length
    heap.push(entry)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (heap[parent]!.deadline <= entry.deadline) break
      heap[i] = heap[parent]!
      i = parent
    }
    heap[i] = entry
  }

  private pop(): void {
    const heap = this.heap
    const last = heap.pop()!
    if (heap.length === 0) return
    heap[0] = last
    this.down(0)
  }

  private down(start: number): void {
    const heap = this.heap
    const n = heap.length
    const entry = heap[start]!
    let i = start
    while (true) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      const child = right < n && heap[right]!.deadline < heap[left]!.deadline ? right : left
      if (heap[child]!.deadline >= entry.deadline) break
      heap[i] = heap[child]!
      i = child
    }
    heap[i] = entry
  }
}

// Each registry's queues of calls in flight, one per clock. Kept out of the
// registry's public shape: only the shells (and tests) reach them.
const registries = new WeakMap<object, (clock: Clock.Clock) => Deadlines>()

/** Records `registry`'s queues (called once, when it is built). */
export const register = (registry: object, queues: (clock: Clock.Clock) => Deadlines): void => {
  registries.set(registry, queues)
}

/** The queue of calls in flight of `registry` under `clock`. */
export const deadlinesOf = (registry: object, clock: Clock.Clock): Deadlines => registries.get(registry)!(clock)

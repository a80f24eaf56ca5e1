/**
 * One timer per circuit over a queue of deadlines, instead of a timer (and a
 * racing fiber) per call.
 *
 * All calls of a circuit share its timeout, so their deadlines arrive in
 * order: the queue is a FIFO, adding is O(1), and a call that ends removes
 * itself by clearing its entry. A single watcher fiber sleeps (on the
 * `Clock` of the fiber that armed it, so `TestClock` drives it) until the
 * earliest live deadline, fires every expired entry, and ends when nothing
 * is pending: an idle circuit holds no fiber and no timer.
 *
 * A shorter timeout set at run time can put a deadline before the one the
 * watcher sleeps for; the entry is then inserted in order and the watcher
 * re-armed.
 *
 * @internal
 */
import { Clock, type Context, Effect, type Fiber } from "effect"

export interface Entry {
  readonly deadline: number
  /** Cleared when the call ended first. */
  fire: (() => void) | undefined
}

export class Deadlines {
  private queue: Array<Entry> = []
  private head = 0
  private watcher: Fiber.Fiber<void> | undefined = undefined
  private armedFor = Infinity
  private watcherClock: Clock.Clock | undefined = undefined

  /**
   * Schedules `fire` at `deadline`, running the watcher with `context`, whose
   * Clock is `clock`. A call under another Clock than the watcher's (a
   * registry shared by tests that each have their own TestClock) re-arms the
   * watcher on the new one: the old clock may never move again.
   */
  add(deadline: number, fire: () => void, context: Context.Context<never>, clock: Clock.Clock): Entry {
    const entry: Entry = { deadline, fire }
    this.skipCleared()
    const last = this.queue[this.queue.length - 1]
    if (last === undefined || last.deadline <= deadline) {
      this.queue.push(entry)
    } else {
      let i = this.queue.length
      while (i > this.head && this.queue[i - 1]!.deadline > deadline) i--
      this.queue.splice(i, 0, entry)
    }
    if (this.watcher === undefined) {
      this.arm(context, clock)
    } else if (deadline < this.armedFor || clock !== this.watcherClock) {
      const old = this.watcher
      this.watcher = undefined
      old.interruptUnsafe()
      this.arm(context, clock)
    }
    return entry
  }

  /** Removes a call that ended before its deadline. */
  cancel(entry: Entry): void {
    entry.fire = undefined
    this.skipCleared()
  }

  /**
   * Stops the watcher and forgets every entry, without firing them: used when
   * the registry's scope closes, so no timer outlives it.
   */
  shutdown(): void {
    const watcher = this.watcher
    this.watcher = undefined
    this.armedFor = Infinity
    this.queue = []
    this.head = 0
    watcher?.interruptUnsafe()
  }

  /** Entries still queued (live or not yet skipped), for tests. */
  get size(): number {
    return this.queue.length - this.head
  }

  get armed(): boolean {
    return this.watcher !== undefined
  }

  private skipCleared(): void {
    while (this.head < this.queue.length && this.queue[this.head]!.fire === undefined) this.head++
    if (this.head === this.queue.length) {
      this.queue = []
      this.head = 0
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head)
      this.head = 0
    }
  }

  private arm(context: Context.Context<never>, clock: Clock.Clock): void {
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      this.skipCleared()
      const next = this.queue[this.head]
      if (next === undefined) {
        this.watcher = undefined
        this.armedFor = Infinity
        return Effect.void
      }
      return Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (next.deadline > now) {
          this.armedFor = next.deadline
          return Effect.andThen(Effect.sleep(next.deadline - now), loop)
        }
        this.fireExpired(now)
        return loop
      })
    })
    this.armedFor = Infinity
    this.watcherClock = clock
    this.watcher = Effect.runForkWith(context)(loop)
    // It may have finished at once (nothing pending).
    if (this.watcher.pollUnsafe() !== undefined) this.watcher = undefined
  }

  private fireExpired(now: number): void {
    while (this.head < this.queue.length) {
      const entry = this.queue[this.head]!
      if (entry.fire !== undefined && entry.deadline > now) break
      this.head++
      const fire = entry.fire
      entry.fire = undefined
      if (fire !== undefined) fire()
    }
    this.skipCleared()
  }
}

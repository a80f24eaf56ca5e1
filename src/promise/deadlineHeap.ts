/**
 * The calls in flight of a Promise registry, ordered by deadline, behind one
 * timer.
 *
 * A binary min-heap: each entry knows its index, so a call that ends removes
 * itself at once (O(log n), n = calls in flight) and the heap never holds a
 * call that has ended. One timer, armed for the earliest deadline; a call
 * with no timeout has deadline `Infinity` and is held only so that `close`
 * can answer it. When the last call ends, the timer is left to run out
 * rather than cleared (clearing and re-arming per call would cost more than
 * the call): it then finds nothing due and is not re-armed, so an idle
 * registry holds no timer once the last deadline has passed.
 *
 * @internal
 */
import type { CircuitClock } from "./CircuitClock.ts"

export interface HeapEntry {
  deadline: number
  /** Position in the heap, -1 when not in it. */
  index: number
  /** The deadline passed (the entry is out of the heap by then). */
  expire(now: number): void
}

export class DeadlineHeap<E extends HeapEntry> {
  private readonly heap: Array<E> = []
  private timer: unknown = undefined
  private armedFor = Infinity
  private readonly clock: CircuitClock
  private readonly onTimer = (): void => {
    this.timer = undefined
    this.armedFor = Infinity
    const now = this.clock.now()
    const heap = this.heap
    while (heap.length > 0 && heap[0]!.deadline <= now) {
      const entry = this.pop()
      entry.expire(now)
    }
    this.rearm()
  }

  constructor(clock: CircuitClock) {
    this.clock = clock
  }

  get size(): number {
    return this.heap.length
  }

  get armed(): boolean {
    return this.timer !== undefined
  }

  add(entry: E): void {
    const heap = this.heap
    entry.index = heap.length
    heap.push(entry)
    this.up(entry.index)
    if (entry.deadline < this.armedFor) this.rearm()
  }

  remove(entry: E): void {
    const i = entry.index
    if (i < 0) return
    entry.index = -1
    const heap = this.heap
    const last = heap.pop()!
    if (i < heap.length) {
      heap[i] = last
      last.index = i
      this.down(i)
      this.up(last.index)
    }
  }

  /** Removes and returns every entry, and stops the timer. */
  drain(): Array<E> {
    const all = this.heap.splice(0)
    for (const entry of all) entry.index = -1
    this.stop()
    return all
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer)
    this.timer = undefined
    this.armedFor = Infinity
  }

  private rearm(): void {
    const next = this.heap[0]
    if (next === undefined || next.deadline === Infinity) return
    if (next.deadline >= this.armedFor) return
    if (this.timer !== undefined) this.clock.clearTimer(this.timer)
    this.armedFor = next.deadline
    this.timer = this.clock.setTimer(this.onTimer, next.deadline - this.clock.now())
  }

  private pop(): E {
    const heap = this.heap
    const top = heap[0]!
    top.index = -1
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      last.index = 0
      this.down(0)
    }
    return top
  }

  private up(i: number): void {
    const heap = this.heap
    const entry = heap[i]!
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = heap[parent]!
      if (p.deadline <= entry.deadline) break
      heap[i] = p
      p.index = i
      i = parent
    }
    heap[i] = entry
    entry.index = i
  }

  private down(i: number): void {
    const heap = this.heap
    const n = heap.length
    const entry = heap[i]!
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const child = r < n && heap[r]!.deadline < heap[l]!.deadline ? r : l
      const c = heap[child]!
      if (c.deadline >= entry.deadline) break
      heap[i] = c
      c.index = i
      i = child
    }
    heap[i] = entry
    entry.index = i
  }
}

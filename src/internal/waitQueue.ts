/**
 * The bounded wait queue in front of a circuit's bulkhead (`queueCapacity`,
 * `maxQueueWait`): calls that find every permit in use wait here, first come
 * first served, for one.
 *
 * - A doubly linked list through the waiters themselves: joining, leaving
 *   (an interrupted caller, an expired wait) and the hand-off are O(1), and
 *   the queue holds nothing but its waiters. It never holds more than
 *   `queueCapacity` of them: a call that finds it full is rejected at once,
 *   and a capacity lowered at run time rejects the newest waiters over it.
 * - A permit that comes back (a call ends, the limit grows, the settings
 *   change) goes to the first waiter, never to a call arriving meanwhile
 *   (`admit` sends a new call to the back while anyone waits). The circuit
 *   is asked again at the hand-off: a waiter whose circuit opened while it
 *   waited is short-circuited then, and the permit goes to the next.
 * - No timer of its own: each shell puts the waiter's deadline
 *   (`maxQueueWait`) in the queue of deadlines it already keeps for calls in
 *   flight, which also answers waiters when the registry closes.
 * - The shells differ only in how a waiter resumes; what happens to the
 *   circuit (events, the breaker's counts) is decided here.
 * - The cell reaches its queue only through the `Waiters` interface it
 *   declares (`cell.ts`), which `WaitQueue` implements: the cell never
 *   imports this module, so the queue may read cells and refuse waiters
 *   through `callPath.ts` without an import cycle.
 *
 * @internal
 */
import type { Clock } from "effect"
import type { CircuitOpenError, CircuitRejectedError } from "../errors.ts"
import { reject, shortCircuit } from "./callPath.ts"
import type { Cell, Waiters } from "./cell.ts"

/** One call waiting for a permit, as a shell keeps it. */
export interface Waiter {
  /** The neighbours in the queue (the queue's own links). */
  prev: Waiter | undefined
  next: Waiter | undefined
  /** True from `enqueue` until it leaves the queue, whichever way. */
  queued: boolean
  /** The breaker's generation when it joined: an expired wait is a rejection of that generation. */
  generation: number
  /** When it joined (the waiter's monotonic milliseconds). */
  queuedAt: number
  /** A fallback will answer a refusal (observers count refusals that reach the caller). */
  readonly hasFallback: boolean
  /** Stamps what a user sees (events, transitions) with wall time, when known. */
  readonly clock: Clock.Clock | undefined
  /** The waiter's clock now, in monotonic milliseconds. */
  now(): number
  /**
   * Handed a permit, already taken, at `now` in `generation`: the call starts
   * now (its timeout too). `inFlight`: the calls running, itself included.
   */
  admitted(now: number, generation: number, inFlight: number): void
  /**
   * Refused while it waited, already recorded: short-circuited at the
   * hand-off, or rejected by a queue that shrank under it.
   */
  refused(now: number, error: CircuitOpenError | CircuitRejectedError): void
}

/** The waiters of one circuit, oldest first: the cell's `waiters`. */
export class WaitQueue implements Waiters {
  head: Waiter | undefined = undefined
  tail: Waiter | undefined = undefined
  /** Waiters in the queue. */
  size = 0
  /** A hand-off is running (see `handOff`), and whether it should run again. */
  handingOff = false
  again = false
  private readonly cell: Cell

  constructor(cell: Cell) {
    this.cell = cell
  }

  handOff(): void {
    handOff(this.cell)
  }

  shrink(): void {
    shrink(this.cell)
  }

  push(waiter: Waiter): void {
    waiter.prev = this.tail
    waiter.next = undefined
    if (this.tail === undefined) this.head = waiter
    else this.tail.next = waiter
    this.tail = waiter
  }

  remove(waiter: Waiter): void {
    const { prev, next } = waiter
    if (prev === undefined) this.head = next
    else prev.next = next
    if (next === undefined) this.tail = prev
    else next.prev = prev
    waiter.prev = undefined
    waiter.next = undefined
  }
}

// The cell's queue: only `enqueue` sets the field, always to a WaitQueue.
const queueOf = (cell: Cell): WaitQueue | undefined => cell.waiters as WaitQueue | undefined

const out = (cell: Cell, waiter: Waiter): void => {
  waiter.queued = false
  const queue = queueOf(cell)!
  queue.remove(waiter)
  queue.size--
}

/**
 * The call joins the back of the queue at `now` (`admit` said there is room).
 * The shell then arms its deadline.
 */
export const enqueue = (cell: Cell, waiter: Waiter, now: number): void => {
  waiter.queued = true
  waiter.queuedAt = now
  waiter.generation = cell.generation
  const queue = queueOf(cell) ?? (cell.waiters = new WaitQueue(cell))
  queue.push(waiter)
  queue.size++
  cell.emit("queued", now, 0, false, waiter.clock)
}

/**
 * The waiter's caller went away (interrupted, aborted) at `now`: it leaves
 * the queue and takes nothing. Counted as an interruption, which is not a
 * request of the window. False if it had already left.
 */
export const leave = (cell: Cell, waiter: Waiter, now: number): boolean => {
  if (!waiter.queued) return false
  out(cell, waiter)
  cell.emit("interrupted", now, 0, false, waiter.clock)
  return true
}

/**
 * The registry closed under the waiter: it leaves the queue, and nothing is
 * recorded (as for a call in flight then).
 */
export const drop = (cell: Cell, waiter: Waiter): boolean => {
  if (!waiter.queued) return false
  out(cell, waiter)
  return true
}

/**
 * The waiter's `maxQueueWait` ran out at `now`: it leaves the queue,
 * rejected. A rejection is a request of the window, as a full queue's is.
 * Undefined if it had already left.
 */
export const expire = (cell: Cell, waiter: Waiter, now: number): CircuitRejectedError | undefined => {
  if (!waiter.queued) return undefined
  out(cell, waiter)
  return reject(cell, now, waiter.generation, waiter.hasFallback, waiter.clock, "queue-timeout", now - waiter.queuedAt)
}

/**
 * Hands free permits to the first waiters, in order, each asked to the
 * circuit again at its own `now`. Called whenever a permit may have come free
 * (a call ended, the limit grew, the settings changed). A hand-off that runs
 * a call at once can end it at once, which comes back here: that nested
 * call only asks the running loop for another turn, so the stack stays flat
 * however many waiters there are.
 */
export const handOff = (cell: Cell): void => {
  const queue = queueOf(cell)
  // The registry is closing (or dropped the circuit): its waiters are being answered.
  if (queue === undefined || queue.head === undefined || cell.retired) return
  if (queue.handingOff) {
    queue.again = true
    return
  }
  queue.handingOff = true
  try {
    do {
      queue.again = false
      while (queue.head !== undefined && cell.active < cell.maxConcurrent) {
        const waiter = queue.head
        out(cell, waiter)
        const now = waiter.now()
        const admission = cell.fleet === undefined ? cell.admit(now) : cell.fleet.admit(now)
        if (admission === "short-circuit") {
          waiter.refused(now, shortCircuit(cell, now, waiter.hasFallback, waiter.clock))
          continue
        }
        if (admission === "probe") cell.apply({ _tag: "ProbeAdmitted", at: now }, waiter.clock)
        if (++cell.active > cell.peak) cell.peak = cell.active
        waiter.admitted(now, cell.generation, cell.active)
      }
    } while (queue.again)
  } finally {
    queue.handingOff = false
  }
}

/**
 * The capacity was lowered under its waiters: the newest over it are
 * rejected (as they would have been, arriving at a queue that size), the
 * oldest keep their places.
 */
export const shrink = (cell: Cell): void => {
  const queue = queueOf(cell)
  const capacity = cell.config.queueCapacity
  while (queue !== undefined && queue.tail !== undefined && queue.size > capacity) {
    const waiter = queue.tail
    out(cell, waiter)
    const now = waiter.now()
    waiter.refused(now, reject(cell, now, waiter.generation, waiter.hasFallback, waiter.clock, "queue-full"))
  }
}

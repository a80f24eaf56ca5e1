/**
 * The registry's circuits by name, bounded by `capacity` and
 * `idleTimeToLive`, with no timer or fiber per circuit.
 *
 * - The `Map`'s insertion order is the eviction order (least recently queued
 *   first). A call only stamps `cell.lastUsed` (one field write on the hot
 *   path); the order is fixed up lazily, CLOCK-style: when the sweep meets a
 *   circuit used since it was queued, it moves it to the end instead of
 *   evicting it ("second chance").
 * - The sweep runs when a circuit is created, and examines at most
 *   `SWEEP_BUDGET` circuits from the head: O(1) per creation. It evicts a
 *   circuit that is idle (see `isIdle`) and either over `capacity` or unused
 *   for `idleTimeToLive`; a circuit that cannot be evicted now moves to the
 *   end, so the next sweeps look further. When every circuit is busy, open or
 *   pinned, the table may exceed `capacity` until some become idle: only idle
 *   circuits are ever evicted.
 * - An evicted cell is marked `retired`, so that a caller holding it (a
 *   guarded effect caches its last cell) looks the name up again.
 *
 * @internal
 */
import * as Breaker from "../core/Breaker.ts"
import * as Window from "../core/Window.ts"
import type { Cell } from "./cell.ts"

const SWEEP_BUDGET = 8

/**
 * Whether evicting `cell` at `now` loses nothing that matters: no call of it
 * is running; it is closed (not open, half-open or forced); it was neither
 * named in `circuits` nor configured at run time (`pinned`); and its window
 * holds no error (failure, timeout or rejection).
 *
 * Why no error: errors are what can still trip a circuit. A window with
 * errors in it could reach the error threshold with the next few outcomes,
 * and a fresh circuit would have to see them all again; such a circuit is
 * kept until its errors roll out of the window (`buckets × bucketDuration`,
 * 10 s by default). A window of successes only loses those successes, as if
 * they had rolled out early: a fresh circuit needs `requestVolumeThreshold`
 * requests again before it can trip.
 */
export const isIdle = (cell: Cell, now: number): boolean =>
  !cell.pinned && cell.active === 0 && cell.breaker.state._tag === "Closed" &&
  Window.totalErrors(Breaker.windowAt(cell.breaker, now)) === 0

export class CellTable {
  private readonly cells = new Map<string, Cell>()
  private readonly capacity: number
  private readonly idleMillis: number
  private readonly onEvict: (cell: Cell) => void

  constructor(capacity: number, idleMillis: number, onEvict: (cell: Cell) => void) {
    this.capacity = capacity
    this.idleMillis = idleMillis
    this.onEvict = onEvict
  }

  get(name: string): Cell | undefined {
    return this.cells.get(name)
  }

  get size(): number {
    return this.cells.size
  }

  names(): Array<string> {
    return Array.from(this.cells.keys())
  }

  values(): IterableIterator<Cell> {
    return this.cells.values()
  }

  /** Adds a new circuit at `now`, then makes room (amortised O(1)). */
  add(cell: Cell, now: number): void {
    cell.lastUsed = now
    cell.queuedAt = now
    this.cells.set(cell.name, cell)
    if (this.cells.size > this.capacity || this.idleMillis !== Infinity) this.sweep(cell, now)
  }

  private sweep(added: Cell, now: number): void {
    const cells = this.cells
    for (let budget = SWEEP_BUDGET; budget > 0; budget--) {
      const first = cells.values().next()
      if (first.done === true) return
      const cell = first.value
      // Gone round to the circuit being created: it is for its caller.
      if (cell === added) return
      const over = cells.size > this.capacity
      const expired = now - cell.lastUsed >= this.idleMillis
      if (!over && !expired) return
      // Over capacity, a circuit used since it was queued gets a second chance.
      if ((expired || cell.lastUsed <= cell.queuedAt) && isIdle(cell, now)) {
        cells.delete(cell.name)
        cell.retired = true
        this.onEvict(cell)
      } else {
        // Used since it was queued, or not evictable now: to the back.
        cells.delete(cell.name)
        cell.queuedAt = now
        cells.set(cell.name, cell)
      }
    }
  }
}

/**
 * One count, both since its start and over a rolling window of `buckets`
 * buckets of `bucketMillis` (the breaker's window shape): what the metrics
 * observer keeps of a rare event (fallback rejections) only once it happens,
 * so that circuits that never see it hold nothing for it.
 *
 * **Details**
 *
 * A ring of `buckets` slots, each an epoch and a count; a slot is emptied
 * when a later bucket takes it. Memory is O(buckets), whatever the rate.
 * An event older than the bucket its slot holds (time set back) is counted
 * in `total` only.
 *
 * @since 0.2.0
 * @internal
 */

/**
 * @since 0.2.0
 * @internal
 */
export class RollingCount {
  /** Events since it was created. */
  total = 0
  readonly buckets: number
  readonly bucketMillis: number
  private readonly epochs: Array<number>
  private readonly counts: Array<number>

  constructor(buckets: number, bucketMillis: number) {
    this.buckets = buckets
    this.bucketMillis = bucketMillis
    this.epochs = new Array<number>(buckets).fill(-Infinity)
    this.counts = new Array<number>(buckets).fill(0)
  }

  /** A new ring of another shape, keeping the total (the window's counts start empty). */
  reshaped(buckets: number, bucketMillis: number): RollingCount {
    const next = new RollingCount(buckets, bucketMillis)
    next.total = this.total
    return next
  }

  /** One event at `at`. */
  add(at: number): void {
    this.total++
    const epoch = Math.floor(at / this.bucketMillis)
    const i = ((epoch % this.buckets) + this.buckets) % this.buckets
    const held = this.epochs[i]!
    if (epoch < held) return
    if (epoch !== held) {
      this.epochs[i] = epoch
      this.counts[i] = 0
    }
    this.counts[i]!++
  }

  /** Events in the window at `now`: the buckets `now`'s and the `buckets - 1` before it. */
  sum(now: number): number {
    const current = Math.floor(now / this.bucketMillis)
    let sum = 0
    for (let i = 0; i < this.buckets; i++) {
      const epoch = this.epochs[i]!
      if (epoch <= current && epoch > current - this.buckets) sum += this.counts[i]!
    }
    return sum
  }
}

/**
 * Rolling latency percentiles with bounded memory: a log-linear bucketed
 * histogram per time bucket, merged when read.
 *
 * **Details**
 *
 * - A `RollingHistogram` keeps `buckets` time buckets of `bucketMillis` each
 *   (Hystrix: 6 buckets of 10 seconds). A sample lands in the time bucket of
 *   its own `at`; at time `now` the window holds the last `buckets` time
 *   buckets, the current one included, and a sample leaves the window a whole
 *   time bucket at a time (like the breaker's window).
 * - Each time bucket counts samples per value bucket. Values are whole
 *   milliseconds. Below `2·S` (with `S = 2^precision` sub-buckets) every value
 *   has a bucket of its own; above, each power of two `[2^e, 2^(e+1))` is cut
 *   into `S` buckets of equal width (log-linear, as in HdrHistogram).
 * - Recording is O(1): an index computed with `Math.clz32`, one increment.
 *   Nothing is sorted and no sample is kept. Reading merges the live time
 *   buckets and walks the counts once for all the percentiles asked.
 * - A percentile is the nearest-rank one (`exactPercentile`): the value of
 *   rank `⌈p/100 · n⌉` among the sorted samples; 0 is the smallest and 100
 *   the largest. The histogram reports the middle of the value bucket that
 *   holds that rank, clamped to the window's exact minimum and maximum, so
 *   `|estimate − exact| ≤ exact · relativeError(precision)`: exact below
 *   `2·S`, within `1/(2·S)` above (1/64 ≈ 1.6% at the default precision 5).
 *   The minimum (p0), the maximum (p100), the mean and the count are exact.
 *
 * **Gotchas**
 *
 * - Memory per histogram is bounded by `buckets · indexCount(precision)`
 *   counters whatever the number of samples (each time bucket only holds the
 *   range of value buckets it has seen), but it is not O(1): keep the number
 *   of time buckets small.
 * - Fractions of a millisecond are dropped, negative and non-finite values
 *   count as 0, values above `2^32 − 1` ms (49 days) share the last bucket.
 * - This is a mutable structure, for the hot path of every call; it has no
 *   clock and no Effect: time is the `at` it is given.
 *
 * **Example** (Percentiles over a rolling minute)
 *
 * ```ts
 * import { Percentiles } from "effect-circuit"
 *
 * const h = new Percentiles.RollingHistogram({ buckets: 6, bucketMillis: 10_000 })
 * for (let i = 1; i <= 100; i++) h.record(1_000, i)
 * const d = h.snapshot(1_000)
 * d.percentiles["50"] // 50
 * d.percentiles["99"] // 99
 * d.mean // 50.5
 * ```
 *
 * @since 0.1.0
 */

/**
 * The percentiles Hystrix reports: 0, 25, 50, 75, 90, 95, 99, 99.5 and 100.
 *
 * @since 0.1.0
 * @category constants
 */
export const hystrixPercentiles: ReadonlyArray<number> = [0, 25, 50, 75, 90, 95, 99, 99.5, 100]

/**
 * The default precision: 32 sub-buckets per power of two.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPrecision = 5

const MAX_VALUE = 0xffffffff

/**
 * The largest relative error of a percentile at this precision:
 * `1 / 2^(precision + 1)`.
 *
 * @since 0.1.0
 * @category queries
 */
export const relativeError = (precision: number = defaultPrecision): number => 1 / 2 ** (precision + 1)

/**
 * How many value buckets cover `[0, 2^32)` at this precision.
 *
 * @since 0.1.0
 * @category queries
 */
export const indexCount = (precision: number = defaultPrecision): number => (33 - precision) << precision

/**
 * The whole-millisecond value a sample is counted as.
 *
 * @since 0.1.0
 * @category queries
 */
export const normalize = (value: number): number =>
  value > 0 ? (value < MAX_VALUE ? Math.floor(value) : MAX_VALUE) : 0

/**
 * The value bucket of a normalized value.
 *
 * @since 0.1.0
 * @category queries
 */
export const indexOf = (value: number, precision: number = defaultPrecision): number => {
  if (value < 2 << precision) return value
  const shift = 31 - Math.clz32(value) - precision
  return (shift << precision) + (value >>> shift)
}

/**
 * The smallest value of a value bucket.
 *
 * @since 0.1.0
 * @category queries
 */
export const lowerBound = (index: number, precision: number = defaultPrecision): number => {
  if (index < 2 << precision) return index
  const shift = (index >>> precision) - 1
  return (index - (shift << precision)) * 2 ** shift
}

/**
 * How many whole values a value bucket holds.
 *
 * @since 0.1.0
 * @category queries
 */
export const bucketWidth = (index: number, precision: number = defaultPrecision): number =>
  index < 2 << precision ? 1 : 2 ** ((index >>> precision) - 1)

/**
 * The value a bucket reports: the middle of the whole values it holds.
 *
 * @since 0.1.0
 * @category queries
 */
export const representative = (index: number, precision: number = defaultPrecision): number =>
  lowerBound(index, precision) + (bucketWidth(index, precision) - 1) / 2

/**
 * The exact nearest-rank percentile of sorted values, the definition the
 * histogram estimates: rank `⌈p/100 · n⌉` (at least 1), 0 for no values.
 *
 * @since 0.1.0
 * @category queries
 */
export const exactPercentile = (sorted: ArrayLike<number>, p: number): number => {
  const n = sorted.length
  if (n === 0) return 0
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)))
  return sorted[rank - 1]!
}

/**
 * What a histogram holds at one instant.
 *
 * @since 0.1.0
 * @category models
 */
export interface Distribution {
  /** Samples in the window. */
  readonly count: number
  /** Exact arithmetic mean; 0 without samples. */
  readonly mean: number
  /** Exact; 0 without samples. */
  readonly min: number
  /** Exact; 0 without samples. */
  readonly max: number
  /** Keyed by `String(p)`: `"0"`, `"25"`, ..., `"99.5"`, `"100"`; 0 without samples. */
  readonly percentiles: Readonly<Record<string, number>>
}

/**
 * The distribution of no samples: every figure 0.
 *
 * @since 0.1.0
 * @category constants
 */
export const emptyDistribution: Distribution = {
  count: 0,
  mean: 0,
  min: 0,
  max: 0,
  percentiles: Object.fromEntries(hystrixPercentiles.map((p) => [String(p), 0]))
}

/**
 * Options of a `RollingHistogram`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Time buckets in the window. */
  readonly buckets: number
  /** Length of one time bucket. */
  readonly bucketMillis: number
  /** `log2` of the sub-buckets per power of two, 0–10. Default 5. */
  readonly precision?: number | undefined
}

// One time bucket: the counts of the value buckets [offset, offset + counts.length).
// While every sample of the bucket has the same value bucket, there is no
// array: the `n` samples are all in value bucket `offset` (a circuit called
// once, or always as fast, holds no counts at all).
/** @internal One time bucket of a `RollingHistogram`. */
export class Slot {
  epoch = -1
  counts: Uint32Array | undefined = undefined
  offset = 0
  n = 0
  sum = 0
  min = Infinity
  max = -Infinity
}

/**
 * A rolling log-linear histogram (see the module's notes).
 *
 * @since 0.1.0
 * @category models
 */
export class RollingHistogram {
  readonly buckets: number
  readonly bucketMillis: number
  readonly precision: number
  // Created on their first sample: a histogram that saw one sample holds one.
  private readonly slots: Array<Slot | undefined>
  private readonly limit: number
  private readonly linear: number
  private current: Slot | undefined = undefined
  private currentStart = Infinity
  private currentEnd = -Infinity

  constructor(options: Options) {
    if (!(Number.isInteger(options.buckets) && options.buckets > 0)) {
      throw new RangeError(`buckets must be a positive integer, got ${options.buckets}`)
    }
    if (!(options.bucketMillis > 0 && Number.isFinite(options.bucketMillis))) {
      throw new RangeError(`bucketMillis must be a positive number, got ${options.bucketMillis}`)
    }
    const precision = options.precision ?? defaultPrecision
    if (!(Number.isInteger(precision) && precision >= 0 && precision <= 10)) {
      throw new RangeError(`precision must be an integer in 0-10, got ${precision}`)
    }
    this.buckets = options.buckets
    this.bucketMillis = options.bucketMillis
    this.precision = precision
    this.limit = indexCount(precision)
    this.linear = 2 << precision
    this.slots = new Array(options.buckets).fill(undefined)
  }

  /**
   * An independent copy, holding the same samples.
   */
  clone(): RollingHistogram {
    const copy = new RollingHistogram({ buckets: this.buckets, bucketMillis: this.bucketMillis, precision: this.precision })
    for (let i = 0; i < this.slots.length; i++) {
      const slot = this.slots[i]
      if (slot === undefined) continue
      const twin = new Slot()
      twin.epoch = slot.epoch
      twin.counts = slot.counts === undefined ? undefined : slot.counts.slice()
      twin.offset = slot.offset
      twin.n = slot.n
      twin.sum = slot.sum
      twin.min = slot.min
      twin.max = slot.max
      copy.slots[i] = twin
    }
    return copy
  }

  /**
   * Counts one sample of `value` milliseconds that happened at `at`, and
   * returns its value bucket (`indexOf(normalize(value))`).
   */
  record(at: number, value: number): number {
    const v = value > 0 ? (value < MAX_VALUE ? Math.floor(value) : MAX_VALUE) : 0
    const index = v < this.linear ? v : indexOf(v, this.precision)
    // The time bucket of the previous sample is checked first: no division
    // on the common path.
    const slot = at >= this.currentStart && at < this.currentEnd ? this.current! : this.slotAt(at)
    if (slot === undefined) return index
    let counts = slot.counts
    if (counts === undefined && (slot.n === 0 || index === slot.offset)) {
      slot.offset = index
    } else {
      if (counts === undefined || index < slot.offset || index >= slot.offset + counts.length) {
        counts = this.grow(slot, index)
      }
      counts[index - slot.offset]!++
    }
    slot.n++
    slot.sum += v
    if (v < slot.min) slot.min = v
    if (v > slot.max) slot.max = v
    return index
  }

  /**
   * Counts `times` samples of `value` milliseconds that happened at `at` (as
   * many `record(at, value)` would).
   */
  recordTimes(at: number, value: number, times: number): void {
    if (times <= 0) return
    const v = value > 0 ? (value < MAX_VALUE ? Math.floor(value) : MAX_VALUE) : 0
    const index = v < this.linear ? v : indexOf(v, this.precision)
    const slot = at >= this.currentStart && at < this.currentEnd ? this.current! : this.slotAt(at)
    if (slot === undefined) return
    let counts = slot.counts
    if (counts === undefined && (slot.n === 0 || index === slot.offset)) {
      slot.offset = index
    } else {
      if (counts === undefined || index < slot.offset || index >= slot.offset + counts.length) {
        counts = this.grow(slot, index)
      }
      counts[index - slot.offset]! += times
    }
    slot.n += times
    slot.sum += v * times
    if (v < slot.min) slot.min = v
    if (v > slot.max) slot.max = v
  }

  // The slot of time `at`, emptied if it held an older time bucket;
  // `undefined` if `at` is older than what the slot holds (out of the window).
  private slotAt(at: number): Slot | undefined {
    const epoch = Math.floor(at / this.bucketMillis)
    const i = ((epoch % this.buckets) + this.buckets) % this.buckets
    const slot = this.slots[i] ?? (this.slots[i] = new Slot())
    if (slot.epoch !== epoch) {
      if (epoch < slot.epoch) return undefined
      slot.epoch = epoch
      if (slot.n > 0) {
        slot.counts?.fill(0)
        slot.n = 0
        slot.sum = 0
        slot.min = Infinity
        slot.max = -Infinity
      }
    }
    this.current = slot
    this.currentStart = epoch * this.bucketMillis
    this.currentEnd = this.currentStart + this.bucketMillis
    return slot
  }

  // Widens a slot's range to hold `index`, with some room on the side it grew.
  private grow(slot: Slot, index: number): Uint32Array {
    const old = slot.counts
    const slack = 1 << Math.max(2, this.precision - 1)
    let lo: number
    let hi: number
    if (old === undefined) {
      // The first two value buckets: the one all earlier samples share, and `index`.
      lo = Math.min(index, slot.offset) - slack
      hi = Math.max(index, slot.offset) + slack
    } else if (index < slot.offset) {
      lo = index - slack
      hi = slot.offset + old.length
    } else {
      lo = slot.offset
      hi = index + 1 + slack
    }
    lo = Math.max(0, lo)
    hi = Math.min(this.limit, hi)
    const counts = new Uint32Array(hi - lo)
    if (old !== undefined) counts.set(old, slot.offset - lo)
    else counts[slot.offset - lo] = slot.n
    slot.counts = counts
    slot.offset = lo
    return counts
  }

  /** The samples of the window at `now`, merged. Changes nothing. */
  snapshot(now: number, percentiles: ReadonlyArray<number> = hystrixPercentiles): Distribution {
    return merge([this], now, percentiles)
  }

  /** @internal The time buckets live at `now`. */
  liveSlots(now: number): Array<Slot> {
    const current = Math.floor(now / this.bucketMillis)
    const live: Array<Slot> = []
    for (const slot of this.slots) {
      if (slot === undefined || slot.n === 0 || slot.epoch > current || slot.epoch <= current - this.buckets) continue
      live.push(slot)
    }
    return live
  }

  /** How many counters the histogram holds now: bounded by `maxCells`, never by the samples. */
  cells(): number {
    let cells = 0
    for (const slot of this.slots) cells += slot?.counts === undefined ? 0 : slot.counts.length
    return cells
  }

  /** The most counters this histogram can ever hold. */
  maxCells(): number {
    return this.buckets * this.limit
  }
}

/**
 * The samples of several histograms of one precision at `now`, as if they
 * were one: each contributes the time buckets of its own window. Changes
 * nothing.
 *
 * @since 0.1.0
 * @category queries
 */
export const merge = (
  histograms: ReadonlyArray<RollingHistogram>,
  now: number,
  percentiles: ReadonlyArray<number> = hystrixPercentiles
): Distribution => {
  const precision = histograms[0]?.precision ?? defaultPrecision
  let n = 0
  let sum = 0
  let min = Infinity
  let max = -Infinity
  let lo = Infinity
  let hi = -Infinity
  const live: Array<Slot> = []
  for (const histogram of histograms) {
    if (histogram.precision !== precision) throw new RangeError("merge: histograms of different precisions")
    for (const slot of histogram.liveSlots(now)) {
      live.push(slot)
      n += slot.n
      sum += slot.sum
      if (slot.min < min) min = slot.min
      if (slot.max > max) max = slot.max
      if (slot.offset < lo) lo = slot.offset
      const end = slot.offset + (slot.counts === undefined ? 1 : slot.counts.length)
      if (end > hi) hi = end
    }
  }
  const out: Record<string, number> = {}
  if (n === 0) {
    for (const p of percentiles) out[String(p)] = 0
    return { count: 0, mean: 0, min: 0, max: 0, percentiles: out }
  }
  const merged = new Float64Array(hi - lo)
  for (const slot of live) {
    const counts = slot.counts
    const base = slot.offset - lo
    if (counts === undefined) {
      merged[base]! += slot.n
      continue
    }
    for (let i = 0; i < counts.length; i++) merged[base + i]! += counts[i]!
  }
  // Ranks in ascending order, then one walk over the merged counts.
  const order = percentiles.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0])
  const values = new Array<number>(percentiles.length)
  let cumulative = 0
  let index = 0
  for (const [p, i] of order) {
    if (p <= 0) {
      values[i] = min
      continue
    }
    if (p >= 100) {
      values[i] = max
      continue
    }
    const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)))
    while (cumulative + merged[index]! < rank) {
      cumulative += merged[index]!
      index++
    }
    const estimate = representative(lo + index, precision)
    values[i] = estimate < min ? min : estimate > max ? max : estimate
  }
  percentiles.forEach((p, i) => {
    out[String(p)] = values[i]!
  })
  return { count: n, mean: sum / n, min, max, percentiles: out }
}

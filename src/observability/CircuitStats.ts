/**
 * What the metrics observer keeps per circuit, beside the breaker's own
 * window: event counts since start, rolling latency percentiles (run time and
 * total time), a cumulative latency histogram for `Metric`, and the few
 * rolling numbers the Hystrix stream needs that the breaker does not count
 * (ignored and interrupted calls, peak concurrency).
 *
 * **Details**
 *
 * - Created on a circuit's first event or transition, and held in the
 *   circuit's cell: a circuit that was never called holds nothing (SPEC 16).
 * - Updated synchronously by `record`, a few array increments per event; read
 *   by the Prometheus/OTLP hooks, the Hystrix stream and `CircuitMetrics.latency`,
 *   none of which changes anything.
 *
 * @since 0.1.0
 */
import type { EventKind } from "../CircuitEvent.ts"
import type { Cell } from "../internal/cell.ts"
import * as Percentiles from "./Percentiles.ts"

/**
 * The event kinds in the order `CircuitStats.counts` holds them.
 *
 * @since 0.1.0
 * @category constants
 */
export const eventKinds: ReadonlyArray<EventKind> = [
  "success",
  "failure",
  "timeout",
  "rejected",
  "short-circuited",
  "interrupted",
  "ignored",
  "fallback-success",
  "fallback-failure"
]

/**
 * Settings shared by the stats of every circuit of a registry.
 *
 * @since 0.1.0
 * @category models
 */
export interface StatsSettings {
  readonly percentileBuckets: number
  readonly percentileBucketMillis: number
  readonly precision: number
  /** Finite, ascending upper bounds (ms) of the cumulative latency histogram. */
  readonly boundaries: ReadonlyArray<number>
  /**
   * For each value bucket of the percentile histograms: the latency
   * histogram bucket all of its whole values fall in, or -1 when it
   * straddles a bound.
   */
  readonly bucketOfIndex: Int16Array
}

/**
 * The first bucket whose bound is ≥ `value` (`boundaries.length`: overflow).
 *
 * @since 0.1.0
 * @category queries
 */
export const latencyBucket = (boundaries: ReadonlyArray<number>, value: number): number => {
  let lo = 0
  let hi = boundaries.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (value > boundaries[mid]!) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * Precomputes `StatsSettings.bucketOfIndex`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const bucketTable = (boundaries: ReadonlyArray<number>, precision: number): Int16Array => {
  const table = new Int16Array(Percentiles.indexCount(precision))
  for (let i = 0; i < table.length; i++) {
    const lo = Percentiles.lowerBound(i, precision)
    const hi = lo + Percentiles.bucketWidth(i, precision) - 1
    const bucket = latencyBucket(boundaries, lo)
    table[i] = bucket === latencyBucket(boundaries, hi) ? bucket : -1
  }
  return table
}

/**
 * The rolling counts the breaker's window does not hold, over the same
 * window shape as the breaker's.
 *
 * @since 0.1.0
 * @category models
 */
export interface RollingExtras {
  readonly ignored: number
  readonly interrupted: number
  readonly maxActive: number
}

// A small ring over the breaker's window shape: per bucket its epoch, the
// ignored and interrupted counts, and the largest concurrency seen, in one
// array of 4 numbers per bucket.
class Extras {
  readonly buckets: number
  readonly bucketMillis: number
  readonly data: Float64Array
  private currentStart = Infinity
  private currentEnd = -Infinity
  private currentSlot = -1

  constructor(buckets: number, bucketMillis: number) {
    this.buckets = buckets
    this.bucketMillis = bucketMillis
    this.data = new Float64Array(4 * buckets)
    for (let i = 0; i < buckets; i++) this.data[4 * i] = -Infinity
  }

  // The offset of time `at`'s bucket, emptied if it held an older bucket; -1 if `at` is too old.
  slot(at: number): number {
    if (at >= this.currentStart && at < this.currentEnd) return this.currentSlot
    const epoch = Math.floor(at / this.bucketMillis)
    const i = 4 * (((epoch % this.buckets) + this.buckets) % this.buckets)
    const held = this.data[i]!
    if (epoch < held) return -1
    if (held !== epoch) {
      this.data[i] = epoch
      this.data[i + IGNORED] = 0
      this.data[i + INTERRUPTED] = 0
      this.data[i + MAX_ACTIVE] = 0
    }
    this.currentStart = epoch * this.bucketMillis
    this.currentEnd = this.currentStart + this.bucketMillis
    this.currentSlot = i
    return i
  }

  sum(now: number): RollingExtras {
    const current = Math.floor(now / this.bucketMillis)
    let ignored = 0
    let interrupted = 0
    let maxActive = 0
    for (let i = 0; i < this.data.length; i += 4) {
      const epoch = this.data[i]!
      if (epoch > current || epoch <= current - this.buckets) continue
      ignored += this.data[i + IGNORED]!
      interrupted += this.data[i + INTERRUPTED]!
      if (this.data[i + MAX_ACTIVE]! > maxActive) maxActive = this.data[i + MAX_ACTIVE]!
    }
    return { ignored, interrupted, maxActive }
  }
}

const IGNORED = 1
const INTERRUPTED = 2
const MAX_ACTIVE = 3

/**
 * The per-circuit state of the metrics observer.
 *
 * @since 0.1.0
 * @category models
 */
export class CircuitStats {
  /** Events since the circuit's stats were created, per kind, in `eventKinds` order. */
  readonly counts = new Float64Array(9)
  /** Rolling run time of calls whose effect ran (success, failure, timeout, ignored). */
  readonly execute: Percentiles.RollingHistogram
  /**
   * Rolling whole-call time, once the circuit has run a fallback: one sample
   * per call, its run time or, when a fallback followed, admission to the
   * fallback's end. Until then it would equal `execute`, so it is created
   * (as a copy of `execute`) by the first call with a fallback.
   */
  total: Percentiles.RollingHistogram | undefined = undefined
  /** Cumulative latency histogram (run time): one count per boundary, then the overflow. */
  readonly latencyCounts: Float64Array
  latencySum = 0
  latencyMin = Infinity
  latencyMax = -Infinity
  /** The largest number of calls seen running at once. */
  largestActive = 0
  /** Handles of the `Metric` series registered for the circuit. */
  readonly registrations: Array<{ readonly remove: () => void }> = []
  /** Which `Metric` series are registered: bit i for `eventKinds[i]`, the next bit for the latency histogram. */
  seriesMask = 0

  readonly settings: StatsSettings
  private extras: Extras | undefined = undefined
  private extrasConfig: unknown = undefined

  constructor(settings: StatsSettings) {
    this.settings = settings
    this.execute = new Percentiles.RollingHistogram({
      buckets: settings.percentileBuckets,
      bucketMillis: settings.percentileBucketMillis,
      precision: settings.precision
    })
    this.latencyCounts = new Float64Array(settings.boundaries.length + 1)
  }

  /**
   * Counts one event of `cell`'s circuit. Reads the cell's permits in use,
   * its limit and its window's shape; changes nothing but these stats.
   */
  record(kind: EventKind, at: number, durationMillis: number, cell: Cell, fallbackFollows = false): void {
    switch (kind) {
      case "success":
        this.counts[0]!++
        this.executed(at, durationMillis, cell.active + 1, cell, fallbackFollows)
        return
      case "failure":
        this.counts[1]!++
        this.executed(at, durationMillis, cell.active + 1, cell, fallbackFollows)
        return
      case "timeout":
        // The timed-out effect may still hold its permit.
        this.counts[2]!++
        this.executed(at, durationMillis, cell.active, cell, fallbackFollows)
        return
      case "rejected":
        this.counts[3]!++
        this.peak(at, cell.active, cell)
        return
      case "short-circuited":
        this.counts[4]!++
        return
      case "interrupted": {
        this.counts[5]!++
        const extras = this.extrasFor(cell)
        const i = extras.slot(at)
        if (i >= 0) extras.data[i + INTERRUPTED]!++
        this.peak(at, cell.active + 1, cell)
        return
      }
      case "ignored": {
        this.counts[6]!++
        this.executed(at, durationMillis, cell.active + 1, cell, fallbackFollows)
        const extras = this.extrasFor(cell)
        const i = extras.slot(at)
        if (i >= 0) extras.data[i + IGNORED]!++
        return
      }
      case "fallback-success":
        this.counts[7]!++
        this.totalHistogram().record(at, durationMillis)
        return
      case "fallback-failure":
        this.counts[8]!++
        this.totalHistogram().record(at, durationMillis)
        return
    }
  }

  private totalHistogram(): Percentiles.RollingHistogram {
    return this.total ??= this.execute.clone()
  }

  private executed(at: number, durationMillis: number, running: number, cell: Cell, fallbackFollows: boolean): void {
    // A call whose fallback follows counts in the total time once, at the fallback's end.
    if (fallbackFollows) this.totalHistogram()
    else this.total?.record(at, durationMillis)
    const index = this.execute.record(at, durationMillis)
    // The latency bucket, from the value bucket when that one does not
    // straddle a bound (whole milliseconds), else by search.
    let bucket = this.settings.bucketOfIndex[index]!
    if (bucket < 0 || durationMillis !== Math.floor(durationMillis)) {
      bucket = latencyBucket(this.settings.boundaries, durationMillis)
    }
    this.latencyCounts[bucket]!++
    this.latencySum += durationMillis
    if (durationMillis < this.latencyMin) this.latencyMin = durationMillis
    if (durationMillis > this.latencyMax) this.latencyMax = durationMillis
    this.peak(at, running, cell)
  }

  // Concurrency is sampled at each event: `running` calls held a permit.
  private peak(at: number, running: number, cell: Cell): void {
    const value = running > cell.maxConcurrent ? cell.maxConcurrent : running
    if (value > this.largestActive) this.largestActive = value
    const extras = this.extrasFor(cell)
    const i = extras.slot(at)
    if (i >= 0 && value > extras.data[i + MAX_ACTIVE]!) extras.data[i + MAX_ACTIVE] = value
  }

  private extrasFor(cell: Cell): Extras {
    const config = cell.breaker.config
    if (this.extrasConfig === config) return this.extras!
    const extras = this.extras
    this.extrasConfig = config
    if (extras !== undefined && extras.buckets === config.buckets && extras.bucketMillis === config.bucketMillis) {
      return extras
    }
    // First use, or the window's shape changed: start an empty ring.
    return this.extras = new Extras(config.buckets, config.bucketMillis)
  }

  /** Rolling whole-call time at `now`: one sample per call (see `total`). */
  totalAt(now: number): Percentiles.Distribution {
    return (this.total ?? this.execute).snapshot(now)
  }

  /** Ignored and interrupted calls and peak concurrency in the breaker's window at `now`. */
  rollingExtras(now: number): RollingExtras {
    return this.extras === undefined ? { ignored: 0, interrupted: 0, maxActive: 0 } : this.extras.sum(now)
  }

  /** Calls whose effect ran and ended, since the stats were created. */
  executions(): number {
    const c = this.counts
    return c[0]! + c[1]! + c[2]! + c[5]! + c[6]!
  }
}

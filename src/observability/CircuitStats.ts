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
 *   circuit's cell: a circuit that was never called holds nothing.
 *   What a circuit holds grows with what it saw: the latency histograms are
 *   created by its first call whose effect ran, the rolling extras by the
 *   first event that needs them, so a circuit used once stays small.
 * - Updated synchronously by `record`, a few array increments per event; read
 *   at export time by the metric collectors, the Hystrix stream and
 *   `CircuitMetrics.latency`, none of which changes anything.
 *
 * @since 0.1.0
 */
import type { EventKind } from "../CircuitEvent.ts"
import type { Cell, Tally } from "../internal/cell.ts"
import * as Percentiles from "./Percentiles.ts"
import { RollingCount } from "./RollingCount.ts"

/**
 * The event kinds in the order `CircuitStats.counts` holds them. The others,
 * `fallback-rejected` and the wait queue's `queued` and `queue-timeout`, are
 * counted apart (`CircuitStats.fallbackRejections()`, `CircuitStats.queue`),
 * only by circuits that see one.
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
  /** Errors that reached the caller: failures, timeouts, short-circuits and rejections without a fallback, failed fallbacks. */
  readonly exceptionsThrown: number
  /** Failures, timeouts, short-circuits and rejections of calls that had no fallback. */
  readonly fallbackMissing: number
}

const IGNORED = 1
const INTERRUPTED = 2
const MAX_ACTIVE = 3
const THROWN = 4
const MISSING = 5
const WIDTH = 6

// A small ring over the breaker's window shape: per bucket its epoch, then
// the ignored, interrupted, thrown and fallback-missing counts and the
// largest concurrency seen, WIDTH numbers per bucket in one array. It starts
// with the one bucket its first event needs (a circuit used once holds one),
// and takes the whole ring at the first event of another bucket.
class Extras {
  readonly buckets: number
  readonly bucketMillis: number
  data: Array<number>
  /** Fallbacks refused by `maxConcurrentFallbacks`: created by the first. */
  rejections: RollingCount | undefined = undefined
  private currentStart = Infinity
  private currentEnd = -Infinity
  private currentSlot = -1

  constructor(buckets: number, bucketMillis: number) {
    this.buckets = buckets
    this.bucketMillis = bucketMillis
    this.data = [-Infinity, 0, 0, 0, 0, 0]
  }

  // The offset of time `at`'s bucket, emptied if it held an older bucket; -1 if `at` is too old.
  slot(at: number): number {
    if (at >= this.currentStart && at < this.currentEnd) return this.currentSlot
    const epoch = Math.floor(at / this.bucketMillis)
    if (this.data.length === WIDTH && this.buckets > 1) {
      const solo = this.data[0]!
      if (solo === -Infinity || solo === epoch) {
        this.data[0] = epoch
        return this.current(epoch, 0)
      }
      // A second bucket: spread into the whole ring, the first at its place.
      const ring = new Array<number>(WIDTH * this.buckets).fill(0)
      for (let k = 0; k < ring.length; k += WIDTH) ring[k] = -Infinity
      const at0 = WIDTH * (((solo % this.buckets) + this.buckets) % this.buckets)
      for (let k = 0; k < WIDTH; k++) ring[at0 + k] = this.data[k]!
      this.data = ring
    }
    const i = WIDTH * (((epoch % this.buckets) + this.buckets) % this.buckets)
    const held = this.data[i]!
    if (epoch < held) return -1
    if (held !== epoch) {
      this.data[i] = epoch
      for (let k = 1; k < WIDTH; k++) this.data[i + k] = 0
    }
    return this.current(epoch, i)
  }

  private current(epoch: number, i: number): number {
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
    let exceptionsThrown = 0
    let fallbackMissing = 0
    for (let i = 0; i < this.data.length; i += WIDTH) {
      const epoch = this.data[i]!
      if (epoch > current || epoch <= current - this.buckets) continue
      ignored += this.data[i + IGNORED]!
      interrupted += this.data[i + INTERRUPTED]!
      exceptionsThrown += this.data[i + THROWN]!
      fallbackMissing += this.data[i + MISSING]!
      if (this.data[i + MAX_ACTIVE]! > maxActive) maxActive = this.data[i + MAX_ACTIVE]!
    }
    return { ignored, interrupted, maxActive, exceptionsThrown, fallbackMissing }
  }
}

// The layout of `CircuitStats.latency`.
const SUM = 0
const MIN = 1
const MAX = 2
const COUNTS = 3

// What the registry counted for a circuit's stats without recording it
// (`Tally`), and the time buckets it may count in.
class Unrecorded {
  // Fallback successes of 0 ms, all in `[fallbackFrom, fallbackUntil)`: a
  // time bucket of the whole-call percentiles.
  fallbacks = 0
  fallbackFrom = 0
  fallbackUntil = 0
  // Successes of 0 ms, all in `[successFrom, successUntil)`: a time bucket
  // of the percentiles and of the rolling extras at once; and the largest
  // concurrency they saw.
  successes = 0
  peak = 0
  successFrom = 0
  successUntil = 0
}

const noExtras: RollingExtras = { ignored: 0, interrupted: 0, maxActive: 0, exceptionsThrown: 0, fallbackMissing: 0 }

/**
 * The per-circuit state of the metrics observer.
 *
 * @since 0.1.0
 * @category models
 */
export class CircuitStats implements Tally {
  // Events since the stats were created, per kind: fields rather than an
  // array, which would be two more objects (112 B) in every used circuit.
  success = 0
  failure = 0
  timeout = 0
  rejected = 0
  shortCircuited = 0
  interrupted = 0
  ignored = 0
  fallbackSuccess = 0
  fallbackFailure = 0
  /** @internal Events counted by `tallySuccess` and `tallyFallbackSuccess` that `settle` has not recorded yet. */
  unsettled = 0
  // Made by the first recorded event after which others may be counted: a
  // circuit used once holds nothing for it.
  private unrecorded: Unrecorded | undefined = undefined
  /**
   * The wait queue's events since the stats were created (`queued`,
   * `queue-timeout`); created by the first, so a circuit without a queue
   * holds nothing for them.
   */
  queue: { queued: number; timedOut: number } | undefined = undefined
  /** Rolling run time of calls whose effect ran (success, failure, timeout, ignored); created by the first. */
  execute: Percentiles.RollingHistogram | undefined = undefined
  /**
   * Rolling whole-call time, once the circuit has run a fallback: one sample
   * per call, its run time or, when a fallback followed, admission to the
   * fallback's end. Until then it would equal `execute`, so it is created
   * (as a copy of `execute`) by the first call with a fallback.
   */
  total: Percentiles.RollingHistogram | undefined = undefined
  /**
   * The sum, the smallest and the largest run time (ms) of calls whose
   * effect ran, then their cumulative histogram: one count per boundary,
   * then the overflow.
   * Created beside `execute`: until then the inline first call, if any, is
   * the only one (doubles in fields of their own would be one boxed number
   * each in every used circuit).
   */
  private latency: Float64Array | undefined = undefined
  /** The largest number of calls seen running at once. */
  largestActive = 0
  // The first call whose effect ran, kept inline until a second one: a
  // circuit used once then holds no histogram and no ring. `firstCell` says
  // whether there is one (not a NaN time: a field that ever holds a
  // non-integer is a boxed number in every circuit's stats).
  private firstCell: Cell | undefined = undefined
  private firstAt = 0
  private firstMillis = 0
  private firstPeak = 0

  readonly settings: StatsSettings
  private extras: Extras | undefined = undefined
  private extrasConfig: unknown = undefined

  constructor(settings: StatsSettings) {
    this.settings = settings
  }

  /** Events since the stats were created, per kind, in `eventKinds` order. */
  get counts(): Array<number> {
    return [
      this.success,
      this.failure,
      this.timeout,
      this.rejected,
      this.shortCircuited,
      this.interrupted,
      this.ignored,
      this.fallbackSuccess,
      this.fallbackFailure
    ]
  }

  /** The sum of the run times (ms) of calls whose effect ran. */
  get latencySum(): number {
    if (this.latency !== undefined) return this.latency[SUM]!
    return this.firstCell === undefined ? 0 : this.firstMillis
  }

  /** The smallest run time (ms) of a call whose effect ran; `Infinity` before the first. */
  get latencyMin(): number {
    if (this.latency !== undefined) return this.latency[MIN]!
    return this.firstCell === undefined ? Infinity : this.firstMillis
  }

  /** The largest run time (ms) of a call whose effect ran; `-Infinity` before the first. */
  get latencyMax(): number {
    if (this.latency !== undefined) return this.latency[MAX]!
    return this.firstCell === undefined ? -Infinity : this.firstMillis
  }

  /**
   * Counts one event of `cell`'s circuit. Reads the cell's permits in use,
   * its concurrency peak, its limit and its window's shape; changes nothing
   * but these stats (and starts the cell's next peak).
   */
  record(kind: EventKind, at: number, durationMillis: number, cell: Cell, fallbackFollows = false): void {
    switch (kind) {
      case "success":
        this.success++
        this.executed(at, durationMillis, cell, fallbackFollows)
        this.openSuccesses(at, cell)
        return
      case "failure":
        this.failure++
        this.executed(at, durationMillis, cell, fallbackFollows)
        if (!fallbackFollows) this.unhandled(at, cell)
        return
      case "timeout":
        this.timeout++
        this.executed(at, durationMillis, cell, fallbackFollows)
        if (!fallbackFollows) this.unhandled(at, cell)
        return
      case "rejected":
        this.rejected++
        this.peak(at, cell)
        if (!fallbackFollows) this.unhandled(at, cell)
        return
      case "short-circuited":
        this.shortCircuited++
        if (!fallbackFollows) this.unhandled(at, cell)
        return
      case "interrupted":
        this.interrupted++
        this.bump(at, cell, INTERRUPTED)
        this.peak(at, cell)
        return
      case "ignored":
        this.ignored++
        this.executed(at, durationMillis, cell, fallbackFollows)
        this.bump(at, cell, IGNORED)
        return
      case "fallback-success":
        this.fallbackSuccess++
        this.totalHistogram().record(at, durationMillis)
        if (durationMillis === 0) {
          // The registry may count the next ones of this time bucket (`Tally`).
          const u = this.unrecorded ??= new Unrecorded()
          if (at < u.fallbackFrom || at >= u.fallbackUntil) {
            const bucketMillis = this.settings.percentileBucketMillis
            u.fallbackFrom = Math.floor(at / bucketMillis) * bucketMillis
            u.fallbackUntil = u.fallbackFrom + bucketMillis
          }
        }
        return
      case "fallback-failure":
        this.fallbackFailure++
        this.totalHistogram().record(at, durationMillis)
        this.bump(at, cell, THROWN)
        return
      case "fallback-rejected": {
        // Kept with the rolling extras, which a circuit used once does not have.
        const extras = this.extrasFor(cell)
        ;(extras.rejections ??= new RollingCount(extras.buckets, extras.bucketMillis)).add(at)
        this.totalHistogram().record(at, durationMillis)
        this.bump(at, cell, THROWN)
        return
      }
      case "queued":
        ;(this.queue ??= { queued: 0, timedOut: 0 }).queued++
        return
      // A wait that ran out is a rejection (the window counts it as one).
      case "queue-timeout":
        ;(this.queue ??= { queued: 0, timedOut: 0 }).timedOut++
        this.peak(at, cell)
        if (!fallbackFollows) this.unhandled(at, cell)
        return
    }
  }

  /**
   * Counts a success that took 0 ms at `at`, to be recorded by `settle`,
   * when it falls in the time bucket the last recorded success opened and the
   * window's shape is still the one the rolling extras have. Takes the
   * cell's concurrency peak now, as recording it would.
   */
  tallySuccess(cell: Cell, at: number): boolean {
    const u = this.unrecorded
    if (u === undefined || at < u.successFrom || at >= u.successUntil || cell.breakerConfig !== this.extrasConfig) {
      return false
    }
    const peak = cell.takePeak()
    const value = peak > cell.maxConcurrent ? cell.maxConcurrent : peak
    if (value > u.peak) u.peak = value
    this.success++
    u.successes++
    this.unsettled++
    return true
  }

  /**
   * Counts a fallback's success that took 0 ms at `at`, to be recorded by
   * `settle`, when it falls in the time bucket of `total` that the last one
   * recorded opened.
   */
  tallyFallbackSuccess(at: number): boolean {
    const u = this.unrecorded
    if (u === undefined || at < u.fallbackFrom || at >= u.fallbackUntil) return false
    this.fallbackSuccess++
    u.fallbacks++
    this.unsettled++
    return true
  }

  // After a success was recorded at `at`: the time bucket in which the next
  // ones of 0 ms may be counted, the part of `at`'s percentile bucket and
  // rolling-extras bucket they share. Only once the histograms and the
  // extras exist (not for the inline first call).
  private openSuccesses(at: number, cell: Cell): void {
    const extras = this.extras
    if (this.execute === undefined || extras === undefined || this.extrasConfig !== cell.breakerConfig) return
    const u = this.unrecorded ??= new Unrecorded()
    if (at >= u.successFrom && at < u.successUntil) return
    const p = this.settings.percentileBucketMillis
    const e = extras.bucketMillis
    const pFrom = Math.floor(at / p) * p
    const eFrom = Math.floor(at / e) * e
    u.successFrom = pFrom > eFrom ? pFrom : eFrom
    u.successUntil = Math.min(pFrom + p, eFrom + e)
  }

  /**
   * Records what the registry and `tallySuccess` counted without recording:
   * exactly what recording each would have done, since nothing else was
   * recorded in between (`statsOf` calls this before anything reads or
   * records). The older time bucket first.
   */
  settle(): void {
    const u = this.unrecorded!
    if (u.fallbacks !== 0 && (u.successes === 0 || u.fallbackFrom <= u.successFrom)) {
      this.settleFallbacks(u)
      this.settleSuccesses(u)
    } else {
      this.settleSuccesses(u)
      this.settleFallbacks(u)
    }
    this.unsettled = 0
  }

  private settleFallbacks(u: Unrecorded): void {
    if (u.fallbacks === 0) return
    this.total!.recordTimes(u.fallbackFrom, 0, u.fallbacks)
    u.fallbacks = 0
  }

  private settleSuccesses(u: Unrecorded): void {
    const n = u.successes
    if (n === 0) return
    const at = u.successFrom
    this.total?.recordTimes(at, 0, n)
    this.execute!.recordTimes(at, 0, n)
    const latency = this.latency!
    latency[COUNTS + latencyBucket(this.settings.boundaries, 0)]! += n
    if (0 < latency[MIN]!) latency[MIN] = 0
    if (0 > latency[MAX]!) latency[MAX] = 0
    const value = u.peak
    if (value > this.largestActive) this.largestActive = value
    if (value > 0) {
      // Into the extras as they stand (their shape was checked when each was counted).
      const extras = this.extras!
      const i = extras.slot(at)
      if (i >= 0 && value > extras.data[i + MAX_ACTIVE]!) extras.data[i + MAX_ACTIVE] = value
    }
    u.successes = 0
    u.peak = 0
  }

  /** Fallbacks refused by `maxConcurrentFallbacks` since the stats were created; undefined before the first. */
  fallbackRejections(): number | undefined {
    return this.extras?.rejections?.total
  }

  /** Fallback rejections in the breaker's window at `now`. */
  rollingFallbackRejections(now: number): number {
    return this.extras?.rejections?.sum(now) ?? 0
  }

  // An error the caller sees, with no fallback to replace it.
  private unhandled(at: number, cell: Cell): void {
    const extras = this.extrasFor(cell)
    const i = extras.slot(at)
    if (i < 0) return
    extras.data[i + THROWN]!++
    extras.data[i + MISSING]!++
  }

  private bump(at: number, cell: Cell, field: number): void {
    const extras = this.extrasFor(cell)
    const i = extras.slot(at)
    if (i >= 0) extras.data[i + field]!++
  }

  private executeHistogram(): Percentiles.RollingHistogram {
    if (this.execute !== undefined) return this.execute
    const execute = this.execute = new Percentiles.RollingHistogram({
      buckets: this.settings.percentileBuckets,
      bucketMillis: this.settings.percentileBucketMillis,
      precision: this.settings.precision
    })
    const latency = this.latency = new Float64Array(COUNTS + this.settings.boundaries.length + 1)
    latency[MIN] = Infinity
    latency[MAX] = -Infinity
    const at = this.firstAt
    const cell = this.firstCell
    if (cell !== undefined) {
      // The inline first call joins the structures it stood for.
      this.firstCell = undefined
      const millis = this.firstMillis
      execute.record(at, millis)
      latency[COUNTS + latencyBucket(this.settings.boundaries, millis)]!++
      latency[SUM] = millis
      latency[MIN] = millis
      latency[MAX] = millis
      if (this.firstPeak > 0) this.peakAt(at, this.firstPeak, cell)
    }
    return execute
  }

  private totalHistogram(): Percentiles.RollingHistogram {
    return this.total ??= this.executeHistogram().clone()
  }

  private executed(at: number, durationMillis: number, cell: Cell, fallbackFollows: boolean): void {
    if (this.execute === undefined && this.firstCell === undefined && !fallbackFollows && this.extras === undefined) {
      this.firstAt = at
      this.firstMillis = durationMillis
      this.firstCell = cell
      const peak = cell.takePeak()
      this.firstPeak = peak > cell.maxConcurrent ? cell.maxConcurrent : peak
      if (this.firstPeak > this.largestActive) this.largestActive = this.firstPeak
      return
    }
    // A call whose fallback follows counts in the total time once, at the fallback's end.
    if (fallbackFollows) this.totalHistogram()
    else this.total?.record(at, durationMillis)
    const index = this.executeHistogram().record(at, durationMillis)
    // The latency bucket, from the value bucket when that one does not
    // straddle a bound (whole milliseconds), else by search.
    let bucket = this.settings.bucketOfIndex[index]!
    if (bucket < 0 || durationMillis !== Math.floor(durationMillis)) {
      bucket = latencyBucket(this.settings.boundaries, durationMillis)
    }
    const latency = this.latency!
    latency[COUNTS + bucket]!++
    latency[SUM]! += durationMillis
    if (durationMillis < latency[MIN]!) latency[MIN] = durationMillis
    if (durationMillis > latency[MAX]!) latency[MAX] = durationMillis
    this.peak(at, cell)
  }

  // The cell's concurrency peak since the last event (taken when permits
  // were taken), counted in the bucket of this event.
  private peak(at: number, cell: Cell): void {
    const peak = cell.takePeak()
    const value = peak > cell.maxConcurrent ? cell.maxConcurrent : peak
    if (value > this.largestActive) this.largestActive = value
    if (value > 0) this.peakAt(at, value, cell)
  }

  private peakAt(at: number, value: number, cell: Cell): void {
    const extras = this.extrasFor(cell)
    const i = extras.slot(at)
    if (i >= 0 && value > extras.data[i + MAX_ACTIVE]!) extras.data[i + MAX_ACTIVE] = value
  }

  private extrasFor(cell: Cell): Extras {
    // Not `cell.breaker.config`: reading the breaker folds the cell's counted events, on every event.
    const config = cell.breakerConfig
    if (this.extrasConfig === config) return this.extras!
    // The inline first call's peak goes into the ring first.
    if (this.extras === undefined && this.firstCell !== undefined) this.executeHistogram()
    if (this.extrasConfig === config) return this.extras!
    const extras = this.extras
    this.extrasConfig = config
    if (extras !== undefined && extras.buckets === config.buckets && extras.bucketMillis === config.bucketMillis) {
      return extras
    }
    // First use, or the window's shape changed: start an empty ring (the total of rejections stays).
    const next = this.extras = new Extras(config.buckets, config.bucketMillis)
    if (extras?.rejections !== undefined) next.rejections = extras.rejections.reshaped(config.buckets, config.bucketMillis)
    return next
  }

  /** Rolling run time at `now`. */
  executeAt(now: number): Percentiles.Distribution {
    if (this.execute !== undefined) return this.execute.snapshot(now)
    if (this.firstCell === undefined) return Percentiles.emptyDistribution
    const bucketMillis = this.settings.percentileBucketMillis
    const current = Math.floor(now / bucketMillis)
    const epoch = Math.floor(this.firstAt / bucketMillis)
    if (epoch > current || epoch <= current - this.settings.percentileBuckets) return Percentiles.emptyDistribution
    const v = Percentiles.normalize(this.firstMillis)
    return {
      count: 1,
      mean: v,
      min: v,
      max: v,
      percentiles: Object.fromEntries(Percentiles.hystrixPercentiles.map((p) => [String(p), v]))
    }
  }

  /** Rolling whole-call time at `now`: one sample per call (see `total`). */
  totalAt(now: number): Percentiles.Distribution {
    return this.total === undefined ? this.executeAt(now) : this.total.snapshot(now)
  }

  /** Calls whose effect ran with a run time in latency bucket `i` (`boundaries.length`: overflow), since the stats were created. */
  latencyCount(i: number): number {
    if (this.latency !== undefined) return this.latency[COUNTS + i]!
    return this.firstCell !== undefined && latencyBucket(this.settings.boundaries, this.firstMillis) === i ? 1 : 0
  }

  /** Ignored, interrupted, thrown and fallback-missing calls and peak concurrency in the breaker's window at `now`. */
  rollingExtras(now: number): RollingExtras {
    if (this.extras !== undefined) return this.extras.sum(now)
    if (this.firstCell === undefined) return noExtras
    const config = this.firstCell.breaker.config
    const current = Math.floor(now / config.bucketMillis)
    const epoch = Math.floor(this.firstAt / config.bucketMillis)
    if (epoch > current || epoch <= current - config.buckets) return noExtras
    return { ...noExtras, maxActive: this.firstPeak }
  }

  /** Calls whose effect ran and ended, since the stats were created. */
  executions(): number {
    return this.success + this.failure + this.timeout + this.interrupted + this.ignored
  }
}

/**
 * The stats the metrics observer keeps in `cell`, if any.
 *
 * @since 0.1.0
 * @category getters
 */
export const statsOf = (cell: Cell): CircuitStats | undefined => {
  // Only the metrics observer stores anything in a cell's `stats` slot.
  const stats = cell.stats as CircuitStats | undefined
  if (stats !== undefined && stats.unsettled !== 0) stats.settle()
  return stats
}

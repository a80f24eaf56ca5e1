/**
 * A hand-written circuit breaker in plain JavaScript: the physical floor of
 * what a breaker with Hystrix's rules can cost on this machine. Mutable
 * counters in a ring of buckets, a running total, one clock read on admission
 * and one on completion; no timeout, no bulkhead, no events, no metrics.
 *
 * It is a yardstick for `bench/suite.ts`, not a product: it has just enough of
 * the rules (rolling error percentage over a volume threshold, sleep window,
 * one probe) that its cost is honest.
 */
export interface PlainSettings {
  readonly buckets: number
  readonly bucketMillis: number
  readonly requestVolumeThreshold: number
  readonly errorPercentThreshold: number
  readonly sleepWindowMillis: number
}

export const plainDefaults: PlainSettings = {
  buckets: 10,
  bucketMillis: 1000,
  requestVolumeThreshold: 20,
  errorPercentThreshold: 50,
  sleepWindowMillis: 5000
}

const CLOSED = 0
const OPEN = 1
const HALF_OPEN = 2

export class PlainBreaker {
  private state = CLOSED
  private openedAt = 0
  private probing = false
  private readonly successes: Int32Array
  private readonly failures: Int32Array
  private bucketStart = 0
  private current = 0
  private totalSuccesses = 0
  private totalFailures = 0
  readonly settings: PlainSettings

  constructor(settings: PlainSettings = plainDefaults) {
    this.settings = settings
    this.successes = new Int32Array(settings.buckets)
    this.failures = new Int32Array(settings.buckets)
  }

  get isOpen(): boolean {
    return this.state !== CLOSED
  }

  /** Opens the circuit now (the open-circuit cases). */
  trip(now: number): void {
    this.state = OPEN
    this.openedAt = now
  }

  /** Whether a call may run at `now`. */
  admit(now: number): boolean {
    if (this.state === CLOSED) return true
    if (this.state === OPEN && !this.probing && now - this.openedAt >= this.settings.sleepWindowMillis) {
      this.state = HALF_OPEN
      this.probing = true
      return true
    }
    return false
  }

  success(now: number): void {
    if (this.state === HALF_OPEN) {
      this.state = CLOSED
      this.probing = false
      this.reset(now)
      return
    }
    this.roll(now)
    this.successes[this.current]!++
    this.totalSuccesses++
  }

  failure(now: number): void {
    if (this.state === HALF_OPEN) {
      this.state = OPEN
      this.probing = false
      this.openedAt = now
      return
    }
    this.roll(now)
    this.failures[this.current]!++
    this.totalFailures++
    const total = this.totalSuccesses + this.totalFailures
    if (
      total >= this.settings.requestVolumeThreshold &&
      this.totalFailures * 100 >= this.settings.errorPercentThreshold * total
    ) this.trip(now)
  }

  // Moves the current bucket forward to `now`, subtracting the buckets that left the window.
  private roll(now: number): void {
    const { bucketMillis, buckets } = this.settings
    if (now - this.bucketStart < bucketMillis) return
    const steps = Math.min(buckets, Math.floor((now - this.bucketStart) / bucketMillis))
    for (let i = 0; i < steps; i++) {
      this.current = (this.current + 1) % buckets
      this.totalSuccesses -= this.successes[this.current]!
      this.totalFailures -= this.failures[this.current]!
      this.successes[this.current] = 0
      this.failures[this.current] = 0
    }
    this.bucketStart = now - ((now - this.bucketStart) % bucketMillis)
  }

  private reset(now: number): void {
    this.successes.fill(0)
    this.failures.fill(0)
    this.totalSuccesses = 0
    this.totalFailures = 0
    this.bucketStart = now
  }

  /** Runs `f` under the breaker, or the fallback when the circuit refuses it. */
  async fire<A, B>(f: () => Promise<A>, fallback: () => B): Promise<A | B> {
    if (!this.admit(Date.now())) return fallback()
    try {
      const a = await f()
      this.success(Date.now())
      return a
    } catch (error) {
      this.failure(Date.now())
      throw error
    }
  }
}

/**
 * The rolling statistical window of a circuit, in one of two shapes: a ring of
 * `buckets` buckets of `bucketMillis` each (a time window), or the last
 * `buckets` requests (a count window), holding counts per outcome kind.
 *
 * **Details**
 *
 * - Buckets are aligned to the clock: an outcome at time `t` lands in bucket
 *   `floor(t / bucketMillis)`. At time `now` the window holds the buckets
 *   `index(now) - buckets + 1 .. index(now)`, so an outcome leaves the window
 *   a whole bucket at a time.
 * - The current bucket is a small record; the closed buckets that still count
 *   sit in an immutable queue, and `closedTotals` is their running sum. Recording
 *   an outcome allocates one `Counts` and one `Window`; a bucket is only
 *   touched again when it expires, so the cost per call never depends on
 *   `buckets`.
 * - Empty buckets are never stored: memory is O(buckets), whatever the call rate.
 * - A count window is the same structure with one bucket per request: a
 *   bucket's index is the number of requests recorded before it, plus one, so
 *   the window holds the last `buckets` requests. What is not a request (a
 *   short-circuit, a fallback's outcome) joins the bucket of the latest
 *   request and leaves with it. Time never moves a count window.
 * - `slow` counts the requests that took longer than the slow-call duration;
 *   a slow request is also counted under its own kind.
 *
 * **Gotchas**
 *
 * - Time that moves backwards (a clock set back) records into the current
 *   bucket rather than rewriting history.
 *
 * Nothing here reads a clock or imports the Effect runtime: time comes in as
 * plain numbers (milliseconds).
 *
 * @since 0.1.0
 */

/**
 * What can be counted in a window.
 *
 * @since 0.1.0
 * @category models
 */
export type Kind =
  | "success"
  | "failure"
  | "timeout"
  | "rejected"
  | "shortCircuited"
  | "fallbackSuccess"
  | "fallbackFailure"

/**
 * Counts per outcome kind.
 *
 * @since 0.1.0
 * @category models
 */
export interface Counts {
  readonly success: number
  readonly failure: number
  readonly timeout: number
  readonly rejected: number
  readonly shortCircuited: number
  readonly fallbackSuccess: number
  readonly fallbackFailure: number
  /**
   * Requests slower than the slow-call duration, whatever their kind. Always
   * present in the counts a window holds; optional so that counts built
   * elsewhere (a store's totals) need not track it.
   */
  readonly slow?: number
}

/**
 * Every kind, in the order the counts are listed.
 *
 * @since 0.1.0
 * @category models
 */
export const kinds: ReadonlyArray<Kind> = [
  "success",
  "failure",
  "timeout",
  "rejected",
  "shortCircuited",
  "fallbackSuccess",
  "fallbackFailure"
]

const counts = (
  success: number,
  failure: number,
  timeout: number,
  rejected: number,
  shortCircuited: number,
  fallbackSuccess: number,
  fallbackFailure: number,
  slow: number
): Counts => ({ success, failure, timeout, rejected, shortCircuited, fallbackSuccess, fallbackFailure, slow })

/**
 * @since 0.1.0
 * @category constructors
 */
export const emptyCounts: Counts = counts(0, 0, 0, 0, 0, 0, 0, 0)

/**
 * One more outcome of `kind`. A switch rather than a computed key keeps the
 * result's shape fixed, which keeps the hot path monomorphic.
 *
 * @since 0.1.0
 * @category combinators
 */
export const increment = (c: Counts, kind: Kind): Counts => {
  switch (kind) {
    case "success":
      return counts(c.success + 1, c.failure, c.timeout, c.rejected, c.shortCircuited, c.fallbackSuccess, c.fallbackFailure, c.slow ?? 0)
    case "failure":
      return counts(c.success, c.failure + 1, c.timeout, c.rejected, c.shortCircuited, c.fallbackSuccess, c.fallbackFailure, c.slow ?? 0)
    case "timeout":
      return counts(c.success, c.failure, c.timeout + 1, c.rejected, c.shortCircuited, c.fallbackSuccess, c.fallbackFailure, c.slow ?? 0)
    case "rejected":
      return counts(c.success, c.failure, c.timeout, c.rejected + 1, c.shortCircuited, c.fallbackSuccess, c.fallbackFailure, c.slow ?? 0)
    case "shortCircuited":
      return counts(c.success, c.failure, c.timeout, c.rejected, c.shortCircuited + 1, c.fallbackSuccess, c.fallbackFailure, c.slow ?? 0)
    case "fallbackSuccess":
      return counts(c.success, c.failure, c.timeout, c.rejected, c.shortCircuited, c.fallbackSuccess + 1, c.fallbackFailure, c.slow ?? 0)
    case "fallbackFailure":
      return counts(c.success, c.failure, c.timeout, c.rejected, c.shortCircuited, c.fallbackSuccess, c.fallbackFailure + 1, c.slow ?? 0)
  }
}

/**
 * @since 0.1.0
 * @category combinators
 */
export const addCounts = (a: Counts, b: Counts): Counts =>
  counts(
    a.success + b.success,
    a.failure + b.failure,
    a.timeout + b.timeout,
    a.rejected + b.rejected,
    a.shortCircuited + b.shortCircuited,
    a.fallbackSuccess + b.fallbackSuccess,
    a.fallbackFailure + b.fallbackFailure,
    (a.slow ?? 0) + (b.slow ?? 0)
  )

const subtractCounts = (a: Counts, b: Counts): Counts =>
  counts(
    a.success - b.success,
    a.failure - b.failure,
    a.timeout - b.timeout,
    a.rejected - b.rejected,
    a.shortCircuited - b.shortCircuited,
    a.fallbackSuccess - b.fallbackSuccess,
    a.fallbackFailure - b.fallbackFailure,
    (a.slow ?? 0) - (b.slow ?? 0)
  )

/**
 * Requests: `success + failure + timeout + rejected`. Short-circuited calls
 * and fallback outcomes are not requests.
 *
 * @since 0.1.0
 * @category queries
 */
export const requests = (c: Counts): number => c.success + c.failure + c.timeout + c.rejected

/**
 * Errors: `failure + timeout + rejected`.
 *
 * @since 0.1.0
 * @category queries
 */
export const errors = (c: Counts): number => c.failure + c.timeout + c.rejected

/**
 * `errors · 100 / requests`, or 0 with no request. Not rounded.
 *
 * @since 0.1.0
 * @category queries
 */
export const errorPercentage = (c: Counts): number => {
  const total = requests(c)
  return total === 0 ? 0 : (errors(c) * 100) / total
}

/**
 * A closed bucket that still counts.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bucket {
  readonly index: number
  readonly counts: Counts
}

/**
 * A cell of the closed-bucket queue.
 *
 * @since 0.1.0
 * @category models
 */
// An immutable cons list. The closed buckets form a queue of two lists:
// `front` oldest first (what expires next) and `back` newest first (where a
// closed bucket is pushed). A bucket is moved from back to front once, so a
// roll-over costs O(1) amortised, however many buckets there are.
export interface Node {
  readonly bucket: Bucket
  readonly next: Node | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Window {
  /** How many buckets the window holds: for a count window, how many requests. */
  readonly buckets: number
  /** The length of a bucket; 0 for a count window. */
  readonly bucketMillis: number
  /** `floor(t / bucketMillis)` of the bucket being filled; for a count window, the requests recorded. */
  readonly currentIndex: number
  readonly current: Counts
  readonly front: Node | undefined
  readonly back: Node | undefined
  /** The sum of every closed bucket still in the window. */
  readonly closedTotals: Counts
}

const window = (
  buckets: number,
  bucketMillis: number,
  currentIndex: number,
  current: Counts,
  front: Node | undefined,
  back: Node | undefined,
  closedTotals: Counts
): Window => ({ buckets, bucketMillis, currentIndex, current, front, back, closedTotals })

/**
 * Whether `w` is a count window (the last `buckets` requests).
 *
 * @since 0.2.0
 * @category queries
 */
export const isCountWindow = (w: Window): boolean => w.bucketMillis === 0

/**
 * An empty count window: the last `size` requests.
 *
 * @since 0.2.0
 * @category constructors
 */
export const emptyCount = (size: number): Window =>
  window(size, 0, 0, emptyCounts, undefined, undefined, emptyCounts)

/**
 * The index of the bucket that holds time `at`.
 *
 * @since 0.1.0
 * @category queries
 */
export const bucketIndex = (bucketMillis: number, at: number): number => Math.floor(at / bucketMillis)

/**
 * An empty window whose current bucket holds time `at`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty = (buckets: number, bucketMillis: number, at: number): Window =>
  window(buckets, bucketMillis, bucketIndex(bucketMillis, at), emptyCounts, undefined, undefined, emptyCounts)

const reverse = (list: Node | undefined): Node | undefined => {
  let out: Node | undefined = undefined
  for (let node = list; node !== undefined; node = node.next) out = { bucket: node.bucket, next: out }
  return out
}

/**
 * The window as it stands at time `at`: buckets older than the window are
 * dropped and the current bucket moves to `at`'s. Returns `w` itself when
 * `at` is still in the current bucket.
 *
 * @since 0.1.0
 * @category combinators
 */
export const rollTo = (w: Window, at: number): Window =>
  w.bucketMillis === 0 ? w : rollToIndex(w, bucketIndex(w.bucketMillis, at))

const rollToIndex = (w: Window, index: number): Window => {
  if (index <= w.currentIndex) return w
  if (index - w.currentIndex >= w.buckets) {
    // Everything, the current bucket included, is older than the window.
    return window(w.buckets, w.bucketMillis, index, emptyCounts, undefined, undefined, emptyCounts)
  }
  const oldest = index - w.buckets + 1
  let front = w.front
  let back = w.back
  let closedTotals = w.closedTotals
  // `current` is `emptyCounts` itself until something is recorded in it.
  if (w.current !== emptyCounts) {
    back = { bucket: { index: w.currentIndex, counts: w.current }, next: back }
    closedTotals = addCounts(closedTotals, w.current)
  }
  for (;;) {
    if (front === undefined) {
      if (back === undefined) break
      front = reverse(back)
      back = undefined
    }
    if (front === undefined || front.bucket.index >= oldest) break
    closedTotals = subtractCounts(closedTotals, front.bucket.counts)
    front = front.next
  }
  if (front === undefined && back === undefined) closedTotals = emptyCounts
  return window(w.buckets, w.bucketMillis, index, emptyCounts, front, back, closedTotals)
}

const isRequestKind = (kind: Kind): boolean =>
  kind === "success" || kind === "failure" || kind === "timeout" || kind === "rejected"

/**
 * Records one outcome of `kind` completed at time `at`; `slow`: a request
 * that took longer than the slow-call duration.
 *
 * @since 0.1.0
 * @category combinators
 */
export const record = (w: Window, at: number, kind: Kind, slow = false): Window => {
  const rolled = w.bucketMillis === 0
    ? (isRequestKind(kind) ? rollToIndex(w, w.currentIndex + 1) : w)
    : rollToIndex(w, bucketIndex(w.bucketMillis, at))
  const current = increment(rolled.current, kind)
  return window(
    rolled.buckets,
    rolled.bucketMillis,
    rolled.currentIndex,
    slow ? { ...current, slow: (current.slow ?? 0) + 1 } : current,
    rolled.front,
    rolled.back,
    rolled.closedTotals
  )
}

/**
 * The window with `c` added to its current bucket, without rolling: what
 * recording each of those events in the current bucket gives (counts add up
 * in any order).
 *
 * @since 0.2.0
 * @category combinators
 */
export const addToCurrent = (w: Window, c: Counts): Window =>
  window(w.buckets, w.bucketMillis, w.currentIndex, addCounts(w.current, c), w.front, w.back, w.closedTotals)

/**
 * The counts of the whole window as it stands (call `rollTo` first to see it
 * at a later time).
 *
 * @since 0.1.0
 * @category queries
 */
export const totals = (w: Window): Counts => addCounts(w.closedTotals, w.current)

/**
 * Requests in the window, without allocating.
 *
 * @since 0.1.0
 * @category queries
 */
export const totalRequests = (w: Window): number => requests(w.closedTotals) + requests(w.current)

/**
 * Errors in the window, without allocating.
 *
 * @since 0.1.0
 * @category queries
 */
export const totalErrors = (w: Window): number => errors(w.closedTotals) + errors(w.current)

/**
 * The closed buckets still in the window, oldest first (for inspection and
 * tests; not used on the hot path).
 *
 * @since 0.1.0
 * @category queries
 */
export const closedBuckets = (w: Window): ReadonlyArray<Bucket> => {
  const out: Array<Bucket> = []
  for (let node = w.front; node !== undefined; node = node.next) out.push(node.bucket)
  for (let node = reverse(w.back); node !== undefined; node = node.next) out.push(node.bucket)
  return out
}

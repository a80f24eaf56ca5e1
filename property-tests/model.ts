/**
 * A naive reference model of the breaker, written from SPEC §3 and nothing
 * else: it imports no window or breaker logic from `src/`.
 *
 * - The window is a plain list of timestamped outcomes. At time `now` an
 *   outcome at `t` is in the window iff `floor(t / d) > floor(now / d) - buckets`
 *   (d = bucketMillis; buckets are aligned to the clock).
 * - The state machine keeps an `epoch` that moves on every state change; a call
 *   remembers the epoch it was admitted in (SPEC 7: only outcomes of calls
 *   admitted in the current epoch can move the state). Choices where the spec
 *   is silent, taken from the core's documentation:
 *   - `ForceOpen`, `ForceClosed` and `Reset` are state changes even when the
 *     state's name does not change (a reset of a closed circuit starts a new
 *     epoch); `Reset` also empties the window and is a close (SPEC 8).
 *   - `Reconfigure` keeps the state and the epoch; a new window shape
 *     (buckets or bucket length) starts an empty window, the same shape keeps it.
 *   - An interrupted or ignored probe frees the slot; the epoch does not move.
 *
 * Everything here is immutable: each operation returns a new model.
 */

export type OutcomeKind =
  | "success"
  | "failure"
  | "timeout"
  | "rejected"
  | "shortCircuited"
  | "fallbackSuccess"
  | "fallbackFailure"

export const allKinds: ReadonlyArray<OutcomeKind> = [
  "success",
  "failure",
  "timeout",
  "rejected",
  "shortCircuited",
  "fallbackSuccess",
  "fallbackFailure"
]

export interface Timestamped {
  readonly at: number
  readonly kind: OutcomeKind
}

export interface ModelConfig {
  readonly buckets: number
  readonly bucketMillis: number
  readonly volume: number
  readonly percent: number
  /** The sleep window of the n-th consecutive opening (n ≥ 1). */
  readonly sleep: (n: number) => number
}

export type ModelState =
  | { readonly name: "closed" }
  | { readonly name: "open"; readonly openedAt: number }
  | { readonly name: "half-open"; readonly openedAt: number; readonly probeInFlight: boolean }
  | { readonly name: "forced-open" }
  | { readonly name: "forced-closed" }

export interface Model {
  readonly config: ModelConfig
  readonly outcomes: ReadonlyArray<Timestamped>
  readonly state: ModelState
  readonly epoch: number
  /** Consecutive openings since the last close. */
  readonly openings: number
}

export type ModelAdmission = "allow" | "probe" | "short-circuit"

export type CallResult = "success" | "failure" | "timeout" | "rejected" | "interrupted" | "ignored"

export interface ModelSummary {
  readonly success: number
  readonly failure: number
  readonly timeout: number
  readonly rejected: number
  readonly shortCircuited: number
  readonly fallbackSuccess: number
  readonly fallbackFailure: number
  readonly total: number
  readonly errors: number
  readonly errorPercentage: number
}

export const makeModel = (config: ModelConfig): Model => ({
  config,
  outcomes: [],
  state: { name: "closed" },
  epoch: 0,
  openings: 0
})

/** By definition: in the window at `now` iff its bucket is one of the last `buckets`. */
export const inWindow = (buckets: number, bucketMillis: number, t: number, now: number): boolean =>
  Math.floor(t / bucketMillis) > Math.floor(now / bucketMillis) - buckets

export const windowAt = (m: Model, now: number): ReadonlyArray<Timestamped> =>
  m.outcomes.filter((o) => inWindow(m.config.buckets, m.config.bucketMillis, o.at, now))

const countOf = (list: ReadonlyArray<Timestamped>, kind: OutcomeKind): number => {
  let n = 0
  for (const o of list) if (o.kind === kind) n++
  return n
}

export const summaryOf = (list: ReadonlyArray<Timestamped>): ModelSummary => {
  const success = countOf(list, "success")
  const failure = countOf(list, "failure")
  const timeout = countOf(list, "timeout")
  const rejected = countOf(list, "rejected")
  const total = success + failure + timeout + rejected
  const errors = failure + timeout + rejected
  return {
    success,
    failure,
    timeout,
    rejected,
    shortCircuited: countOf(list, "shortCircuited"),
    fallbackSuccess: countOf(list, "fallbackSuccess"),
    fallbackFailure: countOf(list, "fallbackFailure"),
    total,
    errors,
    errorPercentage: total === 0 ? 0 : (errors * 100) / total
  }
}

export const summaryAt = (m: Model, now: number): ModelSummary => summaryOf(windowAt(m, now))

/** SPEC 3, read literally. */
export const trips = (m: Model, now: number): boolean => {
  const s = summaryAt(m, now)
  return s.total >= m.config.volume && s.errors * 100 >= m.config.percent * s.total
}

export const sleepOfCurrentOpening = (m: Model): number => m.config.sleep(Math.max(1, m.openings))

export const admit = (m: Model, now: number): ModelAdmission => {
  switch (m.state.name) {
    case "closed":
    case "forced-closed":
      return "allow"
    case "forced-open":
      return "short-circuit"
    case "open":
      return now - m.state.openedAt >= sleepOfCurrentOpening(m) ? "probe" : "short-circuit"
    case "half-open":
      return m.state.probeInFlight ? "short-circuit" : "probe"
  }
}

export const retryAfter = (m: Model, now: number): number => {
  switch (m.state.name) {
    case "open":
      return Math.max(0, m.state.openedAt + sleepOfCurrentOpening(m) - now)
    case "forced-open":
      return Infinity
    default:
      return 0
  }
}

const withState = (m: Model, state: ModelState, epoch: number, openings: number, outcomes = m.outcomes): Model => ({
  config: m.config,
  outcomes,
  state,
  epoch,
  openings
})

const push = (m: Model, at: number, kind: OutcomeKind): Model => ({ ...m, outcomes: [...m.outcomes, { at, kind }] })

const openAt = (m: Model, now: number): Model => withState(m, { name: "open", openedAt: now }, m.epoch + 1, m.openings + 1)

/** The shell was told "probe" and admits the call as the probe. */
export const probeAdmitted = (m: Model): Model => {
  if (m.state.name !== "open" && m.state.name !== "half-open") throw new Error("model: probe admitted while " + m.state.name)
  return withState(m, { name: "half-open", openedAt: m.state.openedAt, probeInFlight: true }, m.epoch + 1, m.openings)
}

export const shortCircuited = (m: Model, now: number): Model => push(m, now, "shortCircuited")

export const fallback = (m: Model, now: number, ok: boolean): Model => push(m, now, ok ? "fallbackSuccess" : "fallbackFailure")

/** A call admitted in `epoch` ends at `now` with `result`. */
export const complete = (m: Model, now: number, epoch: number, result: CallResult): Model => {
  const isRequest = result !== "interrupted" && result !== "ignored"
  const recorded = isRequest ? push(m, now, result) : m
  if (epoch !== m.epoch) return recorded
  switch (m.state.name) {
    case "closed":
      return isRequest && trips(recorded, now) ? openAt(recorded, now) : recorded
    case "half-open": {
      if (!m.state.probeInFlight) return recorded
      if (result === "success") return withState(m, { name: "closed" }, m.epoch + 1, 0, [])
      if (isRequest) return openAt(recorded, now)
      return withState(m, { name: "half-open", openedAt: m.state.openedAt, probeInFlight: false }, m.epoch, m.openings)
    }
    default:
      return recorded
  }
}

export const forceOpen = (m: Model): Model => withState(m, { name: "forced-open" }, m.epoch + 1, 0)

export const forceClosed = (m: Model): Model => withState(m, { name: "forced-closed" }, m.epoch + 1, 0)

export const reset = (m: Model): Model => withState(m, { name: "closed" }, m.epoch + 1, 0, [])

export const reconfigure = (m: Model, config: ModelConfig): Model => {
  const sameShape = config.buckets === m.config.buckets && config.bucketMillis === m.config.bucketMillis
  return { ...m, config, outcomes: sameShape ? m.outcomes : [] }
}

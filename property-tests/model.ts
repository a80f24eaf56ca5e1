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
 * The controls of issue 12, each off unless its field is set, read from the
 * issue and the resilience4j / gobreaker / effect/persistence documentation:
 * - `windowCalls`: the window is the last N requests, plus what was recorded
 *   after the oldest of them (short-circuits, fallbacks), whatever the time.
 * - `slowMillis`: a request (not a rejection) that took longer is slow; the
 *   slow percentage over the window trips like the error percentage, with the
 *   same volume; a slow failure is in both.
 * - `consecutive`: that many errors in a row (since the last success, over
 *   everything recorded since the window was last emptied) trip, whatever
 *   the volume.
 * - `probes`: that many probes are let through when half-open; the last of
 *   them to succeed closes; any probe failure reopens. A new number of probes
 *   while half-open forgets the successes so far.
 * - `retryAfter` of the outcome that opens: the opening lasts at least that.
 * - A sleep window drawn by the shell replaces `sleep(n)` for that opening,
 *   until a new sleep window is configured.
 * - `backoffReset: "stable"`: a close keeps the count of openings; an opening
 *   from closed counts from 1 again only if it comes at least as long after
 *   the close as the circuit had been open before it.
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
  readonly slow?: boolean
}

export interface ModelConfig {
  readonly buckets: number
  readonly bucketMillis: number
  readonly volume: number
  readonly percent: number
  /** The sleep window of the n-th consecutive opening (n ≥ 1). */
  readonly sleep: (n: number) => number
  readonly windowCalls?: number | undefined
  readonly consecutive?: number | undefined
  readonly slowMillis?: number | undefined
  readonly slowPercent?: number | undefined
  readonly probes?: number | undefined
  readonly backoffReset?: "close" | "stable" | undefined
}

export type ModelState =
  | { readonly name: "closed" }
  | { readonly name: "open"; readonly openedAt: number }
  | {
    readonly name: "half-open"
    readonly openedAt: number
    /** No probe slot is free. */
    readonly probeInFlight: boolean
    readonly running: number
    readonly succeeded: number
  }
  | { readonly name: "forced-open" }
  | { readonly name: "forced-closed" }

export interface Model {
  readonly config: ModelConfig
  readonly outcomes: ReadonlyArray<Timestamped>
  readonly state: ModelState
  readonly epoch: number
  /** Consecutive openings since the last close. */
  readonly openings: number
  /** The current opening's sleep window when drawn by the shell. */
  readonly drawn?: number | undefined
  /** The Retry-After of the outcome that opened the circuit. */
  readonly retryAfter?: number | undefined
  /** When the circuit last closed after a probe, and how long it had been open. */
  readonly lastClose?: { readonly at: number; readonly openFor: number } | undefined
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

const isRequest = (kind: OutcomeKind): boolean =>
  kind === "success" || kind === "failure" || kind === "timeout" || kind === "rejected"

export const windowAt = (m: Model, now: number): ReadonlyArray<Timestamped> => {
  const n = m.config.windowCalls
  if (n === undefined) return m.outcomes.filter((o) => inWindow(m.config.buckets, m.config.bucketMillis, o.at, now))
  // From the n-th request counted from the newest, on.
  let seen = 0
  for (let i = m.outcomes.length - 1; i >= 0; i--) {
    if (isRequest(m.outcomes[i]!.kind) && ++seen === n) return m.outcomes.slice(i)
  }
  return m.outcomes
}

export const slowAt = (m: Model, now: number): number => windowAt(m, now).filter((o) => o.slow === true).length

/** Errors at the end of everything recorded since the window was emptied, after the last success. */
export const streakOf = (m: Model): number => {
  let n = 0
  for (let i = m.outcomes.length - 1; i >= 0; i--) {
    const kind = m.outcomes[i]!.kind
    if (kind === "success") break
    if (isRequest(kind)) n++
  }
  return n
}

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
  if (streakOf(m) >= (m.config.consecutive ?? Infinity)) return true
  if (s.total < m.config.volume) return false
  if (s.errors * 100 >= m.config.percent * s.total) return true
  const slowOn = m.config.slowMillis !== undefined && m.config.slowMillis !== Infinity
  return slowOn && slowAt(m, now) * 100 >= (m.config.slowPercent ?? 100) * s.total
}

export const sleepOfCurrentOpening = (m: Model): number =>
  Math.max(m.drawn ?? m.config.sleep(Math.max(1, m.openings)), m.retryAfter ?? 0)

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
      return m.state.running + m.state.succeeded < (m.config.probes ?? 1) ? "probe" : "short-circuit"
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
  ...m,
  outcomes,
  state,
  epoch,
  openings
})

const push = (m: Model, at: number, kind: OutcomeKind, slow = false): Model => ({
  ...m,
  outcomes: [...m.outcomes, slow ? { at, kind, slow } : { at, kind }]
})

const halfOpenState = (m: Model, openedAt: number, running: number, succeeded: number): ModelState => ({
  name: "half-open",
  openedAt,
  probeInFlight: running + succeeded >= (m.config.probes ?? 1),
  running,
  succeeded
})

const openAt = (m: Model, now: number, retryAfter: number | undefined): Model => {
  const fromClosed = m.state.name === "closed"
  const backoffSurvives = m.config.backoffReset === "stable" && m.lastClose !== undefined &&
    now - m.lastClose.at < m.lastClose.openFor
  const openings = fromClosed && !backoffSurvives ? 1 : m.openings + 1
  return {
    ...withState(m, { name: "open", openedAt: now }, m.epoch + 1, openings),
    drawn: undefined,
    retryAfter: retryAfter !== undefined && Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined
  }
}

/** The shell was told "probe" and admits the call as a probe. */
export const probeAdmitted = (m: Model): Model => {
  if (m.state.name === "open") return withState(m, halfOpenState(m, m.state.openedAt, 1, 0), m.epoch + 1, m.openings)
  if (m.state.name !== "half-open") throw new Error("model: probe admitted while " + m.state.name)
  const { running, succeeded, openedAt } = m.state
  const newRound = running === 0 && succeeded === 0
  return withState(m, halfOpenState(m, openedAt, running + 1, succeeded), newRound ? m.epoch + 1 : m.epoch, m.openings)
}

/** The shell drew the sleep window of the opening it saw at `epoch`. */
export const sleepDrawn = (m: Model, epoch: number, millis: number): Model =>
  m.state.name === "open" && epoch === m.epoch ? { ...m, drawn: millis } : m

export const shortCircuited = (m: Model, now: number): Model => push(m, now, "shortCircuited")

export const fallback = (m: Model, now: number, ok: boolean): Model => push(m, now, ok ? "fallbackSuccess" : "fallbackFailure")

/**
 * A call admitted in `epoch` ends at `now` with `result`, after `duration`
 * milliseconds, with the downstream's `retryAfter` (milliseconds) if any.
 */
export const complete = (
  m: Model,
  now: number,
  epoch: number,
  result: CallResult,
  duration = 0,
  retryAfter?: number
): Model => {
  const request = result !== "interrupted" && result !== "ignored"
  const slow = request && result !== "rejected" && m.config.slowMillis !== undefined && duration > m.config.slowMillis
  const recorded = request ? push(m, now, result, slow) : m
  if (epoch !== m.epoch) return recorded
  switch (m.state.name) {
    case "closed":
      return request && trips(recorded, now) ? openAt(recorded, now, retryAfter) : recorded
    case "half-open": {
      const { running, succeeded, openedAt } = m.state
      if (running === 0) return recorded
      if (result === "success") {
        if (succeeded + 1 < (m.config.probes ?? 1)) {
          return withState(recorded, halfOpenState(m, openedAt, running - 1, succeeded + 1), m.epoch, m.openings)
        }
        const stable = m.config.backoffReset === "stable"
        return {
          ...withState(m, { name: "closed" }, m.epoch + 1, stable ? m.openings : 0, []),
          drawn: undefined,
          retryAfter: undefined,
          lastClose: stable ? { at: now, openFor: now - openedAt } : undefined
        }
      }
      if (request) return openAt(recorded, now, retryAfter)
      return withState(m, halfOpenState(m, openedAt, running - 1, succeeded), m.epoch, m.openings)
    }
    default:
      return recorded
  }
}

const calm = { drawn: undefined, retryAfter: undefined, lastClose: undefined }

export const forceOpen = (m: Model): Model => ({ ...withState(m, { name: "forced-open" }, m.epoch + 1, 0), ...calm })

export const forceClosed = (m: Model): Model => ({ ...withState(m, { name: "forced-closed" }, m.epoch + 1, 0), ...calm })

export const reset = (m: Model): Model => ({ ...withState(m, { name: "closed" }, m.epoch + 1, 0, []), ...calm })

export const reconfigure = (m: Model, config: ModelConfig): Model => {
  const sameShape = config.windowCalls === m.config.windowCalls &&
    (config.windowCalls !== undefined || (config.buckets === m.config.buckets && config.bucketMillis === m.config.bucketMillis))
  const next: Model = {
    ...m,
    config,
    outcomes: sameShape ? m.outcomes : [],
    drawn: config.sleep === m.config.sleep ? m.drawn : undefined
  }
  if (m.state.name !== "half-open") return next
  const succeeded = (config.probes ?? 1) === (m.config.probes ?? 1) ? m.state.succeeded : 0
  return { ...next, state: halfOpenState(next, m.state.openedAt, m.state.running, succeeded) }
}

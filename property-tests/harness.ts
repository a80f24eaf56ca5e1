/**
 * Plays a trace against the core and the reference model at once, checks
 * that they agree after every step, and hands each step to the property so
 * it can check its own invariant.
 *
 * The driver acts like the Effect shell: it asks `Breaker.admit` before each
 * call, reduces `ProbeAdmitted` when told "probe", reduces `ShortCircuited`
 * when told "short-circuit", and remembers the generation each running call
 * was admitted in (the probe's is the one after `ProbeAdmitted`).
 */
import { assert } from "@effect/vitest"
import { Breaker, Window } from "../src/core/index.ts"
import type { BreakerConfig } from "../src/core/BreakerConfig.ts"
import { type Gap, type Scenario, sleepFrom, type Step, type TestConfig, toModelConfig } from "./arbitraries.ts"
import * as M from "./model.ts"

export const toBreakerConfig = (c: TestConfig): BreakerConfig => ({
  requestVolumeThreshold: c.volume,
  errorPercentThreshold: c.percent,
  buckets: c.buckets,
  bucketMillis: c.bucketMillis,
  sleepWindow: sleepFrom(c.sleeps),
  ...(c.windowCalls === undefined ? {} : { windowCalls: c.windowCalls }),
  ...(c.consecutive === undefined ? {} : { consecutiveFailures: c.consecutive }),
  ...(c.slowMillis === undefined ? {} : { slowCallMillis: c.slowMillis }),
  ...(c.slowPercent === undefined ? {} : { slowCallPercentThreshold: c.slowPercent }),
  ...(c.probes === undefined ? {} : { halfOpenProbes: c.probes }),
  ...(c.backoffReset === undefined ? {} : { backoffReset: c.backoffReset })
})

export interface InFlight {
  /** The core generation the call was admitted in. */
  readonly generation: number
  /** The model epoch the call was admitted in. */
  readonly epoch: number
  readonly probe: boolean
  readonly admittedAt: number
}

export interface StepInfo {
  readonly index: number
  readonly step: Step
  /** The clock during the step (after an `Advance`, the new time). */
  readonly now: number
  readonly before: Breaker.Breaker
  readonly after: Breaker.Breaker
  readonly modelBefore: M.Model
  readonly modelAfter: M.Model
  /** The core events this step reduced, in order. */
  readonly events: ReadonlyArray<Breaker.Event>
  /** For a `Call`: what `Breaker.admit` said. */
  readonly admission: Breaker.Admission | undefined
  /** For a `Complete` that found a call in flight: that call. */
  readonly completed: InFlight | undefined
  /** Calls still running after the step. */
  readonly inFlight: ReadonlyArray<InFlight>
}

export const advance = (gap: Gap, now: number, model: M.Model): number => {
  const d = model.config.bucketMillis
  switch (gap._tag) {
    case "Millis":
      return now + gap.millis
    case "ToBoundary":
      return Math.max(now, (Math.floor(now / d) + 1 + gap.skip) * d + gap.offset)
    case "PastWindow":
      return now + model.config.buckets * d + gap.extra
    case "ToSleepEnd":
      return model.state.name === "open"
        ? Math.max(now, model.state.openedAt + M.sleepOfCurrentOpening(model) + gap.offset)
        : now
  }
}

const coreStateText = (b: Breaker.Breaker): string => {
  const s = b.state
  switch (s._tag) {
    case "Open":
      return `open@${s.openedAt}`
    case "HalfOpen":
      return `half-open(probing=${s.probing})`
    default:
      return Breaker.stateName(b)
  }
}

const modelStateText = (m: M.Model): string => {
  const s = m.state
  switch (s.name) {
    case "open":
      return `open@${s.openedAt}`
    case "half-open":
      return `half-open(probing=${s.probeInFlight})`
    default:
      return s.name
  }
}

/** Times at which to compare the windows: now, and the edges of the next bucket and of the whole window. */
export const lookaheads = (now: number, buckets: number, d: number): ReadonlyArray<number> => {
  const next = (Math.floor(now / d) + 1) * d
  const leave = (Math.floor(now / d) + buckets) * d
  return [now, next - 1, next, leave - 1, leave]
}

export const summaryOfCore = (b: Breaker.Breaker, at: number): M.ModelSummary => {
  const s = Breaker.summaryAt(b, at)
  return {
    success: s.success,
    failure: s.failure,
    timeout: s.timeout,
    rejected: s.rejected,
    shortCircuited: s.shortCircuited,
    fallbackSuccess: s.fallbackSuccess,
    fallbackFailure: s.fallbackFailure,
    total: s.total,
    errors: s.errors,
    errorPercentage: s.errorPercentage
  }
}

/**
 * `assert.deepStrictEqual`, but only called on a mismatch: chai's deep
 * equality is slow, and this runs several times per step of every trace.
 */
export const assertSameSummary = (actual: M.ModelSummary, expected: M.ModelSummary, message: () => string): void => {
  for (const key of summaryKeys) {
    if (actual[key] !== expected[key]) {
      assert.deepStrictEqual(actual, expected, message())
      return
    }
  }
}

const summaryKeys: ReadonlyArray<keyof M.ModelSummary> = [
  "success",
  "failure",
  "timeout",
  "rejected",
  "shortCircuited",
  "fallbackSuccess",
  "fallbackFailure",
  "total",
  "errors",
  "errorPercentage"
]

/** `assert.strictEqual`, with the message built only on a mismatch (this runs on every step). */
export const eq = <A>(actual: A, expected: A, message: () => string): void => {
  if (actual !== expected) assert.strictEqual(actual, expected, message())
}

/** `assert.isTrue`, with the message built only on a failure. */
export const ok = (condition: boolean, message: () => string): void => {
  if (!condition) assert.fail(message())
}

/** Every closed bucket in range, oldest first, fewer than `buckets` of them. */
export const assertWindowShape = (w: Window.Window, where: () => string): void => {
  const closed = Window.closedBuckets(w)
  ok(closed.length < w.buckets, () => `${where()}: ${closed.length} closed buckets, buckets = ${w.buckets}`)
  let previous = -Infinity
  for (const bucket of closed) {
    ok(bucket.index > previous, () => `${where()}: closed buckets not in order`)
    ok(bucket.index > w.currentIndex - w.buckets, () => `${where()}: closed bucket ${bucket.index} older than the window`)
    ok(bucket.index < w.currentIndex, () => `${where()}: closed bucket ${bucket.index} not older than the current one`)
    previous = bucket.index
  }
}

/** The core and the model agree on everything observable at `now`. */
export const assertAgree = (b: Breaker.Breaker, m: M.Model, now: number, where: () => string): void => {
  eq(coreStateText(b), modelStateText(m), () => `${where()}: state`)
  eq(Breaker.admit(b, now), M.admit(m, now), () => `${where()}: admit at ${now}`)
  eq(Breaker.retryAfterMillis(b, now), M.retryAfter(m, now), () => `${where()}: retryAfterMillis at ${now}`)
  for (const at of lookaheads(now, m.config.buckets, m.config.bucketMillis)) {
    assertSameSummary(summaryOfCore(b, at), M.summaryAt(m, at), () => `${where()}: window at ${at} (now ${now})`)
  }
  eq(Breaker.summaryAt(b, now).slow, M.slowAt(m, now), () => `${where()}: slow calls at ${now}`)
  eq(b.streak, M.streakOf(m), () => `${where()}: errors in a row`)
  if (b.state._tag === "HalfOpen" && m.state.name === "half-open") {
    eq(b.episode.probesRunning, m.state.running, () => `${where()}: probes running`)
    eq(b.episode.probesSucceeded, m.state.succeeded, () => `${where()}: probes succeeded`)
  }
  assertWindowShape(b.window, () => `${where()}: stored window`)
  assertWindowShape(Breaker.windowAt(b, now), () => `${where()}: window at now`)
}

export interface TraceResult {
  readonly breaker: Breaker.Breaker
  readonly model: M.Model
  readonly now: number
  readonly inFlight: ReadonlyArray<InFlight>
}

const coreResult = {
  success: "Success",
  failure: "Failure",
  timeout: "Timeout",
  rejected: "Rejected",
  interrupted: "Interrupted",
  ignored: "Ignored"
} as const

/**
 * Plays `scenario`, asserting core/model agreement after every step, and
 * calls `onStep` after each step (after the agreement check).
 */
export const runTrace = (scenario: Scenario, onStep?: (info: StepInfo) => void): TraceResult => {
  let b = Breaker.initial(toBreakerConfig(scenario.config), scenario.start)
  let m = M.makeModel(toModelConfig(scenario.config))
  let now = scenario.start
  let inFlight: Array<InFlight> = []
  assertAgree(b, m, now, () => "initial")
  scenario.steps.forEach((step, index) => {
    const before = b
    const modelBefore = m
    const events: Array<Breaker.Event> = []
    const reduce = (event: Breaker.Event) => {
      events.push(event)
      b = Breaker.reduce(b, event)
    }
    let admission: Breaker.Admission | undefined
    let completed: InFlight | undefined
    switch (step._tag) {
      case "Advance":
        now = advance(step.gap, now, m)
        break
      case "Call": {
        admission = Breaker.admit(b, now)
        eq(admission, M.admit(m, now), () => `step ${index}: admission at ${now}`)
        if (admission === "allow") {
          inFlight.push({ generation: b.generation, epoch: m.epoch, probe: false, admittedAt: now })
        } else if (admission === "probe") {
          reduce({ _tag: "ProbeAdmitted", at: now })
          m = M.probeAdmitted(m)
          inFlight.push({ generation: b.generation, epoch: m.epoch, probe: true, admittedAt: now })
        } else {
          reduce({ _tag: "ShortCircuited", at: now })
          m = M.shortCircuited(m, now)
        }
        break
      }
      case "Complete": {
        if (inFlight.length === 0) break
        const i = step.pick % inFlight.length
        const call = inFlight[i]
        if (call === undefined) break
        completed = call
        inFlight = [...inFlight.slice(0, i), ...inFlight.slice(i + 1)]
        const durationMillis = now - call.admittedAt
        reduce(
          step.retryAfter === undefined
            ? { _tag: coreResult[step.result], at: now, generation: call.generation, durationMillis }
            : { _tag: coreResult[step.result], at: now, generation: call.generation, durationMillis, retryAfterMillis: step.retryAfter }
        )
        m = M.complete(m, now, call.epoch, step.result, durationMillis, step.retryAfter)
        break
      }
      case "Draw":
        reduce({ _tag: "SleepDrawn", at: now, generation: b.generation, millis: step.millis })
        m = M.sleepDrawn(m, m.epoch, step.millis)
        break
      case "Fallback":
        reduce({ _tag: step.ok ? "FallbackSuccess" : "FallbackFailure", at: now })
        m = M.fallback(m, now, step.ok)
        break
      case "ForceOpen":
        reduce({ _tag: "ForceOpen", at: now })
        m = M.forceOpen(m)
        break
      case "ForceClosed":
        reduce({ _tag: "ForceClosed", at: now })
        m = M.forceClosed(m)
        break
      case "Reset":
        reduce({ _tag: "Reset", at: now })
        m = M.reset(m)
        break
      case "Reconfigure":
        reduce({ _tag: "Reconfigure", at: now, config: toBreakerConfig(step.config) })
        m = M.reconfigure(m, toModelConfig(step.config))
        break
    }
    assertAgree(b, m, now, () => `after step ${index} (${step._tag})`)
    onStep?.({
      index,
      step,
      now,
      before,
      after: b,
      modelBefore,
      modelAfter: m,
      events,
      admission,
      completed,
      inFlight
    })
  })
  return { breaker: b, model: m, now, inFlight }
}

/**
 * A pure simulation of one circuit: given settings and a trace of
 * timestamped calls, what the circuit would have done to each call and when
 * it would have changed state. No fibers, no clock, no sleeping: a 10-minute
 * outage is simulated in microseconds, so it can run inside a fast-check
 * property thousands of times.
 *
 * **Details**
 *
 * `simulate(settings, trace)` decodes the settings as `CircuitRegistry` does
 * and plays the trace against the pure core (`Breaker`), acting like
 * `withCircuit`:
 *
 * - a call arriving at `at` asks `Breaker.admit`: it is short-circuited, or
 *   let through (as the probe once the sleep window has passed);
 * - a call let through takes a concurrency permit, or is rejected when all
 *   `maxConcurrentRequests` are in use;
 * - it ends `durationMillis` later with its `outcome`, or at the timeout
 *   (`at + timeout`) as a timeout when `durationMillis ≥ timeout`;
 * - its outcome is reduced into the breaker at the time it ends.
 *
 * At equal times, calls end before new calls arrive, and calls that arrive
 * at the same time are admitted in trace order.
 *
 * The result lists every call's fate (`calls`), every change of state
 * (`transitions`, as `Circuit.transitions` would report them), and the
 * breaker at the end. `stateAt`, `outageTrace` and `outageReport` answer
 * the usual questions ("how long after the outage began did it trip?").
 *
 * **Gotchas**
 *
 * - A timed-out call is taken to stop at its deadline. The real shell keeps
 *   the permit until the interrupted effect has ended, which is later if the
 *   effect ignores interruption.
 * - Like a real circuit, an open circuit only becomes half-open when a call
 *   arrives after the sleep window: without traffic, no probe and no
 *   recovery. Traces need calls after the outage to show one.
 * - Calls that end in the same millisecond end in order of their end time's
 *   computation here (earliest admitted first); in the real shell the order
 *   of two outcomes within one millisecond is not specified, and near a
 *   threshold it can decide a trip. Compare the two only on traces without
 *   such ties.
 * - Times are plain milliseconds from any origin; the window's buckets are
 *   aligned on multiples of `bucketDuration` from time 0, as with `Clock`.
 *
 * **Example** (How long does a circuit take to trip?)
 *
 * ```ts
 * import { Simulation } from "effect-circuit"
 *
 * // 10 calls a second for 20 s; calls fail from 5 s to 15 s.
 * const outage = { requestsPerSecond: 10, durationMillis: 20_000, outageStart: 5_000, outageEnd: 15_000 }
 * const simulation = Simulation.simulate(
 *   { requestVolumeThreshold: 10, rollingWindow: { buckets: 4, bucketDuration: "500 millis" }, sleepWindow: "1 second" },
 *   Simulation.outageTrace(outage)
 * )
 * const report = Simulation.outageReport(simulation, outage)
 * report.trippedAfterMillis // => 900
 * ```
 *
 * @since 0.1.0
 */
import { Duration, Exit } from "effect"
import * as CircuitConfig from "../CircuitConfig.ts"
import * as Breaker from "../core/Breaker.ts"
import * as Limit from "../core/Limit.ts"
import * as Adaptive from "../config/adaptive.ts"

/**
 * What a call would do if it ran: succeed, fail, or fail in a way the
 * circuit does not count (an error that `isFailure` rejects).
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = "success" | "failure" | "ignored"

/**
 * One call of a trace.
 *
 * @since 0.1.0
 * @category models
 */
export interface TraceCall {
  /** When the call arrives, in milliseconds. */
  readonly at: number
  /** What it does if it runs. */
  readonly outcome: Outcome
  /**
   * How long it runs, in milliseconds. Default 0. `Infinity`: it never ends
   * by itself (it times out, or holds its permit forever without a timeout).
   */
  readonly durationMillis?: number | undefined
}

/**
 * A trace: calls in any order (they are played in order of `at`, ties in
 * trace order).
 *
 * @since 0.1.0
 * @category models
 */
export type Trace = ReadonlyArray<TraceCall>

/**
 * What happened to a call: its own outcome, a `"timeout"`, or the circuit's
 * answer (`"short-circuited"`, `"rejected"`); `"running"` when it had not
 * ended when the trace was over (no timeout and an infinite duration).
 *
 * @since 0.1.0
 * @category models
 */
export type CallResult = Outcome | "timeout" | "short-circuited" | "rejected" | "running"

/**
 * The fate of one call of the trace.
 *
 * @since 0.1.0
 * @category models
 */
export interface SimulatedCall {
  /** Its index in the trace. */
  readonly index: number
  readonly at: number
  /** What `Breaker.admit` said when it arrived. */
  readonly admission: Breaker.Admission
  readonly result: CallResult
  /** When it ended (`at` for a short-circuit or a rejection); `undefined` while running. */
  readonly endedAt: number | undefined
}

/**
 * A change of state, as `Circuit.transitions` reports it.
 *
 * @since 0.1.0
 * @category models
 */
export interface StateChange {
  readonly at: number
  readonly from: Breaker.StateName
  readonly to: Breaker.StateName
}

/**
 * The result of `simulate`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Simulation {
  /** The decoded settings. */
  readonly config: CircuitConfig.CircuitConfig
  /** Every call of the trace, in trace order. */
  readonly calls: ReadonlyArray<SimulatedCall>
  /** Every change of state, in order. */
  readonly transitions: ReadonlyArray<StateChange>
  /** The breaker after the last event. */
  readonly breaker: Breaker.Breaker
  /** The time of the last event (an arrival or an end). */
  readonly end: number
}

interface Running {
  readonly index: number
  readonly endsAt: number
  readonly result: "success" | "failure" | "ignored" | "timeout"
  readonly generation: number
  /** Calls running when it started, itself included. */
  readonly inFlight: number
  readonly seq: number
}

// A binary min-heap of running calls, by end time, then by admission order.
class Ends {
  private readonly heap: Array<Running> = []
  get size(): number {
    return this.heap.length
  }
  peek(): Running | undefined {
    return this.heap[0]
  }
  private less(a: Running, b: Running): boolean {
    return a.endsAt < b.endsAt || (a.endsAt === b.endsAt && a.seq < b.seq)
  }
  push(item: Running): void {
    const heap = this.heap
    heap.push(item)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }
  pop(): Running | undefined {
    const heap = this.heap
    const top = heap[0]
    const last = heap.pop()
    if (top === undefined || last === undefined || heap.length === 0) return top
    heap[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < heap.length && this.less(heap[l]!, heap[m]!)) m = l
      if (r < heap.length && this.less(heap[r]!, heap[m]!)) m = r
      if (m === i) break
      ;[heap[i], heap[m]] = [heap[m]!, heap[i]!]
      i = m
    }
    return top
  }
}

/**
 * Plays a trace against a circuit with the given settings.
 *
 * **Details**
 *
 * See the module's description for the rules. The simulation is
 * deterministic: the same settings and trace always give the same result.
 *
 * **Gotchas**
 *
 * Throws the `CircuitConfigError` that `CircuitRegistry.layer` would fail
 * with when the settings are invalid, and a `RangeError` for a call whose
 * `at` or `durationMillis` is not a number ≥ 0 (`at` may be any finite
 * number).
 *
 * **Example** (Three failures trip a circuit that needs three requests)
 *
 * ```ts
 * import { Simulation } from "effect-circuit"
 *
 * const simulation = Simulation.simulate({ requestVolumeThreshold: 3 }, [
 *   { at: 0, outcome: "failure" },
 *   { at: 10, outcome: "failure" },
 *   { at: 20, outcome: "failure" },
 *   { at: 30, outcome: "success" }
 * ])
 * simulation.transitions // => [{ at: 20, from: "closed", to: "open" }]
 * simulation.calls[3]?.result // => "short-circuited"
 * ```
 *
 * @since 0.1.0
 * @category simulation
 */
export const simulate = (settings: CircuitConfig.CircuitConfigInput, trace: Trace): Simulation => {
  const decoded = CircuitConfig.decode(settings)
  if (Exit.isFailure(decoded)) {
    const error = decoded.cause.reasons.find((reason) => reason._tag === "Fail")
    throw error !== undefined && error._tag === "Fail" ? error.error : new Error("invalid circuit settings")
  }
  const config = decoded.value
  const timeout = Duration.isFinite(config.timeout) ? Duration.toMillis(config.timeout) : Infinity
  const limitSetting = config.maxConcurrentRequests

  const order = trace.map((_, index) => index)
  for (const call of trace) {
    if (typeof call.at !== "number" || !Number.isFinite(call.at)) throw new RangeError(`at must be a finite number, got ${call.at}`)
    const d = call.durationMillis
    if (d !== undefined && !(typeof d === "number" && d >= 0)) throw new RangeError(`durationMillis must be ≥ 0, got ${d}`)
  }
  order.sort((a, b) => trace[a]!.at - trace[b]!.at || a - b)
  const start = Math.min(0, trace[order[0] ?? 0]?.at ?? 0)

  let breaker = Breaker.initial(CircuitConfig.toBreakerConfig(config), start)
  const transitions: Array<StateChange> = []
  const calls: Array<SimulatedCall | undefined> = trace.map(() => undefined)
  const ends = new Ends()
  let active = 0
  let seq = 0
  let end = start
  // An adaptive limit learns from each call that ends, as the shell's does.
  let limit = Adaptive.isAdaptive(limitSetting) ? Limit.initial(Adaptive.toLimitSettings(limitSetting), start) : undefined
  let maxConcurrent = Adaptive.isAdaptive(limitSetting) ? Limit.current(limit!) : limitSetting

  const apply = (event: Breaker.Event): void => {
    const before = breaker
    breaker = Breaker.reduce(before, event)
    if (breaker.generation !== before.generation && Breaker.stateName(before) !== Breaker.stateName(breaker)) {
      transitions.push({ at: event.at, from: Breaker.stateName(before), to: Breaker.stateName(breaker) })
    }
  }

  const finish = (running: Running): void => {
    active--
    end = running.endsAt
    const at = running.endsAt
    const generation = running.generation
    switch (running.result) {
      case "success":
        apply({ _tag: "Success", at, generation })
        break
      case "failure":
        apply({ _tag: "Failure", at, generation })
        break
      case "timeout":
        apply({ _tag: "Timeout", at, generation })
        break
      case "ignored":
        apply({ _tag: "Ignored", at, generation })
        break
    }
    const call = trace[running.index]!
    if (limit !== undefined && running.result !== "ignored") {
      limit = Limit.reduce(limit, { outcome: running.result, at, latency: at - call.at, inFlight: running.inFlight })
      maxConcurrent = Limit.current(limit)
    }
    calls[running.index] = {
      index: running.index,
      at: call.at,
      admission: calls[running.index]?.admission ?? "allow",
      result: running.result,
      endedAt: at
    }
  }

  for (const index of order) {
    const call = trace[index]!
    const at = call.at
    // Calls that end at or before this arrival end first.
    for (let next = ends.peek(); next !== undefined && next.endsAt <= at; next = ends.peek()) finish(ends.pop()!)
    end = at
    const admission = Breaker.admit(breaker, at)
    if (admission === "short-circuit") {
      apply({ _tag: "ShortCircuited", at })
      calls[index] = { index, at, admission, result: "short-circuited", endedAt: at }
      continue
    }
    if (admission === "probe") apply({ _tag: "ProbeAdmitted", at })
    const generation = breaker.generation
    if (active >= maxConcurrent) {
      apply({ _tag: "Rejected", at, generation })
      calls[index] = { index, at, admission, result: "rejected", endedAt: at }
      continue
    }
    active++
    const duration = call.durationMillis ?? 0
    const timedOut = duration >= timeout
    const endsAt = timedOut ? at + timeout : at + duration
    calls[index] = { index, at, admission, result: "running", endedAt: undefined }
    if (Number.isFinite(endsAt)) {
      ends.push({ index, endsAt, result: timedOut ? "timeout" : call.outcome, generation, inFlight: active, seq: seq++ })
    }
  }
  while (ends.size > 0) finish(ends.pop()!)

  return { config, calls: calls as Array<SimulatedCall>, transitions, breaker, end }
}

/**
 * The state's name at time `at`: the state after every change at or before
 * `at` (`"closed"` before the first).
 *
 * **Gotchas**
 *
 * An open circuit whose sleep window has passed is still `"open"` until a
 * call arrives to be the probe, as in `Circuit.snapshot`.
 *
 * **Example** (Before and after a trip)
 *
 * ```ts
 * import { Simulation } from "effect-circuit"
 *
 * const simulation = Simulation.simulate({ requestVolumeThreshold: 1 }, [{ at: 100, outcome: "failure" }])
 * Simulation.stateAt(simulation, 99) // => "closed"
 * Simulation.stateAt(simulation, 100) // => "open"
 * ```
 *
 * @since 0.1.0
 * @category queries
 */
export const stateAt = (simulation: Simulation, at: number): Breaker.StateName => {
  let state: Breaker.StateName = "closed"
  for (const change of simulation.transitions) {
    if (change.at > at) break
    state = change.to
  }
  return state
}

/**
 * The first change of state to `to` at or after `from` (default: the
 * start), or `undefined`.
 *
 * **Example** (When did it close again?)
 *
 * ```ts
 * import { Simulation } from "effect-circuit"
 *
 * const simulation = Simulation.simulate({ requestVolumeThreshold: 1, sleepWindow: 50 }, [
 *   { at: 0, outcome: "failure" },
 *   { at: 60, outcome: "success" }
 * ])
 * Simulation.firstTransitionTo(simulation, "closed")?.at // => 60
 * ```
 *
 * @since 0.1.0
 * @category queries
 */
export const firstTransitionTo = (
  simulation: Simulation,
  to: Breaker.StateName,
  from = -Infinity
): StateChange | undefined => simulation.transitions.find((change) => change.to === to && change.at >= from)

/**
 * How many calls ended with each result.
 *
 * **Example** (Counting short-circuits)
 *
 * ```ts
 * import { Simulation } from "effect-circuit"
 *
 * const simulation = Simulation.simulate({ requestVolumeThreshold: 1 }, [
 *   { at: 0, outcome: "failure" },
 *   { at: 10, outcome: "success" },
 *   { at: 20, outcome: "success" }
 * ])
 * Simulation.countResults(simulation)["short-circuited"] // => 2
 * ```
 *
 * @since 0.1.0
 * @category queries
 */
export const countResults = (simulation: Simulation): Readonly<Record<CallResult, number>> => {
  const counts: Record<CallResult, number> = {
    success: 0,
    failure: 0,
    ignored: 0,
    timeout: 0,
    "short-circuited": 0,
    rejected: 0,
    running: 0
  }
  for (const call of simulation.calls) counts[call.result]++
  return counts
}

/**
 * A dependency that goes down for a while under steady traffic: the
 * scenario of `outageTrace` and `outageReport`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Outage {
  /** Calls per second, evenly spaced, from time 0 to `durationMillis`. */
  readonly requestsPerSecond: number
  /** The length of the whole trace, in milliseconds. */
  readonly durationMillis: number
  /** When the dependency goes down, in milliseconds. */
  readonly outageStart: number
  /** When it is back (calls arriving from then on behave normally). */
  readonly outageEnd: number
  /**
   * How the dependency fails while down: `"errors"` (default), calls fail
   * after `latencyMillis`; `"hangs"`, calls never answer (they time out).
   */
  readonly mode?: "errors" | "hangs" | undefined
  /** The share of calls that fail while down, 0–1. Default 1. */
  readonly failureRate?: number | undefined
  /** How long a call runs when it answers, in milliseconds. Default 0. */
  readonly latencyMillis?: number | undefined
}

/**
 * The trace of an outage scenario: evenly spaced calls, failing (or hanging)
 * while the dependency is down. Deterministic: with a `failureRate` below 1,
 * the failing calls are spread evenly (call `i` of the outage fails when
 * `⌊(i + 1)·rate⌋ > ⌊i·rate⌋`).
 *
 * **Example** (One minute of traffic with a 30 s outage)
 *
 * ```ts
 * import { Simulation } from "effect-circuit"
 *
 * const trace = Simulation.outageTrace({
 *   requestsPerSecond: 20,
 *   durationMillis: 60_000,
 *   outageStart: 10_000,
 *   outageEnd: 40_000,
 *   latencyMillis: 15
 * })
 * trace.length // => 1200
 * ```
 *
 * @since 0.1.0
 * @category scenarios
 */
export const outageTrace = (outage: Outage): Trace => {
  const interval = 1000 / outage.requestsPerSecond
  if (!(interval > 0 && Number.isFinite(interval))) {
    throw new RangeError(`requestsPerSecond must be a finite number > 0, got ${outage.requestsPerSecond}`)
  }
  const rate = outage.failureRate ?? 1
  const latency = outage.latencyMillis ?? 0
  const hangs = outage.mode === "hangs"
  const trace: Array<TraceCall> = []
  let down = 0
  for (let i = 0;; i++) {
    const at = Math.round(i * interval * 1000) / 1000
    if (at >= outage.durationMillis) break
    const inOutage = at >= outage.outageStart && at < outage.outageEnd
    const fails = inOutage && Math.floor((down + 1) * rate) > Math.floor(down * rate)
    if (inOutage) down++
    trace.push(
      fails
        ? hangs ? { at, outcome: "failure", durationMillis: Infinity } : { at, outcome: "failure", durationMillis: latency }
        : { at, outcome: "success", durationMillis: latency }
    )
  }
  return trace
}

/**
 * What a circuit did during an outage.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutageReport {
  /**
   * How many times the circuit opened before the outage began, while the
   * dependency was healthy (a limit too low for the traffic, a threshold
   * too tight for the latency): 0 for settings that do not flap.
   */
  readonly openingsBeforeOutage: number
  /**
   * From the start of the outage to the first opening at or after it;
   * `undefined` if the circuit never opened.
   */
  readonly trippedAfterMillis: number | undefined
  /**
   * From the end of the outage until the circuit is closed again: 0 if it
   * was closed then, `undefined` if it never closed again in the trace.
   */
  readonly recoveredAfterMillis: number | undefined
  /** Calls that ran during the outage and failed or timed out. */
  readonly failedDuringOutage: number
  /** Calls short-circuited or rejected during the outage: load kept off the dependency. */
  readonly sparedDuringOutage: number
  /** Calls short-circuited or rejected after the outage: healthy calls lost to the circuit. */
  readonly refusedAfterOutage: number
}

/**
 * Measures a simulation against its outage scenario: how fast the circuit
 * tripped, how fast it recovered, and how many calls it spared and refused.
 *
 * **Example** (A property of one's settings)
 *
 * ```ts
 * import { Simulation } from "effect-circuit"
 *
 * const settings = { requestVolumeThreshold: 10, rollingWindow: { buckets: 10, bucketDuration: "200 millis" }, sleepWindow: "2 seconds" } as const
 * const outage = { requestsPerSecond: 20, durationMillis: 60_000, outageStart: 10_000, outageEnd: 40_000 }
 * const report = Simulation.outageReport(Simulation.simulate(settings, Simulation.outageTrace(outage)), outage)
 * const ok = report.trippedAfterMillis !== undefined && report.trippedAfterMillis <= 2_000 &&
 *   report.recoveredAfterMillis !== undefined && report.recoveredAfterMillis <= 10_000
 * ```
 *
 * @since 0.1.0
 * @category scenarios
 */
export const outageReport = (simulation: Simulation, outage: Outage): OutageReport => {
  const tripped = firstTransitionTo(simulation, "open", outage.outageStart)
  let recoveredAfterMillis: number | undefined
  if (stateAt(simulation, outage.outageEnd) === "closed") {
    recoveredAfterMillis = 0
  } else {
    const closed = firstTransitionTo(simulation, "closed", outage.outageEnd)
    recoveredAfterMillis = closed === undefined ? undefined : closed.at - outage.outageEnd
  }
  let failedDuringOutage = 0
  let sparedDuringOutage = 0
  let refusedAfterOutage = 0
  for (const call of simulation.calls) {
    const refused = call.result === "short-circuited" || call.result === "rejected"
    if (call.at >= outage.outageStart && call.at < outage.outageEnd) {
      if (refused) sparedDuringOutage++
      else if (call.result === "failure" || call.result === "timeout") failedDuringOutage++
    } else if (call.at >= outage.outageEnd && refused) {
      refusedAfterOutage++
    }
  }
  let openingsBeforeOutage = 0
  for (const change of simulation.transitions) {
    if (change.at >= outage.outageStart) break
    if (change.to === "open" && change.from === "closed") openingsBeforeOutage++
  }
  return {
    openingsBeforeOutage,
    trippedAfterMillis: tripped === undefined ? undefined : tripped.at - outage.outageStart,
    recoveredAfterMillis,
    failedDuringOutage,
    sparedDuringOutage,
    refusedAfterOutage
  }
}

/**
 * The real side of the model-based suite: one `ManagedRuntime` per run (a
 * `TestClock`, a `CircuitRegistry`, and a scheduler that counts the fiber
 * tasks not yet run), the caller fibers of the calls in flight, and the
 * events and transitions the circuit published.
 *
 * `settle` runs fibers until no task is queued: every fiber that can move has
 * moved and is blocked on the clock or on another fiber. Only then are the
 * circuit and the model compared.
 */
import { Cause, Data, Deferred, Duration, Effect, Exit, Fiber, Layer, ManagedRuntime, Scheduler, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import {
  Circuit,
  CircuitConfigError,
  CircuitFallbackError,
  CircuitFallbackRejectedError,
  CircuitOpenError,
  CircuitPermit,
  CircuitRegistry,
  CircuitRejectedError,
  CircuitTimeoutError,
  type CircuitConfigInput,
  type CircuitEvent,
  type CircuitTransition,
  withCircuit
} from "../src/index.ts"
import type { Expected, ExpectedEvent, ExpectedTransition, FallbackKind, Model, Plan, Summary } from "./mbt-model.ts"

export const NAME = "mbt"

/** The guarded effect's typed failure, with the downstream's Retry-After (milliseconds) if any. */
export class Boom extends Data.TaggedError("Boom")<{ readonly retryAfter?: number | undefined }> {}

/** How the shells read a failure's Retry-After: `retryAfter` of a `Boom`. */
export const retryAfterOf = (error: unknown): number | undefined => error instanceof Boom ? error.retryAfter : undefined
export class Ignorable extends Data.TaggedError("Ignorable")<{}> {}
export class FallbackBoom extends Data.TaggedError("FallbackBoom")<{}> {}

/** Counts the fiber tasks scheduled and not yet run. */
export class CountingScheduler implements Scheduler.Scheduler {
  readonly executionMode = "async" as const
  pending = 0
  private readonly inner = new Scheduler.MixedScheduler()

  shouldYield(fiber: Fiber.Fiber<unknown, unknown>): boolean {
    return this.inner.shouldYield(fiber)
  }

  makeDispatcher(): Scheduler.SchedulerDispatcher {
    const inner = this.inner.makeDispatcher()
    return {
      scheduleTask: (task, priority) => {
        this.pending++
        inner.scheduleTask(() => {
          this.pending--
          task()
        }, priority)
      },
      flush: () => inner.flush()
    }
  }
}

export class MbtFailure extends Error {}

/** A caller waiting for its answer: a fiber, or a Promise call's answer so far. */
export interface Caller {
  readonly pollUnsafe: () => Exit.Exit<unknown, unknown> | undefined
}

/** What the runs went through, for the report (and docs/reliability.md). */
export const coverage = {
  maxInFlight: 0,
  maxActive: 0,
  activeOverLimit: 0,
  maxWaiting: 0,
  states: {} as Record<string, number>,
  events: {} as Record<string, number>,
  transitions: {} as Record<string, number>
}

const bump = (record: Record<string, number>, key: string): void => {
  record[key] = (record[key] ?? 0) + 1
}

export const fail = (message: string): never => {
  throw new MbtFailure(message)
}

export type Services = CircuitRegistry | TestClock.TestClock

/**
 * How a test reports a two-step permit: the Effect permit's `success`,
 * `failure(error)` (a `Boom`, or an `Ignorable` that `isFailure` refuses),
 * `ignore`, or `report(exit)` with each kind of `Exit`. The Promise permit has
 * the first four (the test maps the others to them).
 */
export type ReportKind =
  | "success"
  | "failure"
  | "failure-ignorable"
  | "ignore"
  | "exit-success"
  | "exit-fail"
  | "exit-die"
  | "exit-interrupt"

/** How a permit's scope closes (Effect), or how a Promise permit ends: disposed, or its caller aborts. */
export type CloseKind = "success" | "fail" | "die" | "interrupt"

export class Driver {
  readonly scheduler = new CountingScheduler()
  readonly runtime: ManagedRuntime.ManagedRuntime<Services, CircuitConfigError>
  /** Callers whose answer the model has not given yet, by call id (fibers, for this driver). */
  readonly callers = new Map<number, Caller>()
  /** The scopes two-step permits were admitted in, by call id. */
  private readonly scopes = new Map<number, Scope.Closeable>()
  /** Effects running right now (counted by the effects themselves). */
  running = 0
  events: Array<CircuitEvent> = []
  transitions: Array<CircuitTransition> = []
  /** Every outcome event seen (one per call), and every call made. */
  outcomes = 0
  callsMade = 0
  /**
   * What each call's work and fallback do, by call id: the model's, read when
   * they start (a waiter's are decided when it is handed a permit).
   */
  plans: ReadonlyMap<number, Plan> = new Map()

  plan(id: number): Plan {
    const plan = this.plans.get(id)
    if (plan === undefined) return fail(`no plan for call #${id}`)
    return plan
  }

  /** The circuit's snapshot, through the API under test. */
  snapshot(): Effect.Effect<Circuit.CircuitSnapshot, never, Services> {
    return Circuit.snapshot(NAME)
  }

  configure(input: CircuitConfigInput): Effect.Effect<Exit.Exit<unknown, CircuitConfigError>, never, Services> {
    return Effect.exit(Circuit.configure(NAME, input))
  }

  admin(action: "forceOpen" | "forceClosed" | "reset"): Effect.Effect<void, never, Services> {
    return Circuit[action](NAME)
  }

  constructor(defaults: CircuitConfigInput) {
    const base = Layer.succeed(Scheduler.Scheduler, this.scheduler as Scheduler.Scheduler)
    this.runtime = ManagedRuntime.make(
      Layer.mergeAll(TestClock.layer(), CircuitRegistry.layer({ defaults, eventBuffer: 1 << 16 })).pipe(
        Layer.provide(base)
      )
    )
  }

  run<A>(effect: Effect.Effect<A, never, Services>): Promise<A> {
    return this.runtime.runPromise(effect)
  }

  /** Runs fibers until none can move. */
  readonly settle: Effect.Effect<void> = Effect.suspend(() => {
    const loop: Effect.Effect<void> = Effect.flatMap(
      Effect.yieldNow,
      () => this.scheduler.pending > 0 ? loop : Effect.void
    )
    return loop
  })

  /** Subscribes to the circuit's events and transitions (forked in the runtime). */
  readonly subscribe: Effect.Effect<void, never, Services> = Effect.suspend(() =>
    Effect.gen({ self: this }, function*() {
      yield* Circuit.events.pipe(
        Stream.runForEach((e) =>
          Effect.sync(() => {
            this.events.push(e)
          })
        ),
        Effect.forkDetach
      )
      yield* Circuit.transitions.pipe(
        Stream.runForEach((t) =>
          Effect.sync(() => {
            this.transitions.push(t)
          })
        ),
        Effect.forkDetach
      )
      yield* this.settle
    })
  )

  /** The work of call `id`, as its plan says when it starts. */
  body(
    id: number,
    gate: Deferred.Deferred<void> | undefined,
    retryAfter: number | undefined
  ): Effect.Effect<string, Boom | Ignorable> {
    return Effect.suspend(() => {
      const { behaviour, duration } = this.plan(id)
      const work: Effect.Effect<string, Boom | Ignorable> = behaviour === "succeed"
        ? Effect.as(Effect.sleep(duration), "ok")
        : behaviour === "fail"
        ? Effect.andThen(Effect.sleep(duration), Effect.fail(new Boom({ retryAfter })))
        : behaviour === "die"
        ? Effect.andThen(Effect.sleep(duration), Effect.die("bug"))
        : behaviour === "ignored"
        ? Effect.andThen(Effect.sleep(duration), Effect.fail(new Ignorable()))
        : behaviour === "stubborn"
        ? Effect.uninterruptible(Effect.as(Effect.sleep(duration), "ok"))
        : Effect.never
      const start = gate === undefined ? work : Effect.andThen(Deferred.succeed(gate, undefined), work)
      this.running++
      return Effect.ensuring(
        start,
        Effect.sync(() => {
          this.running--
        })
      )
    })
  }

  /**
   * Starts call `id` (its plan made by the model) in a fiber of its own. With
   * `interruptAtStart`, the effect's first step wakes another fiber (it
   * completes a Deferred that fiber awaits) which interrupts the caller at
   * once, while the caller is still inside `withCircuit`; a call that waits
   * in the queue is not interrupted so.
   */
  call(
    id: number,
    fallback: FallbackKind,
    interruptAtStart: boolean,
    retryAfter?: number
  ): Effect.Effect<void, never, Services> {
    const isFailure = (failure: unknown) => !(failure instanceof Ignorable)
    const gate = interruptAtStart ? Deferred.makeUnsafe<void>() : undefined
    const body = this.body(id, gate, retryAfter)
    const options = { isFailure, retryAfter: retryAfterOf }
    // A fallback that lasts sleeps first; one that does not is a plain value
    // (it ends when it starts). How long: the plan's, when it starts.
    const guarded: Effect.Effect<unknown, unknown, CircuitRegistry> = fallback === "none"
      ? withCircuit(body, NAME, options)
      : fallback === "ok"
      ? withCircuit(body, NAME, {
        ...options,
        fallback: () => {
          const millis = this.plan(id).fallbackMillis
          return millis > 0 ? Effect.as(Effect.sleep(millis), "fallback") : Effect.succeed("fallback")
        }
      })
      : withCircuit(body, NAME, {
        ...options,
        fallback: () => {
          const millis = this.plan(id).fallbackMillis
          return millis > 0
            ? Effect.andThen(Effect.sleep(millis), Effect.fail(new FallbackBoom()))
            : Effect.fail(new FallbackBoom())
        }
      })
    this.callsMade++
    return Effect.gen({ self: this }, function*() {
      let caller: Fiber.Fiber<unknown, unknown> | undefined
      // Forked first, so it awaits the gate before the caller runs.
      const interrupter = gate === undefined ? undefined : yield* Effect.forkDetach(
        Effect.andThen(Deferred.await(gate), Effect.suspend(() => Fiber.interrupt(caller!)))
      )
      caller = yield* Effect.forkDetach(guarded)
      this.callers.set(id, caller)
      if (interrupter !== undefined) {
        yield* this.settle
        // The effect never started (short-circuited, rejected, or waiting): nothing to interrupt.
        if (!Deferred.isDoneUnsafe(gate!)) yield* Fiber.interrupt(interrupter)
      }
    })
  }

  /**
   * A two-step admission (`Circuit.admit`), in a fiber of its own and a
   * scope of its own: its answer is the permit or the circuit's refusal.
   */
  admit(id: number): Effect.Effect<void, never, Services> {
    this.callsMade++
    const isFailure = (failure: unknown) => !(failure instanceof Ignorable)
    return Effect.gen({ self: this }, function*() {
      const scope = yield* Scope.make()
      this.scopes.set(id, scope)
      const fiber = yield* Effect.forkDetach(
        Scope.provide(Circuit.admit(NAME, { isFailure, retryAfter: retryAfterOf }), scope)
      )
      this.callers.set(id, fiber)
    })
  }

  /** The permit admission `id` gave. */
  protected permitOf(id: number): CircuitPermit.CircuitPermit {
    const exit = this.admissionOf(id)
    if (exit === undefined || !Exit.isSuccess(exit)) return fail(`call #${id}: no permit`)
    return exit.value as CircuitPermit.CircuitPermit
  }

  /** Admission `id`'s answer: kept by the verification, or its caller's (not verified yet). */
  protected admissionOf(id: number): Exit.Exit<unknown, unknown> | undefined {
    return this.admissions.get(id) ?? this.callers.get(id)?.pollUnsafe()
  }

  /** Admissions answered, kept for the reports to come (the verification takes their callers). */
  readonly admissions = new Map<number, Exit.Exit<unknown, unknown>>()

  /** Reports permit `id`; what the report returned. */
  report(id: number, kind: ReportKind, retryAfter: number | undefined): Effect.Effect<boolean> {
    return Effect.suspend(() => {
      const permit = this.permitOf(id)
      switch (kind) {
        case "success":
          return permit.success
        case "failure":
          return permit.failure(new Boom({ retryAfter }))
        case "failure-ignorable":
          return permit.failure(new Ignorable())
        case "ignore":
          return permit.ignore
        case "exit-success":
          return permit.report(Exit.succeed("ok"))
        case "exit-fail":
          return permit.report(Exit.fail(new Boom({ retryAfter })))
        case "exit-die":
          return permit.report(Exit.die("bug"))
        case "exit-interrupt":
          return permit.report(Exit.interrupt())
      }
    })
  }

  /** Closes the scope permit `id` was admitted in. */
  closePermit(id: number, kind: CloseKind, retryAfter: number | undefined): Effect.Effect<void> {
    return Effect.suspend(() => {
      const scope = this.scopes.get(id)
      if (scope === undefined) return fail(`call #${id}: no scope`)
      this.scopes.delete(id)
      return Scope.close(
        scope,
        kind === "success"
          ? Exit.void
          : kind === "fail"
          ? Exit.fail(new Boom({ retryAfter }))
          : kind === "die"
          ? Exit.die("bug")
          : Exit.interrupt()
      )
    })
  }

  interrupt(id: number): Effect.Effect<void> {
    const fiber = this.callers.get(id) as Fiber.Fiber<unknown, unknown> | undefined
    if (fiber === undefined) return fail(`interrupt: no caller fiber for call #${id}`)
    return Effect.asVoid(Effect.forkDetach(Fiber.interrupt(fiber)))
  }
}

// -----------------------------------------------------------------------------
// comparisons
// -----------------------------------------------------------------------------

const summaryKeys: ReadonlyArray<keyof Summary> = [
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

const describeExit = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return `success(${String(exit.value)})`
  try {
    return `failure(${Cause.pretty(exit.cause).split("\n")[0]})`
  } catch {
    return "failure(?)"
  }
}

/** Whether the caller's exit is what the model expected. */
export const matches = (exit: Exit.Exit<unknown, unknown>, expected: Expected): boolean => {
  if (expected._tag === "Success") return Exit.isSuccess(exit) && exit.value === expected.value
  if (expected._tag === "Permit") {
    return Exit.isSuccess(exit) && typeof exit.value === "object" && exit.value !== null &&
      (exit.value as { readonly circuit?: unknown }).circuit === NAME
  }
  if (Exit.isSuccess(exit)) return false
  const cause = exit.cause
  if (expected._tag === "Interrupted") return Cause.hasInterruptsOnly(cause)
  if (expected._tag === "FallbackRejected") {
    // A defect in withCircuit (its type promises the fallback answers), a rejection in the Promise shell.
    const reason = cause.reasons[0]
    const error = reason === undefined
      ? undefined
      : Cause.isDieReason(reason)
      ? reason.defect
      : Cause.isFailReason(reason)
      ? reason.error
      : undefined
    return cause.reasons.length === 1 && error instanceof CircuitFallbackRejectedError && error.circuit === NAME &&
      error.maxConcurrentFallbacks === expected.max
  }
  if (expected._tag === "Defect") return Cause.hasDies(cause) && !Cause.hasFails(cause) && !Cause.hasInterrupts(cause)
  const found = Cause.findErrorOption(cause)
  if (found._tag === "None" || Cause.hasDies(cause)) return false
  const error = found.value
  switch (expected._tag) {
    case "Open":
      return error instanceof CircuitOpenError && error.circuit === NAME && error.state === expected.state &&
        Duration.toMillis(error.retryAfter) === expected.retryAfter
    case "Rejected":
      return error instanceof CircuitRejectedError && error.circuit === NAME &&
        error.maxConcurrentRequests === expected.max && error.reason === expected.reason &&
        error.queueCapacity === expected.capacity &&
        (error.waited === undefined ? undefined : Duration.toMillis(error.waited)) === expected.waited
    case "Timeout":
      return error instanceof CircuitTimeoutError && error.circuit === NAME &&
        Duration.toMillis(error.timeout) === expected.timeout
    case "Boom":
      return error instanceof Boom
    case "Ignorable":
      return error instanceof Ignorable
    case "FallbackFailed":
      return error instanceof CircuitFallbackError && error.circuit === NAME &&
        Cause.findErrorOption(error.fallbackCause)._tag === "Some"
  }
}

const eventKey = (e: ExpectedEvent | CircuitEvent): string => `${e.at}:${e.kind}:${e.durationMillis}`
const transitionKey = (t: ExpectedTransition | CircuitTransition): string => `${t.at}:${t.from}->${t.to}`

/** Sorted by time, then by kind: events at one instant may come in either order. */
const canonical = (keys: ReadonlyArray<string>, at: (i: number) => number): Array<string> =>
  keys.map((k, i) => ({ k, at: at(i) })).sort((a, b) => a.at - b.at || (a.k < b.k ? -1 : a.k > b.k ? 1 : 0)).map((x) =>
    x.k
  )

const sameList = (actual: ReadonlyArray<string>, expected: ReadonlyArray<string>): boolean =>
  actual.length === expected.length && actual.every((a, i) => a === expected[i])

/**
 * Compares the circuit with the model, after letting every fiber that can
 * move run. `where` names the command, for the failure message.
 */
export const verify = (model: Model, driver: Driver, where: string): Effect.Effect<void, never, Services> =>
  Effect.gen(function*() {
    yield* driver.settle
    const snap = yield* driver.snapshot()
    const problems: Array<string> = []
    const now = model.now
    if (snap.state !== model.stateName) problems.push(`state: circuit ${snap.state}, model ${model.stateName}`)
    const expected = model.summaryAt(now)
    for (const key of summaryKeys) {
      if (snap.window[key] !== expected[key]) {
        problems.push(`window.${key}: circuit ${snap.window[key]}, model ${expected[key]}`)
      }
    }
    if (snap.concurrency.active !== model.active) {
      problems.push(`concurrency.active: circuit ${snap.concurrency.active}, model ${model.active}`)
    }
    if (snap.concurrency.max !== model.config.max) {
      problems.push(`concurrency.max: circuit ${snap.concurrency.max}, model ${model.config.max}`)
    }
    // Two-step permits hold concurrency permits with no effect running.
    const held = model.permitsHeld()
    if (driver.running !== model.active - held) {
      problems.push(`effects running ${driver.running}, permits expected ${model.active} (${held} of them two-step)`)
    }
    const config = snap.config
    const timeout = Duration.toMillis(config.timeout)
    if (timeout !== (model.config.timeout ?? Infinity)) problems.push(`config.timeout ${timeout}`)
    if (config.requestVolumeThreshold !== model.config.volume) problems.push(`config.requestVolumeThreshold`)
    if (config.errorPercentThreshold !== model.config.percent) problems.push(`config.errorPercentThreshold`)
    if (config.rollingWindow.buckets !== model.config.buckets) problems.push(`config.rollingWindow.buckets`)
    if (Duration.toMillis(config.rollingWindow.bucketDuration) !== model.config.bucketMillis) {
      problems.push(`config.rollingWindow.bucketDuration`)
    }
    if (config.rollingWindow.calls !== model.config.windowCalls) problems.push(`config.rollingWindow.calls`)
    if (config.consecutiveFailures !== model.config.consecutive) problems.push(`config.consecutiveFailures`)
    if (Duration.toMillis(config.slowCallDuration) !== model.config.slowMillis) problems.push(`config.slowCallDuration`)
    if (config.halfOpenProbes !== model.config.probes) problems.push(`config.halfOpenProbes`)
    if (config.backoffReset !== model.config.backoffReset) problems.push(`config.backoffReset`)
    if (snap.fallbacks.active !== model.fallbacksActive) {
      problems.push(`fallbacks.active: circuit ${snap.fallbacks.active}, model ${model.fallbacksActive}`)
    }
    if (snap.fallbacks.max !== model.config.maxFallbacks) {
      problems.push(`fallbacks.max: circuit ${snap.fallbacks.max}, model ${model.config.maxFallbacks}`)
    }
    if (snap.queue.waiting !== model.queue.length) {
      problems.push(`queue.waiting: circuit ${snap.queue.waiting}, model ${model.queue.length}`)
    }
    if (snap.queue.capacity !== model.config.queueCapacity) {
      problems.push(`queue.capacity: circuit ${snap.queue.capacity}, model ${model.config.queueCapacity}`)
    }
    if (config.queueCapacity !== model.config.queueCapacity) problems.push(`config.queueCapacity`)
    if (Duration.toMillis(config.maxQueueWait) !== model.config.maxQueueWait) problems.push(`config.maxQueueWait`)

    coverage.maxInFlight = Math.max(coverage.maxInFlight, model.calls.size)
    coverage.maxActive = Math.max(coverage.maxActive, model.active)
    coverage.maxWaiting = Math.max(coverage.maxWaiting, model.queue.length)
    if (model.active > model.config.max) coverage.activeOverLimit++
    bump(coverage.states, snap.state)
    const { events, finished, transitions } = model.drain()
    for (const e of events) bump(coverage.events, e.kind)
    for (const t of transitions) bump(coverage.transitions, `${t.from}->${t.to}`)
    const actualEvents = driver.events
    driver.events = []
    for (const e of actualEvents) {
      if (e.circuit !== NAME) problems.push(`event of another circuit: ${e.circuit}`)
      // One outcome per call: neither its fallback's event nor `queued` is one.
      if (
        e.kind !== "fallback-success" && e.kind !== "fallback-failure" && e.kind !== "fallback-rejected" &&
        e.kind !== "queued"
      ) {
        driver.outcomes++
      }
    }
    const a = canonical(actualEvents.map(eventKey), (i) => actualEvents[i]!.at)
    const b = canonical(events.map(eventKey), (i) => events[i]!.at)
    if (!sameList(a, b)) problems.push(`events: circuit [${a.join(", ")}], model [${b.join(", ")}]`)

    // Transitions to the same state name (reset of a closed circuit) are not compared.
    const actualTransitions = driver.transitions.filter((t) => t.from !== t.to)
    driver.transitions = []
    const expectedTransitions = transitions.filter((t) => t.from !== t.to)
    const ta = actualTransitions.map(transitionKey)
    const tb = expectedTransitions.map(transitionKey)
    if (!sameList(ta, tb)) problems.push(`transitions: circuit [${ta.join(", ")}], model [${tb.join(", ")}]`)

    for (const f of finished) {
      const fiber = driver.callers.get(f.id)
      driver.callers.delete(f.id)
      if (fiber === undefined) {
        problems.push(`call #${f.id}: no caller fiber`)
        continue
      }
      const exit = fiber.pollUnsafe()
      if (exit !== undefined && f.expected._tag === "Permit") driver.admissions.set(f.id, exit)
      if (exit === undefined) {
        problems.push(`call #${f.id}: model answered at ${f.at} with ${JSON.stringify(f.expected)}, caller still waits`)
      } else if (!matches(exit, f.expected)) {
        problems.push(`call #${f.id}: caller got ${describeExit(exit)}, model ${JSON.stringify(f.expected)}`)
      }
    }
    for (const [id, fiber] of driver.callers) {
      const exit = fiber.pollUnsafe()
      if (exit !== undefined) problems.push(`call #${id}: caller answered ${describeExit(exit)}, model still waits`)
    }
    if (problems.length > 0) {
      fail(`after ${where} at t=${now} (model state ${model.stateName}, epoch ${model.epoch}):\n  ${problems.join("\n  ")}`)
    }
  })

export const expectConfigError = (
  exit: Exit.Exit<unknown, CircuitConfigError>,
  field: string,
  where: string
): void => {
  if (Exit.isSuccess(exit)) fail(`${where}: accepted, expected CircuitConfigError on ${field}`)
  else {
    const error = Cause.findErrorOption(exit.cause)
    if (error._tag === "None" || !(error.value instanceof CircuitConfigError)) {
      fail(`${where}: failed without CircuitConfigError: ${Cause.pretty(exit.cause)}`)
    } else if (error.value.field !== field) {
      fail(`${where}: CircuitConfigError on ${error.value.field}, expected ${field}`)
    }
  }
}

/**
 * Stress run on the real clock: many concurrent fibers making calls over many
 * circuits, with random latencies (mostly 0–2 ms), failures, defects, slow
 * calls that time out (some of them ignoring interruption), fallbacks, and
 * callers interrupted part way.
 *
 * Checked (the run fails, and the script exits non-zero, if any is false):
 * - no circuit ever runs more effects at once than its `maxConcurrentRequests`
 *   (counted by the effects themselves, timed-out ones still running included);
 * - no permit is outstanding at the end;
 * - every call made published exactly one outcome (`Circuit.events`, with a
 *   buffer larger than the run), and each kind matches what the callers got;
 * - the heap after the run (after a full GC) has not grown beyond noise
 *   compared with the heap after a warm-up run of the same program.
 *
 * `npm run stress` runs the full size (1,000 fibers, 1,000,000 calls, 100
 * circuits; bounded to about a minute). `test/stress-small.test.ts` runs the
 * same checks on 20,000 calls in CI.
 */
import { Cause, Data, Effect, Exit, Fiber, Layer, ManagedRuntime, Stream } from "effect"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import * as v8 from "node:v8"
import { runInNewContext } from "node:vm"
import {
  Circuit,
  CircuitFallbackError,
  CircuitOpenError,
  CircuitRegistry,
  CircuitRejectedError,
  CircuitTimeoutError,
  type CircuitConfigInput,
  type EventKind,
  withCircuit
} from "../src/index.ts"

export interface StressOptions {
  readonly calls: number
  readonly fibers: number
  readonly circuits: number
  /** Stop issuing calls after this long (the calls in flight still finish). */
  readonly timeLimitMillis: number
  /** Calls made first, to warm up, before the heap is measured. */
  readonly warmupCalls: number
  /** Allowed heap growth between the warm-up and the end, in bytes. */
  readonly heapNoiseBytes: number
  readonly seed: number
  readonly log: (line: string) => void
}

export interface Check {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

export interface StressReport {
  readonly options: Omit<StressOptions, "log">
  readonly callsMade: number
  readonly seconds: number
  readonly callsPerSecond: number
  /** Per limit: the most effects seen running at once in any circuit with that limit. */
  readonly maxRunningByLimit: ReadonlyArray<{ readonly limit: number; readonly circuits: number; readonly maxRunning: number }>
  readonly permitsOutstanding: number
  readonly outcomes: Readonly<Record<string, number>>
  readonly callers: Readonly<Record<string, number>>
  readonly heap: { readonly start: number; readonly afterWarmup: number; readonly end: number }
  readonly eventBuffer: number
  readonly checks: ReadonlyArray<Check>
  readonly ok: boolean
}

class Boom extends Data.TaggedError("Boom")<{}> {}

// A small, fast, seedable PRNG (mulberry32), so a run can be replayed.
const prng = (seed: number) => {
  let a = seed >>> 0
  return (): number => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface CircuitSpec {
  readonly name: string
  readonly limit: number
  readonly failureRate: number
  readonly timeoutMillis: number | undefined
  readonly config: CircuitConfigInput
  running: number
  maxRunning: number
}

const LIMITS = [3, 8, 12, 20, 50, Infinity] as const
const FAILURE_RATES = [0, 0.01, 0.05, 0.2, 0.6] as const

const makeCircuits = (count: number): Array<CircuitSpec> =>
  Array.from({ length: count }, (_, i): CircuitSpec => {
    const limit = LIMITS[i % LIMITS.length]!
    const failureRate = FAILURE_RATES[i % FAILURE_RATES.length]!
    const timeoutMillis = i % 10 === 9 ? undefined : 20 + (i % 4) * 10
    return {
      name: `stress-${i}`,
      limit,
      failureRate,
      timeoutMillis,
      config: {
        maxConcurrentRequests: limit,
        timeout: timeoutMillis === undefined ? "infinity" : timeoutMillis,
        requestVolumeThreshold: 20,
        errorPercentThreshold: 50,
        sleepWindow: 20 + (i % 3) * 40,
        rollingWindow: { buckets: 10, bucketDuration: 100 }
      },
      running: 0,
      maxRunning: 0
    }
  })

/**
 * What a caller got, as the outcome kind the circuit should have recorded: a
 * fallback's result carries the kind it replaced, and a failed fallback's
 * error holds the call's own cause.
 */
type CallerKind =
  | "success"
  | "failure"
  | "timeout"
  | "rejected"
  | "short-circuited"
  | "interrupted"
  | "unexpected"

const OUTCOME_KINDS: ReadonlyArray<EventKind> = [
  "success",
  "failure",
  "timeout",
  "rejected",
  "short-circuited",
  "interrupted",
  "ignored"
]

const kindOfError = (e: unknown): CallerKind =>
  e instanceof Boom
    ? "failure"
    : e instanceof CircuitTimeoutError
    ? "timeout"
    : e instanceof CircuitRejectedError
    ? "rejected"
    : e instanceof CircuitOpenError
    ? "short-circuited"
    : "unexpected"

const kindOfCause = (cause: Cause.Cause<unknown>): CallerKind => {
  if (Cause.hasInterruptsOnly(cause)) return "interrupted"
  const error = Cause.findErrorOption(cause)
  if (error._tag === "None") return Cause.hasDies(cause) ? "failure" : "unexpected"
  return kindOfError(error.value)
}

const classify = (exit: Exit.Exit<unknown, unknown>): { readonly kind: CallerKind; readonly fallback: string } => {
  if (Exit.isSuccess(exit)) {
    const value = exit.value
    if (value === "ok") return { kind: "success", fallback: "none" }
    if (typeof value === "string" && value.startsWith("fallback:")) {
      return { kind: value.slice("fallback:".length) as CallerKind, fallback: "success" }
    }
    return { kind: "unexpected", fallback: "none" }
  }
  const error = Cause.findErrorOption(exit.cause)
  if (error._tag === "Some" && error.value instanceof CircuitFallbackError) {
    return { kind: kindOfCause(error.value.cause), fallback: "failure" }
  }
  return { kind: kindOfCause(exit.cause), fallback: "none" }
}

const fallbackTag = (error: unknown): string => kindOfError(error)

/** A full GC, with or without `--expose-gc`. */
const collectGarbage = (): (() => void) => {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed !== undefined) return exposed
  v8.setFlagsFromString("--expose-gc")
  return runInNewContext("gc") as () => void
}

const heapUsed = async (gc: () => void): Promise<number> => {
  // Let timers and finalizers of the previous phase run, then collect twice.
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    gc()
  }
  return process.memoryUsage().heapUsed
}

const bump = (record: Record<string, number>, key: string, by = 1): void => {
  record[key] = (record[key] ?? 0) + by
}

export const runStress = async (options: StressOptions): Promise<StressReport> => {
  const { log } = options
  const random = prng(options.seed)
  const circuits = makeCircuits(options.circuits)
  const gc = collectGarbage()
  const heapStart = await heapUsed(gc)

  // Larger than everything the run publishes (at most one outcome and one
  // fallback event per call), so the count of outcomes is exact. The registry
  // allocates it up front: it is part of the heap after the warm-up.
  const eventBuffer = 2 ** Math.ceil(Math.log2(2 * (options.calls + options.warmupCalls) + 1024))
  const runtime = ManagedRuntime.make(
    CircuitRegistry.layer({
      circuits: Object.fromEntries(circuits.map((c) => [c.name, c.config])),
      eventBuffer
    }) as Layer.Layer<CircuitRegistry>
  )

  const outcomes: Record<string, number> = {}
  const callers: Record<string, number> = {}
  const record = (exit: Exit.Exit<unknown, unknown>): void => {
    const { fallback, kind } = classify(exit)
    bump(callers, kind)
    if (fallback !== "none") bump(callers, `fallback-${fallback}`)
  }
  let callsMade = 0
  let issued = 0
  let stopAt = Infinity

  // One call of circuit `spec`, as a worker makes it.
  const oneCall = (spec: CircuitSpec): Effect.Effect<void> => {
    const r = random()
    const latency = r < 0.4 ? 0 : r < 0.975 ? 1 + Math.floor(random() * 2) : r < 0.995 ? 5 + Math.floor(random() * 25) : -1
    const stubborn = latency > 0 && random() < 0.03
    const fails = random() < spec.failureRate
    const dies = !fails && random() < 0.005
    const interrupt = random() < 0.03
    // A call that hangs on a circuit without a timeout must be interrupted, or it would never end.
    const mustInterrupt = interrupt || (latency < 0 && spec.timeoutMillis === undefined)
    const f = random()
    const fallback = f < 0.15 ? "ok" : f < 0.2 ? "fail" : "none"

    let started = false
    const work: Effect.Effect<string, Boom> = Effect.suspend(() => {
      started = true
      spec.running++
      if (spec.running > spec.maxRunning) spec.maxRunning = spec.running
      const wait: Effect.Effect<void> = latency < 0
        ? Effect.never
        : latency === 0
        ? (random() < 0.5 ? Effect.void : Effect.yieldNow)
        : stubborn
        ? Effect.uninterruptible(Effect.sleep(latency))
        : Effect.sleep(latency)
      const result: Effect.Effect<string, Boom> = fails
        ? Effect.fail(new Boom())
        : dies
        ? Effect.die("stress defect")
        : Effect.succeed("ok")
      return Effect.ensuring(
        Effect.andThen(wait, result),
        Effect.sync(() => {
          spec.running--
        })
      )
    })
    const guarded: Effect.Effect<unknown, unknown, CircuitRegistry> = fallback === "ok"
      ? withCircuit(work, spec.name, { fallback: (e) => Effect.succeed(`fallback:${fallbackTag(e)}`) })
      : fallback === "fail"
      ? withCircuit(work, spec.name, { fallback: () => Effect.fail("fallback failed") })
      : withCircuit(work, spec.name)

    callsMade++
    if (!mustInterrupt) {
      return Effect.flatMap(Effect.exit(guarded), (exit) =>
        Effect.sync(() => {
          record(exit)
        })) as Effect.Effect<void>
    }
    // Interrupted callers: fork the call, wait until it is inside withCircuit
    // (its effect started, or it was answered), then interrupt it 0–2 ms later.
    const after = Math.floor(random() * 3)
    return Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(guarded as Effect.Effect<unknown, unknown>)
      while (!started && fiber.pollUnsafe() === undefined) yield* Effect.yieldNow
      if (after > 0) yield* Effect.sleep(after)
      yield* Fiber.interrupt(fiber)
      record(yield* Fiber.await(fiber))
    }) as Effect.Effect<void>
  }

  const worker: Effect.Effect<void, never, CircuitRegistry> = Effect.suspend(() => {
    const loop: Effect.Effect<void, never, CircuitRegistry> = Effect.suspend(() => {
      if (issued >= target || performance.now() >= stopAt) return Effect.void
      issued++
      const spec = circuits[Math.floor(random() * circuits.length)]!
      return Effect.andThen(oneCall(spec), loop)
    })
    return loop
  })

  let target = 0
  const phase = async (calls: number): Promise<number> => {
    target += calls
    const started = performance.now()
    await runtime.runPromise(
      Effect.forEach(Array.from({ length: options.fibers }), () => worker, { concurrency: "unbounded", discard: true })
    )
    return (performance.now() - started) / 1000
  }

  // Outcomes, from the circuits' own events.
  const subscriber = runtime.runFork(
    Circuit.events.pipe(
      Stream.runForEach((event) =>
        Effect.sync(() => {
          bump(outcomes, event.kind)
        })
      )
    )
  )
  await runtime.runPromise(Effect.sleep(10))

  log(`warm-up: ${options.warmupCalls} calls`)
  await phase(options.warmupCalls)
  const callsBeforeMain = callsMade
  const heapAfterWarmup = await heapUsed(gc)

  log(`main run: ${options.calls} calls, ${options.fibers} fibers, ${options.circuits} circuits`)
  stopAt = performance.now() + options.timeLimitMillis
  const progress = setInterval(() => log(`  ... ${callsMade - callsBeforeMain} calls`), 5000)
  const seconds = await phase(options.calls)
  clearInterval(progress)
  const mainCalls = callsMade - callsBeforeMain

  // Let timed-out effects that ignore interruption end, and the subscriber catch up.
  const outcomeCount = () => OUTCOME_KINDS.reduce((n, k) => n + (outcomes[k] ?? 0), 0)
  for (let i = 0; i < 200; i++) {
    const running = circuits.reduce((n, c) => n + c.running, 0)
    if (running === 0 && outcomeCount() >= callsMade) break
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  const snapshots = await runtime.runPromise(Circuit.snapshots)
  const permitsOutstanding = snapshots.reduce((n, s) => n + s.concurrency.active, 0)
  const heapEnd = await heapUsed(gc)
  subscriber.interruptUnsafe()
  await runtime.dispose()

  // ---------------------------------------------------------------------------
  // checks
  // ---------------------------------------------------------------------------

  const checks: Array<Check> = []
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail })

  const byLimit = new Map<number, { circuits: number; maxRunning: number }>()
  for (const c of circuits) {
    const entry = byLimit.get(c.limit) ?? { circuits: 0, maxRunning: 0 }
    entry.circuits++
    entry.maxRunning = Math.max(entry.maxRunning, c.maxRunning)
    byLimit.set(c.limit, entry)
  }
  const maxRunningByLimit = [...byLimit.entries()].sort(([a], [b]) => a - b).map(([limit, e]) => ({ limit, ...e }))
  const over = circuits.filter((c) => c.maxRunning > c.limit)
  check(
    "running never above the limit",
    over.length === 0,
    over.length === 0
      ? maxRunningByLimit.map((e) => `limit ${e.limit}: max ${e.maxRunning}`).join(", ")
      : over.map((c) => `${c.name}: ${c.maxRunning} > ${c.limit}`).join(", ")
  )
  check("no permit outstanding at the end", permitsOutstanding === 0, `${permitsOutstanding} outstanding`)
  check(
    "no effect still running at the end",
    circuits.every((c) => c.running === 0),
    `${circuits.reduce((n, c) => n + c.running, 0)} running`
  )
  check(
    "calls made = outcomes recorded",
    outcomeCount() === callsMade,
    `${callsMade} made, ${outcomeCount()} outcomes (warm-up included)`
  )
  const kinds = ["success", "failure", "timeout", "rejected", "short-circuited", "interrupted", "fallback-success", "fallback-failure"]
  const pairs = kinds.map((k) => [k, outcomes[k] ?? 0, callers[k] ?? 0] as const)
  check(
    "each outcome kind matches what the callers got",
    pairs.every(([, events, seen]) => events === seen) && (callers["unexpected"] ?? 0) === 0,
    pairs.map(([k, e, s]) => `${k} ${e}/${s}`).join(", ") + ` (events/callers; ${callers["unexpected"] ?? 0} unexpected)`
  )
  const growth = heapEnd - heapAfterWarmup
  check(
    "heap does not grow",
    growth <= options.heapNoiseBytes,
    `${mb(heapAfterWarmup)} after warm-up, ${mb(heapEnd)} at the end (${growth >= 0 ? "+" : ""}${mb(growth)})`
  )

  const { log: _log, ...rest } = options
  return {
    options: rest,
    callsMade: mainCalls,
    seconds,
    callsPerSecond: mainCalls / seconds,
    maxRunningByLimit,
    permitsOutstanding,
    outcomes,
    callers,
    heap: { start: heapStart, afterWarmup: heapAfterWarmup, end: heapEnd },
    eventBuffer,
    checks,
    ok: checks.every((c) => c.ok)
  }
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`

export const formatReport = (report: StressReport): string => {
  const lines = [
    `machine: ${os.cpus().length} CPU(s) (${os.cpus()[0]?.model ?? "?"}), node ${process.version}, ${os.platform()} ${os.arch()}`,
    `calls: ${report.callsMade} in ${report.seconds.toFixed(1)} s = ${Math.round(report.callsPerSecond)} calls/s ` +
    `(${report.options.fibers} fibers, ${report.options.circuits} circuits, seed ${report.options.seed})`,
    `max running per limit: ${
      report.maxRunningByLimit.map((e) => `${e.limit} → ${e.maxRunning} (${e.circuits} circuits)`).join(", ")
    }`,
    `permits outstanding at the end: ${report.permitsOutstanding}`,
    `outcomes (events): ${JSON.stringify(report.outcomes)}`,
    `callers saw: ${JSON.stringify(report.callers)}`,
    `heap: ${mb(report.heap.start)} at start, ${mb(report.heap.afterWarmup)} after warm-up ` +
    `(event buffer of ${report.eventBuffer} slots included), ${mb(report.heap.end)} at the end`,
    ...report.checks.map((c) => `${c.ok ? "PASS" : "FAIL"} ${c.name}: ${c.detail}`),
    report.ok ? "stress: all checks passed" : "stress: FAILED"
  ]
  return lines.join("\n")
}

// -----------------------------------------------------------------------------
// the script
// -----------------------------------------------------------------------------

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]

if (isMain) {
  const seed = Number(process.env["STRESS_SEED"] ?? Date.now() % 2 ** 31)
  // A watchdog: the script ends by itself, whatever happens.
  const watchdog = setTimeout(() => {
    console.error("stress: did not finish within 120 s")
    process.exit(2)
  }, 120_000)
  watchdog.unref()
  const report = await runStress({
    calls: Number(process.env["STRESS_CALLS"] ?? 1_000_000),
    fibers: 1000,
    circuits: 100,
    timeLimitMillis: 50_000,
    warmupCalls: 100_000,
    heapNoiseBytes: 8 * 1024 * 1024,
    seed,
    log: (line) => console.log(line)
  })
  console.log(formatReport(report))
  process.exitCode = report.ok ? 0 : 1
}

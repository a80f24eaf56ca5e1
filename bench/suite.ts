/**
 * The benchmark suite: effect-circuit side by side with what users would pick
 * instead, in one process, rows alternated within each round, medians and
 * ratios reported. Run with `npm run bench` (never part of `npm test`).
 *
 * Every case that uses a circuit runs twice: with the registry users get by
 * default (metrics on), and with `metrics: false`. Both registries stay open
 * for the whole run, and every measurement checks that they still are and
 * that, with metrics on, every call was counted (`bench/env.ts`): a suite that
 * measured a closed registry, or one without its metrics observer, throws.
 *
 * The cases are listed in `bench/cases/` (one file per group). Writes
 * `bench/results/latest.json` and the tables of `docs/performance.md`
 * (between the BENCH markers).
 *
 * Flags: `--quick` (5 rounds of fewer calls, for a smoke run), `--no-write`,
 * `--only=<substring>` (rows whose name contains it, and the baselines),
 * `--wall` (wall-clock time instead of the process's CPU time).
 */
import { Effect, Exit, Scope } from "effect"
import type { CircuitRegistry } from "effect-circuit"
import { execFileSync, execSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import * as Core from "./cases/core.ts"
import { groups } from "./cases/index.ts"
import * as Peers from "./cases/peers.ts"
import * as PromiseCases from "./cases/promise.ts"
import * as Tracing from "./cases/tracing.ts"
import { type BenchCase, type BenchEnv, rowName } from "./cases/types.ts"
import { checkedRun, makeRegistry, type RegistryHandle } from "./env.ts"

// The suite measures this tree's `src/`, not a `dist/` some earlier build left
// behind (`effect-circuit` resolves to `dist/` without the condition).
if (!import.meta.resolve("effect-circuit").includes("/src/")) {
  throw new Error("bench: run with --conditions=effect-circuit-source (npm run bench), so that src/ is measured, not dist/")
}

const args = process.argv.slice(2)
const quick = args.includes("--quick")
const only = args.find((a) => a.startsWith("--only="))?.slice("--only=".length)
const ROUNDS = quick ? 5 : 9
const FIBER_CALLS = quick ? 50_000 : 200_000
const PROMISE_CALLS = quick ? 10_000 : 50_000

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

// ---------------------------------------------------------------------------
// The environment: two registries (metrics on, the default; metrics off), open
// for the whole run, with Hystrix defaults as the SPEC sets them.
// ---------------------------------------------------------------------------

const on = await makeRegistry({ circuits: Core.circuits })
const off = await makeRegistry({ circuits: Core.circuits, metrics: false })
const scope = Effect.runSync(Scope.make())
const env: BenchEnv = { on, off, scope }
const cases: Array<BenchCase> = []
for (const group of groups) cases.push(...await group(env))

// ---------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------

// Time is this process's CPU time (user + system, in ms), not wall time: on
// cores shared with other work, wall time also counts the time the process
// waited for a core, which changes from second to second and moved ratios by
// tens of percent; CPU time is the work a call costs. `--wall` measures wall
// time instead (the two agree on an idle machine).
const wall = args.includes("--wall")
const now = wall ? () => performance.now() : () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

const timeInFiber = (effect: Effect.Effect<unknown, unknown, CircuitRegistry>, n: number) =>
  Effect.gen(function*() {
    const t0 = now()
    for (let i = 0; i < n; i++) yield* effect
    return ((now() - t0) * 1e6) / n
  })

const timePromises = async (call: () => Promise<unknown>, n: number): Promise<number> => {
  const t0 = now()
  for (let i = 0; i < n; i++) await call()
  return ((now() - t0) * 1e6) / n
}

interface Row {
  readonly name: string
  readonly table: "fiber" | "promise"
  /** Times `calls` calls (default: the table's count), checked (see `bench/env.ts`). */
  readonly measure: (calls?: number) => Promise<number>
}

const baselines = new Set<string>([
  Core.names.succeed,
  Core.names.timeout,
  Core.names.awaitAsync,
  Core.names.runSucceed,
  Core.names.floorClosed,
  Core.names.floorOpen,
  Core.names.runFloorClosed
])
const rows: Array<Row> = []
for (const c of cases) {
  const handles: ReadonlyArray<RegistryHandle> = c.registry === undefined ? [on] : [on, off]
  for (const handle of handles) {
    const name = rowName(c.name, c.registry === undefined ? undefined : handle)
    if (only !== undefined && !name.includes(only) && !baselines.has(name)) continue
    const defaultCalls = c.table === "fiber" ? FIBER_CALLS : PROMISE_CALLS
    const time: (calls: number) => Promise<number> = c.table === "fiber"
      ? (calls) => handle.runPromise(c.around === undefined ? timeInFiber(c.effect, calls) : c.around(timeInFiber(c.effect, calls)))
      : ((call) => (calls) => timePromises(call, calls))(c.make(handle))
    rows.push({
      name,
      table: c.table,
      measure: async (calls = defaultCalls) => {
        const ns = await checkedRun(handle, c.registry?.circuit, calls, c.registry?.eventsPerCall ?? 0, () => time(calls))
        c.check?.()
        return ns
      }
    })
  }
}
if (new Set(rows.map((r) => r.name)).size !== rows.length) throw new Error("bench: two rows have the same name")

const samples = new Map<string, Array<number>>(rows.map((r) => [r.name, []]))
// One warm-up round, then ROUNDS rounds, each running every row once, in an
// order rotated per round so no row always follows the same neighbour.
for (const table of ["fiber", "promise"] as const) {
  const ofTable = rows.filter((r) => r.table === table)
  for (let round = -1; round < ROUNDS; round++) {
    for (let k = 0; k < ofTable.length; k++) {
      const row = ofTable[(k + Math.max(round, 0) * 3) % ofTable.length]!
      const ns = await row.measure()
      if (round >= 0) samples.get(row.name)!.push(ns)
    }
    process.stderr.write(`${table}: ${round < 0 ? "warm-up done" : `round ${round + 1}/${ROUNDS}`}\n`)
  }
}
// The targets are read from paired measurements: the two rows of a ratio are
// timed back to back, PAIRS times, alternating which goes first, and the
// figure is the median of the per-pair ratios (or differences). On two cores
// shared with other work, the load changes from one second to the next; a
// pair taken within a fraction of a second sees the same load on both sides.
const PAIRS = quick ? 5 : 9
const rowByName = new Map(rows.map((row) => [row.name, row]))
const paired = async (a: string, b: string, mode: "ratio" | "difference"): Promise<number> => {
  const ra = rowByName.get(a)
  const rb = rowByName.get(b)
  if (ra === undefined || rb === undefined) return NaN
  const callsOf = (row: Row) => (row.table === "fiber" ? FIBER_CALLS : PROMISE_CALLS)
  const values: Array<number> = []
  for (let i = 0; i < PAIRS; i++) {
    let x: number
    let y: number
    if (i % 2 === 0) {
      x = await ra.measure(callsOf(ra))
      y = await rb.measure(callsOf(rb))
    } else {
      y = await rb.measure(callsOf(rb))
      x = await ra.measure(callsOf(ra))
    }
    values.push(mode === "ratio" ? x / y : x - y)
  }
  process.stderr.write(`paired: ${a} vs ${b}\n`)
  return median(values)
}
const pairs = {
  closedVsTimeout: await paired(Core.names.closed, Core.names.timeout, "ratio"),
  openVsSucceed: await paired(Core.names.open, Core.names.succeed, "ratio"),
  opossumOpenVsOpen: await paired(Peers.names.opossumOpen, Core.names.open, "ratio"),
  runClosedMinusRunSucceed: await paired(Core.names.runClosed, Core.names.runSucceed, "difference"),
  // The same ratios for the floor (see bench/cases/core.ts): how far the target is from what
  // the steps a guarded call cannot skip already cost.
  floorClosedVsTimeout: await paired(Core.names.floorClosed, Core.names.timeout, "ratio"),
  floorOpenVsSucceed: await paired(Core.names.floorOpen, Core.names.succeed, "ratio"),
  opossumOpenVsFloorOpen: await paired(Peers.names.opossumOpen, Core.names.floorOpen, "ratio"),
  runFloorMinusRunSucceed: await paired(Core.names.runFloorClosed, Core.names.runSucceed, "difference"),
  buckets1000VsBuckets10: await paired(Core.names.buckets1000, Core.names.buckets10, "ratio"),
  closedVsPlain: await paired(Core.names.closed, Peers.names.plain, "ratio"),
  openVsPlainOpen: await paired(Core.names.open, Peers.names.plainOpen, "ratio"),
  effectBreakerVsClosed: await paired(Peers.names.effectBreakerTimeout, Core.names.closed, "ratio"),
  metricsOnVsOff: await paired(Core.names.closed, rowName(Core.names.closed, off), "ratio"),
  tracedVsUntraced: await paired(Tracing.names.traced, Core.names.closed, "ratio"),
  tracerInstalledTraceOffVsNoTracer: await paired(Tracing.names.tracedOff, Core.names.closed, "ratio")
}

const medians = Object.fromEntries(rows.map((r) => [r.name, median(samples.get(r.name)!)]))
const fiber = Object.fromEntries(rows.filter((r) => r.table === "fiber").map((r) => [r.name, medians[r.name]!]))
const promise = Object.fromEntries(rows.filter((r) => r.table === "promise").map((r) => [r.name, medians[r.name]!]))
on.assertLive()
off.assertLive()

// ---------------------------------------------------------------------------
// Memory, background work and first-call cost of 100,000 circuits
// ---------------------------------------------------------------------------

// Each case in a fresh process (bench/idle.ts), so no other measurement's garbage is counted.
interface Idle {
  readonly label: string
  readonly circuits: number
  readonly bytesPerCircuit: number
  readonly activeResourcesAdded: number
  readonly firstCallMicros: number
}
const idle: ReadonlyArray<Idle> = only !== undefined ? [] : ["used-metrics-off", "unused-defaults", "used-defaults"].map((c) =>
  JSON.parse(
    execFileSync(process.execPath, ["--expose-gc", "--conditions=effect-circuit-source", fileURLToPath(new URL("./idle.ts", import.meta.url)), c, ...(wall ? ["--wall"] : [])], {
      encoding: "utf8"
    }).trim().split("\n").pop()!
  ) as Idle
)

await on.close()
await off.close()
await Effect.runPromise(Scope.close(scope, Exit.void))

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

const round2 = (x: number) => Math.round(x * 100) / 100
const r = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? NaN : Math.round((a / b) * 100) / 100
const targets = [
  {
    target: "closed, defaults, one fiber ≤ 0.45 × Effect.timeout",
    value: round2(pairs.closedVsTimeout),
    floor: round2(pairs.floorClosedVsTimeout),
    met: (v: number) => v <= 0.45
  },
  {
    target: "open + fallback ≤ 4 × Effect.succeed, one fiber",
    value: round2(pairs.openVsSucceed),
    floor: round2(pairs.floorOpenVsSucceed),
    met: (v: number) => v <= 4
  },
  {
    target: "open + fallback (one fiber) ≥ 20 × faster than opossum open + fallback",
    value: round2(pairs.opossumOpenVsOpen),
    floor: round2(pairs.opossumOpenVsFloorOpen),
    met: (v: number) => v >= 20
  },
  {
    target: "runPromise(withCircuit) − runPromise(Effect.succeed) ≤ 150 ns",
    value: Math.round(pairs.runClosedMinusRunSucceed),
    floor: Math.round(pairs.runFloorMinusRunSucceed),
    met: (v: number) => v <= 150
  },
  ...PromiseCases.targets(promise),
  {
    target: "1,000 buckets within 10 % of 10 buckets",
    value: round2(pairs.buckets1000VsBuckets10),
    met: (v: number) => v <= 1.1
  },
  ...idle.filter((c) => c.label.startsWith("used once, defaults")).flatMap((c) => [
    {
      target: "heap per used circuit, default metrics ≤ 1 KB (bytes)",
      value: Math.round(c.bytesPerCircuit),
      met: (v: number) => v <= 1024
    },
    {
      target: "first call of a new circuit, default metrics ≤ 3 µs",
      value: Math.round(c.firstCallMicros * 100) / 100,
      met: (v: number) => v <= 3
    }
  ]),
  ...(idle.length === 0 ? [] : [{
    target: "idle circuits hold no timers or handles (resources added)",
    value: Math.max(...idle.map((c) => c.activeResourcesAdded)),
    met: (v: number) => v <= 0
  }])
].filter((t) => !Number.isNaN(t.value)) as ReadonlyArray<
  { readonly target: string; readonly value: number; readonly floor?: number; readonly met: (v: number) => boolean }
>

// Context rows: not targets, read beside them (paired, as the targets).
const context = [
  ["open + fallback via runPromise: opossum open + fallback ÷ ours (medians)", r(promise[Peers.names.opossumOpen], promise[Core.names.runOpen])],
  ["opossum fire() ÷ runPromise(withCircuit) (medians)", r(promise[Peers.names.opossum], promise[Core.names.runClosed])],
  ["effect/persistence CircuitBreaker + timeout ÷ withCircuit (defaults), one fiber", round2(pairs.effectBreakerVsClosed)],
  ["withCircuit (defaults) ÷ plain-JS floor (Effect wrapper), one fiber", round2(pairs.closedVsPlain)],
  ["withCircuit open + fallback ÷ plain-JS floor open + fallback, one fiber", round2(pairs.openVsPlainOpen)],
  ["metrics on ÷ off, withCircuit (defaults), one fiber", round2(pairs.metricsOnVsOff)],
  ["tracer installed ÷ no tracer, withCircuit (defaults), one fiber", round2(pairs.tracedVsUntraced)],
  ["tracer installed with trace: false ÷ no tracer, withCircuit (defaults), one fiber", round2(pairs.tracerInstalledTraceOffVsNoTracer)]
].filter(([, v]) => !Number.isNaN(v)) as Array<[string, number]>

const version = (pkg: string) => {
  try {
    return (JSON.parse(readFileSync(new URL(`../node_modules/${pkg}/package.json`, import.meta.url), "utf8")) as {
      version: string
    }).version
  } catch {
    return "?"
  }
}
const machine = {
  cpu: os.cpus()[0]?.model ?? "?",
  cores: os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
  node: process.version,
  os: `${os.type()} ${os.release()}`,
  versions: Object.fromEntries(["effect", "opossum", "cockatiel"].map((p) => [p, version(p)])),
  commit: (() => {
    try {
      return execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim()
    } catch {
      return "?"
    }
  })(),
  date: new Date().toISOString(),
  rounds: ROUNDS,
  fiberCalls: FIBER_CALLS,
  promiseCalls: PROMISE_CALLS
}

const ns = (x: number) => x.toFixed(0)
const spread = (name: string) => {
  const s = samples.get(name)!
  return `${ns(Math.min(...s))}–${ns(Math.max(...s))}`
}
const table = (rowsOf: Record<string, number>, base: string) =>
  [
    `| case | ns per call (median of ${ROUNDS}) | min–max | ratio to ${base} |`,
    "| --- | ---: | ---: | ---: |",
    ...Object.entries(rowsOf).map(([k, v]) => `| ${k} | ${ns(v)} | ${spread(k)} | ${r(v, rowsOf[base])} |`)
  ].join("\n")

const report = [
  `Machine: ${machine.cpu}, ${machine.cores} cores (shared; load average ${machine.loadAverage.join(", ")} at the end), ${machine.memoryGiB} GiB; Node ${machine.node}; ${machine.os}.`,
  `Versions: effect ${machine.versions.effect}, opossum ${machine.versions.opossum}, cockatiel ${machine.versions.cockatiel}; commit ${machine.commit}; ${machine.date}.`,
  "",
  "### Many calls inside one fiber",
  "",
  table(fiber, Core.names.timeout),
  "",
  "### One promise per call",
  "",
  table(promise, Core.names.awaitAsync),
  "",
  ...(idle.length === 0 ? [] : [
    "### 100,000 circuits",
    "",
    "| circuits | heap bytes each | first call (µs) | timers/handles added |",
    "| --- | ---: | ---: | ---: |",
    ...idle.map((c) =>
      `| ${c.circuits.toLocaleString("en")} ${c.label} | ${Math.round(c.bytesPerCircuit)} | ${c.firstCallMicros.toFixed(2)} | ${c.activeResourcesAdded} |`
    ),
    ""
  ]),
  `### Targets (ratios from this one run; each the median of ${PAIRS} back-to-back pairs)`,
  "",
  "The floor column is the same figure for the steps the call cannot skip, composed with nothing else",
  "(bench/cases/core.ts, bench/floor.ts): a target the floor itself misses cannot be met by the breaker.",
  "",
  "| target | value | floor | met |",
  "| --- | ---: | ---: | :---: |",
  ...targets.map((t) =>
    `| ${t.target} | ${t.value} | ${t.floor === undefined || Number.isNaN(t.floor) ? "–" : t.floor} | ${
      t.met(t.value) ? "yes" : "**no**"
    } |`
  ),
  "",
  `### Side by side (ratios from this one run; paired as the targets unless marked medians)`,
  "",
  "| ratio | value |",
  "| --- | ---: |",
  ...context.map(([k, v]) => `| ${k} | ${v} |`)
].join("\n")

console.log(report)

if (!args.includes("--no-write") && only === undefined) {
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true })
  writeFileSync(
    new URL("./results/latest.json", import.meta.url),
    JSON.stringify(
      {
        machine,
        fiber,
        promise,
        samples: Object.fromEntries(samples),
        pairs,
        idle,
        targets: targets.map(({ met, ...t }) => ({ ...t, met: met(t.value) })),
        context: Object.fromEntries(context)
      },
      null,
      2
    )
  )
  const docUrl = new URL("../docs/performance.md", import.meta.url)
  const doc = readFileSync(docUrl, "utf8")
  const begin = "<!-- BENCH:BEGIN -->"
  const end = "<!-- BENCH:END -->"
  const i = doc.indexOf(begin)
  const j = doc.indexOf(end)
  if (i >= 0 && j > i) {
    writeFileSync(docUrl, `${doc.slice(0, i + begin.length)}\n${report}\n${doc.slice(j)}`)
  }
}
process.exit(0)

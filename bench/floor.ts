/**
 * The floor of a guarded call, part by part, on this machine: what Effect's
 * runtime and the clock cost for the steps a guarded call cannot skip, beside
 * what `withCircuit` costs, so that the gap above the floor is shown per part
 * rather than claimed.
 *
 * A closed call needs: one primitive that can wait (`Effect.callback`), a
 * fiber of its own for the effect (to answer at the deadline even if the
 * effect ignores interruption, and to give the permit back at its real end),
 * and two clock reads (admission, and the outcome's time: its bucket and its
 * latency). An open call with a fallback needs the primitive, one clock read
 * (has the sleep window passed? which bucket?) and the fallback's value. The
 * "floor" rows compose exactly those steps and nothing else (no breaker, no
 * permit, no events, no metrics).
 *
 * Rows alternate within each round, in a rotated order; CPU time of the
 * process per call; the median of the rounds.
 *
 * Run: `node --expose-gc bench/floor.ts [rounds] [calls]` (this tree's `src/`).
 */
import { Context, Effect, Layer, Scope } from "effect"
import { Circuit, CircuitRegistry, withCircuit } from "../src/index.ts"
import * as CallPath from "../src/internal/callPath.ts"
import { cellOf } from "../src/internal/cell.ts"

const positional = process.argv.slice(2).filter((a) => !a.startsWith("--"))
const ROUNDS = Number(positional[0] ?? 9)
const CALLS = Number(positional[1] ?? 500_000)

const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const registry = async (metrics: boolean) => {
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(CircuitRegistry.layer(metrics ? {} : { metrics: false }), scope)
  ) as Context.Context<CircuitRegistry>
  await Effect.runPromiseWith(context)(Circuit.forceOpen("open"))
  return context
}
const on = await registry(true)
const off = await registry(false)

const one = Effect.succeed(1)
const zero = Effect.succeed(0)
let sink = 0
const runFork = Effect.runForkWith(Context.empty())
// Whole milliseconds of the monotonic clock, as the call path reads Effect's default clock.
const clockRead = () => Math.floor(performance.now())

type Row = { readonly name: string; readonly run: (calls: number) => number }
const inFiber = (
  name: string,
  effect: Effect.Effect<unknown, unknown, CircuitRegistry>,
  context: Context.Context<CircuitRegistry> = on
): Row => ({
  name,
  run: (calls) =>
    Effect.runSyncWith(context)(Effect.gen(function*() {
      const t0 = cpu()
      for (let i = 0; i < calls; i++) yield* effect
      return ((cpu() - t0) * 1e6) / calls
    }))
})
const plain = (name: string, f: () => number): Row => ({
  name,
  run: (calls) => {
    const t0 = cpu()
    for (let i = 0; i < calls; i++) sink += f()
    return ((cpu() - t0) * 1e6) / calls
  }
})

const rows: Array<Row> = [
  inFiber("Effect.succeed", one),
  inFiber("Effect.callback, resumed at once", Effect.callback<number>((resume) => resume(one))),
  plain("clock read (Math.floor(performance.now()))", clockRead),
  plain("child fiber: runForkWith + pollUnsafe", () => runFork(one).id),
  inFiber(
    "floor, closed: callback + child fiber + 2 clock reads",
    Effect.callback<unknown>((resume) => {
      const start = clockRead()
      const exit = runFork(one).pollUnsafe()!
      sink += clockRead() - start
      resume(exit)
    })
  ),
  inFiber(
    "floor, open + fallback: callback + 1 clock read + fallback",
    Effect.callback<unknown>((resume) => {
      sink += clockRead()
      resume((() => zero)())
    })
  ),
  inFiber("Effect.timeout(1 s)", Effect.timeout(one, "1 second")),
  inFiber("withCircuit closed", one.pipe(withCircuit("default"))),
  inFiber("withCircuit closed · metrics off", one.pipe(withCircuit("default")), off),
  inFiber(
    "withCircuit open + fallback",
    one.pipe(withCircuit("open", { fallback: () => Effect.succeed(0) }))
  ),
  inFiber(
    "withCircuit open + fallback · metrics off",
    one.pipe(withCircuit("open", { fallback: () => Effect.succeed(0) })),
    off
  )
]

// The call path's own steps, each alone in a plain loop on a live circuit of
// each registry (no clock read: a fixed time), to say where the time above
// the floor goes. A plain loop flatters them somewhat (everything stays hot).
// Circuits of their own, whose window only these rows move (at their fixed time).
const parts = async (context: Context.Context<CircuitRegistry>, label: string): Promise<Array<Row>> => {
  const registry = Context.get(context, CircuitRegistry)
  const at = clockRead()
  const closed = cellOf(registry.cell("parts-closed", at))
  const open = cellOf(registry.cell("parts-open", at))
  await Effect.runPromiseWith(context)(Circuit.forceOpen("parts-open"))
  return [
    plain(`part: admit + release, closed${label}`, () => {
      const generation = CallPath.admit(closed, at, false) as number
      CallPath.release(closed)
      return generation
    }),
    plain(`part: record a success (count + event)${label}`, () => {
      CallPath.record(closed, at, at, closed.generation, "Success", false, 1)
      return 0
    }),
    plain(`part: the success's event alone${label}`, () => {
      closed.emit("success", at, 0, false)
      return 0
    }),
    plain(`part: short-circuit (open error + count + event)${label}`, () => {
      CallPath.admit(open, at, true)
      return 0
    }),
    plain(`part: fallback success (count + event)${label}`, () => {
      CallPath.fallbackSucceeded(open, at, at)
      return 0
    })
  ]
}
rows.push(...await parts(on, ""), ...await parts(off, " · metrics off"))

// The closed floor with the call path's steps in it (admission, the permit,
// the outcome's count and event) and nothing of withCircuit's own: what the
// steps cost in a real call, where the metrics observer costs more than alone.
const floorWithSteps = (context: Context.Context<CircuitRegistry>, label: string): Row => {
  const cell = cellOf(Context.get(context, CircuitRegistry).cell("steps", clockRead()))
  return inFiber(
    `floor, closed, + admit, release, record${label}`,
    Effect.callback<unknown>((resume) => {
      const start = clockRead()
      const generation = CallPath.admit(cell, start, false) as number
      const exit = runFork(one).pollUnsafe()!
      CallPath.release(cell)
      CallPath.record(cell, start, clockRead(), generation, "Success", false, 1)
      resume(exit)
    }),
    context
  )
}
rows.push(floorWithSteps(on, ""), floorWithSteps(off, " · metrics off"))

const samples = rows.map(() => [] as Array<number>)
for (let round = -1; round < ROUNDS; round++) {
  for (let k = 0; k < rows.length; k++) {
    const i = (k + Math.max(round, 0)) % rows.length
    const ns = rows[i]!.run(CALLS)
    if (round >= 0) samples[i]!.push(ns)
  }
}
const m = samples.map(median)
const at = (name: string) => m[rows.findIndex((r) => r.name === name)]!
console.log(`Floor of a guarded call: ${ROUNDS} rounds of ${CALLS} calls, CPU time, median ns per call`)
for (let i = 0; i < rows.length; i++) {
  console.log(`${rows[i]!.name.padEnd(60)} ${m[i]!.toFixed(1).padStart(7)}  (${Math.min(...samples[i]!).toFixed(1)}–${Math.max(...samples[i]!).toFixed(1)})`)
}
const timeout = at("Effect.timeout(1 s)")
const succeed = at("Effect.succeed")
const floorClosed = at("floor, closed: callback + child fiber + 2 clock reads")
const floorOpen = at("floor, open + fallback: callback + 1 clock read + fallback")
console.log(`\nclosed floor ÷ Effect.timeout: ${(floorClosed / timeout).toFixed(2)} (target 0.45 × = ${(0.45 * timeout).toFixed(0)} ns)`)
console.log(`closed ÷ Effect.timeout: ${(at("withCircuit closed") / timeout).toFixed(2)}; above the floor: ${(at("withCircuit closed") - floorClosed).toFixed(0)} ns (metrics off: ${(at("withCircuit closed · metrics off") - floorClosed).toFixed(0)} ns)`)
console.log(`open floor ÷ Effect.succeed: ${(floorOpen / succeed).toFixed(2)} (target 4 × = ${(4 * succeed).toFixed(0)} ns)`)
console.log(`open + fallback ÷ Effect.succeed: ${(at("withCircuit open + fallback") / succeed).toFixed(2)}; above the floor: ${(at("withCircuit open + fallback") - floorOpen).toFixed(0)} ns (metrics off: ${(at("withCircuit open + fallback · metrics off") - floorOpen).toFixed(0)} ns)`)
if (sink === 0.5) console.log(sink)
process.exit(0)

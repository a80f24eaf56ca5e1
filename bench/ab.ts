/**
 * A/B of the hot path in one process: the working tree's `src/` against the
 * `src/` of a git revision, the same cases alternated within each round, so
 * that the load of a shared machine hits both alike. Prints medians and the
 * after/before ratio per case.
 *
 * Run: `node --expose-gc bench/ab.ts <rev> [rounds] [calls] [after-rev] [--wall]` (e.g. `main`,
 * `HEAD~1`); with `after-rev`, that revision's `src/` is "after" instead of the working tree.
 * Times are the process's CPU time per call (`--wall`: wall-clock time).
 * Medians and minimums are both shown: on a loaded machine the minimum of
 * many short rounds is the steadier estimate of the cost itself.
 */
import { Effect, Layer, Scope, type Context } from "effect"
import { execSync } from "node:child_process"
import { mkdirSync, rmSync } from "node:fs"
import { fileURLToPath } from "node:url"

const positional = process.argv.slice(2).filter((a) => !a.startsWith("--"))
const rev = positional[0] ?? "main"
const ROUNDS = Number(positional[1] ?? 9)
const CALLS = Number(positional[2] ?? 100_000)
const afterRev = positional[3]
const dirs: Array<string> = []
const load = async (r: string) => {
  const dir = fileURLToPath(new URL(`./.ab-${r.replace(/[^A-Za-z0-9]/g, "_")}/`, import.meta.url))
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  execSync(`git archive ${r} src | tar -x -C ${dir}`)
  dirs.push(dir)
  return {
    ...await import(`${dir}src/index.ts`) as typeof import("../src/index.ts"),
    promise: await import(`${dir}src/promise/index.ts`) as typeof import("../src/promise/index.ts")
  }
}
const B = await load(rev)
const A = afterRev === undefined
  ? { ...await import("../src/index.ts"), promise: await import("../src/promise/index.ts") }
  : await load(afterRev)
const { Circuit: CircuitA, withCircuit: withCircuitA, CircuitRegistry: RegistryA } = A

const build = async (layer: Layer.Layer<any, any>) => {
  const scope = Effect.runSync(Scope.make())
  return await Effect.runPromise(Layer.buildWithScope(layer, scope)) as Context.Context<any>
}
const sides = {
  after: { api: { Circuit: CircuitA, withCircuit: withCircuitA }, context: await build(RegistryA.layer()) },
  before: { api: { Circuit: B.Circuit, withCircuit: B.withCircuit }, context: await build(B.CircuitRegistry.layer()) }
}
const one = Effect.succeed(1)
const cases = (side: typeof sides.after) => {
  const run = Effect.runPromiseWith(side.context)
  return {
    run,
    effects: {
      "closed (defaults)": one.pipe(side.api.withCircuit("default")),
      "open + fallback": one.pipe(side.api.withCircuit("open", { fallback: () => Effect.succeed(0) })),
      "failure + fallback": Effect.fail(1).pipe(side.api.withCircuit("failing", { fallback: () => Effect.succeed(0) }))
    } as Record<string, Effect.Effect<unknown, unknown, any>>
  }
}
const Ac = cases(sides.after)
const Bc = cases(sides.before)
await Ac.run(sides.after.api.Circuit.forceOpen("open"))
await Bc.run(sides.before.api.Circuit.forceOpen("open"))
await Ac.run(sides.after.api.Circuit.configure("failing", { requestVolumeThreshold: 1e9 }))
await Bc.run(sides.before.api.Circuit.configure("failing", { requestVolumeThreshold: 1e9 }))
// CPU time of this process (user + system), not wall time: on cores shared
// with other work, wall time also counts the time this process waited for a
// core, which changes from second to second; CPU time is the work done.
// (`--wall` measures wall time instead.)
const wall = process.argv.includes("--wall")
const cpuNow = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}
const clock = wall ? () => performance.now() : cpuNow
const time = (e: Effect.Effect<unknown, unknown, any>) =>
  Effect.gen(function*() {
    const t0 = clock()
    for (let i = 0; i < CALLS; i++) yield* e
    return ((clock() - t0) * 1e6) / CALLS
  })
// The Promise shell over the same registries: fire() closed, and open with a fallback.
const asyncOne = async () => 1
const promiseCases = (api: typeof A.promise, context: Context.Context<any>) => {
  const circuits = api.CircuitPromise.fromContext(context)
  circuits.forceOpen("promise-open")
  const fallback = { fallback: () => 0 }
  return {
    "CircuitPromise fire()": () => circuits.fire("promise", asyncOne),
    "CircuitPromise open + fallback": () => circuits.fire("promise-open", asyncOne, fallback)
  } as Record<string, () => Promise<unknown>>
}
const Ap = promiseCases(A.promise, sides.after.context)
const Bp = promiseCases(B.promise, sides.before.context)
const timePromises = async (call: () => Promise<unknown>) => {
  const n = CALLS / 4
  const t0 = clock()
  for (let i = 0; i < n; i++) await call()
  return ((clock() - t0) * 1e6) / n
}
const samples: Record<string, { after: Array<number>; before: Array<number> }> = {}
for (let round = -1; round < ROUNDS; round++) {
  for (const name of Object.keys(Ac.effects)) {
    const order = round % 2 === 0 ? ["after", "before"] as const : ["before", "after"] as const
    for (const side of order) {
      const c = side === "after" ? Ac : Bc
      const ns = await c.run(time(c.effects[name]!))
      if (round >= 0) ((samples[name] ??= { after: [], before: [] })[side]).push(ns)
    }
  }
  for (const name of Object.keys(Ap)) {
    const order = round % 2 === 0 ? ["after", "before"] as const : ["before", "after"] as const
    for (const side of order) {
      const ns = await timePromises((side === "after" ? Ap : Bp)[name]!)
      if (round >= 0) ((samples[name] ??= { after: [], before: [] })[side]).push(ns)
    }
  }
}
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(`A/B: ${afterRev ?? "working tree"} (after) vs ${rev} (before), ${ROUNDS} rounds of ${CALLS} calls, ${wall ? "wall" : "CPU"} time (ns per call)`)
for (const [name, s] of Object.entries(samples)) {
  const a = median(s.after)
  const b = median(s.before)
  const ratios = s.after.map((x, i) => x / s.before[i]!)
  const minA = Math.min(...s.after)
  const minB = Math.min(...s.before)
  console.log(`${name.padEnd(22)} min: before ${minB.toFixed(0).padStart(5)} after ${minA.toFixed(0).padStart(5)} (${(minA / minB).toFixed(2)})  median: before ${b.toFixed(0).padStart(5)}  after ${a.toFixed(0).padStart(5)}  after/before ${(a / b).toFixed(2)} (per-round ratios median ${median(ratios).toFixed(2)}, ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`)
}
for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
process.exit(0)

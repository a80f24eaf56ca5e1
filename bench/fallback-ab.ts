/**
 * A/B of the fallback path with `maxConcurrentFallbacks` off (the default),
 * as `bench/ab.ts` measures the hot path: the working tree's `src/` against
 * the `src/` of a git revision, the same cases alternated within each round.
 * Besides `ab.ts`'s cases, a fallback that is an effect (not already a
 * value), which is where the fallback permit is taken and given back.
 *
 * Run: `node --expose-gc bench/fallback-ab.ts <rev> [rounds] [calls] [after-rev] [--wall] [--only=<case>]`;
 * with `after-rev`, that revision's `src/` is "after" instead of the working tree.
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
  const dir = fileURLToPath(new URL(`./.ab-fallback-${r.replace(/[^A-Za-z0-9]/g, "_")}/`, import.meta.url))
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  execSync(`git archive ${r} src | tar -x -C ${dir}`)
  dirs.push(dir)
  return await import(`${dir}src/index.ts`) as typeof import("../src/index.ts")
}
const B = await load(rev)
const A = afterRev === undefined ? await import("../src/index.ts") : await load(afterRev)
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
      "failure + fallback": Effect.fail(1).pipe(side.api.withCircuit("failing", { fallback: () => Effect.succeed(0) })),
      "failure + effect fallback": Effect.fail(1).pipe(side.api.withCircuit("failing", { fallback: () => Effect.sync(() => 0) })),
      "open + effect fallback": one.pipe(side.api.withCircuit("open", { fallback: () => Effect.sync(() => 0) }))
    } as Record<string, Effect.Effect<unknown, unknown, any>>
  }
}
const Ac = cases(sides.after)
const Bc = cases(sides.before)
// `--only=<substring>`: only the cases whose name contains it.
const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length)
if (only !== undefined) {
  for (const c of [Ac, Bc]) for (const name of Object.keys(c.effects)) if (!name.includes(only)) delete c.effects[name]
}
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
}
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
console.log(`A/B: ${afterRev ?? "working tree"} (after) vs ${rev} (before), ${ROUNDS} rounds of ${CALLS} calls, ${wall ? "wall" : "CPU"} time (ns per call)`)
for (const [name, s] of Object.entries(samples)) {
  const a = median(s.after)
  const b = median(s.before)
  const ratios = s.after.map((x, i) => x / s.before[i]!)
  const minA = Math.min(...s.after)
  const minB = Math.min(...s.before)
  console.log(`${name.padEnd(26)} min: before ${minB.toFixed(0).padStart(5)} after ${minA.toFixed(0).padStart(5)} (${(minA / minB).toFixed(2)})  median: before ${b.toFixed(0).padStart(5)}  after ${a.toFixed(0).padStart(5)}  after/before ${(a / b).toFixed(2)} (per-round ratios median ${median(ratios).toFixed(2)}, ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`)
}
for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
process.exit(0)

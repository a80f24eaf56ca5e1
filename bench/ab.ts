/**
 * A/B of the hot path: the working tree's `src/` against the `src/` of a git
 * revision, the same cases alternated within each round, so that the load of
 * a shared machine hits both alike. Prints medians and the after/before ratio
 * per case.
 *
 * Each side runs in a worker thread of its own (its own V8 isolate), and the
 * two take turns: one runs a case while the other waits. Until issue 13's
 * second step both sides ran in one isolate, and an A/A (the same code on
 * both sides) read 1.06–1.24 × slower for one side: the two copies share
 * Effect's runtime functions, whose inline caches and inlining decisions
 * then depended on which copy came first, so a ratio could show a difference
 * that was not in the code.
 *
 * Run: `node --expose-gc bench/ab.ts <rev> [rounds] [calls] [after-rev] [--wall]` (e.g. `main`,
 * `HEAD~1`; `HEAD` with an unchanged tree is an A/A, the noise to read a ratio against); with
 * `after-rev`, that revision's `src/` is "after" instead of the working tree.
 * Times are the process's CPU time per call (`--wall`: wall-clock time): only
 * one side works at a time, so the process's CPU time is that side's work, its
 * garbage collector's helper threads included.
 * Medians and minimums are both shown: on a loaded machine the minimum of
 * many short rounds is the steadier estimate of the cost itself.
 */
import { Effect, Layer, Scope, type Context } from "effect"
import { execSync } from "node:child_process"
import { mkdirSync, rmSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads"

const wall = process.argv.includes("--wall")
// CPU time of this process (user + system), not wall time: on cores shared
// with other work, wall time also counts the time this process waited for a
// core, which changes from second to second; CPU time is the work done.
const clock = wall ? () => performance.now() : () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

interface Job {
  readonly name: string
  readonly calls: number
}

// ---------------------------------------------------------------------------
// A side: one copy of `src/`, its registry and cases; times one case per job.
// ---------------------------------------------------------------------------
const side = async (dir: string | undefined) => {
  const api = dir === undefined
    ? { ...await import("../src/index.ts"), promise: await import("../src/promise/index.ts") }
    : {
      ...await import(`${dir}src/index.ts`) as typeof import("../src/index.ts"),
      promise: await import(`${dir}src/promise/index.ts`) as typeof import("../src/promise/index.ts")
    }
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(api.CircuitRegistry.layer(), scope)
  ) as Context.Context<any>
  const run = Effect.runPromiseWith(context)
  const one = Effect.succeed(1)
  const effects: Record<string, Effect.Effect<unknown, unknown, any>> = {
    "closed (defaults)": one.pipe(api.withCircuit("default")),
    "open + fallback": one.pipe(api.withCircuit("open", { fallback: () => Effect.succeed(0) })),
    "failure + fallback": Effect.fail(1).pipe(api.withCircuit("failing", { fallback: () => Effect.succeed(0) }))
  }
  await run(api.Circuit.forceOpen("open"))
  await run(api.Circuit.configure("failing", { requestVolumeThreshold: 1e9 }))
  const time = (e: Effect.Effect<unknown, unknown, any>, calls: number) =>
    Effect.gen(function*() {
      const t0 = clock()
      for (let i = 0; i < calls; i++) yield* e
      return ((clock() - t0) * 1e6) / calls
    })
  // The Promise shell over the same registry: fire() closed, and open with a fallback.
  const circuits = api.promise.CircuitPromise.fromContext(context)
  circuits.forceOpen("promise-open")
  const asyncOne = async () => 1
  const fallback = { fallback: () => 0 }
  const promises: Record<string, () => Promise<unknown>> = {
    "CircuitPromise fire()": () => circuits.fire("promise", asyncOne),
    "CircuitPromise open + fallback": () => circuits.fire("promise-open", asyncOne, fallback)
  }
  const timePromises = async (call: () => Promise<unknown>, calls: number) => {
    const n = calls / 4
    const t0 = clock()
    for (let i = 0; i < n; i++) await call()
    return ((clock() - t0) * 1e6) / n
  }
  const port = parentPort!
  port.on("message", async (job: Job) => {
    const effect = effects[job.name]
    const ns = effect !== undefined ? await run(time(effect, job.calls)) : await timePromises(promises[job.name]!, job.calls)
    port.postMessage(ns)
  })
  port.postMessage([...Object.keys(effects), ...Object.keys(promises)])
}

// ---------------------------------------------------------------------------
// The coordinator: archives the revisions, starts the two sides, alternates.
// ---------------------------------------------------------------------------
const main = async () => {
  const positional = process.argv.slice(2).filter((a) => !a.startsWith("--"))
  const rev = positional[0] ?? "main"
  const ROUNDS = Number(positional[1] ?? 9)
  const CALLS = Number(positional[2] ?? 100_000)
  const afterRev = positional[3]
  const PAIRS = Number(process.argv.find((a) => a.startsWith("--pairs="))?.slice("--pairs=".length) ?? 4)
  const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const dirs: Array<string> = []
  const archive = (r: string, label: string) => {
    const dir = fileURLToPath(new URL(`./.ab-${label}-${r.replace(/[^A-Za-z0-9]/g, "_")}/`, import.meta.url))
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    execSync(`git archive ${r} src | tar -x -C ${dir}`)
    dirs.push(dir)
    return dir
  }
  const start = (dir: string | undefined) =>
    new Promise<{ worker: Worker; names: Array<string> }>((resolve, reject) => {
      const worker = new Worker(new URL(import.meta.url), { workerData: { dir }, argv: process.argv.slice(2) })
      worker.once("message", (names: Array<string>) => resolve({ worker, names }))
      worker.once("error", reject)
    })
  const ask = (worker: Worker, job: Job) =>
    new Promise<number>((resolve) => {
      worker.once("message", resolve)
      worker.postMessage(job)
    })
  const beforeDir = archive(rev, "before")
  const afterDir = afterRev === undefined ? undefined : archive(afterRev, "after")
  const samples: Record<string, { after: Array<number>; before: Array<number>; pairs: Array<number> }> = {}
  for (let pair = 0; pair < PAIRS; pair++) {
    // Which side starts first alternates too (both load the same modules).
    let before: Awaited<ReturnType<typeof start>>
    let after: Awaited<ReturnType<typeof start>>
    if (pair % 2 === 0) {
      before = await start(beforeDir)
      after = await start(afterDir)
    } else {
      after = await start(afterDir)
      before = await start(beforeDir)
    }
    const ofPair: Record<string, Array<number>> = {}
    for (let round = -1; round < ROUNDS; round++) {
      for (const name of after.names) {
        const order = round % 2 === 0 ? ["after", "before"] as const : ["before", "after"] as const
        const ns = { after: 0, before: 0 }
        for (const s of order) ns[s] = await ask((s === "after" ? after : before).worker, { name, calls: CALLS })
        if (round < 0) continue
        const sample = samples[name] ??= { after: [], before: [], pairs: [] }
        sample.after.push(ns.after)
        sample.before.push(ns.before)
        ;(ofPair[name] ??= []).push(ns.after / ns.before)
      }
    }
    for (const [name, ratios] of Object.entries(ofPair)) samples[name]!.pairs.push(median(ratios))
    await Promise.all([before.worker.terminate(), after.worker.terminate()])
  }
  console.log(
    `A/B: ${afterRev ?? "working tree"} (after) vs ${rev} (before), ${ROUNDS} rounds of ${CALLS} calls, ${
      wall ? "wall" : "CPU"
    } time (ns per call), ${PAIRS} pairs of workers (one per side)`
  )
  for (const [name, s] of Object.entries(samples)) {
    const a = median(s.after)
    const b = median(s.before)
    const ratios = s.after.map((x, i) => x / s.before[i]!)
    const minA = Math.min(...s.after)
    const minB = Math.min(...s.before)
    console.log(
      `${name.padEnd(22)} min: before ${minB.toFixed(0).padStart(5)} after ${minA.toFixed(0).padStart(5)} (${
        (minA / minB).toFixed(2)
      })  median: before ${b.toFixed(0).padStart(5)}  after ${a.toFixed(0).padStart(5)}  after/before ${
        (a / b).toFixed(2)
      } (per-round ratios median ${median(ratios).toFixed(2)}, ${Math.min(...ratios).toFixed(2)}–${
        Math.max(...ratios).toFixed(2)
      }); per pair: ${s.pairs.map((r) => r.toFixed(2)).join(" ")}`
    )
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  process.exit(0)
}

if (isMainThread) await main()
else await side((workerData as { dir: string | undefined }).dir)

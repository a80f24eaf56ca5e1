/**
 * Heap per idle circuit, and the cost of a new circuit's first call: 100,000 named circuits, each used once (a call that
 * completes at once) or only looked at, then left idle. Run by bench/suite.ts
 * in a fresh process per case (`node --expose-gc --conditions=effect-circuit-source bench/idle.ts <case>`), so
 * that no garbage of another measurement is counted; prints one JSON line.
 *
 * Cases: `used-metrics-off`, `unused-defaults`, `used-defaults`.
 */
import { Effect } from "effect"
import { CircuitRegistry, withCircuit } from "effect-circuit"

const cases = {
  "used-metrics-off": { label: "used once, metrics off", metrics: false, call: true },
  "unused-defaults": { label: "created, never called (defaults)", metrics: true, call: false },
  "used-defaults": { label: "used once, defaults (metrics + percentiles on)", metrics: true, call: true }
} as const

if (!import.meta.resolve("effect-circuit").includes("/src/")) {
  throw new Error("bench/idle.ts: run with --conditions=effect-circuit-source, so that src/ is measured, not dist/")
}

const name = (process.argv[2] ?? "used-defaults") as keyof typeof cases
const c = cases[name]
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with node --expose-gc")
const heap = () => {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}
const IDLE = 100_000
// The process's CPU time in ms (as bench/suite.ts measures; `--wall`: wall time).
const now = process.argv.includes("--wall") ? () => performance.now() : () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}
const one = Effect.succeed(1)

const result = await Effect.runPromise(Effect.gen(function*() {
  const registry = yield* Effect.service(CircuitRegistry)
  // Warm up the code paths first, so that compiled code is not counted.
  for (let i = 0; i < 1000; i++) {
    if (c.call) yield* one.pipe(withCircuit(`warm-${i}`))
    else registry.cell(`warm-${i}`, 0) // reading a name no longer creates its circuit

  }
  const before = heap()
  const resourcesBefore = process.getActiveResourcesInfo().length
  const t0 = now()
  for (let i = 0; i < IDLE; i++) {
    if (c.call) yield* one.pipe(withCircuit(`svc-${i}`))
    else registry.cell(`svc-${i}`, 0)

  }
  const firstCallMicros = ((now() - t0) * 1000) / IDLE
  const after = heap()
  const resourcesAfter = process.getActiveResourcesInfo().length
  return {
    label: c.label,
    circuits: registry.names().length - 1000,
    bytesPerCircuit: (after - before) / IDLE,
    activeResourcesAdded: resourcesAfter - resourcesBefore,
    // The first call of each new circuit (or its first look-up): creating it, and its metric series.
    firstCallMicros
  }
  // No bound: every circuit is kept, so the heap per circuit is measured.
}).pipe(Effect.provide(CircuitRegistry.layer({ metrics: c.metrics, capacity: Infinity }))))

console.log(JSON.stringify(result))

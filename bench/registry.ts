/**
 * A registry fed by request data (issue 11, item 2): 1,000,000 distinct
 * circuit names, each used once, with the defaults a user gets (capacity
 * 10,000, idleTimeToLive 1 hour, metrics and percentiles on).
 *
 * Printed every 100,000 names: the circuits held and the heap after a full
 * GC. The run fails (exit 1) if the registry ever holds more than its
 * capacity or the heap grows past the bound printed at the end (the heap
 * with `capacity` circuits plus 50 %).
 *
 * Run: `npm run bench:registry` (`node --expose-gc bench/registry.ts [names]`).
 */
import { Effect } from "effect"
import { Circuit, CircuitRegistry, withCircuit } from "../src/index.ts"

const total = Number(process.argv[2] ?? 1_000_000)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with node --expose-gc")
const heapMB = () => {
  gc()
  return process.memoryUsage().heapUsed / 1e6
}

const program = Effect.gen(function*() {
  const start = heapMB()
  let most = 0
  let heapAtCapacity = 0
  let heapMax = 0
  const started = performance.now()
  for (let i = 1; i <= total; i++) {
    yield* Effect.succeed(i).pipe(withCircuit(`name-${i}`))
    if (i % 100_000 === 0 || i === 10_000) {
      const held = (yield* Circuit.names).length
      most = Math.max(most, held)
      const heap = heapMB()
      if (i === 10_000) heapAtCapacity = heap
      heapMax = Math.max(heapMax, heap)
      console.log(
        `${i.toLocaleString("en")} names: ${held.toLocaleString("en")} circuits held, heap ${heap.toFixed(1)} MB` +
          ` (${((performance.now() - started) / 1000).toFixed(1)} s)`
      )
    }
  }
  const bound = start + (heapAtCapacity - start) * 1.5
  console.log(
    `start heap ${start.toFixed(1)} MB; at 10,000 circuits ${heapAtCapacity.toFixed(1)} MB; max ${heapMax.toFixed(1)} MB;` +
      ` most circuits held ${most.toLocaleString("en")}; bound ${bound.toFixed(1)} MB`
  )
  if (most > 10_000 || heapMax > bound) {
    console.error("FAILED: the registry or the heap was not bounded")
    process.exitCode = 1
  }
})

await Effect.runPromise(program.pipe(Effect.provide(CircuitRegistry.layer())))

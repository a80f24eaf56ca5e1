/**
 * Draws docs/images/adaptive-limit.svg: the learned limit of both adaptive
 * algorithms tracking a dependency whose capacity changes, from one
 * simulation run through `withCircuit` on TestClock, against the dependency
 * of the adaptive properties (property-tests/adaptive-harness.ts).
 *
 * Run: npm run plot:adaptive
 */
import { writeFileSync } from "node:fs"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { type CircuitConfigInput, CircuitRegistry, withCircuit } from "effect-circuit"

const L = 100
const phases = [
  { capacity: 30, millis: 40 * L },
  { capacity: 15, millis: 30 * L },
  { capacity: 40, millis: 40 * L }
]
const total = phases.reduce((sum, p) => sum + p.millis, 0)
const tick = 20

interface Point {
  readonly at: number
  readonly limit: number
}

// The dependency of property-tests/adaptive-harness.ts: C calls at once in L ms; a call that
// starts with n calls in it takes L · max(1, n / C). Open-loop load of 1.5 × C / L.
const simulate = (maxConcurrentRequests: CircuitConfigInput["maxConcurrentRequests"]) =>
  Effect.gen(function*() {
    const dependency = { capacity: phases[0]!.capacity, inFlight: 0 }
    const work = Effect.suspend(() => {
      dependency.inFlight++
      const millis = Math.round(L * Math.max(1, dependency.inFlight / dependency.capacity))
      return Effect.ensuring(Effect.sleep(millis), Effect.sync(() => dependency.inFlight--))
    })
    const call = Effect.exit(work.pipe(withCircuit("dependency")))
    const registry = yield* CircuitRegistry
    const trace: Array<Point> = []
    let owed = 0
    for (let at = 0, phase = 0, end = phases[0]!.millis; at < total; at += tick) {
      if (at >= end) {
        phase++
        end += phases[phase]!.millis
        dependency.capacity = phases[phase]!.capacity
      }
      owed += 1.5 * dependency.capacity * tick / L
      for (; owed >= 1; owed--) yield* Effect.forkChild(call)
      const cell = registry.lookup("dependency")
      if (cell !== undefined) trace.push({ at, limit: cell.maxConcurrent })
      yield* TestClock.adjust(tick)
    }
    return trace
  }).pipe(
    Effect.provide(CircuitRegistry.layer({
      // The breaker stays out of it: the plot is about the limit.
      defaults: { maxConcurrentRequests, timeout: 3 * L, requestVolumeThreshold: 1_000_000 },
      metrics: false
    })),
    Effect.provide(TestClock.layer()),
    Effect.orDie
  )

const runs = await Effect.runPromise(Effect.all({
  gradient: simulate({ adaptive: "gradient", min: 1, max: 100, initial: 5 }),
  aimd: simulate({ adaptive: "aimd", min: 1, max: 100, initial: 5, latencyThreshold: 1.05 * L })
}))

const width = 760
const height = 320
const pad = { left: 48, right: 16, top: 28, bottom: 40 }
const yMax = 60
const x = (at: number) => pad.left + (at / total) * (width - pad.left - pad.right)
const y = (n: number) => height - pad.bottom - (n / yMax) * (height - pad.top - pad.bottom)
const path = (trace: ReadonlyArray<Point>) =>
  trace.map((p, i) => `${i === 0 ? "M" : "L"}${x(p.at).toFixed(1)} ${y(p.limit).toFixed(1)}`).join(" ")

let at = 0
const band: Array<string> = []
const capacity: Array<string> = []
for (const phase of phases) {
  const x0 = x(at)
  const x1 = x(at + phase.millis)
  band.push(
    `<rect x="${x0.toFixed(1)}" y="${y(1.25 * phase.capacity).toFixed(1)}" width="${(x1 - x0).toFixed(1)}" height="${
      (y(0.75 * phase.capacity) - y(1.25 * phase.capacity)).toFixed(1)
    }" fill="#8b949e" fill-opacity="0.15"/>`
  )
  capacity.push(`${capacity.length === 0 ? "M" : "L"}${x0.toFixed(1)} ${y(phase.capacity).toFixed(1)} L${x1.toFixed(1)} ${y(phase.capacity).toFixed(1)}`)
  at += phase.millis
}
const xTicks = Array.from({ length: Math.floor(total / (10 * L)) + 1 }, (_, i) => i * 10 * L)
const yTicks = [0, 10, 20, 30, 40, 50, 60]
const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="system-ui, sans-serif" font-size="12">
<rect width="${width}" height="${height}" fill="#ffffff"/>
<text x="${pad.left}" y="18" font-size="13" font-weight="600">Learned limit vs the dependency's capacity (withCircuit on TestClock, load 1.5 × capacity)</text>
${yTicks.map((n) => `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(n)}" y2="${y(n)}" stroke="#d0d7de" stroke-width="0.5"/><text x="${pad.left - 6}" y="${y(n) + 4}" text-anchor="end">${n}</text>`).join("\n")}
${xTicks.map((t) => `<text x="${x(t)}" y="${height - pad.bottom + 16}" text-anchor="middle">${t / L}</text>`).join("\n")}
<text x="${(pad.left + width - pad.right) / 2}" y="${height - 6}" text-anchor="middle">time, in no-load round trips (L = ${L} ms)</text>
<text x="14" y="${(pad.top + height - pad.bottom) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(pad.top + height - pad.bottom) / 2})">calls at once</text>
${band.join("\n")}
<path d="${capacity.join(" ")}" fill="none" stroke="#57606a" stroke-width="2" stroke-dasharray="6 4"/>
<path d="${path(runs.aimd)}" fill="none" stroke="#d97706" stroke-width="1.6"/>
<path d="${path(runs.gradient)}" fill="none" stroke="#0969da" stroke-width="1.8"/>
<g transform="translate(${pad.left + 10}, ${pad.top + 4})">
<rect width="246" height="62" fill="#ffffff" stroke="#d0d7de"/>
<line x1="8" x2="36" y1="14" y2="14" stroke="#57606a" stroke-width="2" stroke-dasharray="6 4"/><text x="42" y="18">capacity C (band: ±25 %)</text>
<line x1="8" x2="36" y1="32" y2="32" stroke="#0969da" stroke-width="1.8"/><text x="42" y="36">gradient (defaults)</text>
<line x1="8" x2="36" y1="50" y2="50" stroke="#d97706" stroke-width="1.6"/><text x="42" y="54">AIMD (latencyThreshold 1.05 L)</text>
</g>
</svg>
`
writeFileSync(new URL("../docs/images/adaptive-limit.svg", import.meta.url), svg)
console.log("wrote docs/images/adaptive-limit.svg")

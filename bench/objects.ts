/**
 * What a new circuit allocates that stays alive: 2,000 circuits are made
 * (used once, or only created) between two heap snapshots, and the objects
 * and bytes the second has more, per circuit, are printed by kind (V8's node
 * type and class name). The names are made before the first snapshot, so
 * they are not counted; the registry's `Map` is (its share of the table).
 *
 * Run: `node --expose-gc --conditions=effect-circuit-source bench/objects.ts [used | used-metrics-off | unused]`.
 */
import { Effect } from "effect"
import { CircuitRegistry, withCircuit } from "effect-circuit"
import { readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { writeHeapSnapshot } from "node:v8"

if (!import.meta.resolve("effect-circuit").includes("/src/")) {
  throw new Error("bench/objects.ts: run with --conditions=effect-circuit-source, so that src/ is measured, not dist/")
}
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with node --expose-gc")

const mode = process.argv[2] ?? "used"
const metrics = mode !== "used-metrics-off"
const call = mode !== "unused"
const N = 2_000
const one = Effect.succeed(1)

// Both snapshots are taken before either is read, so that no census is in one.
const snap = (tag: string): string => {
  gc()
  return writeHeapSnapshot(join(tmpdir(), `objects-${process.pid}-${tag}.heapsnapshot`))
}

// Objects and bytes by "type:class" in a heap snapshot.
const census = (file: string): Map<string, { count: number; bytes: number }> => {
  const snapshot = JSON.parse(readFileSync(file, "utf8")) as {
    snapshot: { meta: { node_fields: Array<string>; node_types: [Array<string>] } }
    nodes: Array<number>
    strings: Array<string>
  }
  rmSync(file)
  const fields = snapshot.snapshot.meta.node_fields
  const types = snapshot.snapshot.meta.node_types[0]
  const typeAt = fields.indexOf("type")
  const nameAt = fields.indexOf("name")
  const sizeAt = fields.indexOf("self_size")
  const out = new Map<string, { count: number; bytes: number }>()
  for (let i = 0; i < snapshot.nodes.length; i += fields.length) {
    const key = `${types[snapshot.nodes[i + typeAt]!]}:${snapshot.strings[snapshot.nodes[i + nameAt]!]!.slice(0, 40)}`
    const entry = out.get(key) ?? { count: 0, bytes: 0 }
    entry.count++
    entry.bytes += snapshot.nodes[i + sizeAt]!
    out.set(key, entry)
  }
  return out
}

await Effect.runPromise(
  Effect.gen(function*() {
    const registry = yield* CircuitRegistry
    // Warm up, so that compiled code and one-time tables are not counted.
    for (let i = 0; i < 1000; i++) {
      if (call) yield* one.pipe(withCircuit(`warm-${i}`))
      else registry.cell(`warm-${i}`, 0)
    }
    const names = Array.from({ length: N }, (_, i) => `svc-${i}`)
    const first = snap("before")
    for (const name of names) {
      if (call) yield* one.pipe(withCircuit(name))
      else registry.cell(name, 0)
    }
    const second = snap("after")
    const before = census(first)
    const after = census(second)
    const rows: Array<[string, number, number]> = []
    for (const [key, { count, bytes }] of after) {
      const was = before.get(key) ?? { count: 0, bytes: 0 }
      const objects = (count - was.count) / N
      const size = (bytes - was.bytes) / N
      if (Math.abs(objects) >= 0.05 || Math.abs(size) >= 4) rows.push([key, objects, size])
    }
    rows.sort((a, b) => b[2] - a[2])
    let objects = 0
    let bytes = 0
    console.log(`${mode}: per circuit (objects, bytes, kind)`)
    for (const [key, o, b] of rows) {
      console.log(`${o.toFixed(2).padStart(6)} ${b.toFixed(1).padStart(8)}  ${key}`)
      // The Map's table grows in steps: its share is bytes, not whole objects.
      if (o >= 0.5) objects += o
      bytes += b
    }
    console.log(`total: ${objects.toFixed(0)} objects, ${bytes.toFixed(0)} bytes per circuit`)
  }).pipe(Effect.provide(CircuitRegistry.layer({ metrics, capacity: Infinity })))
)

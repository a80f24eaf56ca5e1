/**
 * The import graph of `src/`: no module imports itself through others (type
 * imports included: they are cycles for a reader and for bundlers' module
 * order all the same), no two folders import each other, and imports flow one
 * way, adapters → shells → registry → cell/store → core (ARCHITECTURE.md),
 * with observability reading the registry from beside it.
 *
 * The graph is read from the sources (every relative `import`, `export ...
 * from` and `import()`), outside doc comments, whose examples import the
 * package by name.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

const src = path.resolve(import.meta.dirname, "../src")

const sources = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : []
  })

const importRe = /(?:^|[\n;])\s*(?:import|export)\s+(?:type\s+)?(?:[^"';]*?\s+from\s+)?["'](\.{1,2}\/[^"']+)["']/g
const dynamicRe = /\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g

/** Relative imports of every source file, as absolute paths. */
export const importGraph = (root: string): Map<string, Array<string>> => {
  const graph = new Map<string, Array<string>>()
  for (const file of sources(root)) {
    const code = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "")
    const deps = new Set<string>()
    for (const m of code.matchAll(importRe)) deps.add(path.resolve(path.dirname(file), m[1]!))
    for (const m of code.matchAll(dynamicRe)) deps.add(path.resolve(path.dirname(file), m[1]!))
    graph.set(file, [...deps])
  }
  return graph
}

/** The strongly connected components with more than one node (Tarjan). */
export const cycles = (graph: ReadonlyMap<string, ReadonlyArray<string>>): Array<Array<string>> => {
  let next = 0
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: Array<string> = []
  const onStack = new Set<string>()
  const found: Array<Array<string>> = []
  const visit = (v: string): void => {
    index.set(v, next)
    low.set(v, next)
    next++
    stack.push(v)
    onStack.add(v)
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue
      if (!index.has(w)) {
        visit(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) === index.get(v)) {
      const component: Array<string> = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1) found.push(component.sort())
    }
  }
  for (const v of graph.keys()) if (!index.has(v)) visit(v)
  return found
}

/** A folder of `src/` ("store/"), or a file at its top ("withCircuit.ts"). */
const unitOf = (file: string): string => {
  const parts = path.relative(src, file).split(path.sep)
  return parts.length > 1 ? `${parts[0]}/` : parts[0]!
}

// Lower imports nothing higher. Same layer: allowed, as long as no folders form a cycle.
const layers: ReadonlyArray<readonly [layer: string, units: ReadonlyArray<string>]> = [
  ["core", ["core/"]],
  ["settings and vocabulary", ["config/", "errors.ts", "CircuitEvent.ts", "CircuitConfig.ts", "CircuitCell.ts"]],
  ["cell/store", ["internal/", "store/"]],
  ["registry", ["CircuitRegistry.ts"]],
  ["observability", ["observability/"]],
  ["registry with observability", ["CircuitRegistryLayer.ts"]],
  ["shells", ["withCircuit.ts", "Circuit.ts", "CircuitPermit.ts", "promise/"]],
  ["adapters", ["http/", "testing/"]],
  ["entry", ["index.ts"]]
]
// A new file at the top of src/ is a shell unless listed.
const shellLayer = layers.findIndex(([name]) => name === "shells")
const layerOf = (unit: string): number => {
  const i = layers.findIndex(([, units]) => units.includes(unit))
  if (i >= 0) return i
  if (!unit.endsWith("/")) return shellLayer
  throw new Error(`src/${unit} has no layer: add it to test/imports.test.ts`)
}

const relative = (file: string): string => path.relative(path.resolve(src, ".."), file)

describe("imports of src/", () => {
  const graph = importGraph(src)

  it("reads the graph (a sanity check of the reader)", () => {
    const registry = graph.get(path.join(src, "CircuitRegistry.ts")) ?? []
    assert.include(registry, path.join(src, "internal/cell.ts"))
    // A type-only import is an edge too.
    assert.include(graph.get(path.join(src, "config/breaker.ts")) ?? [], path.join(src, "core/BreakerConfig.ts"))
    // So is a re-export.
    assert.include(graph.get(path.join(src, "index.ts")) ?? [], path.join(src, "withCircuit.ts"))
  })

  // None known: the wait queue's cycle (cell → waitQueue → callPath → cell)
  // is broken by the cell's `Waiters` interface (internal/cell.ts).
  it("has no cycle between modules", () => {
    assert.deepStrictEqual(cycles(graph).map((c) => c.map(relative)), [])
  })

  it("has no cycle between folders", () => {
    const units = new Map<string, Array<string>>()
    for (const [file, deps] of graph) {
      const from = unitOf(file)
      const to = units.get(from) ?? []
      for (const d of deps) if (unitOf(d) !== from && !to.includes(unitOf(d))) to.push(unitOf(d))
      units.set(from, to)
    }
    assert.deepStrictEqual(cycles(units), [])
  })

  it("imports flow adapters → shells → registry → cell/store → core", () => {
    const wrong: Array<string> = []
    for (const [file, deps] of graph) {
      for (const d of deps) {
        if (layerOf(unitOf(d)) > layerOf(unitOf(file))) {
          wrong.push(`${relative(file)} (${layers[layerOf(unitOf(file))]![0]}) imports ${relative(d)} (${
            layers[layerOf(unitOf(d))]![0]
          })`)
        }
      }
    }
    assert.deepStrictEqual(wrong, [])
  })

  it("the checks catch a cycle", () => {
    assert.deepStrictEqual(cycles(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]])), [["a", "b", "c"]])
    assert.deepStrictEqual(cycles(new Map([["a", ["b"]], ["b", []]])), [])
  })
})

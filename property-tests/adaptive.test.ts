/**
 * Adaptive concurrency limits through the real shell: `withCircuit` with an
 * adaptive `maxConcurrentRequests` in front of a simulated dependency whose
 * latency grows once more than `C` calls are in it (see
 * `adaptive-harness.ts`), on TestClock, under open-loop overload.
 *
 * Every run: a capacity C ∈ [24, 40] for 70 round trips (L = 100 ms, the
 * no-load latency), then C/2 for 30; an initial limit anywhere in [1, 100]
 * (min 1, max 100); offered load 1.25–2 × the capacity; timeout 3 L. The
 * bounds (docs/adaptive-concurrency.md states them too):
 *
 * - settles: from t = S to the end of the first phase, the limit stays
 *   within ±25 % of C, with S = 40 L for the gradient algorithm and 55 L for
 *   AIMD (which climbs by one call per round trip: from 1 to 0.75 · 40 takes
 *   30 of them);
 * - follows: from 12 L after the capacity halves to the end, the limit stays
 *   within ±25 % of C/2;
 * - latency: in both settled spans, the p99 latency of the calls let through
 *   is below 2 L;
 * - goodput: in both settled spans, successful calls ≥ 90 % of C per L;
 *
 * and a fixed limit 4 × too high, under the same load, lets the p99 latency
 * grow to the timeout (here every call times out).
 *
 * AIMD is given `latencyThreshold: 1.05 L` (it learns only from drops); the
 * gradient algorithm its defaults.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fc from "fast-check"
import { goodput, percentile, type Run, settledFrom, simulate } from "./adaptive-harness.ts"

const L = 100
const TIMEOUT = 3 * L
const FIRST = 70 * L
const SECOND = 30 * L
const FOLLOW = 12 * L
const numRuns = 200

const caseArb = fc.record({
  capacity: fc.integer({ min: 24, max: 40 }),
  initial: fc.integer({ min: 1, max: 100 }),
  overload: fc.double({ min: 1.25, max: 2, noNaN: true })
})

const check = (run: Run, capacity: number, SETTLE: number): void => {
  const halved = Math.floor(capacity / 2)
  const end = FIRST + SECOND
  const settled = settledFrom(run, 0, FIRST, 0.75 * capacity, 1.25 * capacity)
  assert.isAtMost(settled, SETTLE, `settled within ±25 % of ${capacity} at ${settled} ms`)
  const followed = settledFrom(run, FIRST, end, 0.75 * halved, 1.25 * halved)
  assert.isAtMost(followed - FIRST, FOLLOW, `followed ${halved} within ±25 % at ${followed - FIRST} ms after the change`)
  for (const [from, to, c] of [[SETTLE, FIRST, capacity], [FIRST + FOLLOW, end, halved]] as const) {
    const p99 = percentile(run, from, to, 99)
    assert.isBelow(p99, 2 * L, `p99 ${p99} ms in [${from}, ${to})`)
    const g = goodput(run, from, to, c, L)
    assert.isAtLeast(g, 0.9, `goodput ${g.toFixed(3)} of C = ${c} in [${from}, ${to})`)
  }
}

const property = (limit: (initial: number) => Parameters<typeof simulate>[0]["limit"], settle: number) =>
  fc.asyncProperty(caseArb, async ({ capacity, initial, overload }) => {
    const run = await Effect.runPromise(simulate({
      limit: limit(initial),
      latency: L,
      timeout: TIMEOUT,
      overload,
      tick: 20,
      phases: [{ capacity, millis: FIRST }, { capacity: Math.floor(capacity / 2), millis: SECOND }]
    }))
    check(run, capacity, settle)
  })

describe("adaptive limits through withCircuit, against a dependency of capacity C", () => {
  it("AIMD: settles within ±25 % of C by 55 L, follows C/2 within 12 L, p99 < 2 L, goodput ≥ 90 % of C", async () => {
    await fc.assert(
      property((initial) => ({ adaptive: "aimd", min: 1, max: 100, initial, latencyThreshold: 1.05 * L }), 55 * L),
      { numRuns }
    )
  })

  it("gradient: settles within ±25 % of C by 40 L, follows C/2 within 12 L, p99 < 2 L, goodput ≥ 90 % of C", async () => {
    await fc.assert(
      property((initial) => ({ adaptive: "gradient", min: 1, max: 100, initial }), 40 * L),
      { numRuns }
    )
  })

  it("a fixed limit 4 × too high lets the p99 latency grow to the timeout under the same load", async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ capacity, overload }) => {
        const run = await Effect.runPromise(simulate({
          limit: 4 * capacity,
          latency: L,
          timeout: TIMEOUT,
          overload,
          tick: 20,
          phases: [{ capacity, millis: 20 * L }]
        }))
        const p99 = percentile(run, 10 * L, 20 * L, 99)
        assert.isAtLeast(p99, TIMEOUT, `p99 ${p99} ms with a fixed limit of ${4 * capacity}`)
      }),
      { numRuns }
    )
  })
})

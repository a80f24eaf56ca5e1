/**
 * SPEC 14: rolling latency percentiles. The log-linear histogram's
 * percentiles stay within its stated relative error of the exact
 * (nearest-rank) percentiles of the samples in the window, whatever the
 * samples; memory does not grow with the number of samples; samples leave the
 * window whole-bucket at a time. Compared with a plain sorted list.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Percentiles } from "../src/index.ts"

const numRuns = 500

// Latencies as they come: mostly small, some heavy tails, some huge.
const latencyArb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 0, max: 100 }),
  fc.integer({ min: 0, max: 5_000 }),
  fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  fc.double({ min: 0, max: 100_000, noNaN: true }),
  fc.constantFrom(0, 1, 63, 64, 65, 127, 128, 1000, 2 ** 31, 2 ** 32 - 1)
)

const percentileArb = fc.oneof(
  fc.constantFrom(...Percentiles.hystrixPercentiles),
  fc.double({ min: 0, max: 100, noNaN: true })
)

const precisionArb = fc.oneof(fc.constant(Percentiles.defaultPrecision), fc.integer({ min: 0, max: 8 }))

const withinError = (estimate: number, exact: number, precision: number): boolean =>
  Math.abs(estimate - exact) <= exact * Percentiles.relativeError(precision) + 1e-9

describe("Percentiles (property)", () => {
  it("every percentile is within the stated relative error of the exact one", () => {
    fc.assert(
      fc.property(
        fc.array(latencyArb, { minLength: 1, maxLength: 2000, size: "large" }),
        fc.array(percentileArb, { minLength: 1, maxLength: 12 }),
        precisionArb,
        (samples, percentiles, precision) => {
          const h = new Percentiles.RollingHistogram({ buckets: 6, bucketMillis: 10_000, precision })
          for (const s of samples) h.record(5_000, s)
          const sorted = samples.map(Percentiles.normalize).sort((a, b) => a - b)
          const d = h.snapshot(5_000, percentiles)
          assert.strictEqual(d.count, samples.length)
          assert.strictEqual(d.min, sorted[0])
          assert.strictEqual(d.max, sorted[sorted.length - 1])
          assert.closeTo(d.mean, sorted.reduce((a, b) => a + b, 0) / sorted.length, 1e-6 * (d.max + 1))
          for (const p of percentiles) {
            const exact = Percentiles.exactPercentile(sorted, p)
            const estimate = d.percentiles[String(p)]!
            assert.isTrue(
              withinError(estimate, exact, precision),
              `p${p}: estimate ${estimate}, exact ${exact}, precision ${precision}`
            )
          }
          // Below 2·2^precision every value has a bucket of its own.
          for (const p of percentiles) {
            const exact = Percentiles.exactPercentile(sorted, p)
            if (exact < 2 << precision) assert.strictEqual(d.percentiles[String(p)], exact)
          }
        }
      ),
      { numRuns }
    )
  })

  it("memory is bounded by the configuration, never by the number of samples", () => {
    fc.assert(
      fc.property(
        fc.array(latencyArb, { minLength: 1, maxLength: 300, size: "large" }),
        fc.integer({ min: 2, max: 50 }),
        fc.integer({ min: 1, max: 12 }),
        (samples, repeat, buckets) => {
          const h = new Percentiles.RollingHistogram({ buckets, bucketMillis: 1_000 })
          // The same values over every time bucket of the window, once...
          for (let t = 0; t < buckets; t++) for (const s of samples) h.record(t * 1_000, s)
          const once = h.cells()
          assert.isAtMost(once, h.maxCells())
          // ...and `repeat` times more: not one counter more.
          for (let r = 0; r < repeat; r++) {
            for (let t = 0; t < buckets; t++) for (const s of samples) h.record(t * 1_000 + 1, s)
          }
          assert.strictEqual(h.cells(), once)
          assert.strictEqual(h.snapshot((buckets - 1) * 1_000).count, samples.length * buckets * (repeat + 1))
          // Later windows reuse the same time buckets.
          for (let t = buckets; t < 5 * buckets; t++) for (const s of samples) h.record(t * 1_000, s)
          assert.isAtMost(h.cells(), h.maxCells())
          assert.strictEqual(h.cells(), once)
        }
      ),
      { numRuns: 200 }
    )
  })

  it("a sample counts exactly while its time bucket is in the window", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 5_000 }),
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 3_000 }), value: fc.integer({ min: 0, max: 10_000 }) }), {
          minLength: 1,
          maxLength: 200
        }),
        fc.integer({ min: 0, max: 60_000 }),
        (buckets, bucketMillis, steps, readAfter) => {
          const h = new Percentiles.RollingHistogram({ buckets, bucketMillis })
          const samples: Array<{ at: number; value: number }> = []
          let at = 1_000_000
          for (const { gap, value } of steps) {
            at += gap
            h.record(at, value)
            samples.push({ at, value })
          }
          const now = at + readAfter
          const current = Math.floor(now / bucketMillis)
          const live = samples
            .filter((s) => Math.floor(s.at / bucketMillis) > current - buckets)
            .map((s) => s.value)
            .sort((a, b) => a - b)
          const d = h.snapshot(now)
          assert.strictEqual(d.count, live.length)
          assert.strictEqual(d.max, live.length === 0 ? 0 : live[live.length - 1])
          for (const p of Percentiles.hystrixPercentiles) {
            const exact = Percentiles.exactPercentile(live, p)
            assert.isTrue(withinError(d.percentiles[String(p)]!, exact, Percentiles.defaultPrecision))
          }
        }
      ),
      { numRuns }
    )
  })

  it("merging histograms is the histogram of all their samples", () => {
    fc.assert(
      fc.property(
        fc.array(latencyArb, { maxLength: 300 }),
        fc.array(latencyArb, { maxLength: 300 }),
        (a, b) => {
          const ha = new Percentiles.RollingHistogram({ buckets: 3, bucketMillis: 100 })
          const hb = new Percentiles.RollingHistogram({ buckets: 3, bucketMillis: 100 })
          const hab = new Percentiles.RollingHistogram({ buckets: 3, bucketMillis: 100 })
          for (const s of a) {
            ha.record(50, s)
            hab.record(50, s)
          }
          for (const s of b) {
            hb.record(150, s)
            hab.record(150, s)
          }
          assert.deepStrictEqual(Percentiles.merge([ha, hb], 200), hab.snapshot(200))
        }
      ),
      { numRuns }
    )
  })

  it("value buckets tile the whole range: contiguous, in order, of the stated width", () => {
    for (let precision = 0; precision <= 10; precision++) {
      let next = 0
      for (let i = 0; i < Percentiles.indexCount(precision); i++) {
        const lo = Percentiles.lowerBound(i, precision)
        const width = Percentiles.bucketWidth(i, precision)
        assert.strictEqual(lo, next)
        assert.strictEqual(Percentiles.indexOf(lo, precision), i)
        assert.strictEqual(Percentiles.indexOf(lo + width - 1, precision), i)
        if (i >= 2 << precision) assert.isAtMost(width / lo, 2 * Percentiles.relativeError(precision))
        next = lo + width
      }
      assert.strictEqual(next, 2 ** 32)
    }
  })
})

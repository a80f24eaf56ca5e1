/**
 * SPEC 1 and 2 on the pure rolling window: every outcome lands in the bucket
 * of its time, leaves whole-bucket at a time, memory is O(buckets), and the
 * totals follow the formulas. Compared with a plain list of timestamped
 * outcomes.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { Window } from "../src/core/index.ts"
import { assertSameSummary, assertWindowShape, eq, lookaheads } from "./harness.ts"
import * as M from "./model.ts"

const numRuns = 1000

const kindArb: fc.Arbitrary<M.OutcomeKind> = fc.constantFrom(...M.allKinds)

const gapArb = (d: number): fc.Arbitrary<number> =>
  fc.oneof(
    fc.constant(0),
    fc.integer({ min: 0, max: 3 }),
    fc.integer({ min: 0, max: 3 * d }),
    fc.integer({ min: 0, max: 25 * d })
  )

const shapeArb = fc.record({
  buckets: fc.integer({ min: 1, max: 20 }),
  bucketMillis: fc.oneof(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 1, max: 10 })),
  start: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1_000_000 }))
})

const recordsArb = shapeArb.chain((shape) =>
  fc.record({
    shape: fc.constant(shape),
    records: fc.array(fc.record({ gap: gapArb(shape.bucketMillis), kind: kindArb }), { minLength: 1, maxLength: 100, size: "max" })
  })
)

const summaryOfCounts = (c: Window.Counts): M.ModelSummary => ({
  success: c.success,
  failure: c.failure,
  timeout: c.timeout,
  rejected: c.rejected,
  shortCircuited: c.shortCircuited,
  fallbackSuccess: c.fallbackSuccess,
  fallbackFailure: c.fallbackFailure,
  total: Window.requests(c),
  errors: Window.errors(c),
  errorPercentage: Window.errorPercentage(c)
})

/** The model's window at `now`, bucket by bucket: index → counts, empty buckets left out. */
const modelBuckets = (list: ReadonlyArray<M.Timestamped>, buckets: number, d: number, now: number) => {
  const out = new Map<number, M.ModelSummary>()
  const inside = list.filter((o) => M.inWindow(buckets, d, o.at, now))
  for (const index of new Set(inside.map((o) => Math.floor(o.at / d)))) {
    out.set(index, M.summaryOf(inside.filter((o) => Math.floor(o.at / d) === index)))
  }
  return out
}

const isEmpty = (c: Window.Counts): boolean => Window.kinds.every((kind) => c[kind] === 0)

/** The core's window, bucket by bucket, empty buckets left out (storing them would be allowed). */
const coreBuckets = (w: Window.Window) => {
  const out = new Map<number, M.ModelSummary>()
  for (const bucket of Window.closedBuckets(w)) if (!isEmpty(bucket.counts)) out.set(bucket.index, summaryOfCounts(bucket.counts))
  if (!isEmpty(w.current)) out.set(w.currentIndex, summaryOfCounts(w.current))
  return out
}

describe("Window (SPEC 1, 2)", () => {
  it("SPEC 1: an outcome lands in the bucket of its time and leaves whole-bucket at a time", () => {
    fc.assert(
      fc.property(recordsArb, ({ records, shape }) => {
        const { bucketMillis: d, buckets } = shape
        let w = Window.empty(buckets, d, shape.start)
        let now = shape.start
        const list: Array<M.Timestamped> = []
        for (const [i, r] of records.entries()) {
          now += r.gap
          w = Window.record(w, now, r.kind)
          list.push({ at: now, kind: r.kind })
          eq(w.currentIndex, Math.floor(now / d), () => `record ${i}: current bucket`)
          for (const at of lookaheads(now, buckets, d)) {
            const seen = Window.rollTo(w, at)
            const expected = M.summaryOf(list.filter((o) => M.inWindow(buckets, d, o.at, at)))
            assertSameSummary(summaryOfCounts(Window.totals(seen)), expected, () => `record ${i}: totals at ${at}`)
            const core = coreBuckets(seen)
            const model = modelBuckets(list, buckets, d, at)
            eq(core.size, model.size, () => `record ${i}: non-empty buckets at ${at}`)
            for (const [index, counts] of model) {
              const actual = core.get(index)
              if (actual === undefined) assert.fail(`record ${i}: bucket ${index} missing at ${at}`)
              assertSameSummary(actual, counts, () => `record ${i}: bucket ${index} at ${at}`)
            }
            assertWindowShape(seen, () => `record ${i} at ${at}`)
          }
        }
      }),
      { numRuns }
    )
  })

  it("SPEC 1: memory is O(buckets): k copies of every call give the same buckets with k times the counts", () => {
    fc.assert(
      fc.property(recordsArb, fc.integer({ min: 2, max: 40 }), ({ records, shape }, k) => {
        const { bucketMillis: d, buckets } = shape
        let once = Window.empty(buckets, d, shape.start)
        let many = Window.empty(buckets, d, shape.start)
        let now = shape.start
        for (const r of records) {
          now += r.gap
          once = Window.record(once, now, r.kind)
          for (let j = 0; j < k; j++) many = Window.record(many, now, r.kind)
          assertWindowShape(many, () => `after ${k} copies`)
          const a = Window.closedBuckets(once)
          const b = Window.closedBuckets(many)
          eq(b.map((x) => x.index).join(), a.map((x) => x.index).join(), () => "same buckets whatever the call count")
          for (const [j, bucket] of b.entries()) {
            const single = a[j]?.counts ?? Window.emptyCounts
            for (const kind of Window.kinds) eq(bucket.counts[kind], k * single[kind], () => `bucket ${bucket.index}: ${kind}`)
          }
          for (const kind of Window.kinds) eq(Window.totals(many)[kind], k * Window.totals(once)[kind], () => `totals: ${kind}`)
        }
      }),
      { numRuns }
    )
  })

  it("SPEC 2: total, errors and errorPercentage follow the formulas exactly", () => {
    fc.assert(
      fc.property(recordsArb, fc.integer({ min: 0, max: 100_000 }), ({ records, shape }, later) => {
        const { bucketMillis: d, buckets } = shape
        let w = Window.empty(buckets, d, shape.start)
        let now = shape.start
        for (const r of records) {
          now += r.gap
          const before = Window.totals(w = Window.rollTo(w, now))
          w = Window.record(w, now, r.kind)
          const c = Window.totals(w)
          const total = c.success + c.failure + c.timeout + c.rejected
          const errors = c.failure + c.timeout + c.rejected
          assert.strictEqual(Window.requests(c), total)
          assert.strictEqual(Window.totalRequests(w), total)
          assert.strictEqual(Window.errors(c), errors)
          assert.strictEqual(Window.totalErrors(w), errors)
          assert.strictEqual(Window.errorPercentage(c), total === 0 ? 0 : (errors * 100) / total)
          const isRequest = r.kind === "success" || r.kind === "failure" || r.kind === "timeout" || r.kind === "rejected"
          assert.strictEqual(total - Window.requests(before), isRequest ? 1 : 0, `${r.kind} is ${isRequest ? "" : "not "}a request`)
        }
        const seen = Window.totals(Window.rollTo(w, now + later))
        const total = Window.requests(seen)
        assert.strictEqual(Window.errorPercentage(seen), total === 0 ? 0 : (Window.errors(seen) * 100) / total)
      }),
      { numRuns }
    )
  })
})

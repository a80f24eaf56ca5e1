import { assert, describe, it } from "@effect/vitest"
import { Window } from "../src/core/index.ts"

// 10 buckets of 1 second: the window at time `now` holds buckets floor(now/1000) - 9 .. floor(now/1000).
const empty = () => Window.empty(10, 1000, 0)

const totalsAt = (w: Window.Window, now: number) => Window.totals(Window.rollTo(w, now))

describe("Window", () => {
  it("puts an outcome in the bucket of its time: t = d·k − 1 and t = d·k are in different buckets", () => {
    const a = Window.record(empty(), 999, "failure")
    assert.strictEqual(a.currentIndex, 0)
    const b = Window.record(a, 1000, "success")
    assert.strictEqual(b.currentIndex, 1)
    assert.deepStrictEqual(Window.closedBuckets(b).map((x) => [x.index, x.counts.failure]), [[0, 1]])
    assert.strictEqual(b.current.success, 1)
    assert.strictEqual(b.current.failure, 0)
  })

  it("drops an outcome exactly buckets · d after the start of its bucket", () => {
    const w = Window.record(Window.record(empty(), 999, "failure"), 1000, "success")
    // bucket 0 (t = 999) leaves at 10 000, bucket 1 (t = 1000) at 11 000.
    assert.strictEqual(totalsAt(w, 9999).failure, 1)
    assert.strictEqual(totalsAt(w, 10_000).failure, 0)
    assert.strictEqual(totalsAt(w, 10_000).success, 1)
    assert.strictEqual(totalsAt(w, 10_999).success, 1)
    assert.strictEqual(totalsAt(w, 11_000).success, 0)
  })

  it("outcomes 1 ms apart across a boundary leave one whole bucket apart", () => {
    let w = empty()
    w = Window.record(w, 4999, "timeout")
    w = Window.record(w, 5000, "timeout")
    // bucket 4 (t = 4999) leaves at 14 000, bucket 5 (t = 5000) at 15 000.
    assert.strictEqual(totalsAt(w, 13_999).timeout, 2)
    assert.strictEqual(totalsAt(w, 14_000).timeout, 1)
    assert.strictEqual(totalsAt(w, 14_999).timeout, 1)
    assert.strictEqual(totalsAt(w, 15_000).timeout, 0)
  })

  it("a one-bucket window forgets everything at the next boundary", () => {
    let w = Window.empty(1, 100, 0)
    w = Window.record(w, 99, "failure")
    assert.strictEqual(totalsAt(w, 99).failure, 1)
    assert.strictEqual(totalsAt(w, 100).failure, 0)
    assert.strictEqual(Window.closedBuckets(Window.rollTo(w, 100)).length, 0)
  })

  it("a jump longer than the window empties it", () => {
    let w = empty()
    for (let t = 0; t < 10_000; t += 500) w = Window.record(w, t, "success")
    assert.strictEqual(Window.totalRequests(w), 20)
    const later = Window.rollTo(w, 9_999 + 10_000)
    assert.strictEqual(Window.totalRequests(later), 0)
    assert.strictEqual(Window.closedBuckets(later).length, 0)
  })

  it("total, errors and errorPercentage: exact, no rounding", () => {
    let w = empty()
    for (const kind of ["success", "success", "failure", "timeout", "rejected", "shortCircuited", "fallbackSuccess", "fallbackFailure"] as const) {
      w = Window.record(w, 10, kind)
    }
    const c = Window.totals(w)
    assert.strictEqual(Window.requests(c), 5)
    assert.strictEqual(Window.errors(c), 3)
    assert.strictEqual(Window.errorPercentage(c), 60)
    assert.strictEqual(Window.errorPercentage(Window.totals(Window.record(Window.record(Window.record(empty(), 1, "failure"), 1, "success"), 1, "success"))), 100 / 3)
    assert.strictEqual(Window.errorPercentage(Window.emptyCounts), 0)
  })

  it("short-circuits and fallback outcomes are counted but are not requests", () => {
    let w = empty()
    w = Window.record(w, 1, "shortCircuited")
    w = Window.record(w, 1, "fallbackFailure")
    assert.strictEqual(Window.totalRequests(w), 0)
    assert.strictEqual(Window.totals(w).shortCircuited, 1)
    assert.strictEqual(Window.totals(w).fallbackFailure, 1)
  })

  it("memory is O(buckets): 100 000 calls over 1 000 buckets keep fewer than `buckets` closed buckets", () => {
    let w = empty()
    for (let i = 0; i < 100_000; i++) w = Window.record(w, i * 10, i % 3 === 0 ? "failure" : "success")
    assert.isBelow(Window.closedBuckets(w).length, 10)
    // The last 10 buckets (999 000 .. 999 990) hold 100 calls each.
    assert.strictEqual(Window.totalRequests(w), 1000)
  })

  it("time set back records into the current bucket", () => {
    let w = Window.record(empty(), 5000, "success")
    w = Window.record(w, 1000, "failure")
    assert.strictEqual(w.currentIndex, 5)
    assert.deepStrictEqual([w.current.success, w.current.failure], [1, 1])
    assert.strictEqual(Window.totalRequests(w), 2)
  })
})

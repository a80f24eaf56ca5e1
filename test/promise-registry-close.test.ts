/**
 * Issue 12: a Promise view of an Effect registry (`CircuitPromise.fromRegistry`,
 * `fromContext`) is answered when that registry closes, at once: its calls
 * waiting in a queue, its open two-step permits, its admissions waiting for
 * a permit and its `fire` calls in flight all get `CircuitRegistryClosedError`
 * (the class its own `close()` uses), its timer is stopped, and nothing is
 * left pending — not at their deadline, not at the view's own `close()`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import { CircuitRegistry } from "../src/index.ts"
import { type CircuitConfigInput, CircuitPromise, CircuitRegistryClosedError } from "../src/promise/index.ts"

const settings: CircuitConfigInput = {
  maxConcurrentRequests: 2,
  queueCapacity: 2,
  maxQueueWait: "1 hour",
  timeout: "1 hour"
}

// How a promise has settled so far (without waiting for it).
const watch = (promise: Promise<unknown>) => {
  const state: { settled: "no" | "resolved" | "rejected"; value: unknown } = { settled: "no", value: undefined }
  promise.then(
    (value) => Object.assign(state, { settled: "resolved", value }),
    (error: unknown) => Object.assign(state, { settled: "rejected", value: error })
  )
  return state
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve))

const build = async () => {
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(
    Layer.buildWithScope(Layer.merge(CircuitRegistry.layer({ defaults: settings }), TestClock.layer()), scope)
  ) as Context.Context<CircuitRegistry>
  return { scope, context, circuits: CircuitPromise.fromContext(context) }
}

describe("a Promise view when its Effect registry closes", () => {
  it("answers its waiters, permits and calls in flight at once with CircuitRegistryClosedError", async () => {
    const { scope, circuits } = await build()
    const signals: Array<AbortSignal> = []
    // Two calls in flight (fn never settles) hold both permits of "a".
    const inFlight = [1, 2].map(() =>
      watch(circuits.fire("a", (signal) => {
        signals.push(signal)
        return new Promise<never>(() => {})
      }))
    )
    // A call and an admission wait for a permit of "a".
    const waitingFire = watch(circuits.fire("a", () => "never runs"))
    const waitingAdmit = watch(circuits.admit("a"))
    // An open permit of "b".
    const permit = await circuits.admit("b")
    await flush()
    assert.strictEqual(circuits.snapshot("a").queue.waiting, 2)

    await Effect.runPromise(Scope.close(scope, Exit.void))
    await flush()

    for (const call of [...inFlight, waitingFire, waitingAdmit]) {
      assert.strictEqual(call.settled, "rejected")
      assert.instanceOf(call.value, CircuitRegistryClosedError)
    }
    for (const signal of signals) assert.instanceOf(signal.reason, CircuitRegistryClosedError)
    assert.strictEqual(permit.outcome, "interrupted")
    assert.instanceOf(permit.signal.reason, CircuitRegistryClosedError)
    assert.isFalse(permit.success(), "already answered")
    // Nothing left pending: the view is closed, its heap empty, no timer held.
    assert.isTrue(circuits.closed)
    const heap = (circuits as unknown as { readonly deadlines: { readonly size: number; readonly armed: boolean } }).deadlines
    assert.strictEqual(heap.size, 0)
    assert.isFalse(heap.armed)
    // Later calls are refused the same way.
    const late = watch(circuits.fire("a", () => 1))
    await flush()
    assert.instanceOf(late.value, CircuitRegistryClosedError)
    circuits.close()
  })

  it("a view closed first lets go of the registry: no observer of it is left behind", async () => {
    const { scope, context } = await build()
    const registry = Context.get(context, CircuitRegistry)
    let observing = 0
    const counted: typeof registry = Object.assign(Object.create(registry) as typeof registry, {
      observe: (observer: Parameters<typeof registry.observe>[0]) => {
        observing++
        const stop = registry.observe(observer)
        return () => {
          observing--
          stop()
        }
      }
    })
    for (let i = 0; i < 100; i++) {
      const circuits = CircuitPromise.fromRegistry(counted)
      const permit = await circuits.admit("a")
      circuits.close()
      assert.strictEqual(permit.outcome, "interrupted")
    }
    assert.strictEqual(observing, 0)
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })

  it("a view made of a registry already closed is closed", async () => {
    const { scope, context } = await build()
    await Effect.runPromise(Scope.close(scope, Exit.void))
    const circuits = CircuitPromise.fromContext(context)
    assert.isTrue(circuits.closed)
    const late = watch(circuits.admit("a"))
    await flush()
    assert.instanceOf(late.value, CircuitRegistryClosedError)
  })
})

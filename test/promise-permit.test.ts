import { afterEach, assert, describe, it } from "@effect/vitest"
import { Duration } from "effect"
import {
  CircuitClock,
  CircuitClosedError,
  CircuitOpenError,
  CircuitPromise,
  CircuitRejectedError,
  CircuitTimeoutError,
  type EventKind
} from "../src/promise/index.ts"

// V = 2 requests, P = 50 %, S = 5 s, timeout 1 s, 2 permits.
const settings = {
  requestVolumeThreshold: 2,
  errorPercentThreshold: 50,
  sleepWindow: "5 seconds",
  timeout: "1 second",
  maxConcurrentRequests: 2
} as const

const opened: Array<CircuitPromise.CircuitPromise> = []
afterEach(() => {
  for (const circuits of opened.splice(0)) circuits.close()
})

const setup = (defaults: Record<string, unknown> = settings) => {
  const clock = CircuitClock.manual(1_000)
  const circuits = CircuitPromise.make({ defaults, clock })
  opened.push(circuits)
  const kinds: Array<EventKind> = []
  circuits.subscribe({ event: (event) => kinds.push(event.kind) })
  return { clock, circuits, kinds }
}

const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error("did not reject")
}

describe("CircuitPromise admit (two-step calls)", () => {
  it("a success is recorded once with its duration; a second report is false and changes nothing", async () => {
    const { circuits, clock } = setup()
    const durations: Array<number> = []
    circuits.subscribe({ event: (event) => durations.push(event.durationMillis) })
    const permit = await circuits.admit("c")
    assert.strictEqual(circuits.snapshot("c").concurrency.active, 1)
    await clock.advance(250)
    assert.isTrue(permit.success())
    assert.isFalse(permit.success())
    assert.isFalse(permit.failure(new Error("late")))
    assert.strictEqual(permit.outcome, "success")
    assert.deepStrictEqual(durations, [250])
    const snapshot = circuits.snapshot("c")
    assert.strictEqual(snapshot.concurrency.active, 0)
    assert.strictEqual(snapshot.window.success, 1)
    assert.strictEqual(snapshot.window.total, 1)
  })

  it("failures trip the circuit; an open circuit and a full bulkhead refuse admission", async () => {
    const { circuits } = setup()
    const a = await circuits.admit("c")
    const b = await circuits.admit("c")
    assert.instanceOf(await rejection(circuits.admit("c")), CircuitRejectedError)
    a.failure(new Error("x"))
    b.failure(new Error("y"))
    assert.strictEqual(circuits.state("c"), "open")
    assert.instanceOf(await rejection(circuits.admit("c")), CircuitOpenError)
    assert.instanceOf(await rejection(circuits.fire("c", async () => 1)), CircuitOpenError)
  })

  it("isFailure and retryAfter classify a failure as fire does; a throwing classifier is rethrown after counting", async () => {
    const { circuits, kinds } = setup()
    const options = {
      isFailure: (error: unknown) => !(error instanceof Error && error.message === "not found"),
      retryAfter: () => Duration.seconds(60)
    }
    const a = await circuits.admit("c", options)
    assert.isTrue(a.failure(new Error("not found")))
    assert.deepStrictEqual(kinds, ["ignored"])
    ;(await circuits.admit("c", options)).failure(new Error("down"))
    ;(await circuits.admit("c", options)).failure(new Error("down"))
    const open = await rejection(circuits.admit("c"))
    assert.instanceOf(open, CircuitOpenError)
    assert.strictEqual(Duration.toMillis((open as CircuitOpenError).retryAfter), 60_000)
    circuits.reset("c")
    const thrower = await circuits.admit("c", {
      isFailure: () => {
        throw new Error("classifier")
      }
    })
    assert.throws(() => thrower.failure(new Error("x")), "classifier")
    assert.strictEqual(circuits.snapshot("c").window.failure, 1)
    assert.strictEqual(circuits.snapshot("c").concurrency.active, 0)
  })

  it("at the deadline: `timeout` recorded, signal aborted, the permit given back; a late report changes nothing", async () => {
    const { circuits, clock, kinds } = setup()
    const permit = await circuits.admit("c")
    const signal = permit.signal
    await clock.advance(999)
    assert.isFalse(signal.aborted)
    await clock.advance(1)
    assert.deepStrictEqual(kinds, ["timeout"])
    assert.isTrue(signal.aborted)
    assert.instanceOf(signal.reason, CircuitTimeoutError)
    assert.strictEqual(permit.outcome, "timeout")
    assert.strictEqual(circuits.snapshot("c").concurrency.active, 0, "bounded: given back at the deadline")
    assert.isFalse(permit.success())
    assert.deepStrictEqual(kinds, ["timeout"])
    // A signal read only after the deadline is aborted too.
    const late = await circuits.admit("c")
    await clock.advance(1_000)
    assert.isTrue(late.signal.aborted)
  })

  it("dispose without a report records `ignored`; `using` releases the permit", async () => {
    const { circuits, kinds } = setup()
    {
      using permit = await circuits.admit("c")
      assert.strictEqual(circuits.snapshot("c").concurrency.active, 1)
      void permit
    }
    assert.strictEqual(circuits.snapshot("c").concurrency.active, 0)
    const reported = await circuits.admit("c")
    reported.success()
    reported[Symbol.dispose]()
    assert.deepStrictEqual(kinds, ["ignored", "success"])
  })

  it("the caller's signal aborting records `interrupted` and releases the permit; an aborted signal is not admitted", async () => {
    const { circuits, kinds } = setup()
    const controller = new AbortController()
    const permit = await circuits.admit("c", { signal: controller.signal })
    controller.abort(new Error("gone"))
    assert.strictEqual(permit.outcome, "interrupted")
    assert.strictEqual(circuits.snapshot("c").concurrency.active, 0)
    assert.isTrue(permit.signal.aborted)
    assert.isFalse(permit.success())
    const reason = await rejection(circuits.admit("c", { signal: controller.signal }))
    assert.strictEqual((reason as Error).message, "gone")
    assert.deepStrictEqual(kinds, ["interrupted"])
  })

  it("close() answers outstanding permits with `interrupted` and CircuitClosedError; later admissions are refused", async () => {
    const { circuits, kinds } = setup({ ...settings, timeout: "infinity" })
    const permit = await circuits.admit("c")
    const signal = permit.signal
    const registry = circuits.registry
    circuits.close()
    assert.deepStrictEqual(kinds, ["interrupted"])
    assert.isTrue(signal.aborted)
    assert.instanceOf(signal.reason, CircuitClosedError)
    assert.strictEqual(registry.cell("c", 0).active, 0)
    assert.isFalse(permit.success())
    assert.instanceOf(await rejection(circuits.admit("c")), CircuitClosedError)
  })
})

describe("CircuitPromise admit with a wait queue", () => {
  // A volume the queue's rejections cannot reach: the circuit stays closed unless forced.
  const queued = { ...settings, requestVolumeThreshold: 20, maxConcurrentRequests: 1, queueCapacity: 2, maxQueueWait: "1 second" }

  it("waits for a permit, first come first served with fire's calls, and its timeout starts at the permit", async () => {
    const { circuits, clock, kinds } = setup(queued)
    const order: Array<string> = []
    const holder = await circuits.admit("c")
    let release!: () => void
    const fired = circuits.fire("c", () => {
      order.push("fire")
      return new Promise<void>((resolve) => {
        release = resolve
      })
    })
    const admitted = circuits.admit("c").then((permit) => {
      order.push("admit")
      return permit
    })
    assert.deepStrictEqual(circuits.snapshot("c").queue, { waiting: 2, capacity: 2 })
    // A third waiter finds the queue full.
    const full = await rejection(circuits.admit("c"))
    assert.instanceOf(full, CircuitRejectedError)
    assert.strictEqual((full as CircuitRejectedError).reason, "queue-full")
    await clock.advance(300)
    holder.success()
    await Promise.resolve()
    assert.deepStrictEqual(order, ["fire"], "fire joined first")
    await clock.advance(300)
    release()
    const permit = await admitted
    await fired
    assert.deepStrictEqual(order, ["fire", "admit"])
    // Handed its permit at 600 ms: its 1 s timeout runs out at 1600 ms, not at 1000 ms.
    await clock.advance(999)
    assert.isUndefined(permit.outcome)
    await clock.advance(1)
    assert.strictEqual(permit.outcome, "timeout")
    assert.strictEqual(circuits.snapshot("c").concurrency.active, 0)
    assert.deepStrictEqual(kinds, ["queued", "queued", "rejected", "success", "success", "timeout"])
  })

  it("an open circuit refuses at once; a circuit that opened while it waited refuses at the hand-off", async () => {
    const { circuits, kinds } = setup(queued)
    const holder = await circuits.admit("c")
    const waiting = rejection(circuits.admit("c"))
    circuits.forceOpen("c")
    assert.instanceOf(await rejection(circuits.admit("c")), CircuitOpenError)
    assert.strictEqual(circuits.snapshot("c").queue.waiting, 1, "the refused admission never queued")
    holder.success()
    assert.instanceOf(await waiting, CircuitOpenError)
    const snapshot = circuits.snapshot("c")
    assert.strictEqual(snapshot.concurrency.active, 0)
    assert.strictEqual(snapshot.window.shortCircuited, 2)
    // The permit is given back, and handed on, just before its outcome is recorded.
    assert.deepStrictEqual(kinds, ["queued", "short-circuited", "short-circuited", "success"])
  })

  it("a wait past maxQueueWait is rejected (queue-timeout); an aborted waiter leaves and takes nothing", async () => {
    const { circuits, clock, kinds } = setup({ ...queued, timeout: "infinity" })
    const holder = await circuits.admit("c")
    const controller = new AbortController()
    const aborted = rejection(circuits.admit("c", { signal: controller.signal }))
    const expiring = rejection(circuits.admit("c"))
    controller.abort(new Error("gone"))
    assert.strictEqual(((await aborted) as Error).message, "gone")
    assert.strictEqual(circuits.snapshot("c").queue.waiting, 1)
    await clock.advance(1_000)
    const error = await expiring
    assert.instanceOf(error, CircuitRejectedError)
    assert.strictEqual((error as CircuitRejectedError).reason, "queue-timeout")
    assert.strictEqual(Duration.toMillis((error as CircuitRejectedError).waited!), 1_000)
    const snapshot = circuits.snapshot("c")
    assert.strictEqual(snapshot.queue.waiting, 0)
    assert.strictEqual(snapshot.concurrency.active, 1, "only the holder")
    assert.strictEqual(snapshot.window.total, 1, "the aborted waiter is not a request; the expired one is a rejection")
    holder.ignore()
    assert.deepStrictEqual(kinds, ["queued", "queued", "interrupted", "queue-timeout", "ignored"])
  })

  it("close() answers a waiting admission with CircuitClosedError, not with the permit a closing one gives back", async () => {
    const { circuits } = setup({ ...queued, maxQueueWait: "infinity" })
    await circuits.admit("c")
    const waiting = rejection(circuits.admit("c"))
    const fired: Array<string> = []
    const waitingFire = rejection(circuits.fire("c", () => void fired.push("ran")))
    const registry = circuits.registry
    circuits.close()
    assert.instanceOf(await waiting, CircuitClosedError)
    assert.instanceOf(await waitingFire, CircuitClosedError)
    assert.deepStrictEqual(fired, [], "no waiter ran after close()")
    assert.strictEqual(registry.cell("c", 0).active, 0)
  })
})

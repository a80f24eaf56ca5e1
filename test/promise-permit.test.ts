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

import { afterEach, assert, describe, it } from "@effect/vitest"
import { Context, Duration, Effect, Exit, Layer, Scope } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import { getEventListeners } from "node:events"
import { Circuit, CircuitConfig, CircuitRegistry, withCircuit } from "../src/index.ts"
import {
  CircuitClock,
  CircuitClosedError,
  CircuitConfigError,
  CircuitFallbackError,
  CircuitOpenError,
  CircuitPromise,
  CircuitRegistryClosedError,
  CircuitRejectedError,
  CircuitTimeoutError,
  type CircuitEvent,
  type CircuitTransition,
  type ManualClock
} from "../src/promise/index.ts"

// V = 2 requests, P = 50 %, S = 5 s, timeout 1 s, 2 permits.
const settings = {
  requestVolumeThreshold: 2,
  errorPercentThreshold: 50,
  sleepWindow: "5 seconds",
  timeout: "1 second",
  maxConcurrentRequests: 2
} as const

// Every registry a test makes is closed after it.
const opened: Array<CircuitPromise.CircuitPromise> = []
afterEach(() => {
  for (const circuits of opened.splice(0)) circuits.close()
})

const setup = (defaults: CircuitConfig.CircuitConfigInput = settings) => {
  const clock = CircuitClock.manual(1_000)
  const circuits = CircuitPromise.make({ defaults, clock })
  opened.push(circuits)
  return { clock, circuits }
}

// A promise the test settles by hand.
const deferred = <A = string>() => {
  let resolve!: (a: A) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<A>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

// Lets promise reactions run.
const flush = () => new Promise<void>((resolve) => setImmediate(resolve))

const boom = () => Promise.reject(new Error("boom"))
const trip = async (circuits: CircuitPromise.CircuitPromise, name = "c") => {
  await circuits.fire(name, boom).catch(() => {})
  await circuits.fire(name, boom).catch(() => {})
}

describe("CircuitPromise settings", () => {
  it("uses every default of the Effect API", () => {
    const circuits = CircuitPromise.make()
    assert.deepStrictEqual(circuits.snapshot("x").config, CircuitConfig.defaults)
    circuits.close()
  })

  it("throws CircuitConfigError synchronously for a bad setting, naming the circuit and field", () => {
    const thrown = (f: () => unknown): CircuitConfigError => {
      try {
        f()
      } catch (e) {
        assert.instanceOf(e, CircuitConfigError)
        return e as CircuitConfigError
      }
      throw new Error("did not throw")
    }
    assert.strictEqual(thrown(() => CircuitPromise.make({ defaults: { errorPercentThreshold: 101 } })).field, "errorPercentThreshold")
    const bad = thrown(() => CircuitPromise.make({ circuits: { pay: { rollingWindow: { buckets: 0 } } } }))
    assert.deepStrictEqual([bad.circuit, bad.field], ["pay", "rollingWindow.buckets"])
    assert.strictEqual(thrown(() => CircuitPromise.make({ defaults: { timeot: "1 second" } as never })).field, "timeot")
  })

  it("configure changes a running circuit, or throws and changes nothing", () => {
    const { circuits } = setup()
    const config = circuits.configure("c", { maxConcurrentRequests: 5 })
    assert.strictEqual(config.maxConcurrentRequests, 5)
    assert.throws(() => circuits.configure("c", { maxConcurrentRequests: -1, timeout: "3 seconds" }), CircuitConfigError)
    assert.strictEqual(circuits.snapshot("c").config.maxConcurrentRequests, 5)
    assert.strictEqual(Duration.toMillis(circuits.snapshot("c").config.timeout), 1000)
  })
})

describe("CircuitPromise.fire", () => {
  it("returns fn's value and records a success", async () => {
    const { circuits } = setup()
    assert.strictEqual(await circuits.fire("c", async () => 42), 42)
    assert.strictEqual(await circuits.fire("c", () => "sync value"), "sync value")
    const snap = circuits.snapshot("c")
    assert.strictEqual(snap.window.success, 2)
    assert.strictEqual(snap.concurrency.active, 0)
  })

  it("returns the caller's own rejection as itself, and counts it", async () => {
    const { circuits } = setup()
    const error = new Error("mine")
    const got = await circuits.fire("c", () => Promise.reject(error)).catch((e: unknown) => e)
    assert.strictEqual(got, error)
    assert.strictEqual(circuits.snapshot("c").window.failure, 1)
  })

  it("counts a synchronous throw as a failure and returns it as itself", async () => {
    const { circuits } = setup()
    const error = { not: "an Error" }
    const got = await circuits.fire("c", () => {
      throw error
    }).catch((e: unknown) => e)
    assert.strictEqual(got, error)
    assert.strictEqual(circuits.snapshot("c").window.failure, 1)
    assert.strictEqual(circuits.snapshot("c").concurrency.active, 0)
  })

  it("short-circuits an open circuit with CircuitOpenError and retryAfter; fn never runs", async () => {
    const { circuits, clock } = setup()
    await trip(circuits)
    assert.strictEqual(circuits.state("c"), "open")
    await clock.advance(2_000)
    let ran = false
    const error = await circuits.fire("c", async () => {
      ran = true
    }).catch((e: unknown) => e)
    assert.isFalse(ran)
    assert.instanceOf(error, CircuitOpenError)
    assert.strictEqual(Duration.toMillis((error as CircuitOpenError).retryAfter), 3_000)
    assert.strictEqual(circuits.snapshot("c").window.shortCircuited, 1)
  })

  it("retryAfter: a failure that carries the downstream's Retry-After keeps the circuit open at least that long", async () => {
    const { circuits, clock } = setup()
    const busy = Object.assign(new Error("429"), { retryAfterSeconds: 30 })
    const retryAfter = (error: unknown): Duration.Input | undefined =>
      error instanceof Error && "retryAfterSeconds" in error ? Duration.seconds(Number(error.retryAfterSeconds)) : undefined
    await circuits.fire("c", () => Promise.reject(new Error("500")), { retryAfter }).catch(() => {})
    await circuits.fire("c", () => Promise.reject(busy), { retryAfter }).catch(() => {})
    assert.strictEqual(circuits.state("c"), "open")
    const error = await circuits.fire("c", async () => 1).catch((e: unknown) => e)
    assert.instanceOf(error, CircuitOpenError)
    assert.strictEqual((error as CircuitOpenError).retryAfterMillis, 30_000)
    await clock.advance(5_000)
    assert.instanceOf(await circuits.fire("c", async () => 1).catch((e: unknown) => e), CircuitOpenError)
    await clock.advance(25_000)
    assert.strictEqual(await circuits.fire("c", async () => "probe"), "probe")
  })

  it("lets exactly one probe through after the sleep window; its success closes the circuit", async () => {
    const { circuits, clock } = setup()
    await trip(circuits)
    await clock.advance(5_000)
    const probe = deferred()
    const first = circuits.fire("c", () => probe.promise)
    const second = await circuits.fire("c", async () => "no").catch((e: unknown) => e)
    assert.instanceOf(second, CircuitOpenError)
    assert.strictEqual((second as CircuitOpenError).state, "half-open")
    assert.strictEqual(circuits.state("c"), "half-open")
    probe.resolve("yes")
    assert.strictEqual(await first, "yes")
    assert.strictEqual(circuits.state("c"), "closed")
    assert.strictEqual(circuits.snapshot("c").window.total, 0)
  })

  it("rejects at once with CircuitRejectedError when every permit is in use; fn never runs", async () => {
    const { circuits } = setup()
    const a = deferred()
    const b = deferred()
    const running = [circuits.fire("c", () => a.promise), circuits.fire("c", () => b.promise)]
    let ran = false
    const error = await circuits.fire("c", async () => {
      ran = true
    }).catch((e: unknown) => e)
    assert.isFalse(ran)
    assert.instanceOf(error, CircuitRejectedError)
    assert.strictEqual((error as CircuitRejectedError).maxConcurrentRequests, 2)
    a.resolve("a")
    b.resolve("b")
    assert.deepStrictEqual(await Promise.all(running), ["a", "b"])
    assert.strictEqual(circuits.snapshot("c").concurrency.active, 0)
  })

  it("answers CircuitTimeoutError at the deadline, aborts fn's signal, and keeps the permit until fn settles", async () => {
    const { circuits, clock } = setup()
    const work = deferred()
    let signal: AbortSignal | undefined
    const call = circuits.fire("c", (s) => {
      signal = s
      return work.promise
    }).catch((e: unknown) => e)
    await clock.advance(999)
    await flush()
    assert.isFalse(signal!.aborted)
    await clock.advance(1)
    const error = await call
    assert.instanceOf(error, CircuitTimeoutError)
    assert.isTrue(signal!.aborted)
    assert.strictEqual(signal!.reason, error)
    const snap = circuits.snapshot("c")
    assert.strictEqual(snap.window.timeout, 1)
    assert.strictEqual(snap.concurrency.active, 1)
    work.resolve("late")
    await flush()
    const after = circuits.snapshot("c")
    assert.strictEqual(after.concurrency.active, 0)
    assert.strictEqual(after.window.total, 1, "a late end records no second outcome")
  })

  it("never exceeds the limit after timeouts", async () => {
    const { circuits, clock } = setup({ ...settings, requestVolumeThreshold: 100 })
    const hung = [deferred(), deferred()]
    const timedOut = hung.map((h) => circuits.fire("c", () => h.promise).catch((e: unknown) => e))
    await clock.advance(1_000)
    for (const e of await Promise.all(timedOut)) assert.instanceOf(e, CircuitTimeoutError)
    // Both calls still run: a third is rejected, not started.
    const third = await circuits.fire("c", async () => "x").catch((e: unknown) => e)
    assert.instanceOf(third, CircuitRejectedError)
    hung[0]!.resolve("done")
    await flush()
    assert.strictEqual(await circuits.fire("c", async () => "x"), "x")
  })

  it("the caller's abort answers with its reason, aborts fn, counts no failure", async () => {
    const { circuits } = setup()
    const caller = new AbortController()
    const work = deferred()
    let signal: AbortSignal | undefined
    const call = circuits.fire("c", (s) => {
      signal = s
      return work.promise
    }, { signal: caller.signal, fallback: () => "fallback must not run" }).catch((e: unknown) => e)
    const reason = new Error("user went away")
    caller.abort(reason)
    assert.strictEqual(await call, reason)
    assert.isTrue(signal!.aborted)
    const snap = circuits.snapshot("c")
    assert.strictEqual(snap.window.total, 0)
    assert.strictEqual(snap.concurrency.active, 1)
    work.reject(new Error("aborted"))
    await flush()
    assert.strictEqual(circuits.snapshot("c").concurrency.active, 0)
    assert.strictEqual(circuits.snapshot("c").window.total, 0)
  })

  it("a caller's long-lived signal keeps no listener of calls that have ended", async () => {
    const { circuits, clock } = setup({ ...settings, maxConcurrentRequests: 1000, requestVolumeThreshold: 10_000 })
    const caller = new AbortController()
    for (let i = 0; i < 200; i++) await circuits.fire("c", async () => i, { signal: caller.signal })
    const hung = Array.from({ length: 50 }, () =>
      circuits.fire("c", () => new Promise(() => {}), { signal: caller.signal }).catch(() => {}))
    assert.strictEqual(getEventListeners(caller.signal, "abort").length, 50)
    await clock.advance(1_000)
    await Promise.all(hung)
    assert.strictEqual(getEventListeners(caller.signal, "abort").length, 0)
  })

  it("an already aborted signal: fn never runs, nothing is counted", async () => {
    const { circuits } = setup()
    const caller = new AbortController()
    caller.abort("gone")
    let ran = false
    const got = await circuits.fire("c", async () => {
      ran = true
    }, { signal: caller.signal }).catch((e: unknown) => e)
    assert.strictEqual(got, "gone")
    assert.isFalse(ran)
    assert.strictEqual(circuits.snapshot("c").window.total, 0)
  })

  it("a thenable whose then throws is a failure with that error, and the permit comes back", async () => {
    const { circuits } = setup()
    const error = new Error("bad thenable")
    const hostile = {
      get then(): never {
        throw error
      }
    }
    const throwing = { then: () => {
      throw error
    } }
    assert.strictEqual(await circuits.fire("c", () => hostile).catch((e: unknown) => e), error)
    assert.strictEqual(await circuits.fire("c", () => throwing).catch((e: unknown) => e), error)
    const snap = circuits.snapshot("c")
    assert.strictEqual(snap.window.failure, 2)
    assert.strictEqual(snap.concurrency.active, 0)
  })

  it("a fn that is not a function is a TypeError, and the circuit is not asked", async () => {
    const { circuits } = setup()
    const got = await circuits.fire("c", 42 as never).catch((e: unknown) => e)
    assert.instanceOf(got, TypeError)
    assert.strictEqual(circuits.snapshot("c").window.total, 0)
  })
})

describe("CircuitPromise fallback and isFailure", () => {
  it("the fallback runs for a failure, a timeout, a rejection and a short-circuit, with the error", async () => {
    const { circuits, clock } = setup({ ...settings, requestVolumeThreshold: 100 })
    const seen: Array<unknown> = []
    const fallback = (e: unknown) => {
      seen.push(e instanceof Error && !("_tag" in e) ? "failure" : (e as { _tag: string })._tag)
      return "fb"
    }
    const hung = deferred()
    const timing = circuits.fire("c", () => hung.promise, { fallback })
    const hung2 = deferred()
    const other = circuits.fire("c", () => hung2.promise).catch((e: unknown) => e)
    assert.strictEqual(await circuits.fire("c", async () => "x", { fallback }), "fb") // rejected
    await clock.advance(1_000)
    assert.strictEqual(await timing, "fb")
    assert.instanceOf(await other, CircuitTimeoutError)
    hung.resolve("")
    hung2.resolve("")
    await flush()
    assert.strictEqual(await circuits.fire("c", boom, { fallback }), "fb")
    circuits.forceOpen("c")
    assert.strictEqual(await circuits.fire("c", async () => "x", { fallback: async (e) => fallback(e) }), "fb")
    assert.deepStrictEqual(seen, ["CircuitRejectedError", "CircuitTimeoutError", "failure", "CircuitOpenError"])
    assert.strictEqual(circuits.snapshot("c").window.fallbackSuccess, 4)
  })

  it("a failing fallback fails the call with CircuitFallbackError holding both errors; the breaker does not move", async () => {
    const { circuits } = setup({ ...settings, requestVolumeThreshold: 100 })
    const mine = new Error("mine")
    const theirs = new Error("fallback")
    const sync = await circuits.fire("c", () => Promise.reject(mine), {
      fallback: () => {
        throw theirs
      }
    }).catch((e: unknown) => e)
    const async = await circuits.fire("c", () => Promise.reject(mine), { fallback: () => Promise.reject(theirs) })
      .catch((e: unknown) => e)
    for (const e of [sync, async]) {
      assert.instanceOf(e, CircuitFallbackError)
      const error = e as CircuitFallbackError<unknown, unknown>
      assert.strictEqual(error.circuit, "c")
      assert.deepStrictEqual(error.cause.reasons.map((r) => r._tag === "Fail" ? r.error : r), [mine])
      assert.deepStrictEqual(error.fallbackCause.reasons.map((r) => r._tag === "Fail" ? r.error : r), [theirs])
    }
    const snap = circuits.snapshot("c")
    assert.strictEqual(snap.window.fallbackFailure, 2)
    assert.strictEqual(snap.window.failure, 2)
    assert.strictEqual(snap.state, "closed")
  })

  it("an error isFailure refuses is returned as it is, uncounted, without the fallback", async () => {
    const { circuits } = setup()
    const notFound = new Error("404")
    const got = await circuits.fire("c", () => Promise.reject(notFound), {
      isFailure: (e) => e !== notFound,
      fallback: () => "fb"
    }).catch((e: unknown) => e)
    assert.strictEqual(got, notFound)
    assert.strictEqual(circuits.snapshot("c").window.total, 0)
  })

  it("a throwing isFailure counts a failure and its throw is the answer", async () => {
    const { circuits } = setup()
    const bug = new Error("classifier bug")
    const got = await circuits.fire("c", boom, {
      isFailure: () => {
        throw bug
      }
    }).catch((e: unknown) => e)
    assert.strictEqual(got, bug)
    assert.strictEqual(circuits.snapshot("c").window.failure, 1)
  })
})

describe("CircuitPromise controls, events and close", () => {
  it("forceOpen, forceClosed and reset", async () => {
    const { circuits } = setup()
    circuits.forceOpen("c")
    const e = await circuits.fire("c", async () => 1).catch((x: unknown) => x)
    assert.instanceOf(e, CircuitOpenError)
    assert.strictEqual((e as CircuitOpenError).state, "forced-open")
    circuits.forceClosed("c")
    await trip(circuits)
    await trip(circuits)
    assert.strictEqual(circuits.state("c"), "forced-closed")
    circuits.reset("c")
    assert.strictEqual(circuits.state("c"), "closed")
    assert.strictEqual(circuits.snapshot("c").window.total, 0)
    assert.deepStrictEqual(circuits.names(), ["c"])
    assert.deepStrictEqual(circuits.snapshots().map((s) => s.name), ["c"])
  })

  it("subscribe delivers events and transitions until unsubscribed; a throwing listener breaks no call", async () => {
    const { circuits, clock } = setup()
    const events: Array<CircuitEvent> = []
    const transitions: Array<CircuitTransition> = []
    const unsubscribe = circuits.subscribe({
      event: (e) => {
        events.push(e)
      },
      transition: (t) => {
        transitions.push(t)
      }
    })
    const thrown: Array<unknown> = []
    const onUncaught = (e: unknown) => thrown.push(e)
    process.on("uncaughtException", onUncaught)
    const unsubscribeThrower = circuits.subscribe({
      event: () => {
        throw new Error("listener bug")
      }
    })
    await circuits.fire("c", async () => 1)
    await clock.advance(5)
    await trip(circuits)
    unsubscribe()
    unsubscribeThrower()
    await circuits.fire("c", async () => 1).catch(() => {})
    await flush()
    process.off("uncaughtException", onUncaught)
    assert.deepStrictEqual(events.map((e) => e.kind), ["success", "failure", "short-circuited"])
    assert.deepStrictEqual(events.map((e) => e.at), [1_000, 1_005, 1_005])
    assert.deepStrictEqual(transitions.map((t) => [t.from, t.to]), [["closed", "open"]])
    assert.strictEqual(thrown.length, 3)
  })

  it("close answers every call in flight with CircuitRegistryClosedError (the Effect API's class), aborts them, leaves no timer; later calls fail", async () => {
    const { circuits, clock } = setup({ ...settings, maxConcurrentRequests: 10 })
    const signals: Array<AbortSignal> = []
    const calls = [1, 2, 3].map(() =>
      circuits.fire("c", (s) => {
        signals.push(s)
        return new Promise(() => {})
      }).catch((e: unknown) => e)
    )
    circuits.configure("off", { timeout: "infinity" })
    calls.push(circuits.fire("off", () => new Promise(() => {})).catch((e: unknown) => e))
    assert.strictEqual(clock.pending(), 1, "one timer for every call")
    circuits.close()
    circuits.close()
    for (const e of await Promise.all(calls)) {
      assert.instanceOf(e, CircuitRegistryClosedError)
      assert.strictEqual((e as CircuitRegistryClosedError)._tag, "CircuitRegistryClosedError")
    }
    // The deprecated name is the same class, so older `instanceof` checks still hold.
    assert.strictEqual<unknown>(CircuitClosedError, CircuitRegistryClosedError)
    assert.isTrue(signals.every((s) => s.aborted))
    assert.strictEqual(clock.pending(), 0)
    assert.isTrue(circuits.closed)
    assert.instanceOf(await circuits.fire("c", async () => 1).catch((e: unknown) => e), CircuitRegistryClosedError)
  })

  it("one timer per registry: many calls in flight arm one, re-armed only for an earlier deadline", async () => {
    const { circuits, clock } = setup({ ...settings, maxConcurrentRequests: 100 })
    const calls = Array.from({ length: 50 }, () => circuits.fire("c", () => new Promise(() => {})).catch(() => {}))
    circuits.configure("short", { timeout: "10 millis", maxConcurrentRequests: 100 })
    const short = circuits.fire("short", () => new Promise(() => {})).catch((e: unknown) => e)
    assert.strictEqual(clock.pending(), 1)
    await clock.advance(10)
    assert.instanceOf(await short, CircuitTimeoutError)
    assert.strictEqual(clock.pending(), 1)
    await clock.advance(990)
    await Promise.all(calls)
    assert.strictEqual(clock.pending(), 0)
    assert.strictEqual(circuits.snapshot("c").window.timeout, 50)
  })

  it("the system clock is monotonic epoch time: Effect readers of the registry (metrics) see the same window", async () => {
    const circuits = CircuitPromise.make({ circuits: { gauge: { requestVolumeThreshold: 100 } } })
    await circuits.fire("gauge", async () => 1)
    await circuits.fire("gauge", () => Promise.reject(new Error("x"))).catch(() => {})
    const at = circuits.clock.now()
    assert.isAtMost(Math.abs(at - Date.now()), 1_000)
    // What a Prometheus exporter in Effect code (default Clock) reads.
    const text = await Effect.runPromise(PrometheusMetrics.format())
    const line = text.split("\n").find((l) => l.startsWith("effect_circuit_error_ratio{") && l.includes(`circuit="gauge"`))
    assert.strictEqual(line?.split(" ").pop(), "0.5")
    circuits.close()
  })

  it("the system clock: a call that ends at once leaves no ref'd timer", async () => {
    const circuits = CircuitPromise.make()
    assert.strictEqual(await circuits.fire("c", async () => 1), 1)
    const timers = process.getActiveResourcesInfo().filter((r) => r === "Timeout")
    circuits.close()
    const after = process.getActiveResourcesInfo().filter((r) => r === "Timeout")
    assert.isAtMost(after.length, timers.length)
  })
})

describe("CircuitPromise views of an Effect registry", () => {
  it("fromContext: Promise and Effect calls drive one circuit, on the context's clock", async () => {
    const scope = Effect.runSync(Scope.make())
    const context = await Effect.runPromise(
      Layer.buildWithScope(Layer.merge(CircuitRegistry.layer({ defaults: settings }), TestClock.layer()), scope)
    )
    const run = <A, E>(effect: Effect.Effect<A, E, CircuitRegistry>) => Effect.runPromise(Effect.provideContext(effect, context))
    const circuits = CircuitPromise.fromContext(context as Context.Context<CircuitRegistry>)
    assert.strictEqual(await circuits.fire("shared", async () => 1), 1)
    assert.strictEqual(await run(Effect.succeed(2).pipe(withCircuit("shared"))), 2)
    await circuits.fire("shared", boom).catch(() => {})
    await run(Effect.fail("e").pipe(withCircuit("shared"), Effect.ignore))
    const fromEffect = await run(Circuit.snapshot("shared"))
    assert.strictEqual(fromEffect.window.total, 4)
    assert.strictEqual(fromEffect.state, "open")
    assert.deepStrictEqual(circuits.snapshot("shared"), fromEffect)
    // The view's time is the TestClock's: a hung call times out when it moves.
    circuits.reset("shared")
    const hung = circuits.fire("shared", () => new Promise(() => {})).catch((e: unknown) => e)
    await run(TestClock.adjust("1 second"))
    assert.instanceOf(await hung, CircuitTimeoutError)
    circuits.close()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })
})

export type { ManualClock }

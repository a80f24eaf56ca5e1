/**
 * What users would pick instead, with settings equivalent to our defaults:
 * opossum, cockatiel, Effect's own `effect/persistence` CircuitBreaker (memory
 * store), and a hand-written plain-JS breaker (the physical floor).
 */
import { Effect, Layer, Scope } from "effect"
import { CircuitBreaker as EffectBreaker } from "effect/persistence"
import { createRequire } from "node:module"
import { PlainBreaker } from "../plain.ts"
import type { BenchCase, CaseGroup } from "./types.ts"

const require = createRequire(import.meta.url)
// opossum and cockatiel are CommonJS; load them the way their users do.
const Opossum = require("opossum") as typeof import("opossum")
const cockatiel = require("cockatiel") as typeof import("cockatiel")

export const names = {
  opossum: "opossum fire()",
  opossumOpen: "opossum fire(), open + fallback",
  cockatiel: "cockatiel breaker",
  cockatielFull: "cockatiel bulkhead+timeout+breaker",
  effectBreaker: "effect/persistence CircuitBreaker",
  effectBreakerTimeout: "effect/persistence CircuitBreaker + Effect.timeout(1 s)",
  effectBreakerOpen: "effect/persistence CircuitBreaker open + fallback",
  runEffectBreaker: "runPromise(effect/persistence CircuitBreaker)",
  runEffectBreakerOpen: "runPromise(effect/persistence CircuitBreaker open + fallback)",
  plain: "plain-JS breaker (Effect wrapper)",
  plainOpen: "plain-JS breaker open + fallback (Effect wrapper)",
  plainAwait: "plain-JS breaker (await)",
  plainAwaitOpen: "plain-JS breaker open + fallback (await)"
} as const

export const peers: CaseGroup = async (env) => {
  const asyncOne = async () => 1
  const one = Effect.succeed(1)

  // opossum ------------------------------------------------------------------
  const opossumOptions = {
    timeout: 1000,
    capacity: 10,
    errorThresholdPercentage: 50,
    volumeThreshold: 20,
    resetTimeout: 5000,
    rollingCountTimeout: 10_000,
    rollingCountBuckets: 10
  }
  const opossum = new Opossum(asyncOne, opossumOptions)
  // Kept open for the whole run, as our forced-open circuit is: opossum would
  // otherwise go half-open after resetTimeout, probe, and close mid-run.
  const opossumOpen = new Opossum(asyncOne, { ...opossumOptions, resetTimeout: 2_000_000_000 })
  opossumOpen.fallback(() => 0)
  opossumOpen.open()

  // cockatiel ----------------------------------------------------------------
  const sampling = () =>
    cockatiel.circuitBreaker(cockatiel.handleAll, {
      halfOpenAfter: 5000,
      breaker: new cockatiel.SamplingBreaker({ threshold: 0.5, duration: 10_000, minimumRps: 2 })
    })
  const cockatielBreaker = sampling()
  const cockatielFull = cockatiel.wrap(
    cockatiel.bulkhead(10),
    cockatiel.timeout(1000, cockatiel.TimeoutStrategy.Cooperative),
    sampling()
  )

  // effect/persistence CircuitBreaker (memory store) --------------------------
  // Its nearest settings: trip at 50 % failures over the last 20 calls; 5 s open.
  // It has no timeout of its own (its docs: put Effect.timeout inside it).
  const { closedBreaker, openBreaker } = await Effect.runPromise(
    Effect.gen(function*() {
      const closedBreaker = yield* EffectBreaker.make({
        tripPolicy: EffectBreaker.rate({ threshold: 0.5, size: 20 }),
        openDuration: "5 seconds"
      })
      const openBreaker = yield* EffectBreaker.make({
        tripPolicy: EffectBreaker.consecutive(1),
        openDuration: "1000 hours"
      })
      yield* Effect.flip(Effect.fail("boom").pipe(openBreaker.execute({ key: "open" })))
      return { closedBreaker, openBreaker }
    }).pipe(Scope.provide(env.scope), Effect.provide(Layer.fresh(EffectBreaker.layerStoreMemory())))
  )
  const effectClosed = one.pipe(closedBreaker.execute({ key: "closed" }))
  const effectClosedTimeout = Effect.timeout(one, "1 second").pipe(closedBreaker.execute({ key: "closed-timeout" }))
  const effectOpen = one.pipe(
    openBreaker.execute({ key: "open" }),
    Effect.catchTag("CircuitBreakerError", () => Effect.succeed(0))
  )
  const checkEffectOpen = () => {
    const state = Effect.runSync(Effect.orDie(openBreaker.state("open")))
    if (state._tag !== "Open") throw new Error(`the effect/persistence circuit is ${state._tag}, not Open`)
  }
  checkEffectOpen()

  // plain JS -----------------------------------------------------------------
  const plain = new PlainBreaker()
  const plainOpen = new PlainBreaker({ ...plain.settings, sleepWindowMillis: 2_000_000_000 })
  plainOpen.trip(Date.now())
  // The least an Effect wrapper around the plain breaker does: suspend, read
  // the clock, run the effect, record its outcome.
  const guardPlain = (breaker: PlainBreaker, effect: Effect.Effect<number>, fallback: Effect.Effect<number>) =>
    Effect.suspend(() => {
      if (!breaker.admit(Date.now())) return fallback
      return Effect.matchCauseEffect(effect, {
        onSuccess: (a) => {
          breaker.success(Date.now())
          return Effect.succeed(a)
        },
        onFailure: (cause) => {
          breaker.failure(Date.now())
          return Effect.failCause(cause)
        }
      })
    })
  const zero = Effect.succeed(0)
  const checkPlainOpen = () => {
    if (!plainOpen.isOpen) throw new Error("the plain-JS circuit closed during the run")
  }

  const cases: ReadonlyArray<BenchCase> = [
    { table: "fiber", name: names.effectBreaker, effect: effectClosed },
    { table: "fiber", name: names.effectBreakerTimeout, effect: effectClosedTimeout },
    { table: "fiber", name: names.effectBreakerOpen, effect: effectOpen, check: checkEffectOpen },
    { table: "fiber", name: names.plain, effect: guardPlain(plain, one, zero) },
    { table: "fiber", name: names.plainOpen, effect: guardPlain(plainOpen, one, zero), check: checkPlainOpen },
    { table: "promise", name: names.opossum, make: () => () => opossum.fire() },
    {
      table: "promise",
      name: names.opossumOpen,
      make: () => () => opossumOpen.fire(),
      check: () => {
        if (!opossumOpen.opened) throw new Error("the opossum circuit closed during the run")
      }
    },
    { table: "promise", name: names.cockatiel, make: () => () => cockatielBreaker.execute(asyncOne) },
    { table: "promise", name: names.cockatielFull, make: () => () => cockatielFull.execute(asyncOne) },
    { table: "promise", name: names.runEffectBreaker, make: (h) => () => h.runPromise(effectClosed) },
    {
      table: "promise",
      name: names.runEffectBreakerOpen,
      make: (h) => () => h.runPromise(effectOpen),
      check: checkEffectOpen
    },
    { table: "promise", name: names.plainAwait, make: () => () => plain.fire(asyncOne, () => 0) },
    {
      table: "promise",
      name: names.plainAwaitOpen,
      make: () => () => plainOpen.fire(asyncOne, () => 0),
      check: checkPlainOpen
    }
  ]
  return cases
}

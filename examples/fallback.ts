/**
 * Fallbacks: what the caller gets when the circuit (or the call) fails. The
 * fallback receives the typed error (the call's own, or CircuitOpenError,
 * CircuitTimeoutError, CircuitRejectedError) and its result is the call's
 * result. It never changes the circuit. A fallback that fails too fails the
 * call with CircuitFallbackError, which holds both causes.
 *
 * Run: npm run example -- fallback
 */
import { Cause, Data, Effect, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { Circuit, CircuitFallbackError, CircuitRegistry, withCircuit } from "effect-circuit"

class PricingDown extends Data.TaggedError("PricingDown")<{}> {}
class CacheMiss extends Data.TaggedError("CacheMiss")<{}> {}

// The last prices we saw: served when the pricing service cannot answer.
const cache = new Map<string, number>([["lamp", 40]])

let pricingUp = true
const livePrice = (sku: string) =>
  Effect.suspend(() => pricingUp ? Effect.succeed(42) : Effect.fail(new PricingDown())).pipe(
    Effect.tap((price) => Effect.sync(() => cache.set(sku, price)))
  )

const price = (sku: string) =>
  livePrice(sku).pipe(
    withCircuit("pricing", {
      // Runs for PricingDown, and for the circuit's own errors.
      fallback: (error) => {
        const cached = cache.get(sku)
        return cached === undefined
          ? Effect.fail(new CacheMiss())
          : Effect.succeed(`${cached} (cached, after ${error._tag})`)
      }
    })
  )

// A slow call: the timeout interrupts it and the fallback answers at the deadline.
const slowPrice = Effect.sleep("10 seconds").pipe(
  Effect.as(99),
  withCircuit("slow-pricing", { fallback: (error) => Effect.succeed(error._tag === "CircuitTimeoutError" ? -1 : -2) })
)

const program = Effect.gen(function*() {
  console.log(`live: lamp = ${yield* price("lamp")}`)
  pricingUp = false
  console.log(`down: lamp = ${yield* price("lamp")}`)
  console.log(`down: lamp = ${yield* price("lamp")}`)
  console.log(`circuit pricing: ${yield* Circuit.state("pricing")}`)
  // Open: the effect is not run, the fallback answers at once.
  console.log(`open: lamp = ${yield* price("lamp")}`)

  // No cached value: the fallback fails, the call fails with both causes.
  const error = yield* Effect.flip(price("desk"))
  if (error instanceof CircuitFallbackError) {
    const tag = (cause: Cause.Cause<unknown>) => String((Cause.squash(cause) as { readonly _tag?: unknown })._tag)
    console.log(`desk: ${error._tag}, the call failed with ${tag(error.cause)}, the fallback with ${tag(error.fallbackCause)}`)
  }

  const snapshot = yield* Circuit.snapshot("pricing")
  console.log(`fallbacks: ${snapshot.window.fallbackSuccess} succeeded, ${snapshot.window.fallbackFailure} failed`)

  const fiber = yield* Effect.forkChild(slowPrice)
  yield* TestClock.adjust("1 second")
  console.log(`timeout: slow price = ${yield* Fiber.join(fiber)}`)
}).pipe(
  Effect.provide(CircuitRegistry.layer({ defaults: { requestVolumeThreshold: 3, errorPercentThreshold: 50 } })),
  Effect.provide(TestClock.layer())
)

Effect.runPromise(program)

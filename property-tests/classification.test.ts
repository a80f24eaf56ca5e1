/**
 * One failure classification for every way of making a call (issue 12):
 * the same error under the same `isFailure` / `retryAfter` options, through
 * `withCircuit`, an Effect permit's `failure` (`Circuit.admit`), a Promise
 * permit's `failure` (`circuits.admit`) and `CircuitPromise.fire`, is
 * recorded as the same event, leaves the circuit in the same state with the
 * same Retry-After, surfaces a throwing classifier the same way, and runs
 * the fallback (where there is one) in the same cases. The rule itself
 * (internal/failure.ts) is checked against a reference written here from
 * the docs: a bad request is ignored whatever `isFailure` says (Hystrix's
 * `HystrixBadRequestException`), then `isFailure`, a classifier's throw
 * counts as a failure, and a counted failure carries its Retry-After.
 *
 * All four paths share one registry, one circuit each, and no time passes:
 * every call completes in the step that makes it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Data, Duration, Effect, Exit } from "effect"
import * as fc from "fast-check"
import { BadRequestTypeId, Circuit, CircuitBadRequest, CircuitRegistry, withCircuit } from "../src/index.ts"
import { CircuitClock, CircuitPromise } from "../src/promise/index.ts"

class Plain extends Data.TaggedError("Plain")<{ readonly code: number }> {}
class Invalid extends Data.TaggedError("Invalid")<{ readonly code: number }> {
  readonly [BadRequestTypeId] = true as const
}

type ErrorKind = "plain" | "wrapped-bad-request" | "marked-bad-request" | "string"
type Classifier = "none" | "always" | "never" | "throws" | "by-code"
type RetryAfter = "none" | "30 s" | "throws" | "negative"

const errorOf = (kind: ErrorKind, code: number): unknown => {
  switch (kind) {
    case "plain":
      return new Plain({ code })
    case "wrapped-bad-request":
      return new CircuitBadRequest({ error: new Plain({ code }) })
    case "marked-bad-request":
      return new Invalid({ code })
    case "string":
      return `failed ${code}`
  }
}

const codeOf = (error: unknown): number =>
  typeof error === "object" && error !== null && "code" in error ? (error as { code: number }).code : 0

const boom = new Error("classifier bug")

const isFailureOf = (classifier: Classifier): ((error: unknown) => boolean) | undefined => {
  switch (classifier) {
    case "none":
      return undefined
    case "always":
      return () => true
    case "never":
      return () => false
    case "throws":
      return () => {
        throw boom
      }
    case "by-code":
      return (error) => codeOf(error) % 2 === 0
  }
}

const retryAfterOf = (retryAfter: RetryAfter): ((error: unknown) => Duration.Input | undefined) | undefined => {
  switch (retryAfter) {
    case "none":
      return undefined
    case "30 s":
      return () => "30 seconds"
    case "throws":
      return () => {
        throw boom
      }
    case "negative":
      return () => Duration.millis(-5)
  }
}

// What a path came to: the outcome event, the state after, the Retry-After
// kept for the opening, whether the classifier's throw reached the caller,
// and whether the fallback ran (undefined for a path without one).
interface Seen {
  readonly kind: string
  readonly state: string
  readonly retryAfter: number
  readonly surfacedThrow: boolean
  readonly fallbackRan: boolean | undefined
}

const settings = { requestVolumeThreshold: 1, errorPercentThreshold: 1, sleepWindow: "5 seconds", timeout: "infinity" } as const

interface Scenario {
  readonly kind: ErrorKind
  readonly code: number
  readonly classifier: Classifier
  readonly retryAfter: RetryAfter
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  kind: fc.constantFrom<ErrorKind>("plain", "wrapped-bad-request", "marked-bad-request", "string"),
  code: fc.integer({ min: 0, max: 9 }),
  classifier: fc.constantFrom<Classifier>("none", "always", "never", "throws", "by-code"),
  retryAfter: fc.constantFrom<RetryAfter>("none", "30 s", "throws", "negative")
})

const run = async (scenario: Scenario): Promise<Record<string, Seen>> => {
  const error = errorOf(scenario.kind, scenario.code)
  const isFailure = isFailureOf(scenario.classifier)
  const retryAfter = retryAfterOf(scenario.retryAfter)
  const circuits = CircuitPromise.make({ defaults: settings, clock: CircuitClock.manual(1_000) })
  const kinds = new Map<string, Array<string>>()
  circuits.subscribe({
    event: (event) => {
      if (event.kind.startsWith("fallback")) return
      kinds.set(event.circuit, [...(kinds.get(event.circuit) ?? []), event.kind])
    }
  })
  const registry = circuits.registry
  const runEffect = <A>(effect: Effect.Effect<A, unknown, CircuitRegistry>): Exit.Exit<A, unknown> =>
    Effect.runSyncExit(effect.pipe(Effect.provideService(CircuitRegistry, registry)))
  const thrownBy = (exit: Exit.Exit<unknown, unknown>): boolean =>
    Exit.isFailure(exit) && exit.cause.reasons.some((r) => r._tag === "Die" && r.defect === boom)
  const fallbackRuns: Record<string, boolean> = {}

  const guarded = runEffect(Effect.fail(error).pipe(withCircuit("withCircuit", {
    isFailure,
    retryAfter,
    fallback: () => Effect.sync(() => (fallbackRuns.withCircuit = true))
  })))
  const effectPermit = runEffect(Effect.scoped(Effect.flatMap(
    Circuit.admit("effect-permit", { isFailure, retryAfter }),
    (permit) => permit.failure(error)
  )))
  let promisePermitThrew = false
  const permit = await circuits.admit("promise-permit", { isFailure, retryAfter })
  try {
    permit.failure(error)
  } catch (thrown) {
    promisePermitThrew = thrown === boom
  }
  let fireThrew = false
  try {
    await circuits.fire("fire", () => Promise.reject(error), {
      isFailure,
      retryAfter,
      fallback: () => (fallbackRuns.fire = true)
    })
  } catch (thrown) {
    fireThrew = thrown === boom
  }

  const seen = (name: string, surfacedThrow: boolean, fallbackRan: boolean | undefined): Seen => {
    const cell = registry.cell(name, 1_000)
    return {
      kind: (kinds.get(name) ?? []).join(","),
      state: cell.breaker.state._tag,
      retryAfter: cell.breaker.episode.retryAfter,
      surfacedThrow,
      fallbackRan
    }
  }
  const result = {
    withCircuit: seen("withCircuit", thrownBy(guarded), fallbackRuns.withCircuit === true),
    "effect-permit": seen("effect-permit", thrownBy(effectPermit), undefined),
    "promise-permit": seen("promise-permit", promisePermitThrew, undefined),
    fire: seen("fire", fireThrew, fallbackRuns.fire === true)
  }
  circuits.close()
  return result
}

// The rule, from docs/concepts.md: the event a failure is recorded as.
const expectedKind = (scenario: Scenario): "failure" | "ignored" => {
  if (scenario.kind === "wrapped-bad-request" || scenario.kind === "marked-bad-request") return "ignored"
  switch (scenario.classifier) {
    case "never":
      return "ignored"
    case "by-code":
      return codeOf(errorOf(scenario.kind, scenario.code)) % 2 === 0 ? "failure" : "ignored"
    default:
      return "failure"
  }
}

describe("one failure classification", () => {
  it("the same error and options give the same event, state, Retry-After, throw and fallback through all four paths", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) => {
        const seen = await run(scenario)
        const kind = expectedKind(scenario)
        const counted = kind === "failure"
        const throws = counted && scenario.classifier === "throws"
        for (const [path, s] of Object.entries(seen)) {
          assert.deepStrictEqual(
            s,
            {
              kind,
              state: counted ? "Open" : "Closed",
              retryAfter: counted && !throws && scenario.retryAfter === "30 s" ? 30_000 : 0,
              surfacedThrow: throws,
              // The fallback answers a counted failure, never an ignored one or a classifier's throw.
              fallbackRan: path === "withCircuit" || path === "fire" ? counted && !throws : undefined
            },
            `${path}: ${JSON.stringify(scenario)}`
          )
        }
      }),
      { numRuns: 300 }
    )
  })
})

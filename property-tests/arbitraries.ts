/**
 * fast-check arbitraries for configs and traces.
 *
 * A trace is a list of `Step`s that a driver (`harness.ts`) plays against the
 * core and the model at once. Steps are instructions, not events: a `Call`
 * asks `Breaker.admit` what to do, a `Complete` ends one of the calls in
 * flight (picked by index, so calls end in random order, some long after
 * the state they started in), an `Advance` moves the clock forward.
 */
import * as fc from "fast-check"
import type { CallResult, ModelConfig } from "./model.ts"

export interface TestConfig {
  readonly buckets: number
  readonly bucketMillis: number
  readonly volume: number
  readonly percent: number
  /** The n-th consecutive opening sleeps `sleeps[min(n, length) - 1]` ms. */
  readonly sleeps: ReadonlyArray<number>
  // The controls of issue 12; absent: off (SPEC 1–16 exactly).
  readonly windowCalls?: number | undefined
  readonly consecutive?: number | undefined
  readonly slowMillis?: number | undefined
  readonly slowPercent?: number | undefined
  readonly probes?: number | undefined
  readonly backoffReset?: "close" | "stable" | undefined
}

/** The sleep window of the n-th opening. Throws for n < 1: no opening has number 0. */
export const sleepFrom = (sleeps: ReadonlyArray<number>) => (n: number): number => {
  if (!Number.isInteger(n) || n < 1) throw new Error(`sleepWindow called with opening ${n}`)
  const s = sleeps[Math.min(n, sleeps.length) - 1]
  if (s === undefined) throw new Error("empty sleeps")
  return s
}

export const toModelConfig = (c: TestConfig): ModelConfig => ({
  buckets: c.buckets,
  bucketMillis: c.bucketMillis,
  volume: c.volume,
  percent: c.percent,
  sleep: sleepFrom(c.sleeps),
  windowCalls: c.windowCalls,
  consecutive: c.consecutive,
  slowMillis: c.slowMillis,
  slowPercent: c.slowPercent,
  probes: c.probes,
  backoffReset: c.backoffReset
})

export const percentArb: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 100 }), weight: 4 },
  { arbitrary: fc.constantFrom(0, 50, 100, 100 / 3, 200 / 3), weight: 1 },
  { arbitrary: fc.double({ min: 0, max: 100, noNaN: true, noDefaultInfinity: true }), weight: 2 }
)

export const sleepsArb: fc.Arbitrary<ReadonlyArray<number>> = fc.array(
  fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 5 })),
  { minLength: 1, maxLength: 6 }
)

export interface ConfigOptions {
  readonly maxVolume?: number
  readonly maxBuckets?: number
  readonly maxBucketMillis?: number
  /** Also draw the controls of issue 12 (each on or off at random). */
  readonly controls?: boolean
}

const optional = <A>(arb: fc.Arbitrary<A>): fc.Arbitrary<A | undefined> =>
  fc.oneof(fc.constant(undefined), arb)

/** The controls of issue 12, each absent (off) or on. */
export const controlsArb: fc.Arbitrary<Partial<TestConfig>> = fc.record({
  windowCalls: optional(fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 40 }))),
  consecutive: optional(fc.integer({ min: 1, max: 6 })),
  slowMillis: optional(fc.oneof(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 3000 }))),
  slowPercent: optional(percentArb),
  probes: optional(fc.integer({ min: 1, max: 4 })),
  backoffReset: optional(fc.constantFrom("close" as const, "stable" as const))
})

export const configArb = (options: ConfigOptions = {}): fc.Arbitrary<TestConfig> =>
  options.controls === true
    ? fc.tuple(baseConfigArb(options), controlsArb).map(([base, controls]): TestConfig => ({ ...base, ...controls }))
    : baseConfigArb(options)

const baseConfigArb = (options: ConfigOptions): fc.Arbitrary<TestConfig> =>
  fc.record({
    buckets: fc.integer({ min: 1, max: options.maxBuckets ?? 20 }),
    bucketMillis: fc.oneof(
      fc.integer({ min: 1, max: options.maxBucketMillis ?? 2000 }),
      fc.integer({ min: 1, max: 10 })
    ),
    volume: fc.oneof(fc.integer({ min: 0, max: options.maxVolume ?? 30 }), fc.integer({ min: 0, max: Math.min(5, options.maxVolume ?? 30) })),
    percent: percentArb,
    sleeps: sleepsArb
  })

/** How the clock moves. Every gap is ≥ 0: time only moves forward. */
export type Gap =
  | { readonly _tag: "Millis"; readonly millis: number }
  /** To `skip` bucket boundaries ahead of the next one, plus `offset` (−1, 0, +1). */
  | { readonly _tag: "ToBoundary"; readonly skip: number; readonly offset: number }
  /** Past the whole window: `buckets · d + extra` later. */
  | { readonly _tag: "PastWindow"; readonly extra: number }
  /** To the model's `openedAt + S + offset` when open (no move otherwise, or if already past). */
  | { readonly _tag: "ToSleepEnd"; readonly offset: number }

export type Step =
  | { readonly _tag: "Advance"; readonly gap: Gap }
  | { readonly _tag: "Call" }
  /** `retryAfter`: the downstream's Retry-After, in milliseconds (issue 12). */
  | { readonly _tag: "Complete"; readonly pick: number; readonly result: CallResult; readonly retryAfter?: number }
  /** The shell draws the current opening's sleep window (a jittered schedule, issue 11.5). */
  | { readonly _tag: "Draw"; readonly millis: number }
  | { readonly _tag: "Fallback"; readonly ok: boolean }
  | { readonly _tag: "ForceOpen" }
  | { readonly _tag: "ForceClosed" }
  | { readonly _tag: "Reset" }
  | { readonly _tag: "Reconfigure"; readonly config: TestConfig }

export const gapArb: fc.Arbitrary<Gap> = fc.oneof(
  { arbitrary: fc.record({ _tag: fc.constant("Millis" as const), millis: fc.integer({ min: 0, max: 3 }) }), weight: 4 },
  { arbitrary: fc.record({ _tag: fc.constant("Millis" as const), millis: fc.integer({ min: 0, max: 5000 }) }), weight: 3 },
  {
    arbitrary: fc.record({
      _tag: fc.constant("ToBoundary" as const),
      skip: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 21 })),
      offset: fc.integer({ min: -1, max: 1 })
    }),
    weight: 4
  },
  {
    arbitrary: fc.record({ _tag: fc.constant("PastWindow" as const), extra: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 2000 })) }),
    weight: 1
  },
  { arbitrary: fc.record({ _tag: fc.constant("ToSleepEnd" as const), offset: fc.integer({ min: -1, max: 1 }) }), weight: 3 }
)

/** Relative weights of each step kind and of each call result. */
export interface Profile {
  readonly advance: number
  readonly call: number
  readonly complete: number
  readonly fallback: number
  readonly force: number
  readonly reconfigure: number
  readonly results: Readonly<Record<CallResult, number>>
  /** Issue 12: completions that carry a Retry-After. */
  readonly retryAfter?: number
  /** Issue 11.5: sleep windows drawn by the shell. */
  readonly draw?: number
  /** Reconfigurations that also change the controls. */
  readonly controls?: boolean
}

export const defaultProfile: Profile = {
  advance: 30,
  call: 40,
  complete: 40,
  fallback: 6,
  force: 2,
  reconfigure: 0,
  results: { success: 4, failure: 4, timeout: 2, rejected: 2, interrupted: 1, ignored: 1 }
}

const resultArb = (weights: Readonly<Record<CallResult, number>>): fc.Arbitrary<CallResult> =>
  fc.oneof(
    ...(Object.entries(weights) as Array<[CallResult, number]>)
      .filter(([, weight]) => weight > 0)
      .map(([result, weight]) => ({ arbitrary: fc.constant(result), weight }))
  )

export const stepArb = (profile: Profile = defaultProfile): fc.Arbitrary<Step> => {
  const choices: Array<fc.WeightedArbitrary<Step>> = [
    { arbitrary: gapArb.map((gap): Step => ({ _tag: "Advance", gap })), weight: profile.advance },
    { arbitrary: fc.constant<Step>({ _tag: "Call" }), weight: profile.call },
    {
      arbitrary: fc.record({ _tag: fc.constant("Complete" as const), pick: fc.nat({ max: 1000 }), result: resultArb(profile.results) }),
      weight: profile.complete
    },
    {
      arbitrary: fc.record({
        _tag: fc.constant("Complete" as const),
        pick: fc.nat({ max: 1000 }),
        result: resultArb(profile.results),
        retryAfter: fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.constantFrom(-1, Infinity, Number.NaN))
      }),
      weight: profile.retryAfter ?? 0
    },
    {
      arbitrary: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 8000 })).map((millis): Step => ({
        _tag: "Draw",
        millis
      })),
      weight: profile.draw ?? 0
    },
    { arbitrary: fc.boolean().map((ok): Step => ({ _tag: "Fallback", ok })), weight: profile.fallback },
    { arbitrary: fc.constantFrom<Step>({ _tag: "ForceOpen" }, { _tag: "ForceClosed" }, { _tag: "Reset" }), weight: profile.force },
    {
      arbitrary: configArb({ controls: profile.controls === true }).map((config): Step => ({ _tag: "Reconfigure", config })),
      weight: profile.reconfigure
    }
  ]
  return fc.oneof(...choices.filter((c) => c.weight > 0))
}

export interface Scenario {
  readonly config: TestConfig
  readonly start: number
  readonly steps: ReadonlyArray<Step>
}

export const scenarioArb = (
  profile: Profile = defaultProfile,
  options: ConfigOptions & { readonly maxSteps?: number } = {}
): fc.Arbitrary<Scenario> =>
  fc.record({
    config: configArb(options),
    start: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1_000_000 })),
    // size "max": lengths spread over the whole range (the default size keeps arrays around 10 long).
    steps: fc.array(stepArb(profile), { minLength: 1, maxLength: options.maxSteps ?? 120, size: "max" })
  })

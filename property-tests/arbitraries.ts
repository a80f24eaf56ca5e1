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
  sleep: sleepFrom(c.sleeps)
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
}

export const configArb = (options: ConfigOptions = {}): fc.Arbitrary<TestConfig> =>
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
  | { readonly _tag: "Complete"; readonly pick: number; readonly result: CallResult }
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
    { arbitrary: fc.boolean().map((ok): Step => ({ _tag: "Fallback", ok })), weight: profile.fallback },
    { arbitrary: fc.constantFrom<Step>({ _tag: "ForceOpen" }, { _tag: "ForceClosed" }, { _tag: "Reset" }), weight: profile.force },
    { arbitrary: configArb().map((config): Step => ({ _tag: "Reconfigure", config })), weight: profile.reconfigure }
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

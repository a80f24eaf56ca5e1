/**
 * Bad input of every kind, to every public entry that takes settings or a
 * circuit name.
 *
 * Settings: `CircuitConfig.decode`, `CircuitRegistry.layer({ defaults,
 * circuits, eventBuffer })`, `CircuitRegistry.layerConfig` (environment
 * variables) and `Circuit.configure(name, input)` are fed arbitrary values:
 * any JSON, `fc.anything()`, wrong types, huge and negative numbers, NaN,
 * ±Infinity, -0, bigints, strings that look like durations, nested junk,
 * objects with throwing getters, Proxies whose traps throw, forged and real
 * Durations and Schedules in the wrong places. Each must be either accepted as
 * a valid configuration (checked field by field) or refused with
 * `CircuitConfigError` naming a field, never a thrown exception or a defect;
 * a refused `configure` leaves the circuit exactly as it was.
 *
 * Names: any string (empty, 100,000 characters, lone surrogates, NUL,
 * `__proto__`, `constructor`, `hasOwnProperty`...) works as a circuit name in
 * `withCircuit`, `configure`, `snapshot`, and the layer's `circuits`, and each
 * circuit stays isolated from the others.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, ConfigProvider, Data, Duration, Effect, Exit, Schedule } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import {
  Circuit,
  CircuitConfig,
  CircuitConfigError,
  CircuitRegistry,
  type CircuitConfigInput,
  type CircuitRegistryOptions,
  withCircuit
} from "../src/index.ts"

// -----------------------------------------------------------------------------
// junk
// -----------------------------------------------------------------------------

class Thrown extends Error {}

const FIELDS = [
  "timeout",
  "maxConcurrentRequests",
  "requestVolumeThreshold",
  "errorPercentThreshold",
  "sleepWindow",
  "rollingWindow"
] as const
const KNOWN_FIELDS: ReadonlySet<string> = new Set([
  "(root)",
  ...FIELDS,
  "rollingWindow.buckets",
  "rollingWindow.bucketDuration"
])

/**
 * Values that cannot even be printed safely (throwing getters, Proxies) are
 * generated as recipes, so that fast-check can show a failing case, and made
 * by `materialize` inside the property.
 */
class Recipe {
  readonly label: string
  readonly make: () => unknown
  constructor(label: string, make: () => unknown) {
    this.label = label
    this.make = make
  }
  [fc.toStringMethod](): string {
    return this.label
  }
}

/** An object whose property `key` throws when read. */
const throwingGetter = (key: string, enumerable: boolean): Recipe =>
  new Recipe(`throwingGetter(${JSON.stringify(key)}, ${enumerable})`, () =>
    Object.defineProperty({}, key, {
      enumerable,
      get() {
        throw new Thrown(`getter ${key}`)
      }
    }))

type Trap = "get" | "ownKeys" | "getOwnPropertyDescriptor" | "getPrototypeOf" | "has"

/** A Proxy over `target` whose `trap` throws. */
const throwingProxy = (target: () => object, trap: Trap): Recipe =>
  new Recipe(`throwingProxy(${JSON.stringify(target())}, ${trap})`, () =>
    new Proxy(target(), {
      [trap]: () => {
        throw new Thrown(`trap ${trap}`)
      }
    }))

/** Replaces recipes by what they make, in the value and in its plain-object fields (two levels). */
const materialize = (u: unknown, depth = 2): unknown => {
  if (u instanceof Recipe) return u.make()
  if (depth === 0 || typeof u !== "object" || u === null || Object.getPrototypeOf(u) !== Object.prototype) return u
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(u)) {
    Object.defineProperty(out, key, {
      value: materialize((u as Record<string, unknown>)[key], depth - 1),
      enumerable: true,
      writable: true,
      configurable: true
    })
  }
  return out
}

class Custom {
  readonly timeout = 5
}

const numberJunk: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    NaN,
    Infinity,
    -Infinity,
    -0,
    0,
    -1,
    0.5,
    1.5,
    100.0000001,
    101,
    1e21,
    -1e21,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
    Number.MIN_VALUE,
    Number.MAX_SAFE_INTEGER + 2,
    2 ** 53,
    1_000_001
  ),
  fc.double(),
  fc.integer(),
  fc.bigInt(),
  fc.constantFrom(BigInt(0), BigInt(-1), 2n ** 80n)
)

const stringJunk: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    "",
    " ",
    "1 second",
    "-1 second",
    "0 millis",
    "1e309 millis",
    "NaN millis",
    "Infinity millis",
    "infinity",
    "-infinity",
    "Infinity",
    "5 secs",
    "5 seconds ago",
    "\u0000",
    "10",
    "1_000",
    "0x10",
    "__proto__",
    "constructor"
  ),
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.integer().map((n) => `${n} millis`),
  fc.double().map((n) => `${n} seconds`)
)

const durationJunk: fc.Arbitrary<unknown> = fc.constantFrom(
  Duration.zero,
  Duration.infinity,
  Duration.negativeInfinity,
  Duration.millis(-5),
  Duration.millis(0.5),
  Duration.nanos(-1n),
  Duration.nanos(1n),
  Duration.seconds(1),
  [1, 0],
  [-1, 0],
  [NaN, 0],
  [1, 2, 3],
  { seconds: 1 },
  { seconds: -1 },
  { secs: 1 },
  { seconds: NaN },
  { seconds: "1" }
)

const scheduleJunk: fc.Arbitrary<unknown> = fc.constantFrom(
  Schedule.spaced("1 second"),
  Schedule.exponential("100 millis"),
  Schedule.recurs(0),
  Schedule.forever
)

const exotic: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    undefined,
    true,
    false,
    Symbol("s"),
    () => 1,
    new Date(0),
    new Date(NaN),
    /re/,
    new Map([["timeout", 1]]),
    new Set([1]),
    new Custom(),
    Object.create(null),
    Object.create({ timeout: 5 }),
    [],
    [1, 2],
    new Uint8Array(2),
    Promise.resolve(1),
    new Error("e"),
    Effect.succeed(1),
    Exit.succeed(1),
    Object.freeze({ timeout: 5 }),
    { [Symbol("k")]: 1 },
    Object.defineProperty({}, "timeout", { value: 5, enumerable: false })
  ),
  fc.constantFrom(...FIELDS, "rollingWindow.buckets", "bogus").chain((key) =>
    fc.boolean().map((enumerable) => throwingGetter(key, enumerable))
  ),
  fc.constantFrom<Trap>("get", "ownKeys", "getOwnPropertyDescriptor", "getPrototypeOf", "has").chain((trap) =>
    fc.constantFrom<() => object>(() => ({}), () => ({ timeout: 5 }), () => ({ rollingWindow: {} }), () => []).map((
      target
    ) => throwingProxy(target, trap))
  )
)

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: numberJunk, weight: 4 },
  { arbitrary: stringJunk, weight: 3 },
  { arbitrary: durationJunk, weight: 2 },
  { arbitrary: scheduleJunk, weight: 1 },
  { arbitrary: exotic, weight: 2 }
)

const anything: fc.Arbitrary<unknown> = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
  maxDepth: 3
})

/** Objects shaped like settings, with junk in the fields (and now and then an unknown one). */
const settingsShaped: fc.Arbitrary<unknown> = fc.record(
  {
    timeout: fc.oneof(leaf, anything),
    maxConcurrentRequests: fc.oneof(leaf, anything),
    requestVolumeThreshold: fc.oneof(leaf, anything),
    errorPercentThreshold: fc.oneof(leaf, anything),
    sleepWindow: fc.oneof(leaf, anything),
    rollingWindow: fc.oneof(
      fc.record({ buckets: fc.oneof(leaf, anything), bucketDuration: fc.oneof(leaf, anything) }, {
        requiredKeys: []
      }),
      leaf,
      anything
    ),
    __proto__: leaf,
    constructor: leaf,
    bogus: leaf
  },
  { requiredKeys: [] }
)

/** Mostly good settings with one bad field: the refusal must name it. */
const oneBadField: fc.Arbitrary<{ readonly input: Record<string, unknown>; readonly field: string }> = fc.constantFrom<
  readonly [string, unknown]
>(
  ["timeout", 0],
  ["timeout", -1],
  ["timeout", NaN],
  ["timeout", "soon"],
  ["timeout", Duration.negativeInfinity],
  ["maxConcurrentRequests", 0],
  ["maxConcurrentRequests", 1.5],
  ["maxConcurrentRequests", NaN],
  ["maxConcurrentRequests", -Infinity],
  ["maxConcurrentRequests", "10"],
  ["requestVolumeThreshold", -1],
  ["requestVolumeThreshold", 0.5],
  ["requestVolumeThreshold", Infinity],
  ["errorPercentThreshold", 100.5],
  ["errorPercentThreshold", -0.5],
  ["errorPercentThreshold", Infinity],
  ["errorPercentThreshold", NaN],
  ["sleepWindow", -1],
  ["sleepWindow", "infinity"],
  ["sleepWindow", { secs: 5 }],
  ["rollingWindow.buckets", 0],
  ["rollingWindow.buckets", 1_000_001],
  ["rollingWindow.buckets", 2.5],
  ["rollingWindow.bucketDuration", 0],
  ["rollingWindow.bucketDuration", "infinity"],
  ["rollingWindow.bucketDuration", -5]
).chain(([field, bad]) =>
  fc.record({
    timeout: fc.constantFrom(100, "2 seconds", "infinity"),
    maxConcurrentRequests: fc.constantFrom(1, 50, Infinity),
    errorPercentThreshold: fc.constantFrom(0, 42.5, 100)
  }, { requiredKeys: [] }).map((good) => {
    const input: Record<string, unknown> = { ...good }
    if (field.startsWith("rollingWindow.")) {
      input.rollingWindow = { buckets: 5, [field.slice("rollingWindow.".length)]: bad }
    } else {
      input[field] = bad
    }
    return { input, field }
  })
)

const junk: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: leaf, weight: 2 },
  { arbitrary: anything, weight: 2 },
  { arbitrary: fc.jsonValue(), weight: 1 },
  { arbitrary: settingsShaped, weight: 5 }
)

// -----------------------------------------------------------------------------
// oracles
// -----------------------------------------------------------------------------

const isIntOrInfinity = (n: number, min: number): boolean => n === Infinity || (Number.isInteger(n) && n >= min)

/** A decoded configuration obeys every rule of the settings table. */
const assertValidConfig = (c: CircuitConfig.CircuitConfig, input: unknown): void => {
  const where = () => `accepted ${safeShow(input)}`
  assert.isTrue(Duration.isDuration(c.timeout), where())
  const timeout = Duration.toMillis(c.timeout)
  assert.isTrue(timeout > 0, `${where()}: timeout ${timeout}`)
  const limit = c.maxConcurrentRequests
  assert.isTrue(
    typeof limit === "number"
      ? isIntOrInfinity(limit, 1)
      : Number.isInteger(limit.min) && limit.min >= 1 && Number.isInteger(limit.initial) &&
        limit.min <= limit.initial && limit.initial <= limit.max && Number.isInteger(limit.max),
    `${where()}: max ${safeShow(limit)}`
  )
  assert.isTrue(
    Number.isInteger(c.requestVolumeThreshold) && c.requestVolumeThreshold >= 0,
    `${where()}: volume ${c.requestVolumeThreshold}`
  )
  assert.isTrue(
    Number.isFinite(c.errorPercentThreshold) && c.errorPercentThreshold >= 0 && c.errorPercentThreshold <= 100,
    `${where()}: percent ${c.errorPercentThreshold}`
  )
  if (Duration.isDuration(c.sleepWindow)) {
    const sleep = Duration.toMillis(c.sleepWindow)
    assert.isTrue(Number.isFinite(sleep) && sleep >= 0, `${where()}: sleepWindow ${sleep}`)
  } else {
    assert.isTrue(Schedule.isSchedule(c.sleepWindow), `${where()}: sleepWindow neither a Duration nor a Schedule`)
  }
  const buckets = c.rollingWindow.buckets
  assert.isTrue(Number.isInteger(buckets) && buckets >= 1 && buckets <= 1_000_000, `${where()}: buckets ${buckets}`)
  const bucket = Duration.toMillis(c.rollingWindow.bucketDuration)
  assert.isTrue(Number.isFinite(bucket) && bucket >= 1, `${where()}: bucketDuration ${bucket}`)
  assert.isTrue(Number.isFinite(buckets * bucket), `${where()}: window length`)
  // The core can be built from it, and its sleep window is a number.
  const breaker = CircuitConfig.toBreakerConfig(c)
  const first = breaker.sleepWindow(1)
  assert.isTrue(typeof first === "number" && first >= 0, `${where()}: sleepWindow(1) = ${first}`)
}

const safeShow = (u: unknown): string => {
  try {
    const s = typeof u === "object" && u !== null ? JSON.stringify(u) : String(u)
    return (s ?? typeof u).slice(0, 200)
  } catch {
    return typeof u
  }
}

/** The error of a refusal: a `CircuitConfigError` naming a field, and nothing else in the cause. */
const configErrorOf = (cause: Cause.Cause<unknown>, input: unknown): CircuitConfigError => {
  const found = Cause.findErrorOption(cause)
  if (found._tag === "None" || Cause.hasDies(cause) || Cause.hasInterrupts(cause)) {
    return assert.fail(`${safeShow(input)}: refused with a defect or interruption: ${Cause.pretty(cause)}`)
  }
  const error = found.value
  if (!(error instanceof CircuitConfigError)) {
    return assert.fail(`${safeShow(input)}: refused with ${String(error)}, not a CircuitConfigError`)
  }
  assert.isTrue(typeof error.field === "string", "the refusal names a field")
  assert.isTrue(typeof error.reason === "string" && error.reason.length > 0, "the refusal says why")
  assert.isTrue(typeof error.message === "string", "the message can be built")
  return error
}

/** The field named is a settings path, or an unknown key of the input itself. */
const assertPlausibleField = (field: string, input: unknown): void => {
  if (KNOWN_FIELDS.has(field)) return
  // A throwing getter is refused under its own key.
  if (field.startsWith("rollingWindow.")) return
  // An adaptive limit's own fields (`maxConcurrentRequests.min`, ...), or an unknown key of it.
  if (field.startsWith("maxConcurrentRequests.")) return
  let keys: Array<string> = []
  try {
    if (typeof input === "object" && input !== null) keys = Reflect.ownKeys(input).map(String)
  } catch {
    // a Proxy that refuses to list its keys
  }
  assert.isTrue(keys.includes(field), `field ${JSON.stringify(field)} is neither a setting nor a key of the input`)
}

/** Calls `f`, failing the property if it throws. */
const noThrow = <A>(what: string, input: unknown, f: () => A): A => {
  try {
    return f()
  } catch (error) {
    return assert.fail(`${what} threw for ${safeShow(input)}: ${String(error)}`)
  }
}

const runExit = <A, E>(effect: Effect.Effect<A, E>): Promise<Exit.Exit<A, E>> =>
  Effect.runPromise(Effect.exit(effect))

const snapshotKey = (s: Circuit.CircuitSnapshot): string =>
  JSON.stringify({
    state: s.state,
    window: s.window,
    concurrency: [String(s.concurrency.active), String(s.concurrency.max)],
    config: configKey(s.config)
  })

const configKey = (c: CircuitConfig.CircuitConfig): string =>
  JSON.stringify({
    timeout: String(Duration.toMillis(c.timeout)),
    max: String(c.maxConcurrentRequests),
    volume: c.requestVolumeThreshold,
    percent: c.errorPercentThreshold,
    sleep: Duration.isDuration(c.sleepWindow) ? Duration.toMillis(c.sleepWindow) : "schedule",
    buckets: c.rollingWindow.buckets,
    bucket: Duration.toMillis(c.rollingWindow.bucketDuration)
  })

const RUNS = 1000

// -----------------------------------------------------------------------------
// settings
// -----------------------------------------------------------------------------

describe("bad settings are accepted as valid or refused with CircuitConfigError, never thrown", () => {
  it("CircuitConfig.decode", () => {
    fc.assert(
      fc.property(junk, fc.option(fc.string(), { nil: undefined }), (recipe, circuit) => {
        const input = materialize(recipe)
        const exit = noThrow("decode", input, () => CircuitConfig.decode(input, { circuit }))
        if (Exit.isSuccess(exit)) {
          assertValidConfig(exit.value, input)
          // What was accepted is accepted again, with the same values.
          const again = noThrow("decode", exit.value, () => CircuitConfig.decode(exit.value))
          assert.isTrue(Exit.isSuccess(again), "a decoded configuration decodes")
          if (Exit.isSuccess(again)) assert.strictEqual(configKey(again.value), configKey(exit.value))
        } else {
          const error = configErrorOf(exit.cause, input)
          assertPlausibleField(error.field, input)
          assert.strictEqual(error.circuit, circuit)
        }
      }),
      { numRuns: RUNS * 3 }
    )
  })

  it("CircuitConfig.decode names the one bad field among good ones", () => {
    fc.assert(
      fc.property(oneBadField, ({ field, input }) => {
        const exit = CircuitConfig.decode(input)
        if (Exit.isSuccess(exit)) return assert.fail(`accepted ${safeShow(input)}`)
        assert.strictEqual(configErrorOf(exit.cause, input).field, field)
      }),
      { numRuns: RUNS }
    )
  })

  /** Builds a registry from `options` and uses it once; a refusal must be a CircuitConfigError. */
  const buildAndUse = async (options: unknown, defaults: unknown): Promise<void> => {
    const layer = noThrow("CircuitRegistry.layer", options, () =>
      CircuitRegistry.layer(options as CircuitRegistryOptions))
    const exit = await runExit(
      Effect.gen(function*() {
        yield* Effect.succeed(1).pipe(withCircuit("x"))
        return yield* Circuit.snapshot("x")
      }).pipe(Effect.provide(layer))
    )
    if (Exit.isSuccess(exit)) {
      assertValidConfig(exit.value.config, defaults)
      assert.strictEqual(exit.value.window.success, 1)
    } else {
      configErrorOf(exit.cause, options)
    }
  }

  it("CircuitRegistry.layer({ defaults, circuits })", async () => {
    const circuitsArb: fc.Arbitrary<unknown> = fc.oneof(
      fc.dictionary(fc.oneof(fc.string(), fc.constantFrom("__proto__", "constructor")), junk, { maxKeys: 3 }),
      fc.constantFrom<unknown>(undefined, null, 5, "abc", [], [{ timeout: 1 }], new Map(), Object.create(null)),
      junk.filter((u) => !(u instanceof Recipe))
    )
    await fc.assert(
      fc.asyncProperty(junk, circuitsArb, async (defaultsRecipe, circuitsRecipe) => {
        const defaults = materialize(defaultsRecipe)
        const circuits = materialize(circuitsRecipe, 3)
        await buildAndUse({ defaults, circuits }, defaults)
      }),
      { numRuns: RUNS }
    )
  })

  it("CircuitRegistry.layer: a circuits record that throws when read", async () => {
    const hostile = [
      throwingGetter("payments", true),
      throwingProxy(() => ({ a: {} }), "ownKeys"),
      throwingProxy(() => ({ a: {} }), "get"),
      throwingProxy(() => ({ a: {} }), "getOwnPropertyDescriptor")
    ]
    for (const recipe of hostile) await buildAndUse({ circuits: recipe.make() }, undefined)
  })

  it("CircuitRegistry.layer: eventBuffer", async () => {
    for (const eventBuffer of [undefined, 1, 16, 4096, 0, -1, 1.5, NaN, -Infinity, 2 ** 40, "16", null]) {
      await buildAndUse({ eventBuffer }, undefined)
    }
  })

  it("CircuitRegistry.layerConfig (environment variables)", async () => {
    const value = fc.oneof(
      fc.string(),
      fc.string({ unit: "binary" }),
      fc.constantFrom(
        "",
        " ",
        "NaN",
        "-1",
        "0",
        "1.5",
        "1e400",
        "-Infinity",
        "Infinity",
        "infinity",
        "2 seconds",
        "-2 seconds",
        "0x10",
        "10 parsecs",
        "100",
        "101"
      ),
      fc.double().map(String),
      fc.integer().map(String)
    )
    const keys = [
      "TIMEOUT",
      "MAX_CONCURRENT_REQUESTS",
      "REQUEST_VOLUME_THRESHOLD",
      "ERROR_PERCENT_THRESHOLD",
      "SLEEP_WINDOW",
      "ROLLING_WINDOW_BUCKETS",
      "ROLLING_WINDOW_BUCKET_DURATION"
    ]
    const envArb = fc.dictionary(
      fc.tuple(fc.constantFrom("CIRCUIT_DEFAULT_", "CIRCUIT_PAYMENTS_"), fc.constantFrom(...keys)).map(([p, k]) =>
        p + k
      ),
      value,
      { maxKeys: 5 }
    )
    await fc.assert(
      fc.asyncProperty(envArb, async (env) => {
        const layer = CircuitRegistry.layerConfig({ circuits: ["payments"] })
        const exit = await runExit(
          Circuit.snapshot("payments").pipe(
            Effect.provide(layer),
            Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
          )
        )
        if (Exit.isSuccess(exit)) {
          assertValidConfig(exit.value.config, env)
        } else {
          const cause = exit.cause
          assert.isFalse(Cause.hasDies(cause), `${JSON.stringify(env)}: defect ${Cause.pretty(cause)}`)
          const found = Cause.findErrorOption(cause)
          assert.isTrue(found._tag === "Some", "a typed error")
          if (found._tag === "Some" && found.value instanceof CircuitConfigError) {
            assert.isTrue(found.value.field.length > 0)
          }
        }
      }),
      { numRuns: RUNS }
    )
  })

  it("Circuit.configure: accepted and applied whole, or refused and nothing changes", async () => {
    class Boom extends Data.TaggedError("Boom")<{}> {}
    await fc.assert(
      fc.asyncProperty(fc.oneof(junk, oneBadField.map((b) => b.input)), fc.nat({ max: 6 }), async (recipe, calls) => {
        const input = materialize(recipe)
        const program = Effect.gen(function*() {
          // Some history first: counts, maybe an open circuit.
          for (let i = 0; i < calls; i++) {
            const body: Effect.Effect<number, Boom> = i % 2 === 0 ? Effect.succeed(i) : Effect.fail(new Boom())
            yield* Effect.exit(body.pipe(withCircuit("c")))
            yield* TestClock.adjust(7)
          }
          const before = yield* Circuit.snapshot("c")
          const exit = yield* Effect.exit(Circuit.configure("c", input as CircuitConfigInput))
          const after = yield* Circuit.snapshot("c")
          if (Exit.isSuccess(exit)) {
            assertValidConfig(exit.value, input)
            assert.strictEqual(configKey(after.config), configKey(exit.value))
            // The same as decoding on top of the settings before.
            const expected = CircuitConfig.decode(input, { base: before.config })
            assert.isTrue(Exit.isSuccess(expected))
            if (Exit.isSuccess(expected)) assert.strictEqual(configKey(after.config), configKey(expected.value))
            assert.strictEqual(after.concurrency.max, exit.value.maxConcurrentRequests)
            assert.strictEqual(after.state, before.state)
          } else {
            const error = configErrorOf(exit.cause, input)
            assert.strictEqual(error.circuit, "c")
            assert.strictEqual(snapshotKey(after), snapshotKey(before), "a refused configure changed the circuit")
          }
          // The circuit still works.
          yield* Circuit.reset("c")
          assert.strictEqual(yield* Effect.succeed("ok").pipe(withCircuit("c")), "ok")
          assert.strictEqual((yield* Circuit.snapshot("c")).concurrency.active, 0)
        }).pipe(
          Effect.provide(CircuitRegistry.layer({ defaults: { requestVolumeThreshold: 2, errorPercentThreshold: 50 } })),
          Effect.provide(TestClock.layer())
        )
        const exit = await runExit(program)
        if (Exit.isFailure(exit)) {
          const thrown = Cause.squash(exit.cause)
          throw thrown instanceof Error ? thrown : new Error(Cause.pretty(exit.cause))
        }
      }),
      { numRuns: RUNS }
    )
  })
})

// -----------------------------------------------------------------------------
// names
// -----------------------------------------------------------------------------

const oddNames: ReadonlyArray<string> = [
  "",
  " ",
  "__proto__",
  "constructor",
  "prototype",
  "hasOwnProperty",
  "toString",
  "valueOf",
  "__defineGetter__",
  "then",
  "\u0000",
  "a\u0000b",
  "\uD800",
  "\uDFFF\uD800",
  "e\u0301",
  "\u00e9",
  "\u202Eevil",
  "💥",
  "default",
  "DEFAULT",
  "payments-eu.v2",
  "a".repeat(100_000)
]

const nameArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...oddNames), weight: 3 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 20 }), weight: 2 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 10 }), weight: 1 },
  { arbitrary: fc.string({ maxLength: 5 }), weight: 1 }
)

describe("any string is a circuit name, isolated from the others", () => {
  it("withCircuit / configure / snapshot / layer circuits with odd names", async () => {
    class Boom extends Data.TaggedError("Boom")<{}> {}
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(nameArb, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        async (names, preset) => {
          // Circuit i: max i+1 permits, i+1 successes and i failures, and (if preset) volume 1000+i from the layer.
          const circuits = preset
            ? Object.fromEntries(names.map((name, i) => [name, { requestVolumeThreshold: 1000 + i }]))
            : {}
          const program = Effect.gen(function*() {
            for (const [i, name] of names.entries()) {
              yield* Circuit.configure(name, { maxConcurrentRequests: i + 1 })
              for (let k = 0; k <= i; k++) yield* Effect.succeed(k).pipe(withCircuit(name))
              for (let k = 0; k < i; k++) yield* Effect.exit(Effect.fail(new Boom()).pipe(withCircuit(name)))
            }
            const known = yield* Circuit.names
            assert.strictEqual(known.length, names.length, "one circuit per name")
            for (const name of names) assert.isTrue(known.includes(name))
            for (const [i, name] of names.entries()) {
              const snap = yield* Circuit.snapshot(name)
              assert.strictEqual(snap.name, name)
              assert.strictEqual(snap.window.success, i + 1, `successes of circuit ${i}`)
              assert.strictEqual(snap.window.failure, i, `failures of circuit ${i}`)
              assert.strictEqual(snap.concurrency.max, i + 1)
              assert.strictEqual(snap.concurrency.active, 0)
              assert.strictEqual(snap.config.requestVolumeThreshold, preset ? 1000 + i : 1000)
              assert.strictEqual(snap.state, "closed")
            }
            // Forcing one open touches no other.
            yield* Circuit.forceOpen(names[0]!)
            for (const name of names.slice(1)) assert.strictEqual(yield* Circuit.state(name), "closed")
            const all = yield* Circuit.snapshots
            assert.strictEqual(all.length, names.length)
          }).pipe(
            Effect.provide(CircuitRegistry.layer({ defaults: { requestVolumeThreshold: 1000 }, circuits })),
            Effect.provide(TestClock.layer())
          )
          const exit = await runExit(program)
          if (Exit.isFailure(exit)) {
            const thrown = Cause.squash(exit.cause)
            throw thrown instanceof Error ? thrown : new Error(Cause.pretty(exit.cause))
          }
        }
      ),
      { numRuns: 300 }
    )
  })

  it("layerConfig reads settings for circuits with odd names", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(nameArb, { minLength: 1, maxLength: 4 }), async (names) => {
        const first = names[0]!
        const env = { [`CIRCUIT_${CircuitConfig.configSegment(first)}_MAX_CONCURRENT_REQUESTS`]: "7" }
        const exit = await runExit(
          Effect.forEach(names, (name) => Circuit.snapshot(name)).pipe(
            Effect.provide(CircuitRegistry.layerConfig({ circuits: names })),
            Effect.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))
          )
        )
        if (Exit.isFailure(exit)) return assert.fail(Cause.pretty(exit.cause))
        // Names that upper-case to the same segment read the same variables, and
        // a circuit named "default" reads the defaults' (both documented).
        const segment = CircuitConfig.configSegment(first)
        for (const [i, snap] of exit.value.entries()) {
          const expected = segment === "DEFAULT" || CircuitConfig.configSegment(names[i]!) === segment ? 7 : 10
          assert.strictEqual(snap.concurrency.max, expected, `circuit ${i}`)
        }
      }),
      { numRuns: 200 }
    )
  })

  it("the registry's own names do not leak into lookups", async () => {
    const program = Effect.gen(function*() {
      for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
        // Unknown: a fresh circuit's values, and nothing created (SPEC 17).
        const unknown = yield* Circuit.snapshot(name)
        assert.strictEqual(unknown.window.total, 0, name)
        yield* Effect.succeed(1).pipe(withCircuit(name))
        const snap = yield* Circuit.snapshot(name)
        assert.strictEqual(snap.window.total, 1, name)
        assert.strictEqual(snap.state, "closed", name)
      }
      assert.deepStrictEqual([...(yield* Circuit.names)], ["__proto__", "constructor", "toString", "hasOwnProperty"])
    }).pipe(Effect.provide(CircuitRegistry.layer()))
    const exit = await runExit(program)
    assert.isTrue(Exit.isSuccess(exit), Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "")
  })

  it("a layer with a circuit named __proto__ configures that circuit only", async () => {
    const circuits = Object.fromEntries([["__proto__", { maxConcurrentRequests: 3 }]]) as Record<
      string,
      CircuitConfigInput
    >
    const program = Effect.gen(function*() {
      assert.strictEqual((yield* Circuit.snapshot("__proto__")).concurrency.max, 3)
      assert.strictEqual((yield* Circuit.snapshot("other")).concurrency.max, 10)
    }).pipe(Effect.provide(CircuitRegistry.layer({ circuits })))
    const exit = await runExit(program)
    assert.isTrue(Exit.isSuccess(exit), Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "")
  })
})

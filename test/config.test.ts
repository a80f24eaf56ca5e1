import { assert, describe, it } from "@effect/vitest"
import { Cause, ConfigProvider, Duration, Effect, Exit, Schedule } from "effect"
import * as fc from "fast-check"
import {
  type CircuitConfig,
  type CircuitConfigInput,
  configForCircuit,
  configSegment,
  decode,
  decodeEffect,
  defaults,
  defaultsFromConfig,
  fromConfig,
  toBreakerConfig
} from "../src/CircuitConfig.ts"
import { CircuitConfigError } from "../src/errors.ts"

const ok = (input: unknown, options?: { readonly base?: CircuitConfig }): CircuitConfig => {
  const exit = decode(input, options)
  if (Exit.isFailure(exit)) {
    assert.fail(`expected success, got ${Cause.pretty(exit.cause)}`)
  }
  return exit.value
}

const refused = (input: unknown, options?: { readonly circuit?: string }): CircuitConfigError => {
  const exit = decode(input, options)
  if (Exit.isSuccess(exit)) return assert.fail(`expected a failure for ${String(input)}`)
  const error = Cause.findErrorOption(exit.cause)
  if (error._tag === "None") return assert.fail(`expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  assert.instanceOf(error.value, CircuitConfigError)
  return error.value
}

const millis = (d: Duration.Duration): number => Duration.toMillis(d)

const runConfig = <A>(effect: Effect.Effect<A, unknown>): A => Effect.runSync(effect)

describe("CircuitConfig.decode", () => {
  it("decodes undefined and {} to the defaults", () => {
    for (const input of [undefined, {}]) {
      const config = ok(input)
      assert.strictEqual(millis(config.timeout), 1000)
      assert.strictEqual(config.maxConcurrentRequests, 10)
      assert.strictEqual(config.requestVolumeThreshold, 20)
      assert.strictEqual(config.errorPercentThreshold, 50)
      assert.isTrue(Duration.isDuration(config.sleepWindow))
      assert.strictEqual(millis(config.sleepWindow as Duration.Duration), 5000)
      assert.strictEqual(config.rollingWindow.buckets, 10)
      assert.strictEqual(millis(config.rollingWindow.bucketDuration), 1000)
    }
  })

  it("a decoded config decodes to itself (so Circuit.configure can take a snapshot's config)", () => {
    const first = ok({ timeout: "infinity", maxConcurrentRequests: Infinity, sleepWindow: "2 seconds" })
    const again = ok(first)
    assert.isTrue(Duration.equals(again.timeout, Duration.infinity))
    assert.strictEqual(again.maxConcurrentRequests, Infinity)
    assert.strictEqual(millis(again.sleepWindow as Duration.Duration), 2000)
    const defaultsAgain = ok(defaults)
    assert.strictEqual(millis(defaultsAgain.timeout), 1000)
  })

  it("timeout accepts every Duration.Input form and turns off with \"infinity\"", () => {
    const cases: ReadonlyArray<readonly [unknown, number]> = [
      [Duration.millis(250), 250],
      [250, 250],
      [0.5, 0.5],
      ["1 second", 1000],
      ["250 millis", 250],
      ["1.5 seconds", 1500],
      [" 2 minutes ", 120_000],
      [BigInt(5_000_000), 5],
      [[1, 500_000_000], 1500],
      [{ seconds: 2, milliseconds: 5 }, 2005],
      ["infinity", Infinity],
      ["Infinity", Infinity],
      [Infinity, Infinity],
      [Duration.infinity, Infinity]
    ]
    for (const [input, expected] of cases) {
      const config = ok({ timeout: input })
      assert.isTrue(Duration.isDuration(config.timeout))
      assert.strictEqual(millis(config.timeout), expected, `timeout ${String(input)}`)
    }
    assert.isTrue(Duration.equals(ok({ timeout: "infinity" }).timeout, Duration.infinity))
  })

  it("maxConcurrentRequests accepts integers ≥ 1 and Infinity", () => {
    for (const n of [1, 2, 10, 1_000_000, Infinity]) {
      assert.strictEqual(ok({ maxConcurrentRequests: n }).maxConcurrentRequests, n)
    }
  })

  it("requestVolumeThreshold accepts integers ≥ 0", () => {
    for (const n of [0, 1, 20, 1_000_000]) {
      assert.strictEqual(ok({ requestVolumeThreshold: n }).requestVolumeThreshold, n)
    }
  })

  it("errorPercentThreshold accepts 0 to 100, fractions too", () => {
    for (const n of [0, 0.5, 12.5, 50, 99.99, 100]) {
      assert.strictEqual(ok({ errorPercentThreshold: n }).errorPercentThreshold, n)
    }
  })

  it("sleepWindow accepts finite durations ≥ 0 and keeps a Schedule as is", () => {
    assert.strictEqual(millis(ok({ sleepWindow: 0 }).sleepWindow as Duration.Duration), 0)
    assert.strictEqual(millis(ok({ sleepWindow: "30 seconds" }).sleepWindow as Duration.Duration), 30_000)
    assert.strictEqual(millis(ok({ sleepWindow: Duration.seconds(3) }).sleepWindow as Duration.Duration), 3000)
    const schedule = Schedule.exponential("1 second")
    assert.strictEqual(ok({ sleepWindow: schedule }).sleepWindow, schedule)
  })

  it("rollingWindow accepts buckets 1..1e6 and bucket durations ≥ 1 ms, merged per sub-field", () => {
    const a = ok({ rollingWindow: { buckets: 1 } })
    assert.strictEqual(a.rollingWindow.buckets, 1)
    assert.strictEqual(millis(a.rollingWindow.bucketDuration), 1000)
    const b = ok({ rollingWindow: { bucketDuration: "250 millis" } })
    assert.strictEqual(b.rollingWindow.buckets, 10)
    assert.strictEqual(millis(b.rollingWindow.bucketDuration), 250)
    const c = ok({ rollingWindow: { buckets: 1_000_000, bucketDuration: 1 } })
    assert.strictEqual(c.rollingWindow.buckets, 1_000_000)
    assert.strictEqual(millis(c.rollingWindow.bucketDuration), 1)
    assert.strictEqual(ok({ rollingWindow: {} }).rollingWindow.buckets, 10)
  })

  it("a key whose value is undefined counts as absent", () => {
    const config = ok({ timeout: undefined, rollingWindow: { buckets: undefined }, sleepWindow: undefined })
    assert.strictEqual(millis(config.timeout), 1000)
    assert.strictEqual(config.rollingWindow.buckets, 10)
    assert.strictEqual(ok({ rollingWindow: undefined }).rollingWindow.buckets, 10)
  })

  it("accepts objects without a prototype", () => {
    const input = Object.assign(Object.create(null), { timeout: 300 })
    assert.strictEqual(millis(ok(input).timeout), 300)
  })

  it("with a base, absent fields keep the base's values", () => {
    const base = ok({
      timeout: "3 seconds",
      maxConcurrentRequests: 3,
      requestVolumeThreshold: 7,
      errorPercentThreshold: 25,
      sleepWindow: "9 seconds",
      rollingWindow: { buckets: 4, bucketDuration: "500 millis" }
    })
    const next = ok({ maxConcurrentRequests: 8, rollingWindow: { buckets: 6 } }, { base })
    assert.strictEqual(millis(next.timeout), 3000)
    assert.strictEqual(next.maxConcurrentRequests, 8)
    assert.strictEqual(next.requestVolumeThreshold, 7)
    assert.strictEqual(next.errorPercentThreshold, 25)
    assert.strictEqual(millis(next.sleepWindow as Duration.Duration), 9000)
    assert.strictEqual(next.rollingWindow.buckets, 6)
    assert.strictEqual(millis(next.rollingWindow.bucketDuration), 500)
    // an empty input is the base
    const same = ok({}, { base })
    assert.deepStrictEqual(
      [millis(same.timeout), same.maxConcurrentRequests, same.rollingWindow.buckets],
      [3000, 3, 4]
    )
  })

  it("a refused input changes nothing: the error names the circuit", () => {
    const error = refused({ timeout: -1 }, { circuit: "payments" })
    assert.strictEqual(error.circuit, "payments")
    assert.strictEqual(error.field, "timeout")
    assert.include(error.message, "payments")
    assert.include(error.message, "timeout")
  })

  it("decodeEffect fails with CircuitConfigError", () => {
    const exit = Effect.runSyncExit(decodeEffect({ errorPercentThreshold: 101 }))
    assert.isTrue(Exit.isFailure(exit))
    const success = Effect.runSync(decodeEffect({ errorPercentThreshold: 10 }))
    assert.strictEqual(success.errorPercentThreshold, 10)
  })

  describe("refuses bad input, naming the field and the rule", () => {
    const throwingGetter = Object.defineProperty({}, "timeout", {
      enumerable: true,
      get() {
        throw new Error("getter exploded")
      }
    })
    const throwingNestedGetter = {
      rollingWindow: Object.defineProperty({}, "buckets", {
        enumerable: true,
        get() {
          throw new Error("nested getter exploded")
        }
      })
    }
    const ownKeysProxy = new Proxy({}, {
      ownKeys() {
        throw new Error("ownKeys trap")
      }
    })
    const prototypeProxy = new Proxy({}, {
      getPrototypeOf() {
        throw new Error("getPrototypeOf trap")
      }
    })
    const { proxy: revoked, revoke } = Proxy.revocable({}, {})
    revoke()
    const cyclic: Record<string, unknown> = {}
    cyclic.timeout = cyclic
    const forgedDuration = { [Symbol.for("effect/Duration")]: "x", value: { _tag: "Millis", millis: "1" } }

    const table: ReadonlyArray<readonly [name: string, input: unknown, field: string, reason: string]> = [
      ["null", null, "(root)", "must be a plain object"],
      ["an array", [], "(root)", "must be a plain object"],
      ["a number", 42, "(root)", "got 42"],
      ["a string", "timeout", "(root)", "must be a plain object"],
      ["a function", () => ({}), "(root)", "got a function"],
      ["a Map", new Map([["timeout", 1]]), "(root)", "an instance of Map"],
      ["a symbol", Symbol("x"), "(root)", "must be a plain object"],
      ["a bigint", BigInt(1), "(root)", "got 1n"],
      ["unknown top-level field", { timeot: 1000 }, "timeot", "unknown field"],
      ["unknown symbol field", { [Symbol("s")]: 1 }, "Symbol(s)", "unknown field"],
      ["unknown rollingWindow field", { rollingWindow: { bucket: 5 } }, "rollingWindow.bucket", "unknown field"],
      ["timeout negative", { timeout: -1 }, "timeout", "must be a duration > 0"],
      ["timeout zero", { timeout: 0 }, "timeout", "got 0"],
      ["timeout NaN", { timeout: NaN }, "timeout", "got NaN"],
      ["timeout string abc", { timeout: "abc" }, "timeout", "got \"abc\""],
      ["timeout negative string", { timeout: "-5 seconds" }, "timeout", "must be a duration > 0"],
      ["timeout -Infinity", { timeout: -Infinity }, "timeout", "got -Infinity"],
      ["timeout boolean", { timeout: true }, "timeout", "got true"],
      ["timeout null", { timeout: null }, "timeout", "got null"],
      ["timeout [NaN, 0]", { timeout: [NaN, 0] }, "timeout", "must be a duration"],
      ["timeout tuple of 3", { timeout: [1, 2, 3] }, "timeout", "must be a duration"],
      ["timeout duration object with unknown unit", { timeout: { secs: 1 } }, "timeout", "must be a duration"],
      ["timeout cyclic object", cyclic, "timeout", "got an object"],
      ["timeout forged Duration", { timeout: forgedDuration }, "timeout", "must be a duration"],
      ["maxConcurrentRequests 0", { maxConcurrentRequests: 0 }, "maxConcurrentRequests", "must be an integer ≥ 1"],
      ["maxConcurrentRequests negative", { maxConcurrentRequests: -3 }, "maxConcurrentRequests", "got -3"],
      ["maxConcurrentRequests fraction", { maxConcurrentRequests: 1.5 }, "maxConcurrentRequests", "got 1.5"],
      ["maxConcurrentRequests NaN", { maxConcurrentRequests: NaN }, "maxConcurrentRequests", "got NaN"],
      ["maxConcurrentRequests string", { maxConcurrentRequests: "10" }, "maxConcurrentRequests", "got \"10\""],
      ["maxConcurrentRequests -Infinity", { maxConcurrentRequests: -Infinity }, "maxConcurrentRequests", "Infinity"],
      ["requestVolumeThreshold negative", { requestVolumeThreshold: -1 }, "requestVolumeThreshold", "≥ 0, got -1"],
      ["requestVolumeThreshold Infinity", { requestVolumeThreshold: Infinity }, "requestVolumeThreshold", "got Infinity"],
      ["requestVolumeThreshold fraction", { requestVolumeThreshold: 2.5 }, "requestVolumeThreshold", "an integer"],
      ["requestVolumeThreshold bigint", { requestVolumeThreshold: BigInt(3) }, "requestVolumeThreshold", "got 3n"],
      ["errorPercentThreshold 101", { errorPercentThreshold: 101 }, "errorPercentThreshold", "between 0 and 100, got 101"],
      ["errorPercentThreshold -1", { errorPercentThreshold: -1 }, "errorPercentThreshold", "got -1"],
      ["errorPercentThreshold NaN", { errorPercentThreshold: NaN }, "errorPercentThreshold", "got NaN"],
      ["errorPercentThreshold Infinity", { errorPercentThreshold: Infinity }, "errorPercentThreshold", "finite"],
      ["errorPercentThreshold string", { errorPercentThreshold: "50" }, "errorPercentThreshold", "got \"50\""],
      ["sleepWindow negative", { sleepWindow: -1 }, "sleepWindow", "≥ 0"],
      ["sleepWindow infinity", { sleepWindow: "infinity" }, "sleepWindow", "finite"],
      ["sleepWindow Infinity number", { sleepWindow: Infinity }, "sleepWindow", "got Infinity"],
      ["sleepWindow object", { sleepWindow: { every: 1 } }, "sleepWindow", "or a Schedule"],
      ["rollingWindow array", { rollingWindow: [10] }, "rollingWindow", "must be a plain object"],
      ["rollingWindow number", { rollingWindow: 10 }, "rollingWindow", "got 10"],
      ["buckets 0", { rollingWindow: { buckets: 0 } }, "rollingWindow.buckets", "between 1 and 1000000, got 0"],
      ["buckets 1.5", { rollingWindow: { buckets: 1.5 } }, "rollingWindow.buckets", "an integer"],
      ["buckets too many", { rollingWindow: { buckets: 1_000_001 } }, "rollingWindow.buckets", "got 1000001"],
      ["buckets string", { rollingWindow: { buckets: "10" } }, "rollingWindow.buckets", "got \"10\""],
      ["bucketDuration 0", { rollingWindow: { bucketDuration: 0 } }, "rollingWindow.bucketDuration", "got 0"],
      [
        "bucketDuration under 1 ms",
        { rollingWindow: { bucketDuration: "0.5 millis" } },
        "rollingWindow.bucketDuration",
        "≥ 1 millisecond"
      ],
      ["bucketDuration Infinity", { rollingWindow: { bucketDuration: Infinity } }, "rollingWindow.bucketDuration", "finite"],
      [
        "window length overflows",
        { rollingWindow: { buckets: 1_000_000, bucketDuration: 1e305 } },
        "rollingWindow",
        "must be finite"
      ],
      ["a getter that throws", throwingGetter, "timeout", "getter exploded"],
      ["a nested getter that throws", throwingNestedGetter, "rollingWindow.buckets", "nested getter exploded"],
      ["a Proxy that throws on ownKeys", ownKeysProxy, "(root)", "ownKeys trap"],
      ["a Proxy that throws on getPrototypeOf", prototypeProxy, "(root)", "getPrototypeOf trap"],
      ["a revoked Proxy", revoked, "(root)", "could not be inspected"],
      ["unknown fields come before bad values", { timeout: 5, maxConcurrentRequests: 0, foo: 1 }, "foo", "unknown field"],
      ["fields are checked in schema order, timeout first", { maxConcurrentRequests: 0, timeout: -1 }, "timeout", "got -1"]
    ]

    for (const [name, input, field, reason] of table) {
      it(name, () => {
        const error = refused(input)
        assert.strictEqual(error.field, field, `${name}: ${error.field}: ${error.reason}`)
        assert.include(error.reason, reason, name)
        assert.isUndefined(error.circuit)
      })
    }

    it("the table has at least 25 bad inputs", () => {
      assert.isAtLeast(table.length, 25)
    })
  })
})

// -----------------------------------------------------------------------------
// never throws
// -----------------------------------------------------------------------------

const junk = fc.constantFrom<unknown>(
  Object.defineProperty({}, "timeout", {
    enumerable: true,
    get() {
      throw new Error("boom")
    }
  }),
  new Proxy({}, {
    ownKeys() {
      throw new Error("ownKeys")
    }
  }),
  new Proxy({ timeout: 1 }, {
    get() {
      throw new Error("get")
    }
  }),
  new Proxy({}, {
    getOwnPropertyDescriptor() {
      throw new Error("descriptor")
    },
    ownKeys() {
      return ["x"]
    }
  }),
  { timeout: new Proxy({}, { has: () => {
    throw new Error("has")
  } }) },
  { sleepWindow: new Proxy({}, { getPrototypeOf: () => {
    throw new Error("proto")
  } }) },
  (() => {
    const c: Record<string, unknown> = {}
    c.rollingWindow = c
    return c
  })(),
  { timeout: Symbol("t") },
  { timeout: () => 1 },
  { timeout: BigInt(-1) },
  { rollingWindow: { bucketDuration: [Infinity, 0] } },
  Object.create({ timeout: 1 }),
  Object.defineProperty(Object.create(null), "__proto__", { value: 1, enumerable: true }),
  JSON.parse("{\"__proto__\": {\"timeout\": 1}}"),
  new Date(),
  Duration.seconds(1),
  Schedule.spaced("1 second")
)

const fieldValue = fc.oneof(
  fc.anything({ withBigInt: true, withNullPrototype: true, withMap: true, withSet: true, withDate: true }),
  fc.double(),
  fc.integer({ min: -5, max: 2_000_000 }),
  fc.constantFrom<unknown>("1 second", "0 millis", "infinity", "abc", "-1 seconds", [1, 0], { seconds: 1 }, Infinity)
)

const knownKeyObjects = fc.record(
  {
    timeout: fieldValue,
    maxConcurrentRequests: fieldValue,
    requestVolumeThreshold: fieldValue,
    errorPercentThreshold: fieldValue,
    sleepWindow: fieldValue,
    rollingWindow: fc.oneof(fc.record({ buckets: fieldValue, bucketDuration: fieldValue }, { requiredKeys: [] }), fieldValue)
  },
  { requiredKeys: [] }
)

const isWellFormed = (config: CircuitConfig): boolean => {
  const timeout = millis(config.timeout)
  const max = config.maxConcurrentRequests
  const bucketMillis = millis(config.rollingWindow.bucketDuration)
  const sleepOk = Schedule.isSchedule(config.sleepWindow) ||
    (Number.isFinite(millis(config.sleepWindow)) && millis(config.sleepWindow) >= 0)
  return timeout > 0 &&
    (typeof max !== "number" || max === Infinity || (Number.isInteger(max) && max >= 1)) &&
    Number.isInteger(config.requestVolumeThreshold) && config.requestVolumeThreshold >= 0 &&
    config.errorPercentThreshold >= 0 && config.errorPercentThreshold <= 100 &&
    sleepOk &&
    Number.isInteger(config.rollingWindow.buckets) && config.rollingWindow.buckets >= 1 &&
    config.rollingWindow.buckets <= 1_000_000 &&
    Number.isFinite(bucketMillis) && bucketMillis >= 1 &&
    Number.isFinite(bucketMillis * config.rollingWindow.buckets)
}

const topLevel = new Set([
  "timeout",
  "maxConcurrentRequests",
  "requestVolumeThreshold",
  "errorPercentThreshold",
  "sleepWindow",
  "rollingWindow"
])

const onlyKnownKeys = (input: unknown): boolean => {
  if (input === undefined) return true
  if (typeof input !== "object" || input === null || Array.isArray(input)) return false
  return Reflect.ownKeys(input).every((key) =>
    (typeof key === "string" && topLevel.has(key)) ||
    !Object.prototype.propertyIsEnumerable.call(input, key) ||
    (input as Record<PropertyKey, unknown>)[key] === undefined
  )
}

describe("decode never throws", () => {
  it("returns an Exit for anything, and succeeds only with a well-formed config", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything({
            withBigInt: true,
            withNullPrototype: true,
            withMap: true,
            withSet: true,
            withDate: true,
            withTypedArray: true,
            withSparseArray: true,
            withBoxedValues: true
          }),
          junk,
          knownKeyObjects
        ),
        (input) => {
          let exit: Exit.Exit<CircuitConfig, CircuitConfigError>
          try {
            exit = decode(input)
          } catch (error) {
            throw new Error(`decode threw: ${String(error)}`)
          }
          assert.isTrue(Exit.isExit(exit))
          if (Exit.isSuccess(exit)) {
            assert.isTrue(onlyKnownKeys(input), "success with an unknown key")
            assert.isTrue(isWellFormed(exit.value), "success with a bad config")
          } else {
            const error = Cause.findErrorOption(exit.cause)
            assert.isTrue(error._tag === "Some" && error.value instanceof CircuitConfigError)
          }
        }
      ),
      { numRuns: 2000 }
    )
  })

  it("succeeds exactly when every field is valid", () => {
    const field = <A>(valid: fc.Arbitrary<A>, invalid: fc.Arbitrary<unknown>) =>
      fc.oneof(
        valid.map((value) => ({ value: value as unknown, valid: true })),
        invalid.map((value) => ({ value, valid: false }))
      )
    const badNumber = fc.constantFrom<unknown>(NaN, -1, 1.5, "1", null, true, -Infinity)
    const arb = fc.record(
      {
        timeout: field(
          fc.oneof(fc.integer({ min: 1, max: 60_000 }), fc.constantFrom<unknown>("infinity", "2 seconds", [0, 5])),
          fc.constantFrom<unknown>(0, -5, NaN, "abc", "-1 seconds", null, {})
        ),
        maxConcurrentRequests: field(
          fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.constant(Infinity)),
          fc.constantFrom<unknown>(0, ...[NaN, -1, 1.5, "1", null, true, -Infinity])
        ),
        requestVolumeThreshold: field(fc.integer({ min: 0, max: 1000 }), badNumber),
        errorPercentThreshold: field(
          fc.double({ min: 0, max: 100, noNaN: true }),
          fc.constantFrom<unknown>(100.5, -0.1, NaN, Infinity, "50")
        ),
        sleepWindow: field(
          fc.oneof(fc.integer({ min: 0, max: 60_000 }), fc.constant<unknown>(Schedule.exponential("1 second"))),
          fc.constantFrom<unknown>(-1, "infinity", Infinity, NaN, "soon")
        ),
        buckets: field(fc.integer({ min: 1, max: 1_000_000 }), fc.constantFrom<unknown>(0, 1.5, 1_000_001, "2")),
        bucketDuration: field(
          fc.integer({ min: 1, max: 60_000 }),
          fc.constantFrom<unknown>(0, 0.5, Infinity, "0 millis", -1)
        ),
        unknown: fc.boolean()
      },
      { requiredKeys: ["unknown"] }
    )
    fc.assert(
      fc.property(arb, (fields) => {
        const { bucketDuration, buckets, unknown, ...top } = fields
        const input: Record<string, unknown> = {}
        let valid = !unknown
        for (const [key, f] of Object.entries(top)) {
          input[key] = f.value
          valid = valid && f.valid
        }
        if (buckets !== undefined || bucketDuration !== undefined) {
          const window: Record<string, unknown> = {}
          if (buckets !== undefined) {
            window.buckets = buckets.value
            valid = valid && buckets.valid
          }
          if (bucketDuration !== undefined) {
            window.bucketDuration = bucketDuration.value
            valid = valid && bucketDuration.valid
          }
          input.rollingWindow = window
        }
        if (unknown) input.extra = 1
        const exit = decode(input)
        assert.strictEqual(Exit.isSuccess(exit), valid, JSON.stringify(input))
      }),
      { numRuns: 1000 }
    )
  })
})

// -----------------------------------------------------------------------------
// Config
// -----------------------------------------------------------------------------

describe("reading settings from Config", () => {
  const allKeys = {
    TIMEOUT: "2 seconds",
    MAX_CONCURRENT_REQUESTS: "Infinity",
    REQUEST_VOLUME_THRESHOLD: "5",
    ERROR_PERCENT_THRESHOLD: "12.5",
    SLEEP_WINDOW: "3000",
    ROLLING_WINDOW_BUCKETS: "20",
    ROLLING_WINDOW_BUCKET_DURATION: "500 millis"
  }

  const checkAll = (input: CircuitConfigInput): void => {
    const config = ok(input)
    assert.strictEqual(millis(config.timeout), 2000)
    assert.strictEqual(config.maxConcurrentRequests, Infinity)
    assert.strictEqual(config.requestVolumeThreshold, 5)
    assert.strictEqual(config.errorPercentThreshold, 12.5)
    assert.strictEqual(millis(config.sleepWindow as Duration.Duration), 3000)
    assert.strictEqual(config.rollingWindow.buckets, 20)
    assert.strictEqual(millis(config.rollingWindow.bucketDuration), 500)
  }

  it("fromConfig reads every key from ConfigProvider.fromUnknown, numbers too", () => {
    checkAll(runConfig(fromConfig().parse(ConfigProvider.fromUnknown(allKeys))))
    const numbers = runConfig(
      fromConfig().parse(ConfigProvider.fromUnknown({ TIMEOUT: 750, REQUEST_VOLUME_THRESHOLD: 3 }))
    )
    assert.deepStrictEqual(numbers, { timeout: 750, requestVolumeThreshold: 3 })
  })

  it("fromConfig reads every key from ConfigProvider.fromEnv({ env })", () => {
    checkAll(runConfig(fromConfig().parse(ConfigProvider.fromEnv({ env: allKeys }))))
  })

  it("absent keys are absent, so the defaults apply", () => {
    const input = runConfig(fromConfig().parse(ConfigProvider.fromEnv({ env: {} })))
    assert.deepStrictEqual(input, {})
    const partial = runConfig(fromConfig().parse(ConfigProvider.fromEnv({ env: { ROLLING_WINDOW_BUCKETS: "4" } })))
    assert.deepStrictEqual(partial, { rollingWindow: { buckets: 4 } })
    const config = ok(partial)
    assert.strictEqual(config.rollingWindow.buckets, 4)
    assert.strictEqual(millis(config.rollingWindow.bucketDuration), 1000)
    assert.strictEqual(config.maxConcurrentRequests, 10)
  })

  it("TIMEOUT takes \"infinity\"", () => {
    const input = runConfig(fromConfig().parse(ConfigProvider.fromEnv({ env: { TIMEOUT: "infinity" } })))
    assert.isTrue(Duration.equals(ok(input).timeout, Duration.infinity))
  })

  it("a value that is not a duration or a number fails with a ConfigError naming the key", () => {
    const exit = Effect.runSyncExit(
      configForCircuit("payments").parse(ConfigProvider.fromEnv({ env: { CIRCUIT_PAYMENTS_SLEEP_WINDOW: "soon" } }))
    )
    assert.isTrue(Exit.isFailure(exit))
    if (Exit.isFailure(exit)) {
      const pretty = Cause.pretty(exit.cause)
      assert.include(pretty, "SLEEP_WINDOW")
      assert.include(pretty, "PAYMENTS")
    }
    const badNumber = Effect.runSyncExit(
      fromConfig().parse(ConfigProvider.fromEnv({ env: { MAX_CONCURRENT_REQUESTS: "many" } }))
    )
    assert.isTrue(Exit.isFailure(badNumber))
  })

  it("ranges are checked by decode", () => {
    const input = runConfig(fromConfig().parse(ConfigProvider.fromEnv({ env: { ERROR_PERCENT_THRESHOLD: "150" } })))
    assert.strictEqual(refused(input).field, "errorPercentThreshold")
  })

  it("configForCircuit reads CIRCUIT_<NAME>_<KEY> from the environment", () => {
    const env = {
      CIRCUIT_PAYMENTS_TIMEOUT: "2 seconds",
      CIRCUIT_PAYMENTS_MAX_CONCURRENT_REQUESTS: "Infinity",
      CIRCUIT_PAYMENTS_REQUEST_VOLUME_THRESHOLD: "5",
      CIRCUIT_PAYMENTS_ERROR_PERCENT_THRESHOLD: "12.5",
      CIRCUIT_PAYMENTS_SLEEP_WINDOW: "3000",
      CIRCUIT_PAYMENTS_ROLLING_WINDOW_BUCKETS: "20",
      CIRCUIT_PAYMENTS_ROLLING_WINDOW_BUCKET_DURATION: "500 millis",
      CIRCUIT_OTHER_TIMEOUT: "9 seconds",
      TIMEOUT: "8 seconds"
    }
    checkAll(runConfig(configForCircuit("payments").parse(ConfigProvider.fromEnv({ env }))))
  })

  it("configForCircuit maps - and . to _ and upper-cases the name", () => {
    assert.strictEqual(configSegment("payments-eu.v2"), "PAYMENTS_EU_V2")
    const env = { CIRCUIT_PAYMENTS_EU_V2_TIMEOUT: "250 millis", CIRCUIT_PAYMENTS_TIMEOUT: "9 seconds" }
    const input = runConfig(configForCircuit("payments-eu.v2").parse(ConfigProvider.fromEnv({ env })))
    assert.strictEqual(millis(ok(input).timeout), 250)
    const plain = runConfig(configForCircuit("payments").parse(ConfigProvider.fromEnv({ env })))
    assert.deepStrictEqual(Object.keys(plain), ["timeout"])
    assert.strictEqual(millis(ok(plain).timeout), 9000)
  })

  it("configForCircuit reads nested objects from ConfigProvider.fromUnknown", () => {
    const provider = ConfigProvider.fromUnknown({
      CIRCUIT: { PAYMENTS: allKeys, DEFAULT: { TIMEOUT: "4 seconds" } }
    })
    checkAll(runConfig(configForCircuit("payments").parse(provider)))
    const defaultsInput = runConfig(defaultsFromConfig().parse(provider))
    assert.strictEqual(millis(ok(defaultsInput).timeout), 4000)
  })

  it("defaultsFromConfig reads CIRCUIT_DEFAULT_*", () => {
    const env = { CIRCUIT_DEFAULT_MAX_CONCURRENT_REQUESTS: "50", CIRCUIT_DEFAULT_SLEEP_WINDOW: "1 minute" }
    const config = ok(runConfig(defaultsFromConfig().parse(ConfigProvider.fromEnv({ env }))))
    assert.strictEqual(config.maxConcurrentRequests, 50)
    assert.strictEqual(millis(config.sleepWindow as Duration.Duration), 60_000)
  })

  it.effect("works as a yielded Config with the ambient ConfigProvider", () =>
    Effect.gen(function*() {
      const input = yield* configForCircuit("search")
      const config = yield* decodeEffect(input, { circuit: "search" })
      assert.strictEqual(config.requestVolumeThreshold, 1)
    }).pipe(
      Effect.provideService(
        ConfigProvider.ConfigProvider,
        ConfigProvider.fromEnv({ env: { CIRCUIT_SEARCH_REQUEST_VOLUME_THRESHOLD: "1" } })
      )
    ))
})

// -----------------------------------------------------------------------------
// toBreakerConfig
// -----------------------------------------------------------------------------

describe("toBreakerConfig", () => {
  it("a Duration sleep window is the same for every opening", () => {
    const breaker = toBreakerConfig(ok({ sleepWindow: "7 seconds", rollingWindow: { bucketDuration: "250 millis" } }))
    assert.deepStrictEqual([1, 2, 3].map(breaker.sleepWindow), [7000, 7000, 7000])
    assert.strictEqual(breaker.bucketMillis, 250)
    assert.strictEqual(breaker.buckets, 10)
  })

  it("Schedule.exponential(\"1 second\") gives 1000, 2000, 4000 for openings 1, 2, 3", () => {
    const breaker = toBreakerConfig(ok({ sleepWindow: Schedule.exponential("1 second") }))
    assert.deepStrictEqual([1, 2, 3].map(breaker.sleepWindow), [1000, 2000, 4000])
    // pure: asking again, or out of order, gives the same lengths
    assert.deepStrictEqual([3, 1, 2].map(breaker.sleepWindow), [4000, 1000, 2000])
  })

  it("a schedule limited by Schedule.recurs(2) repeats its last delay", () => {
    const schedule = Schedule.max([Schedule.exponential("1 second"), Schedule.recurs(2)])
    const breaker = toBreakerConfig(ok({ sleepWindow: schedule }))
    assert.deepStrictEqual([1, 2, 3, 4, 5].map(breaker.sleepWindow), [1000, 2000, 2000, 2000, 2000])
  })
})

/**
 * The schema of `CircuitConfigInput`: each field's rule, and the translation
 * of the first Schema issue into a refusal naming the field and what was
 * given.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Schema, SchemaIssue, SchemaParser } from "effect"
import { isScheduleSafe, millisOf, toDuration } from "./duration.ts"
import { keyName, ROOT, show } from "./inspect.ts"
import type { SleepSchedule } from "./model.ts"

// The rule of each field: the first part of a refusal's `reason`.
export const rules: Readonly<Record<string, string>> = {
  [ROOT]: "must be a plain object of circuit settings (or undefined)",
  timeout: "must be a duration > 0 (a Duration, a number of milliseconds, a string like \"1 second\") or \"infinity\"",
  maxConcurrentRequests:
    "must be an integer ≥ 1, Infinity, or an adaptive limit { adaptive: \"aimd\" | \"gradient\", min?, max?, initial?, ... }",
  requestVolumeThreshold: "must be an integer ≥ 0",
  errorPercentThreshold: "must be a finite number between 0 and 100",
  sleepWindow:
    "must be a finite duration ≥ 0 (a Duration, a number of milliseconds, a string like \"5 seconds\") or a Schedule",
  rollingWindow: "must be a plain object { buckets?, bucketDuration? } or { calls }",
  "rollingWindow.calls": "must be an integer between 1 and 1000000",
  consecutiveFailures: "must be an integer ≥ 1 or Infinity",
  slowCallDuration:
    "must be a duration > 0 (a Duration, a number of milliseconds, a string like \"2 seconds\") or \"infinity\"",
  slowCallPercentThreshold: "must be a finite number between 0 and 100",
  halfOpenProbes: "must be an integer between 1 and 1000000",
  backoffReset: "must be \"close\" or \"stable\"",
  maxConcurrentFallbacks: "must be an integer ≥ 1 or Infinity",
  queueCapacity: "must be an integer between 0 and 1000000",
  maxQueueWait:
    "must be a duration > 0 (a Duration, a number of milliseconds, a string like \"500 millis\") or \"infinity\"",
  "rollingWindow.buckets": "must be an integer between 1 and 1000000",
  "rollingWindow.bucketDuration":
    "must be a finite duration ≥ 1 millisecond (a Duration, a number of milliseconds, a string like \"1 second\")"
}

export const topLevelKeys: ReadonlySet<string> = new Set([
  "timeout",
  "maxConcurrentRequests",
  "requestVolumeThreshold",
  "errorPercentThreshold",
  "sleepWindow",
  "rollingWindow",
  "consecutiveFailures",
  "slowCallDuration",
  "slowCallPercentThreshold",
  "halfOpenProbes",
  "backoffReset",
  "maxConcurrentFallbacks",
  "queueCapacity",
  "maxQueueWait"
])
export const rollingWindowKeys: ReadonlySet<string> = new Set(["buckets", "bucketDuration", "calls"])

// -----------------------------------------------------------------------------
// decoding: the schema
// -----------------------------------------------------------------------------

// A schema whose decoding is `parse` (which never throws): `undefined` means
// "not one of these", reported as an `InvalidType` issue.
const parsed = <A>(expected: string, parse: (u: unknown) => A | undefined) =>
  Schema.declareConstructor<A, unknown>()(
    [],
    () => (input, ast, options) => {
      const out = parse(input)
      return out === undefined
        ? Effect.fail(new SchemaIssue.InvalidType(ast, input, options))
        : Effect.succeed(out)
    },
    { expected }
  )

const DurationInput = parsed("a Duration.Input", toDuration)

const Timeout = DurationInput.check(
  Schema.makeFilter((d: Duration.Duration) => millisOf(d) > 0, { expected: "a duration > 0" })
)

const SleepWindow = parsed<Duration.Duration | SleepSchedule>(
  "a Duration.Input or a Schedule",
  (u) => isScheduleSafe(u) ? u : toDuration(u)
).check(
  Schema.makeFilter(
    (w: Duration.Duration | SleepSchedule) => {
      if (isScheduleSafe(w)) return true
      const millis = millisOf(w)
      return Number.isFinite(millis) && millis >= 0
    },
    { expected: "a finite duration ≥ 0 or a Schedule" }
  )
)

const BucketDuration = DurationInput.check(
  Schema.makeFilter((d: Duration.Duration) => {
    const millis = millisOf(d)
    return Number.isFinite(millis) && millis >= 1
  }, { expected: "a finite duration ≥ 1 millisecond" })
)

const PositiveInfinity = Schema.Number.check(
  Schema.makeFilter((n: number) => n === Infinity, { expected: "Infinity" })
)

const RollingWindowInput = Schema.Struct({
  buckets: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 }))),
  bucketDuration: Schema.optionalKey(BucketDuration),
  calls: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 })))
})

const ConfigInput = Schema.Struct({
  timeout: Schema.optionalKey(Timeout),
  maxConcurrentRequests: Schema.optionalKey(
    Schema.Union([Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), PositiveInfinity])
  ),
  requestVolumeThreshold: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  errorPercentThreshold: Schema.optionalKey(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 100 }))),
  sleepWindow: Schema.optionalKey(SleepWindow),
  rollingWindow: Schema.optionalKey(RollingWindowInput),
  consecutiveFailures: Schema.optionalKey(
    Schema.Union([Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), PositiveInfinity])
  ),
  slowCallDuration: Schema.optionalKey(Timeout),
  slowCallPercentThreshold: Schema.optionalKey(Schema.Finite.check(Schema.isBetween({ minimum: 0, maximum: 100 }))),
  halfOpenProbes: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000_000 }))),
  backoffReset: Schema.optionalKey(Schema.Literals(["close", "stable"])),
  maxConcurrentFallbacks: Schema.optionalKey(
    Schema.Union([Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), PositiveInfinity])
  ),
  queueCapacity: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000 }))),
  maxQueueWait: Schema.optionalKey(Timeout)
})

export const decodeConfigInput = SchemaParser.decodeUnknownExit(ConfigInput, { onExcessProperty: "error" })

// The first issue, and the path to it.
const firstIssue = (
  issue: SchemaIssue.Issue,
  path: ReadonlyArray<PropertyKey>
): { readonly path: ReadonlyArray<PropertyKey>; readonly issue: SchemaIssue.Issue } => {
  switch (issue._tag) {
    case "Pointer":
      return firstIssue(issue.issue, [...path, ...issue.path])
    case "Encoding":
      return firstIssue(issue.issue, path)
    case "Composite": {
      const first = issue.issues[0]
      return first === undefined ? { path, issue } : firstIssue(first, path)
    }
    default:
      return { path, issue }
  }
}

const valueAt = (root: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let current = root
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined
    current = (current as Record<PropertyKey, unknown>)[key]
  }
  return current
}

export const issueToRefusal = (
  issue: SchemaIssue.Issue,
  input: Record<PropertyKey, unknown>
): { readonly field: string; readonly reason: string } => {
  const first = firstIssue(issue, [])
  const field = first.path.length === 0 ? ROOT : first.path.map(keyName).join(".")
  if (first.issue._tag === "UnexpectedKey") {
    const parent = first.path.length > 1 ? first.path.slice(0, -1).map(keyName).join(".") : undefined
    const allowed = [...(parent === "rollingWindow" ? rollingWindowKeys : topLevelKeys)].join(", ")
    return { field, reason: `unknown field (known fields: ${allowed})` }
  }
  const rule = rules[field] ?? "is invalid"
  return { field, reason: `${rule}, got ${show(valueAt(input, first.path))}` }
}

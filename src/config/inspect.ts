/**
 * Safe inspection of untrusted settings: a short description of any value,
 * and a copy of an object's own fields into plain data. Nothing here throws,
 * whatever it is given (getters, Proxies, foreign realms).
 *
 * @since 0.1.0
 */
import { Duration, Schedule } from "effect"

/** The field name of a refusal about the input as a whole. */
export const ROOT = "(root)"

export const errorMessage = (error: unknown): string => {
  try {
    const message = error instanceof Error ? String(error.message) : String(error)
    return truncate(message)
  } catch {
    return "unknown error"
  }
}

export const truncate = (s: string): string => s.length > 80 ? `${s.slice(0, 77)}...` : s

export const keyName = (key: PropertyKey): string => typeof key === "symbol" ? key.toString() : String(key)

// What was given, for a refusal's reason: short, and never throwing.
export const show = (u: unknown): string => {
  try {
    switch (typeof u) {
      case "number":
        return Object.is(u, -0) ? "-0" : String(u)
      case "bigint":
        return `${u}n`
      case "string":
        return truncate(JSON.stringify(u))
      case "symbol":
        return u.toString()
      case "function":
        return "a function"
      case "boolean":
      case "undefined":
        return String(u)
      case "object": {
        if (u === null) return "null"
        if (Duration.isDuration(u)) return `Duration(${Duration.format(u)})`
        if (Schedule.isSchedule(u)) return "a Schedule"
        if (!Array.isArray(u) && !isPlainObject(u)) {
          const constructor: unknown = (Object.getPrototypeOf(u) as { readonly constructor?: unknown }).constructor
          const name: unknown = typeof constructor === "function" ? constructor.name : undefined
          return typeof name === "string" && name !== "" ? `an instance of ${truncate(name)}` : "an object"
        }
        const json = JSON.stringify(u, (_key, value: unknown) => typeof value === "bigint" ? `${value}n` : value)
        if (typeof json === "string") return truncate(json)
      }
    }
  } catch {
    // fall through
  }
  try {
    return Array.isArray(u) ? "an array" : typeof u === "object" ? "an object" : "a value"
  } catch {
    return "an object"
  }
}

export const isPlainObject = (u: object): boolean => {
  if (Array.isArray(u)) return false
  const proto: unknown = Object.getPrototypeOf(u)
  // `Object.prototype` of this realm or another one (its prototype is null), or none.
  return proto === null || (typeof proto === "object" && Object.getPrototypeOf(proto) === null)
}

export type Snapshot =
  | { readonly _tag: "Ok"; readonly value: Record<PropertyKey, unknown> }
  | { readonly _tag: "Refused"; readonly field: string; readonly reason: string }

// Copies an object's own settings into a fresh plain object, so that Schema
// then runs on plain data: getters run once, here, and a getter or a Proxy
// trap that throws is refused with the field it belongs to. Keys whose value
// is `undefined` count as absent. Unknown keys are copied (when enumerable)
// for Schema to refuse.
export const snapshot = (
  u: unknown,
  path: string | undefined,
  known: ReadonlySet<string>,
  rule: string | undefined
): Snapshot => {
  const here = path ?? ROOT
  try {
    if (typeof u !== "object" || u === null || !isPlainObject(u)) {
      return { _tag: "Refused", field: here, reason: `${rule ?? "must be a plain object"}, got ${show(u)}` }
    }
  } catch (error) {
    return { _tag: "Refused", field: here, reason: `could not be inspected (${errorMessage(error)})` }
  }
  let keys: ReadonlyArray<PropertyKey>
  try {
    keys = Reflect.ownKeys(u)
  } catch (error) {
    return { _tag: "Refused", field: here, reason: `its keys could not be listed (${errorMessage(error)})` }
  }
  const out: Record<PropertyKey, unknown> = Object.create(null)
  for (const key of keys) {
    try {
      if (!(typeof key === "string" && known.has(key))) {
        const descriptor = Reflect.getOwnPropertyDescriptor(u, key)
        if (descriptor === undefined || descriptor.enumerable !== true) continue
      }
      const value: unknown = Reflect.get(u, key)
      if (value !== undefined) out[key] = value
    } catch (error) {
      const field = path === undefined ? keyName(key) : `${path}.${keyName(key)}`
      return { _tag: "Refused", field, reason: `could not be read (${errorMessage(error)})` }
    }
  }
  return { _tag: "Ok", value: out }
}

export const isNumberNotNaN = (u: unknown): u is number => typeof u === "number" && !Number.isNaN(u)

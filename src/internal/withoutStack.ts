// `Error.stackTraceLimit` is V8's (Node, Deno, Bun, Chromium) and typed only
// by @types/node: the published declarations must type-check without it.
const V8Error: ErrorConstructor & { stackTraceLimit?: number | undefined } = Error

/**
 * Builds an error without capturing a stack trace. The circuit's own errors
 * are raised by the runtime, so their stack shows only its frames; capturing
 * it costs microseconds, paid on every rejected or short-circuited call.
 *
 * @internal
 */
export const withoutStack = <A>(make: () => A): A => {
  const limit = V8Error.stackTraceLimit
  V8Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    V8Error.stackTraceLimit = limit
  }
}

/**
 * Builds an error without capturing a stack trace. The circuit's own errors
 * are raised by the runtime, so their stack shows only its frames; capturing
 * it costs microseconds, paid on every rejected or short-circuited call.
 *
 * @internal
 */
export const withoutStack = <A>(make: () => A): A => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}

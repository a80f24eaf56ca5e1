import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { fileURLToPath } from "node:url"

// Every example runs as it is, with Node's own TypeScript support, as a user would run it.
const root = fileURLToPath(new URL("..", import.meta.url))
const run = (file: string): string =>
  // `effect-circuit` resolves to src/ through the package's source condition (see README, Package).
  execFileSync(process.execPath, ["--conditions=effect-circuit-source", `examples/${file}`], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000
  })

// What each example must print, so that an example that runs but does the wrong thing fails.
const expected: Record<string, ReadonlyArray<string>> = {
  "basic.ts": ["call 4: PaymentsDown -> open", "short-circuited: Circuit \"payments\" is open", "probe: charged #5 -> closed", "done"],
  "retry.ts": ["result: [\"result\"]", "circuit: closed"],
  "prometheus.ts": [
    "# TYPE effect_circuit_events_total counter",
    "effect_circuit_events_total{circuit=\"payments\",event=\"success\"} 2",
    "effect_circuit_events_total{circuit=\"payments\",event=\"failure\"} 2",
    "effect_circuit_events_total{circuit=\"payments\",event=\"short-circuited\"} 1",
    "effect_circuit_events_total{circuit=\"payments\",event=\"timeout\"} 0",
    "effect_circuit_state{circuit=\"payments\",state=\"open\"} 1",
    "effect_circuit_state{circuit=\"payments\",state=\"closed\"} 0",
    "effect_circuit_state{circuit=\"inventory\",state=\"closed\"} 1",
    "effect_circuit_error_ratio{circuit=\"payments\"} 0.5",
    "effect_circuit_latency_seconds_count{circuit=\"payments\"} 4"
  ],
  "hystrix-dashboard.ts": [
    "stream: 200 text/event-stream",
    "HystrixCommand payments: ",
    "HystrixThreadPool payments: ",
    "HystrixCommand inventory: ",
    "self-contained: true",
    "done"
  ],
  "otlp.ts": [
    "collector received effect_circuit_events_total{circuit=payments,event=success} = 3 (unit {event})",
    "collector received effect_circuit_events_total{circuit=payments,event=failure} = 1 (unit {event})",
    "collector received effect_circuit_state{circuit=payments,state=closed} = 1 (unit {state})",
    "collector received effect_circuit_latency_seconds{circuit=payments} = count 4 (unit s)",
    "no collector: the program ended on time"
  ],
  "tracing.ts": [
    "checkout",
    "  circuit payments (circuit.state=closed, circuit.admission=allow, circuit.outcome=success, circuit.fallback=none)",
    "    payments-api",
    "  circuit payments (circuit.state=closed, circuit.admission=allow, circuit.outcome=failure, circuit.fallback=success)",
    "    circuit payments fallback (circuit.fallback.reason=failure)",
    "  circuit payments (circuit.state=forced-open, circuit.admission=short-circuit, circuit.outcome=short-circuited, circuit.fallback=success)",
    "    circuit payments fallback (circuit.fallback.reason=short-circuited)"
  ],
  "fallback.ts": [
    "down: lamp = 42 (cached, after PricingDown)",
    "circuit pricing: open",
    "open: lamp = 42 (cached, after CircuitOpenError)",
    "desk: CircuitFallbackError, the call failed with CircuitOpenError, the fallback with CacheMiss",
    "fallbacks: 3 succeeded, 1 failed",
    "timeout: slow price = -1"
  ],
  "http-server-middleware.ts": [
    "GET /recommendations/4 -> 502, circuit open",
    "GET /recommendations/5 -> 503 (Retry-After: 2), circuit open",
    "GET /products/1 -> 200 (its own circuit is closed)",
    "probe: GET /recommendations/6 -> 200",
    "circuit GET /recommendations/:id: closed",
    "server closed"
  ],
  "promise-http-server.ts": [
    "GET /price/lamp1 -> 502",
    "circuit pricing: closed -> open",
    "GET /price/lamp4 -> 503 (Retry-After: 1)",
    "pricing service called 3 times for 5 requests",
    "circuit pricing: half-open -> closed",
    "probe: GET /price/lamp -> 200",
    "state: closed",
    "server closed"
  ],
  "promise-fetch-client.ts": [
    "slow 1: (unavailable: CircuitTimeoutError)",
    "requests the server saw aborted: 2",
    "missing: HTTP 404",
    "failing 2: (unavailable: Error: HTTP 503)",
    "open: (unavailable: CircuitOpenError)",
    "window: 2 timeouts, 2 failures, 1 short-circuited",
    "probe: Ada",
    "state: closed",
    "done"
  ],
  "http-client.ts": [
    "request 3: fallback (CircuitOpenError)",
    "requests that reached the downstream: 2",
    "after the sleep window: HTTP 200",
    "done"
  ],
  "testing-with-testclock.ts": [
    "ok - a hanging call fails with CircuitTimeoutError at exactly 1 s",
    "ok - trips after 3 failures, sleeps 5 s then 10 s, closes on a good probe",
    "all checks passed"
  ],
  "adaptive-concurrency.ts": [
    "capacity 20: limit 23 (gradient), circuit closed, p99 115 ms, 192 successes/s",
    "capacity 10: limit 12 (gradient), circuit closed, p99 120 ms, 96 successes/s",
    "capacity 20: limit 80 (fixed), circuit open, no call reached the dependency",
    "capacity 10: limit 80 (fixed), circuit closed, p99 300 ms"
  ],
  "property-testing-your-settings.ts": [
    "defaults: FAILS",
    "first try: FAILS",
    "opened 1 time(s) before the outage",
    "tuned: holds for 300 random outages",
    "tuned, partial outage: FAILS"
  ],
  "count-window.ts": ["last 4 calls, 2 failed: open"],
  "consecutive-failures.ts": ["2 in a row, a success, 2 in a row: closed", "3 in a row: open"],
  "slow-calls.ts": ["3 of 4 calls slower than 500 ms: open"],
  "half-open-probes.ts": ["after 1 good probe of 3: half-open", "after 3 good probes: closed"],
  "fallback-limit.ts": [
    "fallbacks running: 2 of 2",
    "from the cache",
    "a static default (fallback rejected after Down)",
    "fallbacks running after: 0"
  ],
  "retry-after.ts": ["open, retry after 30s"],
  "two-step.ts": [
    "short feed: 3 chunks",
    "stalled feed: CircuitTimeoutError",
    "feed window: 1 success, 1 timeout",
    "directory: found",
    "directory event: timeout",
    "directory: no answer, call abandoned",
    "directory permits in use: 0"
  ],
  "stable-backoff.ts": [
    "opening 1: open for 1s",
    "opening 2: open for 2s",
    "opening 3: open for 4s",
    "after 4 s closed, the next opening: open for 1s"
  ],
  "wait-queue.ts": [
    "running 2, waiting 3 of 3",
    "#5 rendered",
    "#6 CircuitRejectedError (queue-full)",
    "started in order: 1 2 3 4 5",
    "#8 rendered",
    "#9 CircuitRejectedError (queue-timeout)"
  ],
  "jittered-sleep-window.ts": [
    "three circuits, three delays: true",
    "all within 10 s ± 20 %: true",
    "same seed, same delays: true"
  ]
}

describe("examples", () => {
  const files = readdirSync(new URL("../examples", import.meta.url)).filter((f) => f.endsWith(".ts"))

  it("every example has expectations", () => {
    for (const file of files) assert.isDefined(expected[file], `add expectations for examples/${file}`)
  })

  for (const file of files) {
    it(`examples/${file} runs`, () => {
      const out = run(file)
      for (const line of expected[file] ?? []) assert.include(out, line)
    })
  }
})

import { assert, describe, it } from "@effect/vitest"
import { NodeHttpServer } from "@effect/platform-node"
import { Data, Duration, Effect, Fiber, Layer, Metric, Stream } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { TestClock } from "effect/testing"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { cellOf } from "../src/internal/cell.ts"
import {
  Circuit,
  CircuitMetrics,
  CircuitRegistry,
  type CircuitRegistryOptions,
  HystrixStream,
  Observability,
  withCircuit
} from "../src/index.ts"

class Boom extends Data.TaggedError("Boom")<{}> {}

// The fields the Hystrix dashboard reads, copied from its hystrixCommand.js /
// hystrixThreadPool.js (validateData and the templates), independent of the
// library's own list.
const dashboardCommandFields = [
  "reportingHosts", "type", "name", "group", "isCircuitBreakerOpen", "errorPercentage", "errorCount",
  "requestCount", "rollingCountCollapsedRequests", "rollingCountExceptionsThrown", "rollingCountFailure",
  "rollingCountFallbackFailure", "rollingCountFallbackRejection", "rollingCountFallbackSuccess",
  "rollingCountResponsesFromCache", "rollingCountSemaphoreRejected", "rollingCountShortCircuited",
  "rollingCountSuccess", "rollingCountThreadPoolRejected", "rollingCountTimeout", "rollingCountBadRequests",
  "currentConcurrentExecutionCount", "latencyExecute_mean", "latencyExecute", "latencyTotal_mean", "latencyTotal",
  "propertyValue_circuitBreakerRequestVolumeThreshold", "propertyValue_circuitBreakerSleepWindowInMilliseconds",
  "propertyValue_circuitBreakerErrorThresholdPercentage", "propertyValue_circuitBreakerForceOpen",
  "propertyValue_circuitBreakerForceClosed", "propertyValue_executionIsolationStrategy",
  "propertyValue_executionIsolationThreadTimeoutInMilliseconds",
  "propertyValue_executionIsolationThreadInterruptOnTimeout",
  "propertyValue_executionIsolationSemaphoreMaxConcurrentRequests",
  "propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests", "propertyValue_requestCacheEnabled",
  "propertyValue_requestLogEnabled", "propertyValue_metricsRollingStatisticalWindowInMilliseconds",
  // Sent by Netflix's serializer and hystrix-go, read by Turbine and other consumers.
  "currentTime", "rollingMaxConcurrentExecutionCount", "propertyValue_circuitBreakerEnabled",
  "propertyValue_executionTimeoutInMilliseconds", "threadPool"
]
const dashboardThreadPoolFields = [
  "type", "name", "currentActiveCount", "currentCompletedTaskCount", "currentCorePoolSize",
  "currentLargestPoolSize", "currentMaximumPoolSize", "currentPoolSize", "currentQueueSize", "currentTaskCount",
  "rollingCountThreadsExecuted", "rollingMaxActiveThreads", "reportingHosts",
  "propertyValue_queueSizeRejectionThreshold", "propertyValue_metricsRollingStatisticalWindowInMilliseconds",
  "currentTime", "rollingCountCommandRejections"
]
const latencyKeys = ["0", "25", "50", "75", "90", "95", "99", "99.5", "100"]

// Every test gets a metric registry of its own, provided before the circuit
// registry is built (the circuit registry registers its series there).
const withRegistry = (options: CircuitRegistryOptions = {}) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.provide(CircuitRegistry.layer(options)),
    Effect.provideService(Metric.MetricRegistry, new Map())
  )

const fail = (name: string) => Effect.fail(new Boom()).pipe(withCircuit(name), Effect.ignore)
const succeedAfter = (name: string, millis: number) =>
  Effect.sleep(Duration.millis(millis)).pipe(Effect.as("ok"), withCircuit(name))

// Runs `effect` while the TestClock moves `millis` forward.
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>, millis: number) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect)
    yield* TestClock.adjust(Duration.millis(millis))
    return yield* Fiber.join(fiber)
  })

// Prometheus text → { "name{labels}": value }.
const parsePrometheus = (text: string): Map<string, number> => {
  const series = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line)
    assert.isNotNull(match, `not a Prometheus sample line: ${line}`)
    series.set(match![1]!, Number(match![2]!))
  }
  return series
}

describe("CircuitMetrics (SPEC 14)", () => {
  it.effect("counts every event kind per circuit, as Effect metrics tagged with the circuit", () =>
    Effect.gen(function*() {
      yield* timed(succeedAfter("payments", 30), 30)
      yield* fail("payments")
      yield* Effect.succeed(1).pipe(withCircuit("inventory"))
      yield* Circuit.forceOpen("inventory")
      yield* Effect.succeed(1).pipe(withCircuit("inventory", { fallback: () => Effect.succeed(2) }))
      const series = parsePrometheus(yield* PrometheusMetrics.format())
      const events = (circuit: string, event: string) =>
        series.get(`effect_circuit_events_total{circuit="${circuit}",event="${event}"}`)
      assert.strictEqual(events("payments", "success"), 1)
      assert.strictEqual(events("payments", "failure"), 1)
      assert.strictEqual(events("payments", "timeout"), 0, "every kind's series is there from the first call, at 0")
      assert.strictEqual(events("inventory", "success"), 1)
      assert.strictEqual(events("inventory", "short-circuited"), 1)
      assert.strictEqual(events("inventory", "fallback-success"), 1)
      for (const kind of ["rejected", "interrupted", "ignored", "fallback-failure"]) {
        assert.strictEqual(events("payments", kind), 0, `the ${kind} series starts at 0`)
      }
      const state = (circuit: string, name: string) => series.get(`effect_circuit_state{circuit="${circuit}",state="${name}"}`)
      assert.deepStrictEqual(
        ["closed", "open", "half-open", "forced-open", "forced-closed"].map((name) => state("payments", name)),
        [1, 0, 0, 0, 0]
      )
      assert.deepStrictEqual(
        ["closed", "open", "half-open", "forced-open", "forced-closed"].map((name) => state("inventory", name)),
        [0, 0, 0, 1, 0]
      )
      assert.strictEqual(series.get(`effect_circuit_active_calls{circuit="payments"}`), 0)
      assert.strictEqual(series.get(`effect_circuit_error_ratio{circuit="payments"}`), 0.5)
      assert.strictEqual(series.get(`effect_circuit_latency_seconds_count{circuit="payments"}`), 2)
      assert.strictEqual(series.get(`effect_circuit_latency_seconds_sum{circuit="payments"}`), 0.03)
      assert.strictEqual(series.get(`effect_circuit_latency_seconds_bucket{circuit="payments",le="0.02"}`), 1)
      assert.strictEqual(series.get(`effect_circuit_latency_seconds_bucket{circuit="payments",le="0.05"}`), 2)
      assert.strictEqual(series.get(`effect_circuit_latency_seconds_bucket{circuit="payments",le="+Inf"}`), 2)
    }).pipe(withRegistry()))

  it.effect("the state gauge: one 0/1 series per state, 1 for the state the circuit is in", () =>
    Effect.gen(function*() {
      const names = ["closed", "open", "half-open", "forced-open", "forced-closed"]
      // The state whose series reads 1, checking that exactly one does.
      const state = Effect.map(PrometheusMetrics.format(), (text) => {
        const series = parsePrometheus(text)
        const values = names.map((name) => series.get(`effect_circuit_state{circuit="c",state="${name}"}`))
        assert.deepStrictEqual(values.filter((v) => v === 1).length, 1)
        assert.deepStrictEqual(values.filter((v) => v === 0).length, 4)
        return names[values.indexOf(1)]
      })
      yield* fail("c")
      assert.strictEqual(yield* state, "closed")
      yield* fail("c")
      assert.strictEqual(yield* state, "open")
      yield* TestClock.adjust("5 seconds")
      const probe = yield* Effect.forkChild(succeedAfter("c", 100))
      yield* Effect.yieldNow
      assert.strictEqual(yield* state, "half-open")
      yield* TestClock.adjust("100 millis")
      yield* Fiber.join(probe)
      assert.strictEqual(yield* state, "closed")
      yield* Circuit.forceOpen("c")
      assert.strictEqual(yield* state, "forced-open")
      yield* Circuit.forceClosed("c")
      assert.strictEqual(yield* state, "forced-closed")
    }).pipe(withRegistry({ defaults: { requestVolumeThreshold: 2, sleepWindow: "5 seconds" } })))

  it.effect("the active-calls gauge reads permits in use at scrape time", () =>
    Effect.gen(function*() {
      const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.forkChild(succeedAfter("slow", 500)))
      yield* Effect.yieldNow
      const active = Effect.map(
        PrometheusMetrics.format(),
        (text) => parsePrometheus(text).get(`effect_circuit_active_calls{circuit="slow"}`)
      )
      // The series exist from the circuit's first event; the first call's start is not an event yet.
      yield* fail("slow")
      assert.strictEqual(yield* active, 3)
      yield* TestClock.adjust("500 millis")
      yield* Fiber.joinAll(fibers)
      assert.strictEqual(yield* active, 0)
    }).pipe(withRegistry()))

  it.effect("a circuit that was never called has no series and no stats (SPEC 16)", () =>
    Effect.gen(function*() {
      const registry = yield* CircuitRegistry
      // Created, never called (reading a snapshot no longer creates one: SPEC 17).
      registry.cell("idle", 0)
      assert.isDefined(registry.lookup("idle"))
      assert.isUndefined(cellOf(registry.lookup("idle")!).stats)
      const snapshot = yield* Metric.snapshot
      assert.isFalse(snapshot.some((m) => m.attributes?.["circuit"] === "idle"))
      yield* Effect.succeed(1).pipe(withCircuit("idle"))
      assert.isDefined(cellOf(registry.lookup("idle")!).stats)
    }).pipe(withRegistry()))

  it.effect("metrics: false installs nothing", () =>
    Effect.gen(function*() {
      yield* Effect.succeed(1).pipe(withCircuit("c"))
      const registry = yield* CircuitRegistry
      assert.isUndefined(cellOf(registry.lookup("c")!).stats)
      assert.strictEqual((yield* Metric.snapshot).length, 0)
      const latency = yield* CircuitMetrics.latency("c")
      assert.strictEqual(latency.execute.count, 0)
    }).pipe(withRegistry({ metrics: false })))

  it.effect("effectMetrics: false keeps the percentiles without Metric series", () =>
    Effect.gen(function*() {
      yield* timed(succeedAfter("c", 7), 7)
      assert.strictEqual((yield* Metric.snapshot).length, 0)
      const latency = yield* CircuitMetrics.latency("c")
      assert.strictEqual(latency.execute.count, 1)
      assert.strictEqual(latency.execute.percentiles["50"], 7)
    }).pipe(withRegistry({ metrics: { effectMetrics: false } })))

  it.effect("bad metrics settings fail the layer with CircuitConfigError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.void.pipe(withRegistry({ metrics: { percentileWindow: { buckets: 0 } } })))
      assert.strictEqual(error._tag, "CircuitConfigError")
      assert.strictEqual((error as { field: string }).field, "metrics.percentileWindow.buckets")
      const error2 = yield* Effect.flip(Effect.void.pipe(withRegistry({ metrics: { latencyBoundaries: [5, 1] } })))
      assert.strictEqual((error2 as { field: string }).field, "metrics.latencyBoundaries")
    }))

  it.effect("closing the registry removes its series", () =>
    Effect.gen(function*() {
      const metrics = new Map()
      yield* Effect.succeed(1).pipe(
        withCircuit("c"),
        Effect.provide(CircuitRegistry.layer()),
        Effect.provideService(Metric.MetricRegistry, metrics)
      )
      assert.strictEqual(metrics.size, 0)
    }))

  it.effect("rolling percentiles of run time and total time, from the events' own times", () =>
    Effect.gen(function*() {
      for (let ms = 1; ms <= 100; ms++) yield* timed(succeedAfter("c", ms), ms)
      // One call that fails after 200 ms and falls back for 50 ms: run time 200, whole call 250.
      yield* timed(
        Effect.sleep("200 millis").pipe(
          Effect.andThen(Effect.fail(new Boom())),
          withCircuit("c", { fallback: () => Effect.as(Effect.sleep("50 millis"), "fallback") })
        ),
        250
      )
      const { execute, total } = yield* CircuitMetrics.latency("c")
      assert.strictEqual(execute.count, 101)
      assert.strictEqual(execute.percentiles["0"], 1)
      assert.strictEqual(execute.percentiles["50"], 51)
      assert.strictEqual(execute.percentiles["100"], 200)
      assert.closeTo(execute.mean, (5050 + 200) / 101, 1e-9)
      // Below 64 ms every value has a bucket of its own; above, within 1/64.
      assert.closeTo(execute.percentiles["90"]!, 91, 91 / 64)
      assert.closeTo(execute.percentiles["99"]!, 100, 100 / 64)
      // One sample per call: the failed call counts once, with its fallback.
      assert.strictEqual(total.count, 101)
      assert.strictEqual(total.percentiles["100"], 250)
      assert.closeTo(total.mean, (5050 + 250) / 101, 1e-9)
      // The percentile window is 6 × 10 s: after a minute the samples are gone.
      yield* TestClock.adjust("60 seconds")
      const later = yield* CircuitMetrics.latency("c")
      assert.strictEqual(later.execute.count, 0)
      assert.strictEqual(later.execute.percentiles["99"], 0)
    }).pipe(withRegistry({ defaults: { timeout: "infinity" } })))

  it.effect("the percentile window is configurable", () =>
    Effect.gen(function*() {
      yield* timed(succeedAfter("c", 10), 10)
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* CircuitMetrics.latency("c")).execute.count, 1)
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* CircuitMetrics.latency("c")).execute.count, 0)
    }).pipe(withRegistry({ metrics: { percentileWindow: { buckets: 2, bucketDuration: "1 second" } } })))
})

describe("HystrixStream (SPEC 15)", () => {
  it.effect("a command object carries every dashboard field, with the circuit's real settings", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 3; i++) yield* timed(succeedAfter("payments", 20), 20)
      yield* fail("payments")
      yield* Effect.fail(new Boom()).pipe(
        withCircuit("payments", { isFailure: () => false }),
        Effect.ignore
      )
      const registry = yield* CircuitRegistry
      const cell = registry.lookup("payments")!
      const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      const command = HystrixStream.commandOf(cell, now) as unknown as Record<string, unknown>
      for (const field of dashboardCommandFields) assert.property(command, field)
      for (const key of latencyKeys) {
        assert.property(command["latencyExecute"], key)
        assert.property(command["latencyTotal"], key)
      }
      assert.strictEqual(command["type"], "HystrixCommand")
      assert.strictEqual(command["name"], "payments")
      assert.strictEqual(command["currentTime"], now)
      assert.strictEqual(command["requestCount"], 4)
      assert.strictEqual(command["errorCount"], 1)
      assert.strictEqual(command["errorPercentage"], 25)
      assert.strictEqual(command["rollingCountSuccess"], 3)
      assert.strictEqual(command["rollingCountFailure"], 1)
      assert.strictEqual(command["rollingCountBadRequests"], 1)
      assert.strictEqual(command["isCircuitBreakerOpen"], false)
      // Run times 20, 20, 20, 0 (failure) and 0 (ignored).
      assert.strictEqual(command["latencyExecute_mean"], 12)
      assert.deepStrictEqual((command["latencyExecute"] as Record<string, number>)["100"], 20)
      assert.strictEqual(command["propertyValue_circuitBreakerRequestVolumeThreshold"], 7)
      assert.strictEqual(command["propertyValue_circuitBreakerSleepWindowInMilliseconds"], 3000)
      assert.strictEqual(command["propertyValue_circuitBreakerErrorThresholdPercentage"], 40)
      assert.strictEqual(command["propertyValue_metricsRollingStatisticalWindowInMilliseconds"], 20_000)
      assert.strictEqual(command["propertyValue_executionIsolationThreadTimeoutInMilliseconds"], 2500)
      assert.strictEqual(command["propertyValue_executionIsolationSemaphoreMaxConcurrentRequests"], 4)
      assert.strictEqual(command["propertyValue_executionIsolationStrategy"], "SEMAPHORE")
      assert.strictEqual(command["reportingHosts"], 1)
      const pool = HystrixStream.threadPoolOf(cell, now) as unknown as Record<string, unknown>
      for (const field of dashboardThreadPoolFields) assert.property(pool, field)
      assert.strictEqual(pool["type"], "HystrixThreadPool")
      assert.strictEqual(pool["currentMaximumPoolSize"], 4)
      assert.strictEqual(pool["rollingCountThreadsExecuted"], 5)
      assert.strictEqual(pool["currentCompletedTaskCount"], 5)
      assert.strictEqual(pool["rollingMaxActiveThreads"], 1)
    }).pipe(withRegistry({
      circuits: {
        payments: {
          requestVolumeThreshold: 7,
          errorPercentThreshold: 40,
          sleepWindow: "3 seconds",
          timeout: "2500 millis",
          maxConcurrentRequests: 4,
          rollingWindow: { buckets: 20, bucketDuration: "1 second" }
        }
      }
    })))

  it.effect("open and forced states, and the settings a change brings", () =>
    Effect.gen(function*() {
      const command = (name: string) =>
        Effect.gen(function*() {
          const registry = yield* CircuitRegistry
          const now = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
          return HystrixStream.commandOf(registry.lookup(name)!, now)
        })
      yield* fail("c")
      yield* fail("c")
      let c = yield* command("c")
      assert.isTrue(c.isCircuitBreakerOpen)
      assert.strictEqual(c.state, "open")
      yield* Circuit.forceOpen("c")
      c = yield* command("c")
      assert.isTrue(c.propertyValue_circuitBreakerForceOpen)
      yield* Circuit.forceClosed("c")
      c = yield* command("c")
      assert.isFalse(c.isCircuitBreakerOpen)
      assert.isTrue(c.propertyValue_circuitBreakerForceClosed)
      yield* Circuit.configure("c", { timeout: "infinity", maxConcurrentRequests: Infinity, sleepWindow: "9 seconds" })
      c = yield* command("c")
      assert.strictEqual(c.propertyValue_executionTimeoutInMilliseconds, 0)
      assert.strictEqual(c.propertyValue_executionIsolationSemaphoreMaxConcurrentRequests, 2147483647)
      assert.strictEqual(c.propertyValue_circuitBreakerSleepWindowInMilliseconds, 9000)
      // JSON round trip keeps every number finite.
      assert.deepStrictEqual(JSON.parse(JSON.stringify(c)), c)
    }).pipe(withRegistry({ defaults: { requestVolumeThreshold: 2 } })))

  it.effect("reading the stream never changes or creates a circuit", () =>
    Effect.gen(function*() {
      yield* fail("c")
      yield* TestClock.adjust("30 seconds")
      const registry = yield* CircuitRegistry
      const before = registry.lookup("c")!.breaker
      const names = registry.names()
      const fiber = yield* Effect.forkChild(Stream.runCollect(Stream.take(HystrixStream.batches(), 3)))
      yield* TestClock.adjust("3 seconds")
      const batches = yield* Fiber.join(fiber)
      assert.strictEqual(batches.length, 3)
      assert.strictEqual(registry.lookup("c")!.breaker, before)
      assert.deepStrictEqual(registry.names(), names)
    }).pipe(withRegistry()))

  it.effect("one command and one thread pool per circuit per interval, from Effect's clock", () =>
    Effect.gen(function*() {
      yield* Effect.succeed(1).pipe(withCircuit("a"))
      yield* Effect.succeed(1).pipe(withCircuit("b"))
      const start = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
      const fiber = yield* Effect.forkChild(Stream.runCollect(Stream.take(HystrixStream.batches({ interval: "250 millis" }), 3)))
      yield* TestClock.adjust("500 millis")
      const batches = yield* Fiber.join(fiber)
      const times = batches.map((batch) => {
        const frames = batch.split("\n\n").filter((f) => f !== "")
        assert.strictEqual(frames.length, 4)
        const objects = frames.map((f) => JSON.parse(f.replace(/^data: /, "")) as Record<string, unknown>)
        assert.deepStrictEqual(objects.map((o) => `${o["type"]}:${o["name"]}`), [
          "HystrixCommand:a",
          "HystrixThreadPool:a",
          "HystrixCommand:b",
          "HystrixThreadPool:b"
        ])
        return objects[0]!["currentTime"]
      })
      assert.deepStrictEqual(times, [start, start + 250, start + 500])
    }).pipe(withRegistry()))

  it.effect("an empty registry sends a comment that keeps the connection alive", () =>
    Effect.gen(function*() {
      const batch = yield* Stream.runHead(HystrixStream.batches())
      assert.strictEqual(batch._tag === "Some" ? batch.value : "", ": ping\n\n")
    }).pipe(withRegistry()))
})

// ---------------------------------------------------------------------------
// A real server on 127.0.0.1, read with node:http.
// ---------------------------------------------------------------------------

interface Response {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

// GETs `url`, reading the body for at most `millis` (an SSE stream never ends).
const get = (url: string, millis = 5_000): Promise<Response> =>
  new Promise((resolve, reject) => {
    const request = http.get(url, (res) => {
      let body = ""
      res.setEncoding("utf8")
      const done = () => {
        clearTimeout(timer)
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body })
        request.destroy()
      }
      const timer = setTimeout(done, millis)
      res.on("data", (chunk: string) => {
        body += chunk
      })
      res.on("end", done)
    })
    request.on("error", reject)
  })

// Splits SSE text into events, checking the framing of each.
const events = (body: string): Array<Record<string, unknown>> => {
  assert.isTrue(body.endsWith("\n\n"), "the stream ends on a whole event")
  return body.split("\n\n").filter((e) => e !== "").map((event) => {
    assert.match(event, /^data: \{.*\}$/, "one `data: {json}` line per event")
    return JSON.parse(event.slice("data: ".length)) as Record<string, unknown>
  })
}

const checkStream = (response: Response, circuit: string) => {
  assert.strictEqual(response.status, 200)
  assert.match(String(response.headers["content-type"]), /^text\/event-stream/)
  assert.match(String(response.headers["cache-control"]), /no-cache/)
  const objects = events(response.body)
  const commands = objects.filter((o) => o["type"] === "HystrixCommand" && o["name"] === circuit)
  const pools = objects.filter((o) => o["type"] === "HystrixThreadPool" && o["name"] === circuit)
  // 1.2 s of a 250 ms interval: at least 4 batches, one of each per batch.
  assert.isAtLeast(commands.length, 4)
  assert.strictEqual(pools.length, commands.length)
  for (const command of commands) {
    for (const field of dashboardCommandFields) assert.property(command, field)
    for (const key of latencyKeys) {
      assert.isNumber((command["latencyExecute"] as Record<string, unknown>)[key])
      assert.isNumber((command["latencyTotal"] as Record<string, unknown>)[key])
    }
  }
  for (const pool of pools) for (const field of dashboardThreadPoolFields) assert.property(pool, field)
  return commands
}

const scrape = (text: string, circuit: string) => {
  const series = parsePrometheus(text)
  assert.strictEqual(series.get(`effect_circuit_events_total{circuit="${circuit}",event="success"}`), 2)
  assert.strictEqual(series.get(`effect_circuit_events_total{circuit="${circuit}",event="failure"}`), 1)
  assert.strictEqual(series.get(`effect_circuit_events_total{circuit="${circuit}",event="timeout"}`), 0)
  assert.strictEqual(series.get(`effect_circuit_state{circuit="${circuit}",state="closed"}`), 1)
  assert.strictEqual(series.get(`effect_circuit_state{circuit="${circuit}",state="open"}`), 0)
  assert.strictEqual(series.get(`effect_circuit_active_calls{circuit="${circuit}"}`), 0)
  assert.strictEqual(series.get(`effect_circuit_latency_seconds_count{circuit="${circuit}"}`), 3)
  assert.match(text, /# TYPE effect_circuit_events_total counter/)
  assert.match(text, /# TYPE effect_circuit_state gauge/)
  assert.match(text, /# TYPE effect_circuit_latency_seconds histogram/)
}

const traffic = (name: string) =>
  Effect.gen(function*() {
    yield* Effect.succeed(1).pipe(withCircuit(name))
    yield* Effect.succeed(1).pipe(withCircuit(name))
    yield* fail(name)
  })

describe("the endpoints on a real server", () => {
  it.live("effect/http: SSE stream, /metrics and the dashboard page on 127.0.0.1", () =>
    Effect.gen(function*() {
      const server = yield* HttpServer.HttpServer
      const address = server.address as { readonly port: number }
      const base = `http://127.0.0.1:${address.port}`
      yield* traffic("payments")
      const registry = yield* CircuitRegistry
      const before = registry.lookup("payments")!.breaker

      const stream = yield* Effect.promise(() => get(`${base}/hystrix.stream`, 1_200))
      const commands = checkStream(stream, "payments")
      assert.strictEqual(commands[0]!["rollingCountSuccess"], 2)
      assert.strictEqual(commands[0]!["rollingCountFailure"], 1)
      assert.strictEqual(registry.lookup("payments")!.breaker, before, "serving the stream changed nothing")

      const metrics = yield* Effect.promise(() => get(`${base}/metrics`))
      assert.strictEqual(metrics.status, 200)
      scrape(metrics.body, "payments")

      const page = yield* Effect.promise(() => get(`${base}/dashboard`))
      assert.strictEqual(page.status, 200)
      assert.match(String(page.headers["content-type"]), /^text\/html/)
      assert.include(page.body, "EventSource")
      assert.notMatch(page.body, /(src|href)=["']?https?:/, "the page loads nothing from the network")
    }).pipe(
      Effect.provide(
        HttpRouter.serve(Observability.layerHttp({ interval: "250 millis" }), {
          disableLogger: true,
          disableListenLog: true
        }).pipe(Layer.provideMerge(NodeHttpServer.layer(http.createServer, { port: 0, host: "127.0.0.1" })))
      ),
      withRegistry()
    ))

  it.live("plain Node handler: the same endpoints on http.createServer", () =>
    Effect.gen(function*() {
      const handle = yield* Observability.nodeHandler({ interval: "250 millis" })
      const server = http.createServer((req, res) => {
        if (!handle(req, res)) res.writeHead(404).end()
      })
      yield* Effect.acquireRelease(
        Effect.callback<void>((resume) => {
          server.listen(0, "127.0.0.1", () => resume(Effect.void))
        }),
        () => Effect.callback<void>((resume) => {
          server.closeAllConnections()
          server.close(() => resume(Effect.void))
        })
      )
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      yield* traffic("inventory")

      const stream = yield* Effect.promise(() => get(`${base}/hystrix.stream`, 1_200))
      checkStream(stream, "inventory")
      const metrics = yield* Effect.promise(() => get(`${base}/metrics`))
      scrape(metrics.body, "inventory")
      const page = yield* Effect.promise(() => get(`${base}/dashboard`))
      assert.strictEqual(page.status, 200)
      assert.include(page.body, "hystrix.stream")
      const missing = yield* Effect.promise(() => get(`${base}/nothing`))
      assert.strictEqual(missing.status, 404)
    }).pipe(Effect.scoped, withRegistry()))
})

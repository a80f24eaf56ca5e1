/**
 * Observability under load (issue 11, item 1): a service with many used
 * circuits, `readers` Hystrix stream readers and a `/metrics` scrape every
 * second, all served by `Observability.nodeHandler` on 127.0.0.1, while a
 * guarded call with a 100 ms timeout is started every 50 ms. Measures how
 * late those timeouts fire (p50/p99/max) and the event loop's delay (p99,
 * `monitorEventLoopDelay`), plus what the endpoints sent.
 *
 *   node --expose-gc bench/observability-load.ts [circuits=100000] [seconds=20] [readers=5]
 *   node --max-old-space-size=8192 bench/observability-load.ts 1000000 10 5   (the "nothing throws" run)
 *
 * Prints one JSON line (and a readable summary on stderr).
 */
import { Effect, Exit } from "effect"
import { Circuit, CircuitRegistry, Observability, withCircuit } from "effect-circuit"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { monitorEventLoopDelay, performance } from "node:perf_hooks"

const circuits = Number(process.argv[2] ?? 100_000)
const seconds = Number(process.argv[3] ?? 20)
const readerCount = Number(process.argv[4] ?? 5)
const scrapeEvery = Number(process.argv[5] ?? 1000)

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!

const program = Effect.gen(function*() {
  // The circuits, each used once (metrics on, as by default).
  const setupStart = performance.now()
  const one = Effect.succeed(1)
  for (let i = 0; i < circuits; i++) yield* one.pipe(withCircuit(`svc-${i}`))
  const setupMillis = performance.now() - setupStart

  const handle = yield* Observability.nodeHandler()
  const server = http.createServer((req, res) => {
    if (!handle(req, res)) res.writeHead(404).end()
  })
  yield* Effect.callback<void>((resume) => {
    server.listen(0, "127.0.0.1", () => resume(Effect.void))
  })
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const run = Effect.runPromiseWith(yield* Effect.context<CircuitRegistry>())

  // Readers that read (and count) everything the stream sends.
  let streamBytes = 0
  const requests: Array<http.ClientRequest> = []
  for (let i = 0; i < readerCount; i++) {
    requests.push(http.get(`${base}/hystrix.stream`, (res) => res.on("data", (chunk: Buffer) => (streamBytes += chunk.length))))
  }
  // A scrape every second, like Prometheus (the next one waits for the last).
  let scrapes = 0
  let scrapeBytes = 0
  const scrapeMillis: Array<number> = []
  let scraping = false
  const scraper = setInterval(() => {
    if (scraping) return
    scraping = true
    const started = performance.now()
    http.get(`${base}/metrics`, (res) => {
      res.on("data", (chunk: Buffer) => (scrapeBytes += chunk.length))
      res.on("end", () => {
        scrapes++
        scrapeMillis.push(performance.now() - started)
        scraping = false
      })
    })
  }, scrapeEvery)

  // A call with a 100 ms timeout every 50 ms: when does its timeout answer?
  const late: Array<number> = []
  // Forced closed: its timeouts would otherwise open it, and short-circuits answer at once.
  yield* Circuit.forceClosed("timed")
  const hang = Effect.never.pipe(withCircuit("timed"))
  const caller = setInterval(() => {
    const started = performance.now()
    run(Effect.exit(hang)).then((exit) => {
      if (Exit.isFailure(exit)) late.push(performance.now() - started)
    })
  }, 50)

  const delay = monitorEventLoopDelay({ resolution: 10 })
  delay.enable()
  yield* Effect.sleep(`${seconds} seconds`)
  delay.disable()
  clearInterval(caller)
  clearInterval(scraper)
  for (const r of requests) r.destroy()
  yield* Effect.sleep("300 millis")
  server.closeAllConnections()
  server.close()

  const sorted = late.slice().sort((a, b) => a - b)
  return {
    circuits,
    seconds,
    readers: readerCount,
    setupMillis: Math.round(setupMillis),
    firstCallMicros: Number(((setupMillis * 1000) / circuits).toFixed(2)),
    timeouts: late.length,
    timeoutFiredMillis: {
      p50: Number(percentile(sorted, 50).toFixed(1)),
      p99: Number(percentile(sorted, 99).toFixed(1)),
      max: Number(percentile(sorted, 100).toFixed(1))
    },
    eventLoopDelayMillis: {
      p50: Number((delay.percentile(50) / 1e6).toFixed(1)),
      p99: Number((delay.percentile(99) / 1e6).toFixed(1)),
      max: Number((delay.max / 1e6).toFixed(1))
    },
    streamMegabytes: Number((streamBytes / 1e6).toFixed(1)),
    scrapes,
    scrapeMegabytes: Number((scrapeBytes / 1e6).toFixed(1)),
    scrapeSeconds: scrapeMillis.length === 0 ? null : Number((scrapeMillis.reduce((a, b) => a + b, 0) / scrapeMillis.length / 1000).toFixed(2)),
    heapMegabytes: Math.round(process.memoryUsage().heapUsed / 1e6)
  }
})

const result = await Effect.runPromise(program.pipe(
  Effect.scoped,
  Effect.provide(CircuitRegistry.layer({ circuits: { timed: { timeout: "100 millis", maxConcurrentRequests: 10_000 } } }))
))
console.log(JSON.stringify(result))
process.exit(0)

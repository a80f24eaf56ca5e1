/**
 * Observability under load (issue 11, item 1): a service with many used
 * circuits, `readers` Hystrix stream readers and a `/metrics` scrape every
 * second (in another process: bench/observability-clients.ts), all served by
 * `Observability.nodeHandler` on 127.0.0.1, while a
 * guarded call with a 100 ms timeout is started every 50 ms. Measures when
 * those timeouts answer (p50/p99/max) and the event loop's delay
 * (`monitorEventLoopDelay`), first for `seconds` with no reader and no
 * scrape (the baseline: what the machine itself adds), then for `seconds`
 * under load; plus what the endpoints sent.
 *
 *   node bench/observability-load.ts [circuits=100000] [seconds=20] [readers=5] [scrapeEveryMillis=1000]
 *   node --max-old-space-size=6144 bench/observability-load.ts 1000000 60   (the "nothing throws" run)
 *
 * Prints one JSON line.
 */
import { Effect, Exit } from "effect"
import { Circuit, CircuitRegistry, Observability, withCircuit } from "effect-circuit"
import { spawn } from "node:child_process"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { monitorEventLoopDelay, performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"

const circuits = Number(process.argv[2] ?? 100_000)
const seconds = Number(process.argv[3] ?? 20)
const readerCount = Number(process.argv[4] ?? 5)
const scrapeEvery = Number(process.argv[5] ?? 1000)

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
const round = (n: number) => Math.round(n * 10) / 10

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

  // A call with a 100 ms timeout every 50 ms: when does its timeout answer?
  // Forced closed: its timeouts would otherwise open it, and short-circuits answer at once.
  yield* Circuit.forceClosed("timed")
  const hang = Effect.never.pipe(withCircuit("timed"))
  const measure = (millis: number) =>
    Effect.gen(function*() {
      const answered: Array<number> = []
      const caller = setInterval(() => {
        const started = performance.now()
        run(Effect.exit(hang)).then((exit) => {
          if (Exit.isFailure(exit)) answered.push(performance.now() - started)
        })
      }, 50)
      const delay = monitorEventLoopDelay({ resolution: 10 })
      delay.enable()
      yield* Effect.sleep(`${millis} millis`)
      delay.disable()
      clearInterval(caller)
      yield* Effect.sleep("300 millis")
      const sorted = answered.slice().sort((a, b) => a - b)
      return {
        timeouts: answered.length,
        timeoutAnsweredMillis: {
          p50: round(percentile(sorted, 50)),
          p99: round(percentile(sorted, 99)),
          max: round(percentile(sorted, 100))
        },
        // monitorEventLoopDelay's figures include its 10 ms resolution.
        eventLoopDelayMillis: {
          p50: round(delay.percentile(50) / 1e6),
          p99: round(delay.percentile(99) / 1e6),
          max: round(delay.max / 1e6)
        }
      }
    })

  const baseline = yield* measure(seconds * 1000)

  // The readers and the scraper, in a process of their own.
  const clients = spawn(process.execPath, [
    fileURLToPath(new URL("observability-clients.ts", import.meta.url)),
    base,
    String(readerCount),
    String(scrapeEvery),
    String(seconds + 1)
  ], { stdio: ["ignore", "pipe", "inherit"] })
  let clientOutput = ""
  clients.stdout.on("data", (chunk: Buffer) => (clientOutput += chunk.toString()))
  const clientsDone = new Promise<void>((resolve) => clients.on("exit", () => resolve()))
  yield* Effect.sleep("500 millis")
  const loaded = yield* measure(seconds * 1000)
  yield* Effect.promise(() => clientsDone)
  server.closeAllConnections()
  server.close()

  const stats = handle.hub.stats()
  return {
    circuits,
    seconds,
    readers: readerCount,
    setupMillis: Math.round(setupMillis),
    baseline,
    loaded,
    streamBatches: stats.batches,
    streamSlicesDropped: stats.dropped,
    clients: JSON.parse(clientOutput) as unknown,
    heapMegabytes: Math.round(process.memoryUsage().heapUsed / 1e6)
  }
})

const result = await Effect.runPromise(program.pipe(
  Effect.scoped,
  Effect.provide(CircuitRegistry.layer({ circuits: { timed: { timeout: "100 millis", maxConcurrentRequests: 10_000 } } }))
))
console.log(JSON.stringify(result))
process.exit(0)

/**
 * `npm run demo`: a small shop service on 127.0.0.1 whose downstreams
 * misbehave on a schedule, with its own load generator, so that circuits
 * trip, short-circuit, probe and close while you watch.
 *
 * - Downstreams (simulated in this process): `inventory` (an outage of
 *   errors), `pricing` (a spell of slow calls that time out), `payments`
 *   (an outage, called without a fallback), `recommendations` (a few errors,
 *   never enough to trip). Every outage ends.
 * - The service (effect/http, guarded by `CircuitMiddleware`, one circuit
 *   per route): `GET /products/:id` (inventory + pricing, with fallbacks),
 *   `GET /checkout` (payments, no fallback: its route circuit trips and
 *   answers 503 with Retry-After), `GET /recommendations/:id`.
 * - Observability: `/dashboard`, `/hystrix.stream` and `/metrics`.
 * - A load generator sends ~30 requests a second over loopback.
 *
 * Prints the URLs, every state transition, and a live one-line status;
 * stops by itself after `--duration` seconds (default 60) or on Ctrl-C,
 * closing the server and printing a summary.
 *
 *   npm run demo
 *   npm run demo -- --duration 120 --port 8080
 */
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Clock, Data, Duration, Effect, Fiber, Layer, Random, Stream } from "effect"
import { FetchHttpClient, HttpClient, HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { createServer } from "node:http"
import { parseArgs } from "node:util"
import { Circuit, CircuitMiddleware, CircuitRegistry, Observability, withCircuit } from "effect-circuit"

// -----------------------------------------------------------------------------
// Flags
// -----------------------------------------------------------------------------

const { values: flags } = parseArgs({
  options: {
    duration: { type: "string", default: "60" },
    port: { type: "string", default: "0" },
    rate: { type: "string", default: "30" },
    help: { type: "boolean", default: false }
  }
})
if (flags.help) {
  console.log("usage: npm run demo -- [--duration seconds (60)] [--port n (0: any free port)] [--rate requests/s (30)]")
  process.exit(0)
}
const durationSeconds = Number(flags.duration)
const port = Number(flags.port)
const rate = Number(flags.rate)
if (!(durationSeconds > 0) || !(Number.isInteger(port) && port >= 0 && port < 65536) || !(rate > 0)) {
  console.error("--duration and --rate must be positive numbers, --port an integer between 0 and 65535")
  process.exit(2)
}
const durationMillis = durationSeconds * 1000
const tty = process.stdout.isTTY === true

// -----------------------------------------------------------------------------
// The downstreams: what each does at a given moment of the run
// -----------------------------------------------------------------------------

class DownstreamError extends Data.TaggedError("DownstreamError")<{ readonly service: string }> {}

// Phases are fractions of the run, so a shorter run shows the same story faster.
const during = (elapsed: number, from: number, to: number): boolean =>
  elapsed >= from * durationMillis && elapsed < to * durationMillis

interface Behaviour {
  readonly latencyMillis: number
  readonly failureRate: number
}

const behaviours: Record<string, (elapsed: number) => Behaviour> = {
  inventory: (t) => during(t, 0.12, 0.35) ? { latencyMillis: 5, failureRate: 1 } : { latencyMillis: 15, failureRate: 0.02 },
  pricing: (t) => during(t, 0.45, 0.62) ? { latencyMillis: 900, failureRate: 0 } : { latencyMillis: 25, failureRate: 0.01 },
  payments: (t) => during(t, 0.7, 0.85) ? { latencyMillis: 10, failureRate: 0.9 } : { latencyMillis: 40, failureRate: 0 },
  recommendations: () => ({ latencyMillis: 30, failureRate: 0.03 })
}

// The run's start: the schedule of the downstreams and the printed times count from here.
const start = Date.now()

const downstream = (service: string): Effect.Effect<string, DownstreamError> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const { failureRate, latencyMillis } = behaviours[service]!(now - start)
    const jitter = yield* Random.nextBetween(0.7, 1.3)
    yield* Effect.sleep(Duration.millis(Math.round(latencyMillis * jitter)))
    if ((yield* Random.next) < failureRate) return yield* Effect.fail(new DownstreamError({ service }))
    return `${service} ok`
  })

// -----------------------------------------------------------------------------
// The service
// -----------------------------------------------------------------------------

const settings = CircuitRegistry.layer({
  defaults: {
    timeout: "300 millis",
    requestVolumeThreshold: 10,
    errorPercentThreshold: 50,
    sleepWindow: "3 seconds",
    rollingWindow: { buckets: 10, bucketDuration: "500 millis" },
    maxConcurrentRequests: 20
  },
  circuits: {
    // The route circuits wait longer than the calls they make.
    "GET /checkout": { timeout: "1 second", sleepWindow: "4 seconds" },
    "GET /products/:id": { timeout: "2 seconds" },
    "GET /recommendations/:id": { timeout: "1 second" }
  }
})

const call = downstream

const Routes = HttpRouter.addAll([
    HttpRouter.route(
      "GET",
      "/products/:id",
      Effect.gen(function*() {
        // Fallbacks keep the page up: unknown stock, the list price.
        const [stock, price] = yield* Effect.all([
          call("inventory").pipe(withCircuit("inventory", { fallback: () => Effect.succeed("stock unknown") })),
          call("pricing").pipe(withCircuit("pricing", { fallback: () => Effect.succeed("list price") }))
        ], { concurrency: 2 })
        return HttpServerResponse.jsonUnsafe({ stock, price })
      })
    ),
    HttpRouter.route(
      "GET",
      "/checkout",
      // No fallback: a payments outage answers 502, and the route's own circuit trips.
      call("payments").pipe(
        withCircuit("payments", { isFailure: () => true }),
        Effect.map((result) => HttpServerResponse.text(result)),
        Effect.catch(() => Effect.succeed(HttpServerResponse.text("payment failed", { status: 502 })))
      )
    ),
    HttpRouter.route(
      "GET",
      "/recommendations/:id",
      call("recommendations").pipe(
        withCircuit("recommendations"),
        Effect.map((result) => HttpServerResponse.text(result)),
        Effect.catch(() => Effect.succeed(HttpServerResponse.text("unavailable", { status: 503 })))
      )
    )
  ]).pipe(Layer.provide(CircuitMiddleware.layer()))

// -----------------------------------------------------------------------------
// Output
// -----------------------------------------------------------------------------

const clearLine = tty ? "\r\x1b[2K" : ""
let statusShown = false
const say = (line: string): void => {
  process.stdout.write(`${statusShown ? clearLine : ""}${line}\n`)
  statusShown = false
}
const color = (code: number, text: string): string => tty ? `\x1b[${code}m${text}\x1b[0m` : text
const stateColor: Record<string, number> = { closed: 32, open: 31, "half-open": 33, "forced-open": 35, "forced-closed": 36 }
const seconds = (millis: number): string => `${(millis / 1000).toFixed(1).padStart(5)}s`

// -----------------------------------------------------------------------------
// The run
// -----------------------------------------------------------------------------

const statuses = new Map<string, number>()
let sent = 0
const tally = (): string =>
  [...statuses.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([code, n]) => `${code}: ${n}`).join(", ")

const program = Effect.gen(function*() {
  const address = (yield* HttpServer.HttpServer).address
  const base = HttpServer.formatAddress(address)

  say(color(1, `effect-circuit demo: a shop service with flaky downstreams, on ${base}`))
  say(`  dashboard       ${base}/dashboard`)
  say(`  hystrix stream  ${base}/hystrix.stream`)
  say(`  metrics         ${base}/metrics`)
  say(`  service         ${base}/products/1  ${base}/checkout  ${base}/recommendations/1`)
  say(`Running for ${durationSeconds} s with ~${rate} requests/s (--duration N to change; Ctrl-C to stop).`)
  say("Scheduled: inventory outage, then slow pricing (timeouts), then a payments outage; all end.")

  // Every state change, as it happens.
  yield* Circuit.transitions.pipe(
    Stream.runForEach((t) =>
      Effect.sync(() =>
        say(`${seconds(t.at - start)}  ${t.circuit.padEnd(26)} ${color(stateColor[t.from] ?? 0, t.from)} -> ${color(stateColor[t.to] ?? 0, t.to)}`)
      )
    ),
    Effect.forkChild
  )

  // The load generator: requests spread over the routes, at `rate` per second.
  const client = yield* HttpClient.HttpClient
  const paths = ["/products/1", "/products/2", "/checkout", "/recommendations/7"]
  const fire = Effect.gen(function*() {
    const path = paths[yield* Random.nextIntBetween(0, paths.length - 1)]!
    sent++
    const status = yield* client.get(`${base}${path}`).pipe(
      Effect.tap((response) => response.arrayBuffer),
      Effect.map((response) => String(response.status)),
      Effect.catch(() => Effect.succeed("error"))
    )
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
  })
  yield* Effect.forkChild(Effect.forever(Effect.andThen(Effect.forkChild(fire), Effect.sleep(Duration.millis(1000 / rate)))))

  // A one-line live status: every circuit's state and error percentage.
  const status = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const snapshots = yield* Circuit.snapshots
    // Compact: a closed circuit shows its name in green; any other state is spelled out.
    const parts = snapshots.map((s) => {
      const name = s.name.replace(/^GET /, "")
      const label = s.state === "closed" ? color(stateColor.closed!, name) : `${name} ${color(stateColor[s.state] ?? 0, s.state.toUpperCase())}`
      return `${label} ${Math.round(s.window.errorPercentage)}%`
    })
    const line = `${seconds(now - start)} | sent ${sent} (${tally()}) | ${parts.join(" | ")}`
    if (tty) {
      // One line, redrawn in place: cut to the terminal's width (colour codes take no room).
      const width = process.stdout.columns || 120
      let visible = 0
      let cut = line.length
      for (let i = 0; i < line.length; i++) {
        if (line[i] === "\x1b") {
          i = line.indexOf("m", i)
          continue
        }
        if (++visible >= width) {
          cut = i
          break
        }
      }
      process.stdout.write(`${clearLine}${line.slice(0, cut)}${cut < line.length ? "\x1b[0m" : ""}`)
      statusShown = true
    } else {
      say(line)
    }
  })
  yield* Effect.forkChild(Effect.forever(Effect.andThen(Effect.sleep(tty ? "250 millis" : "5 seconds"), status)))

  yield* Effect.sleep(Duration.millis(durationMillis))
})

const summary = Effect.gen(function*() {
  const snapshots = yield* Circuit.snapshots
  say("")
  say(color(1, `Stopped after ${sent} requests. Responses by status: ${tally()}.`))
  for (const s of snapshots) {
    say(`  ${s.name.padEnd(26)} ${color(stateColor[s.state] ?? 0, s.state)}`)
  }
})

const main = Effect.gen(function*() {
  const fiber = yield* Effect.forkChild(program)
  yield* Fiber.join(fiber).pipe(Effect.onInterrupt(() => Effect.sync(() => say("\nCtrl-C: stopping..."))))
}).pipe(
  Effect.ensuring(Effect.orDie(summary)),
  Effect.provide(
    HttpRouter.serve(Layer.mergeAll(Routes, Observability.layerHttp()), {
      disableLogger: true,
      disableListenLog: true
    }).pipe(
      Layer.provideMerge(settings),
      Layer.provideMerge(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port })),
      Layer.provideMerge(FetchHttpClient.layer)
    )
  ),
  Effect.ensuring(Effect.sync(() => say("Server closed.")))
)

NodeRuntime.runMain(main)

/**
 * One replica of a service for the fleet tests: a registry sharing its
 * circuits through a real redis-server (CircuitStore.layerRedis over
 * NodeRedis.layer), calling a "dependency" at a steady rate.
 *
 * stdin, one JSON object per line: `{ "mode": "ok" | "fail" }` (what the
 * dependency does), `{ "rate": n }` (calls per second; 0 stops), `{ "exit": true }`.
 * stdout, one JSON object per line: `{ "type": "ready" }`, then every 20 ms
 * `{ "type": "tick", "at", "calls": [[wallMillis, kind, latencyMillis, probe]], "healthy",
 * "state", "generation", "viewAt", "local", "rounds", "lag" }`, where kind is "ran-ok" |
 * "ran-fail" | "short" | "other", probe is 1 when the call ran as the fleet's probe,
 * lag is the longest event-loop delay (ms) since the last tick, and slowestRound the
 * longest round trip to the store (ms) since the last tick.
 *
 * argv[2]: JSON settings `{ url, name, flushMillis, sleepMillis, volume, commandTimeoutMillis }`.
 */
import { NodeRedis } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { createInterface } from "node:readline"
import { CircuitOpenError, CircuitRegistry, withCircuit } from "../../src/index.ts"
import { cellOf } from "../../src/internal/cell.ts"
import type { FleetLink } from "../../src/store/FleetClient.ts"
import * as CircuitStore from "../../src/store/CircuitStore.ts"

const settings = JSON.parse(process.argv[2]!) as {
  readonly url: string
  readonly name: string
  readonly flushMillis: number
  readonly sleepMillis: number
  readonly volume: number
  readonly commandTimeoutMillis: number
}

let mode: "ok" | "fail" = "ok"
let rate = 0
let calls: Array<[number, string, number, number]> = []

const Registry = CircuitRegistry.layer({
  defaults: {
    requestVolumeThreshold: settings.volume,
    errorPercentThreshold: 50,
    sleepWindow: settings.sleepMillis,
    timeout: "1 second",
    maxConcurrentRequests: 1000,
    rollingWindow: { buckets: 10, bucketDuration: "200 millis" }
  },
  metrics: false
}).pipe(
  Layer.provide(CircuitStore.layerRedis({
    prefix: "fleet-test:",
    flushInterval: settings.flushMillis,
    commandTimeout: settings.commandTimeoutMillis,
    backoff: { min: "50 millis", max: "250 millis" }
  })),
  Layer.provide(NodeRedis.layer({
    url: settings.url,
    disableOfflineQueue: true,
    // Reconnect every 100 ms (node-redis' default backs off to 2 s).
    socket: { reconnectStrategy: () => 100, connectTimeout: 500 }
  }))
)

const program = Effect.gen(function*() {
  const registry = yield* CircuitRegistry
  let probeNow = 0
  const dependency = Effect.suspend(() => {
    const link = cellOf(registry.lookup("dep")!).fleet as FleetLink | undefined
    probeNow = link !== undefined && link.probe === 3 ? 1 : 0
    return mode === "ok" ? Effect.succeed("ok") : Effect.fail(new Error("down"))
  })
  const call = Effect.suspend(() => {
    const started = performance.now()
    probeNow = 0
    return Effect.map(Effect.result(dependency.pipe(withCircuit("dep"))), (result) => {
      const kind = result._tag === "Success"
        ? "ran-ok"
        : result.failure instanceof CircuitOpenError
        ? "short"
        : result.failure instanceof Error
        ? "ran-fail"
        : "other"
      calls.push([Date.now(), kind, performance.now() - started, probeNow])
    })
  })
  // A first call creates the circuit (and its link) before we say we are ready.
  yield* call
  calls = []
  // How late this process's own timers ran (a loaded machine delays everything):
  // the test adds it to its time bounds, measured rather than guessed.
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  const report = Effect.sync(() => {
    const lag = delay.max / 1e6
    delay.reset()
    const client = (cellOf(registry.lookup("dep")!).fleet as FleetLink).client
    const slowestRound = client.slowestRoundMillis
    client.slowestRoundMillis = 0
    const cell = cellOf(registry.lookup("dep")!)
    const link = cell.fleet as FleetLink
    process.stdout.write(
      JSON.stringify({
        type: "tick",
        at: Date.now(),
        calls,
        healthy: link.client.healthy,
        state: link.state,
        generation: link.generation,
        viewAt: link.viewAt,
        local: cell.breaker.state._tag,
        rounds: link.client.rounds,
        lag,
        slowestRound
      }) + "\n"
    )
    calls = []
  })
  yield* Effect.forkChild(Effect.forever(Effect.andThen(Effect.sleep(20), report)))
  process.stdout.write(JSON.stringify({ type: "ready" }) + "\n")
  yield* Effect.forever(
    Effect.suspend(() => rate > 0 ? Effect.andThen(call, Effect.sleep(1000 / rate)) : Effect.sleep(10))
  )
})

const lines = createInterface({ input: process.stdin })
lines.on("line", (line) => {
  const command = JSON.parse(line) as { mode?: "ok" | "fail"; rate?: number; exit?: boolean }
  if (command.mode !== undefined) mode = command.mode
  if (command.rate !== undefined) rate = command.rate
  if (command.exit === true) process.exit(0)
})
lines.on("close", () => process.exit(0))

Effect.runFork(program.pipe(Effect.provide(Registry), Effect.scoped))

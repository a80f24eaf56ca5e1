/**
 * What a fleet circuit costs: `npm run bench:fleet` (never part of `npm test`).
 *
 * - Closed path, one fiber: `withCircuit` with the registry's defaults
 *   (metrics on) and no store, against the same with
 *   `CircuitStore.layerRedis` over `NodeRedis.layer` and a real
 *   redis-server on loopback. Rounds alternate the two; medians. The flusher
 *   runs whenever the loop yields, so its cost is in the figure.
 * - Store commands per call at 1,000 calls/s in one process, counted by the
 *   server (`INFO commandstats`), for `--seconds` seconds (default 5).
 *
 * Flags: `--quick`, `--seconds N`.
 */
import { NodeRedis } from "@effect/platform-node"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as Redis from "effect/persistence/Redis"
import * as os from "node:os"
import { createClient } from "redis"
import { CircuitRegistry, withCircuit } from "../src/index.ts"
import * as CircuitStore from "../src/store/CircuitStore.ts"
import { startRedis } from "../test/support/redisServer.ts"

const argv = process.argv.slice(2)
const quick = argv.includes("--quick")
const secondsAt = argv.indexOf("--seconds")
const seconds = secondsAt >= 0 ? Number(argv[secondsAt + 1]) : quick ? 2 : 5
const ROUNDS = quick ? 5 : 21
const CALLS = quick ? 50_000 : 200_000

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

const server = await startRedis()
const admin = createClient({ url: server.url })
await admin.connect()

// Commands the clients sent (commandstats also counts the commands the
// scripts run inside the server, which are not round trips): EVALSHA, and
// SCRIPT LOAD the first time.
const commandsProcessed = async (): Promise<number> => {
  const info = await admin.info("commandstats")
  let total = 0
  for (const match of info.matchAll(/^cmdstat_([a-z|_]+):calls=(\d+)/gm)) {
    if (/^(evalsha|eval|script\|.*)$/.test(match[1]!)) total += Number(match[2])
  }
  return total
}

// Built in a scope that stays open: the fleet registry's flusher and Redis client live in it.
const scope = Effect.runSync(Scope.make())
const build = <A>(layer: Layer.Layer<A, unknown>): Promise<Context.Context<A>> =>
  Effect.runPromise(Layer.buildWithScope(layer, scope))

const local = await build(CircuitRegistry.layer())
const fleet = await build(
  CircuitRegistry.layer().pipe(
    Layer.provide(CircuitStore.layerRedis({ prefix: "bench:" })),
    Layer.provide(NodeRedis.layer({ url: server.url, disableOfflineQueue: true }))
  )
)

const one = Effect.succeed(1)
const loop = (n: number) =>
  Effect.gen(function*() {
    const guarded = one.pipe(withCircuit("closed"))
    for (let i = 0; i < n; i++) yield* guarded
  })

// Warm both (the fleet circuit gets its first view from the store).
await Effect.runPromiseWith(local)(loop(CALLS))
await Effect.runPromiseWith(fleet)(loop(CALLS))
await new Promise((resolve) => setTimeout(resolve, 100))

const results = { local: [] as Array<number>, redis: [] as Array<number> }
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? (["local", "redis"] as const) : (["redis", "local"] as const)
  for (const which of order) {
    const context = which === "local" ? local : fleet
    const started = performance.now()
    await Effect.runPromiseWith(context)(loop(CALLS))
    results[which].push(((performance.now() - started) * 1e6) / CALLS)
  }
}
const localNs = median(results.local)
const redisNs = median(results.redis)

// 1,000 calls a second, one process, for `seconds` seconds.
const before = await commandsProcessed()
const paced = Effect.gen(function*() {
  const guarded = one.pipe(withCircuit("paced"))
  const started = Date.now()
  let calls = 0
  while (Date.now() - started < seconds * 1000) {
    // Catch up to 1 call per millisecond, then sleep a millisecond.
    const due = Date.now() - started
    while (calls < due) {
      yield* guarded
      calls++
    }
    yield* Effect.sleep(1)
  }
  return calls
})
const calls = await Effect.runPromiseWith(fleet)(paced)
await new Promise((resolve) => setTimeout(resolve, 100))
const commands = (await commandsProcessed()) - before

// One record script, sequential round trips (the latency a flush waits for), and
// the server's own time per script (commandstats' usec_per_call of EVALSHA).
const redisOnly = await build(NodeRedis.layer({ url: server.url }))
const backend = CircuitStore.redisBackend(Context.get(redisOnly, Redis.Redis), "bench:", 3_600_000)
const rule = { requestVolumeThreshold: 20, errorPercentThreshold: 50, buckets: 10, bucketMillis: 1000 }
const counts = { success: 40, failure: 1, timeout: 0, rejected: 0, shortCircuited: 0, fallbackSuccess: 0, fallbackFailure: 0 }
await admin.configResetStat()
const latencies: Array<number> = []
for (let i = 0; i < (quick ? 500 : 3000); i++) {
  const started = performance.now()
  await Effect.runPromise(backend.record([{ circuit: "latency", rule, generation: 0, counts }]))
  latencies.push((performance.now() - started) * 1000)
}
latencies.sort((a, b) => a - b)
const evalsha = /^cmdstat_evalsha:calls=\d+,usec=\d+,usec_per_call=([\d.]+)/m.exec(await admin.info("commandstats"))

const report = {
  machine: `${os.cpus()[0]?.model ?? "?"}, ${os.cpus().length} cores, Node ${process.version}`,
  closedPathNsPerCall: { local: Math.round(localNs), redisStore: Math.round(redisNs), ratio: Number((redisNs / localNs).toFixed(3)) },
  paced: { seconds, calls, callsPerSecond: Math.round(calls / seconds), storeCommands: commands, commandsPerCall: Number((commands / calls).toFixed(4)) },
  recordScript: {
    roundTripMicros: {
      p50: Math.round(latencies[Math.floor(latencies.length / 2)]!),
      p99: Math.round(latencies[Math.floor(latencies.length * 0.99)]!)
    },
    serverMicrosPerCall: Number(evalsha?.[1] ?? Number.NaN)
  },
  targets: {
    "closed path ≤ 1.2 × local": redisNs / localNs <= 1.2 ? "met" : "not met",
    "≤ 0.05 store commands per call at 1,000 calls/s": commands / calls <= 0.05 ? "met" : "not met"
  }
}
console.log(JSON.stringify(report, null, 2))

await Effect.runPromise(Scope.close(scope, Exit.void))
await admin.quit()
await server.stop()
process.exit(0)

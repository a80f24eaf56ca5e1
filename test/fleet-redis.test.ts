/**
 * Fleet circuits for real: three Node processes (test/fleet/replica.ts, run
 * with node_modules' Node) share one circuit through one redis-server on
 * loopback, which the test then kills, restarts and freezes. Real clocks:
 * every bound below has slack for a loaded two-core machine, and every wait
 * is bounded.
 */
import { afterEach, assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { createClient } from "redis"
import { type RedisServer, startRedis } from "./support/redisServer.ts"

type Call = readonly [wallMillis: number, kind: "ran-ok" | "ran-fail" | "short" | "other", latency: number, probe: number]

interface Tick {
  readonly at: number
  readonly calls: ReadonlyArray<Call>
  readonly healthy: boolean
  readonly state: string
  readonly generation: number
  readonly viewAt: number
  readonly local: string
  /** The longest event-loop delay of the replica since its previous tick, ms. */
  readonly lag: number
  /** The longest round trip to the store since its previous tick, ms. */
  readonly slowestRound: number
}

interface Replica {
  readonly calls: Array<Call>
  readonly ticks: Array<Tick>
  last: Tick | undefined
  readonly send: (command: object) => void
  readonly stop: () => Promise<void>
}

const replicaScript = fileURLToPath(new URL("./fleet/replica.ts", import.meta.url))
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis))

const startReplica = (settings: object): Promise<Replica> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [replicaScript, JSON.stringify(settings)], {
      stdio: ["pipe", "pipe", "inherit"]
    })
    const replica: Replica = {
      calls: [],
      ticks: [],
      last: undefined,
      send: (command) => child.stdin!.write(JSON.stringify(command) + "\n"),
      stop: () =>
        new Promise((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done()
          child.once("exit", () => done())
          child.kill("SIGKILL")
        })
    }
    // Starting Node and loading effect takes a while on a loaded machine.
    const timer = setTimeout(() => reject(new Error("replica did not start within 40 s")), 40_000)
    child.once("exit", (code) => reject(new Error(`replica exited with ${code}`)))
    createInterface({ input: child.stdout! }).on("line", (line) => {
      // Effect's logger writes to stdout too (node-redis' connection warnings).
      if (!line.startsWith("{\"type\"")) return
      const message = JSON.parse(line) as { type: string } & Partial<Tick>
      if (message.type === "ready") {
        clearTimeout(timer)
        resolve(replica)
      } else if (message.type === "tick") {
        const tick = message as Tick & { type: string }
        replica.calls.push(...tick.calls)
        replica.ticks.push(tick)
        replica.last = tick
      }
    })
  })

// Waits until `ok` holds, polling every 10 ms; fails after `within` ms.
const until = async (what: string, within: number, ok: () => boolean): Promise<number> => {
  const started = Date.now()
  while (!ok()) {
    if (Date.now() - started > within) throw new Error(`${what}: not within ${within} ms`)
    await sleep(10)
  }
  return Date.now() - started
}

// How late a replica's own timers ran between two times: the slack a time bound
// gets on a loaded machine (measured in the replica, never guessed).
const lagOf = (r: Replica, from: number, to: number): number => {
  let lag = 0
  // A tick reports the delays since the previous one (20 ms earlier).
  for (const t of r.ticks) if (t.at >= from && t.at <= to + 20) lag = Math.max(lag, t.lag)
  return lag
}

// The longest round trip a replica waited for between two times: a store
// starved of CPU answers late, and a process hears nothing before its answer.
const slowestRoundOf = (r: Replica, from: number, to: number): number => {
  let slowest = 0
  for (const t of r.ticks) if (t.at >= from && t.at <= to + 20) slowest = Math.max(slowest, t.slowestRound)
  return slowest
}

// The longest time between two consecutive calls: 5 ms at 200 calls/s, more when the machine is loaded;
// a call that waited on the store would show here too.
const largestGap = (calls: ReadonlyArray<Call>): number => {
  let gap = 0
  for (let i = 1; i < calls.length; i++) gap = Math.max(gap, calls[i]![0] - calls[i - 1]![0])
  return gap
}

// Where the largest gap was and what the replica reported around it (for a failure's message):
// a gap its own measured lag does not explain has been seen once under load 8 (540 ms, lag 23 ms).
const gapReport = (r: Replica, calls: ReadonlyArray<Call>): string => {
  let at = 0
  let gap = 0
  for (let i = 1; i < calls.length; i++) {
    if (calls[i]![0] - calls[i - 1]![0] > gap) [gap, at] = [calls[i]![0] - calls[i - 1]![0], calls[i - 1]![0]]
  }
  const ticks = r.ticks.filter((t) => t.at >= at - 40 && t.at <= at + gap + 40)
    .map((t) => `${t.at - at}:${t.calls.length}c/lag ${t.lag.toFixed(1)}/${t.healthy ? "up" : "away"}/${t.local}`)
  return `gap ${gap} ms after the call at ${at}; ticks (ms after it: calls/lag/store/local) ${ticks.join(" ")}`
}

let server: RedisServer | undefined
let replicas: Array<Replica> = []
afterEach(async () => {
  await Promise.all(replicas.map((r) => r.stop()))
  replicas = []
  await server?.stop()
  server = undefined
})

const flushMillis = 25
const key = "fleet-test:{dep}"

const fleet = async (commandTimeoutMillis: number) => {
  server = await startRedis()
  replicas = await Promise.all([1, 2, 3].map((i) =>
    startReplica({
      url: server!.url,
      name: `replica-${i}`,
      flushMillis,
      sleepMillis: 300,
      volume: 20,
      commandTimeoutMillis
    })
  ))
  const redis = createClient({ url: server.url })
  await redis.connect()
  return redis
}

describe("fleet circuits: 3 processes, one redis-server", () => {
  it("a trip is seen by every process within flush + 50 ms (an idle one too); exactly one probe per opening, fleet-wide, over ≥ 5 openings", async () => {
    // The store is never disturbed here: a generous command timeout keeps a loaded machine from
    // sending the replicas to their local breakers (which would make probes of their own).
    const redis = await fleet(1000)
    try {
      // Replica 4 has used the circuit once (at start) and then stays idle: it hears of changes by pub/sub.
      const idle = await startReplica({
        url: server!.url,
        name: "replica-idle",
        flushMillis,
        sleepMillis: 300,
        volume: 20,
        commandTimeoutMillis: 1000
      })
      try {
        await runTripAndProbes(redis, idle)
      } finally {
        await idle.stop()
      }
    } finally {
      await redis.quit()
    }
  }, 120_000)

  const runTripAndProbes = async (redis: { readonly hGet: (key: string, field: string) => Promise<unknown> }, idle: Replica) => {
    {
      for (const r of replicas) r.send({ mode: "ok", rate: 200 })
      await sleep(300)
      for (const r of replicas) r.send({ mode: "fail" })
      await until("the fleet trips", 5_000, () => replicas.every((r) => r.last?.state !== "closed"))
      const openedAt = Number(await redis.hGet(key, "oa"))
      // The calls come in ticks of 20 ms: let the first short-circuits arrive.
      await sleep(150)
      // Seen: each process's first short-circuit comes no later than one flush (+ 50 ms) after the trip.
      for (const [i, r] of replicas.entries()) {
        const first = r.calls.find(([at, kind]) => kind === "short" && at >= openedAt)
        assert.isDefined(first, `replica ${i + 1} never short-circuited`)
        const lag = lagOf(r, openedAt - 20, first![0])
        const round = slowestRoundOf(r, openedAt - 20, first![0])
        assert.isAtMost(
          first![0] - openedAt,
          flushMillis + 50 + lag + round,
          `replica ${i + 1} saw the trip late (event-loop lag ${lag} ms, slowest round ${round} ms)`
        )
      }
      // The idle replica made no call; its view (reported every 20 ms) turned open in time too.
      const heard = idle.ticks.find((t) => t.state !== "closed" && t.at >= openedAt)
      assert.isDefined(heard, "the idle replica never heard of the trip")
      const idleLag = lagOf(idle, openedAt - 20, heard!.at) + slowestRoundOf(idle, openedAt - 20, heard!.at)
      assert.isAtMost(
        heard!.at - openedAt,
        flushMillis + 50 + 20 + idleLag,
        `the idle replica heard late (lag + slowest round ${idleLag} ms)`
      )
      // Keep failing through several sleep windows of 300 ms.
      await until("5 re-openings", 10_000, () => replicas.flatMap((r) => r.calls).filter((c) => c[3] === 1).length >= 5)
      await sleep(400)
      for (const r of replicas) r.send({ rate: 0 })
      await sleep(300)
      const openings = Number(await redis.hGet(key, "n"))
      const all = replicas.flatMap((r) => r.calls)
      const probes = all.filter((c) => c[3] === 1)
      // Every probe failed and opened the circuit once more: one probe per opening, none extra.
      assert.isAtLeast(probes.length, 5)
      assert.strictEqual(probes.length, openings - 1, `${probes.length} probes for ${openings} openings`)
      // Once a process knows (its first short-circuit after the trip, in time by the bound above,
      // which allows for its measured lag), nothing runs there but the probes. A fixed bound here
      // failed under load 11 on 2 cores (a call 206 ms after the trip, before the process knew).
      const others = replicas.flatMap((r, i) => {
        const knew = r.calls.find(([at, kind]) => kind === "short" && at >= openedAt)![0]
        return r.calls.filter(([at, kind, , probe]) => at > knew && kind.startsWith("ran") && probe === 0).map((c) => {
          const tick = r.ticks.find((t) => t.at >= c[0])
          return { replica: i + 1, at: c[0] - openedAt, kind: c[1], healthy: tick?.healthy, state: tick?.state, local: tick?.local }
        })
      })
      assert.deepStrictEqual(others, [], `calls ran outside the probes: ${JSON.stringify(others)}`)
      // Each probe came from one process at a time: no two probes within one sleep window.
      const times = probes.map((c) => c[0]).sort((a, b) => a - b)
      for (let i = 1; i < times.length; i++) assert.isAtLeast(times[i]! - times[i - 1]!, 250)
      console.log(
        `fleet trip: seen by all within ${
          Math.max(...replicas.map((r) => r.calls.find(([at, kind]) => kind === "short" && at >= openedAt)![0] - openedAt))
        } ms of the trip (the idle one within ${heard!.at - openedAt} ms, tick of 20 ms); ${probes.length} probes for ${openings} openings`
      )
    }
  }

  it("kill -9, restart, SIGSTOP: calls never wait for the store, local breakers guard, resync within 1 s", async () => {
    // 100 ms: tight enough to show calls never wait on it, loose enough for a loaded two-core machine.
    const redis = await fleet(100)
    await redis.quit()
    const s = server!
    for (const r of replicas) r.send({ mode: "ok", rate: 200 })
    await sleep(400)
    const baseline = replicas.flatMap((r) => r.calls)
    const baselineMax = Math.max(...baseline.map((c) => c[2]))
    for (const r of replicas) assert.isTrue(r.last!.healthy)

    // kill -9: calls keep flowing and never wait for the dead store.
    const killedAt = Date.now()
    await s.kill()
    await until("every process notices the store is away", 2_000, () => replicas.every((r) => !r.last!.healthy))
    // The dependency fails now: each process's own breaker trips and guards it.
    for (const r of replicas) r.send({ mode: "fail" })
    await until("local breakers open", 3_000, () => replicas.every((r) => r.last!.local === "Open"))
    await sleep(200)
    for (const [i, r] of replicas.entries()) {
      const during = r.calls.filter(([at]) => at > killedAt)
      assert.isAbove(during.length, 5, `replica ${i + 1} kept calling`)
      const lag = lagOf(r, killedAt, Date.now())
      assert.isAtMost(
        largestGap(during),
        500 + lag,
        `replica ${i + 1} stalled (its event loop lagged ${lag} ms): ${gapReport(r, during)}`
      )
      assert.isTrue(during.some(([, kind]) => kind === "short"), `replica ${i + 1}'s local breaker short-circuits`)
      const slowest = Math.max(...during.map((c) => c[2]))
      assert.isAtMost(slowest, baselineMax + 50, `replica ${i + 1} waited ${slowest} ms`)
    }

    // The server comes back (empty): every process is back on the fleet within 1 s.
    for (const r of replicas) r.send({ mode: "ok" })
    const restartedAt = Date.now()
    await s.restart()
    const answeredAt = Date.now()
    const resync = await until(
      "resync",
      5_000,
      () => replicas.every((r) => r.last!.healthy && r.last!.viewAt >= restartedAt)
    )
    for (const [i, r] of replicas.entries()) {
      const back = r.ticks.find((t) => t.at >= answeredAt && t.healthy && t.viewAt >= restartedAt)!
      const lag = lagOf(r, answeredAt, back.at)
      assert.isAtMost(back.at - answeredAt, 1_000 + lag, `replica ${i + 1} resynced late (lag ${lag} ms)`)
    }
    console.log(`fleet resync after restart: ${resync} ms after the server answered (${Date.now() - restartedAt} ms after its start)`)

    // SIGSTOP: the store answers nothing; calls flow on, the command timeout marks it away.
    await sleep(300)
    const frozenAt = Date.now()
    s.freeze()
    try {
      await until("every process notices the frozen store", 2_000, () => replicas.every((r) => !r.last!.healthy))
      await sleep(300)
      for (const [i, r] of replicas.entries()) {
        const during = r.calls.filter(([at]) => at > frozenAt)
        console.log(`frozen: replica ${i + 1}: ${during.length} calls in ${Date.now() - frozenAt} ms, gap ${largestGap(during)} ms, lag ${lagOf(r, frozenAt, Date.now())} ms, ticks ${r.ticks.filter((t) => t.at > frozenAt).length}`)
        assert.isAbove(during.length, 5, `replica ${i + 1} kept calling while the store was frozen`)
        const lag = lagOf(r, frozenAt, Date.now())
        assert.isAtMost(
          largestGap(during),
          500 + lag,
          `replica ${i + 1} stalled while the store was frozen (lag ${lag} ms): ${gapReport(r, during)}`
        )
        const slowest = Math.max(...during.map((c) => c[2]))
        assert.isAtMost(slowest, baselineMax + 50, `replica ${i + 1} waited ${slowest} ms`)
        assert.isTrue(during.every(([, kind]) => kind === "ran-ok"))
      }
    } finally {
      s.thaw()
    }
    const thawedAt = Date.now()
    const back = await until("back after SIGCONT", 5_000, () =>
      replicas.every((r) => r.last!.healthy && r.last!.viewAt >= thawedAt))
    for (const [i, r] of replicas.entries()) {
      const up = r.ticks.find((t) => t.at >= thawedAt && t.healthy && t.viewAt >= thawedAt)!
      const lag = lagOf(r, thawedAt, up.at)
      assert.isAtMost(up.at - thawedAt, 1_000 + lag, `replica ${i + 1} came back late after SIGCONT (lag ${lag} ms)`)
    }
    console.log(`fleet back after SIGCONT: ${back} ms; ${killedAt - baseline[0]![0]} ms of baseline, slowest call ${baselineMax.toFixed(2)} ms`)
  }, 120_000)
})

import { assert, describe, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import * as http from "node:http"
import * as net from "node:net"
import type { AddressInfo } from "node:net"
import { CircuitRegistry, HystrixStream, Observability, withCircuit } from "../src/index.ts"

// A real server on 127.0.0.1 around a Node handler, closed with the test's scope.
const listen = (handler: (req: http.IncomingMessage, res: http.ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.callback<http.Server>((resume) => {
      const server = http.createServer(handler)
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))

interface Got {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
}

// GETs `url`, reading for at most `millis` (a stream never ends).
const get = (url: string, millis: number): Promise<Got> =>
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
      res.on("data", (chunk: string) => (body += chunk))
      res.on("end", done)
    })
    request.on("error", reject)
  })

const commands = (body: string) =>
  body.split("\n\n").filter((f) => f.startsWith("data: ")).map((f) => JSON.parse(f.slice(6)) as Record<string, unknown>)
    .filter((o) => o["type"] === "HystrixCommand")

const used = (n: number) => Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => Effect.succeed(i).pipe(withCircuit(`svc-${i}`)), { discard: true })

const scoped = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(Effect.scoped, Effect.provide(CircuitRegistry.layer()), Effect.provideService(Metric.MetricRegistry, new Map()))

describe("the Hystrix stream under load (issue 11, item 1)", () => {
  it.live("one batch per interval is built for all readers together", () =>
    Effect.gen(function*() {
      yield* used(1)
      let built = 0
      // `group` is asked once per command built: it counts the batches' work.
      const handler = yield* HystrixStream.nodeHandler({
        interval: "100 millis",
        group: (name) => {
          built++
          return name
        }
      })
      const url = yield* listen(handler)
      const readers = yield* Effect.promise(() => Promise.all([1, 2, 3, 4, 5].map(() => get(`${url}/`, 700))))
      const received = readers.map((r) => commands(r.body).length)
      for (const n of received) assert.isAtLeast(n, 4, "every reader gets a batch each interval")
      const total = received.reduce((a, b) => a + b, 0)
      assert.strictEqual(built, handler.hub.stats().batches, "one command built per circuit per batch")
      assert.isAtMost(built, 10, `${built} commands built for ${total} sent`)
      assert.isAtLeast(total, 4 * built - 10, "each built batch went to every reader")
    }).pipe(scoped))

  it.live("readers past maxReaders get a 503 that says why", () =>
    Effect.gen(function*() {
      yield* used(1)
      const handler = yield* HystrixStream.nodeHandler({ interval: "100 millis", maxReaders: 2 })
      const url = yield* listen(handler)
      const first = get(url, 600)
      const second = get(url, 600)
      yield* Effect.sleep("100 millis")
      const third = yield* Effect.promise(() => get(url, 600))
      assert.strictEqual(third.status, 503)
      assert.strictEqual(third.headers["retry-after"], "5")
      assert.include(third.body, "too many Hystrix stream readers: 2 are reading")
      const [a, b] = yield* Effect.promise(() => Promise.all([first, second]))
      assert.strictEqual(a.status, 200)
      assert.strictEqual(b.status, 200)
      // Once they left, a reader is served again.
      yield* Effect.sleep("50 millis")
      assert.strictEqual((yield* Effect.promise(() => get(url, 250))).status, 200)
    }).pipe(scoped))

  it.live("a reader that never reads drops frames; what waits for it stays bounded", () =>
    Effect.gen(function*() {
      yield* used(2_000)
      const readerBuffer = 64 * 1024
      const handler = yield* HystrixStream.nodeHandler({ interval: "50 millis", readerBuffer, circuitsPerSlice: 50 })
      const responses: Array<http.ServerResponse> = []
      let largestWrite = 0
      const url = yield* listen((req, res) => {
        const write = res.write.bind(res)
        res.write = ((chunk: string) => {
          largestWrite = Math.max(largestWrite, chunk.length)
          return write(chunk)
        }) as typeof res.write
        responses.push(res)
        handler(req, res)
      })
      // A client that sends its request and then never reads a byte.
      const port = Number(new URL(url).port)
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        socket.pause()
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => socket.destroy()))
      yield* Effect.sleep("1500 millis")
      const stats = handler.hub.stats()
      assert.isAtLeast(stats.batches, 3)
      assert.isAbove(stats.dropped, 0, "slices were dropped for the reader that does not read")
      const pending = responses[0]!.writableLength
      assert.isAtMost(pending, readerBuffer + largestWrite, `${pending} bytes wait for the reader`)
      // Without the bound, every batch (about 5 MB) would wait for it.
      assert.isAbove(largestWrite, 0)
    }).pipe(scoped))
})

describe("/metrics at many circuits (issue 11, item 1)", () => {
  it.live("a scrape is written a slice at a time, and scrapes past maxScrapes get a 503", () =>
    Effect.gen(function*() {
      yield* used(3_000)
      const handle = yield* Observability.nodeHandler({ maxScrapes: 1 })
      let writes = 0
      const url = yield* listen((req, res) => {
        const write = res.write.bind(res)
        res.write = ((chunk: string) => {
          writes++
          return write(chunk)
        }) as typeof res.write
        if (!handle(req, res)) res.writeHead(404).end()
      })
      const [one, two] = yield* Effect.promise(() => Promise.all([get(`${url}/metrics`, 10_000), get(`${url}/metrics`, 10_000)]))
      const ok = one.status === 200 ? one : two
      const refused = one.status === 200 ? two : one
      assert.strictEqual(refused.status, 503)
      assert.include(refused.body, "too many /metrics scrapes: 1 are running")
      const lines = ok.body.split("\n").filter((l) => l.startsWith("effect_circuit_events_total{"))
      assert.strictEqual(lines.length, 3_000 * 9, "every event series of every circuit")
      // 5 families × 3,000 circuits at 500 circuits per slice: at least 30 writes.
      assert.isAtLeast(writes, 30)
    }).pipe(scoped))
})

/**
 * The Hystrix stream and the live dashboard page, served by an `effect/http`
 * router on Node: `/dashboard` (the page), `/hystrix.stream` (what the Netflix
 * Hystrix dashboard and Turbine read) and `/metrics` (Prometheus).
 *
 * Run: npm run example -- hystrix-dashboard           (reads its own stream, then exits)
 *      npm run example -- hystrix-dashboard --serve   (keeps serving on PORT, default 8080:
 *                                                    open http://127.0.0.1:8080/dashboard)
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Data, Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { CircuitRegistry, Observability, withCircuit } from "effect-circuit"
import { createServer } from "node:http"

const serve = process.argv.includes("--serve")

class Down extends Data.TaggedError("Down")<{}> {}

// Some traffic: a healthy dependency, and one that fails every third call.
const traffic = Effect.gen(function*() {
  for (let n = 1; ; n++) {
    yield* Effect.sleep("20 millis").pipe(Effect.as("charged"), withCircuit("payments"))
    yield* Effect.sleep("5 millis").pipe(
      Effect.andThen(n % 3 === 0 ? Effect.fail(new Down()) : Effect.succeed("in stock")),
      withCircuit("inventory", { fallback: () => Effect.succeed("unknown") })
    )
  }
})

// Reads the stream like a dashboard would, for a little over a second.
const readStream = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    console.log(`stream: ${response.status} ${response.headers.get("content-type")}`)
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let text = ""
    const until = Date.now() + 1_200
    while (Date.now() < until) {
      const { done, value } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
    }
    await reader.cancel()
    return text.split("\n\n").filter((event) => event.startsWith("data: "))
  })

const program = Effect.gen(function*() {
  const { port } = (yield* HttpServer.HttpServer).address as { readonly port: number }
  const base = `http://127.0.0.1:${port}`
  console.log(`dashboard: ${base}/dashboard`)
  console.log(`hystrix stream: ${base}/hystrix.stream`)
  console.log(`prometheus: ${base}/metrics`)
  yield* Effect.forkScoped(traffic)
  if (serve) return yield* Effect.never

  yield* Effect.sleep("300 millis")
  const events = yield* readStream(`${base}/hystrix.stream`)
  const seen = new Set<string>()
  for (const event of events) {
    const data = JSON.parse(event.slice("data: ".length))
    const key = `${data.type} ${data.name}`
    if (seen.has(key)) continue
    seen.add(key)
    console.log(
      data.type === "HystrixCommand"
        ? `${key}: ${data.requestCount} requests, ${data.errorPercentage}% errors, ` +
          `open=${data.isCircuitBreakerOpen}, latency p50/p99 ${data.latencyExecute["50"]}/${data.latencyExecute["99"]} ms`
        : `${key}: ${data.currentActiveCount} active of ${data.currentMaximumPoolSize}`
    )
  }
  const page = yield* Effect.promise(() => fetch(`${base}/dashboard`).then((r) => r.text()))
  console.log(`dashboard page: ${page.length} bytes, self-contained: ${!/(src|href)="https?:/.test(page)}`)
})

const port = serve ? Number(process.env["PORT"] ?? 8080) : 0

Effect.runPromise(program.pipe(
  Effect.scoped,
  Effect.provide(
    HttpRouter.serve(Observability.layerHttp(), { disableLogger: true, disableListenLog: true }).pipe(
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
    )
  ),
  Effect.provide(CircuitRegistry.layer())
)).then(() => console.log("done"))

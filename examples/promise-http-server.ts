/**
 * A plain node:http server whose route calls a flaky pricing service through
 * a circuit, with Promises only (no Effect in sight): while the pricing
 * service fails, the circuit opens and the route answers at once from a
 * fallback, or 503 with Retry-After; once the service is back, one probe
 * closes the circuit. The server listens on 127.0.0.1 (a free port) and is
 * called with fetch.
 *
 * Run: node examples/promise-http-server.ts
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { CircuitOpenError, CircuitPromise } from "effect-circuit/promise"

const circuits = CircuitPromise.make({
  circuits: {
    pricing: { requestVolumeThreshold: 3, errorPercentThreshold: 50, sleepWindow: "300 millis", timeout: "1 second" }
  }
})
circuits.subscribe({ transition: (t) => console.log(`circuit ${t.circuit}: ${t.from} -> ${t.to}`) })

// The pricing service: down until `recovered` is set. It honours its signal,
// so a timeout really stops it.
let recovered = false
let pricingCalls = 0
const price = async (sku: string, signal: AbortSignal): Promise<number> => {
  pricingCalls++
  signal.throwIfAborted()
  if (!recovered) throw new Error("pricing: upstream 502")
  return sku.length * 10
}

const server = createServer((req, res) => {
  const sku = req.url?.match(/^\/price\/(\w+)$/)?.[1]
  if (sku === undefined) {
    res.writeHead(404).end()
    return
  }
  circuits.fire("pricing", (signal) => price(sku, signal)).then(
    (value) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ sku, price: value })),
    (error: unknown) => {
      if (error instanceof CircuitOpenError) {
        // The circuit's own refusal: tell the client when to come back.
        const seconds = Math.max(1, Math.ceil(error.retryAfterMillis / 1000))
        res.writeHead(503, { "retry-after": String(seconds) }).end("pricing unavailable")
      } else {
        res.writeHead(502).end(String(error))
      }
    }
  )
})

await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const get = async (path: string): Promise<string> => {
  const response = await fetch(`${base}${path}`)
  const retryAfter = response.headers.get("retry-after")
  return `GET ${path} -> ${response.status}${retryAfter === null ? "" : ` (Retry-After: ${retryAfter})`}`
}

for (let i = 1; i <= 5; i++) console.log(await get(`/price/lamp${i}`))
console.log(`pricing service called ${pricingCalls} times for 5 requests`)

recovered = true
await new Promise((resolve) => setTimeout(resolve, 350))
console.log(`probe: ${await get("/price/lamp")}`)
console.log(`state: ${circuits.state("pricing")}`)

server.close()
circuits.close()
console.log("server closed")

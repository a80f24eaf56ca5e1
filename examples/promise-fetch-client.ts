/**
 * fetch through a circuit, with Promises only: a timeout that really cancels
 * the request (the server sees it aborted), a 404 that is not an outage
 * (`isFailure`), 5xx answers that trip the circuit, a fallback while it is
 * open, and a probe once the downstream is back. The downstream is a real
 * node:http server on 127.0.0.1 (a free port).
 *
 * Run: node examples/promise-fetch-client.ts
 */
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { CircuitPromise, isCircuitError } from "effect-circuit/promise"

// The downstream: slow, then failing, then healthy, as `mode` says.
let mode: "slow" | "failing" | "healthy" = "slow"
let aborted = 0
const downstream = createServer((req, res) => {
  if (req.url === "/users/404") return void res.writeHead(404).end()
  if (mode === "slow") {
    // Never answers; counts the requests the client gave up on.
    res.on("close", () => void aborted++)
    return
  }
  if (mode === "failing") return void res.writeHead(503).end()
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ id: 1, name: "Ada" }))
})
await new Promise<void>((resolve) => downstream.listen(0, "127.0.0.1", resolve))
const base = `http://127.0.0.1:${(downstream.address() as AddressInfo).port}`

class HttpError extends Error {
  readonly status: number
  constructor(status: number) {
    super(`HTTP ${status}`)
    this.status = status
  }
}

const circuits = CircuitPromise.make({
  circuits: {
    users: { timeout: "500 millis", requestVolumeThreshold: 4, errorPercentThreshold: 50, sleepWindow: "300 millis" }
  }
})

const getUser = (path: string) =>
  circuits.fire(
    "users",
    async (signal) => {
      // The circuit's signal: aborted at the timeout, so fetch stops for real.
      const response = await fetch(`${base}${path}`, { signal })
      if (!response.ok) throw new HttpError(response.status)
      return (await response.json()) as { id: number; name: string }
    },
    {
      // A missing user is an answer, not an outage.
      isFailure: (error) => !(error instanceof HttpError && error.status === 404),
      // Runs for timeouts, failures and refusals (not for what isFailure refused).
      fallback: (error) => ({ id: 0, name: `(unavailable: ${isCircuitError(error) ? error._tag : String(error)})` })
    }
  )

const show = async (label: string, path: string) => {
  try {
    console.log(`${label}: ${(await getUser(path)).name}`)
  } catch (error) {
    console.log(`${label}: ${error instanceof Error ? error.message : String(error)}`)
  }
}

await show("slow 1", "/users/1")
await show("slow 2", "/users/1")
await new Promise((resolve) => setTimeout(resolve, 50))
console.log(`requests the server saw aborted: ${aborted}`)
await show("missing", "/users/404")
mode = "failing"
await show("failing 1", "/users/1")
await show("failing 2", "/users/1")
await show("open", "/users/1")
const { window } = circuits.snapshot("users")
console.log(`window: ${window.timeout} timeouts, ${window.failure} failures, ${window.shortCircuited} short-circuited`)

mode = "healthy"
await new Promise((resolve) => setTimeout(resolve, 350))
await show("probe", "/users/1")
console.log(`state: ${circuits.state("users")}`)

circuits.close()
downstream.close()
console.log("done")

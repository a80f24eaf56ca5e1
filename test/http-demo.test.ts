import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

// `npm run demo`, shortened: it serves the dashboard, the stream and
// /metrics on loopback, a circuit trips and recovers, and it stops by itself.
const root = fileURLToPath(new URL("..", import.meta.url))

describe("npm run demo", () => {
  it("serves the dashboard, the stream and /metrics, trips and closes a circuit, and stops by itself", async () => {
    const child = spawn(process.execPath, ["--conditions=effect-circuit-source", "scripts/demo.ts", "--duration", "12"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    try {
      // The URLs are printed first.
      const started = Date.now()
      while (!/dashboard\s+(http:\/\/127\.0\.0\.1:\d+)\/dashboard/.test(output)) {
        if (Date.now() - started > 15_000) throw new Error(`no dashboard URL printed:\n${output}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const base = /dashboard\s+(http:\/\/127\.0\.0\.1:\d+)\/dashboard/.exec(output)![1]!

      const page = await fetch(`${base}/dashboard`)
      assert.strictEqual(page.status, 200)
      assert.include(page.headers.get("content-type") ?? "", "text/html")
      await page.text()

      const service = await fetch(`${base}/products/1`)
      assert.strictEqual(service.status, 200)
      await service.text()

      const metrics = await fetch(`${base}/metrics`)
      assert.strictEqual(metrics.status, 200)
      assert.include(await metrics.text(), "effect_circuit_events_total")

      const controller = new AbortController()
      const stream = await fetch(`${base}/hystrix.stream`, { signal: controller.signal })
      assert.include(stream.headers.get("content-type") ?? "", "text/event-stream")
      const reader = stream.body!.getReader()
      let events = ""
      while (!events.includes("\"type\":\"HystrixCommand\"")) {
        const { done, value } = await reader.read()
        if (done) break
        events += new TextDecoder().decode(value)
      }
      controller.abort()
      assert.include(events, "data: {")

      const code = await exited
      assert.strictEqual(code, 0, output)
      assert.match(output, /inventory\s+closed -> open/)
      assert.match(output, /inventory\s+half-open -> closed/)
      assert.include(output, "Stopped after")
      assert.include(output, "Server closed.")
    } finally {
      child.kill("SIGINT")
    }
  }, 40_000)
})

/**
 * The dashboard page in a real browser (Debian's chromium, driven by
 * playwright-core): a circuit is tripped and the page shows it open, then
 * recovered. Runs on the real clock with a short sleep window.
 *
 * Writes screenshots to artifacts/ (git-ignored). Never skipped: without
 * chromium it fails, saying how to install it.
 */
import { assert, describe, it } from "@effect/vitest"
import { NodeHttpServer } from "@effect/platform-node"
import { Data, Effect, Layer, Metric } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import * as http from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { chromium } from "playwright-core"
import { Circuit, CircuitRegistry, Observability, withCircuit } from "../src/index.ts"

const executablePath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium"
const artifacts = fileURLToPath(new URL("../artifacts/", import.meta.url))

class Down extends Data.TaggedError("Down")<{}> {}

const launch = Effect.acquireRelease(
  Effect.promise(async () => {
    if (!existsSync(executablePath)) {
      throw new Error(`no chromium at ${executablePath}: install it (apt-get install -y chromium, as .ci/run does)`)
    }
    const userDataDir = mkdtempSync(join(tmpdir(), "effect-circuit-chromium-"))
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      viewport: { width: 1280, height: 860 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync"
      ]
    })
    return { context, userDataDir }
  }),
  ({ context, userDataDir }) =>
    Effect.promise(async () => {
      await context.close()
      rmSync(userDataDir, { recursive: true, force: true })
    })
)

// Steady background traffic so that the page has more than one circuit to show.
const traffic = (name: string, latency: number, failEvery: number) =>
  Effect.gen(function*() {
    let n = 0
    while (true) {
      n++
      const call = Effect.sleep(`${latency + (n % 7) * 3} millis`).pipe(
        Effect.andThen(n % failEvery === 0 ? Effect.fail(new Down()) : Effect.succeed(n))
      )
      yield* call.pipe(withCircuit(name, { fallback: () => Effect.succeed(0) }), Effect.ignore)
    }
  })

const server = HttpRouter.serve(Observability.layerHttp({ interval: "200 millis", title: "effect-circuit" }), {
  disableLogger: true,
  disableListenLog: true
}).pipe(Layer.provideMerge(NodeHttpServer.layer(http.createServer, { port: 0, host: "127.0.0.1" })))

describe("dashboard page (headless chromium)", () => {
  it.live("shows a tripped circuit open, then recovered", () =>
    Effect.gen(function*() {
      const address = (yield* HttpServer.HttpServer).address as { readonly port: number }
      const { context } = yield* launch
      const page = yield* Effect.promise(() => context.newPage())
      const errors: Array<string> = []
      page.on("pageerror", (error) => errors.push(error.message))
      const requests: Array<string> = []
      page.on("request", (request) => requests.push(request.url()))

      yield* Effect.forkScoped(traffic("payments", 35, 50))
      yield* Effect.forkScoped(traffic("inventory", 12, 4))
      yield* Effect.forkScoped(traffic("search", 80, 1_000))
      yield* Circuit.forceOpen("legacy-billing")
      yield* Effect.succeed("ok").pipe(withCircuit("flaky"))

      yield* Effect.promise(() => page.goto(`http://127.0.0.1:${address.port}/dashboard`))
      const card = page.locator(`article.card[data-circuit="flaky"]`)
      yield* Effect.promise(() => card.and(page.locator(`[data-state="closed"]`)).waitFor({ timeout: 5_000 }))
      // Some history for the charts of the screenshots.
      yield* Effect.sleep("2500 millis")

      // Trip it: 3 failures of 4 requests, over the 50 % threshold.
      for (let i = 0; i < 3; i++) yield* Effect.fail(new Down()).pipe(withCircuit("flaky"), Effect.ignore)
      assert.strictEqual(yield* Circuit.state("flaky"), "open")
      yield* Effect.promise(() => card.and(page.locator(`[data-state="open"]`)).waitFor({ timeout: 5_000 }))
      assert.strictEqual(yield* Effect.promise(() => card.locator(".state").textContent()), "open")
      assert.strictEqual(yield* Effect.promise(() => card.locator(".err").textContent()), "75%")
      assert.include(yield* Effect.promise(() => card.locator(".vol").textContent()), "3 of 4 requests")
      // Short-circuited calls show up too.
      yield* Effect.succeed("ok").pipe(withCircuit("flaky"), Effect.ignore)
      yield* Effect.promise(() =>
        page.waitForFunction(() =>
          document.querySelector(`article[data-circuit="flaky"] .count.short .v`)?.textContent === "1", undefined, {
          timeout: 5_000
        })
      )
      yield* Effect.sync(() => mkdirSync(artifacts, { recursive: true }))
      yield* Effect.promise(() => page.screenshot({ path: join(artifacts, "dashboard-open.png"), fullPage: true }))

      // After the 1 s sleep window one call probes; its success closes the circuit.
      yield* Effect.sleep("1100 millis")
      assert.strictEqual(yield* Effect.succeed("ok").pipe(withCircuit("flaky")), "ok")
      assert.strictEqual(yield* Circuit.state("flaky"), "closed")
      yield* Effect.promise(() => card.and(page.locator(`[data-state="closed"]`)).waitFor({ timeout: 5_000 }))
      assert.strictEqual(yield* Effect.promise(() => card.locator(".state").textContent()), "closed")

      // The other circuits are there, with their latencies and states.
      yield* Effect.promise(() =>
        page.locator(`article.card[data-circuit="legacy-billing"][data-state="forced-open"]`).waitFor({ timeout: 5_000 })
      )
      const p50 = yield* Effect.promise(() =>
        page.locator(`article.card[data-circuit="payments"] table.lat tr:nth-child(2) td:nth-child(2)`).textContent()
      )
      assert.match(p50 ?? "", /^\d+ ms$/)
      assert.isAbove(Number.parseInt(p50 ?? "0"), 20)
      assert.strictEqual(yield* Effect.promise(() => page.locator("#n-total").textContent()), "5")
      yield* Effect.promise(() => page.screenshot({ path: join(artifacts, "dashboard.png"), fullPage: true }))

      assert.deepStrictEqual(errors, [], "no script error on the page")
      const foreign = requests.filter((url) => !url.startsWith(`http://127.0.0.1:${address.port}/`))
      assert.deepStrictEqual(foreign, [], "the page loads nothing from another host")
    }).pipe(
      Effect.scoped,
      Effect.provide(server),
      Effect.provide(CircuitRegistry.layer({
        circuits: {
          flaky: { requestVolumeThreshold: 4, errorPercentThreshold: 50, sleepWindow: "1 second" },
          search: { maxConcurrentRequests: 5 }
        }
      })),
      Effect.provideService(Metric.MetricRegistry, new Map())
    ), 30_000)
})

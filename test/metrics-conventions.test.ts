import { assert, describe, it } from "@effect/vitest"
import { Data, Effect, Fiber, Layer, Metric } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpMetrics, OtlpSerialization, PrometheusMetrics } from "effect/observability"
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Circuit, CircuitMetrics, CircuitRegistry, Observability, withCircuit } from "../src/index.ts"

// Debian's prometheus package (`.ci/run` installs it when promtool is missing).
const promtool = (args: ReadonlyArray<string>, input?: string) => {
  const run = spawnSync("promtool", args, { input, encoding: "utf8" })
  if (run.error !== undefined) throw run.error
  return { status: run.status, output: `${run.stdout}${run.stderr}` }
}

const root = fileURLToPath(new URL("..", import.meta.url))
const rules = join(root, "docs", "prometheus-rules.yml")

class Boom extends Data.TaggedError("Boom")<{}> {}

// Every kind of event, a forced and an open circuit, a name that needs escaping.
const traffic = Effect.gen(function*() {
  const boom = Effect.fail(new Boom())
  yield* Effect.succeed(1).pipe(withCircuit("payments"))
  yield* boom.pipe(withCircuit("payments"), Effect.ignore)
  yield* boom.pipe(withCircuit("payments", { fallback: () => Effect.succeed(0) }))
  yield* boom.pipe(withCircuit("payments", { fallback: () => Effect.fail("no cache") }), Effect.ignore)
  yield* boom.pipe(withCircuit("payments", { isFailure: () => false }), Effect.ignore)
  yield* Effect.never.pipe(withCircuit("slow"), Effect.ignore)
  const hung = yield* Effect.forkChild(Effect.never.pipe(withCircuit("hung")))
  yield* Effect.sleep("5 millis")
  yield* Fiber.interrupt(hung)
  yield* Effect.succeed(1).pipe(withCircuit("one-at-a-time"))
  const holding = yield* Effect.forkChild(Effect.never.pipe(withCircuit("one-at-a-time")))
  yield* Effect.sleep("5 millis")
  yield* Effect.succeed(1).pipe(withCircuit("one-at-a-time"), Effect.ignore)
  yield* Fiber.interrupt(holding)
  // A wait queue: a call waits behind a hung one and runs out of time.
  const busy = yield* Effect.forkChild(Effect.never.pipe(withCircuit("queued")))
  yield* Effect.sleep("5 millis")
  yield* Effect.succeed(1).pipe(withCircuit("queued"), Effect.ignore)
  yield* Fiber.interrupt(busy)
  yield* Circuit.forceOpen("inventory")
  yield* Effect.succeed(1).pipe(withCircuit("inventory"), Effect.ignore)
  yield* Effect.succeed(1).pipe(withCircuit("quote\"back\\slash\nnewline"))
})

const registry = CircuitRegistry.layer({
  defaults: { requestVolumeThreshold: 2 },
  circuits: {
    "one-at-a-time": { maxConcurrentRequests: 1 },
    slow: { timeout: "1 millis" },
    queued: { maxConcurrentRequests: 1, queueCapacity: 1, maxQueueWait: "1 millis" }
  }
})

const serve = (handle: (req: http.IncomingMessage, res: http.ServerResponse) => boolean) =>
  Effect.acquireRelease(
    Effect.callback<http.Server>((resume) => {
      const server = http.createServer((req, res) => {
        if (!handle(req, res)) res.writeHead(404).end()
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.callback<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))

const fetchText = (url: string) => Effect.promise(() => fetch(url).then((r) => r.text()))

describe("metric conventions (issue 14)", () => {
  it.live("a real scrape of /metrics passes promtool check metrics", () =>
    Effect.gen(function*() {
      yield* traffic
      // A second registry beside the first: its series carry registry="2".
      const second = yield* Layer.build(CircuitRegistry.layer())
      yield* Effect.succeed(1).pipe(withCircuit("payments"), Effect.provide(second))
      const url = yield* serve(yield* Observability.nodeHandler())
      const text = yield* fetchText(`${url}/metrics`)
      for (const family of Object.values(CircuitMetrics.metricNames)) assert.include(text, `# TYPE ${family} `)
      assert.include(text, `registry="2",circuit="payments"`)
      assert.include(text, `circuit="quote\\"back\\\\slash\\nnewline"`)
      const check = promtool(["check", "metrics"], text)
      assert.strictEqual(check.output, "", check.output)
      assert.strictEqual(check.status, 0)
      // The check itself fails on what the issue found: an abbreviated unit.
      const old = promtool(["check", "metrics"], "# HELP effect_circuit_latency_ms x\n# TYPE effect_circuit_latency_ms gauge\neffect_circuit_latency_ms 1\n")
      assert.notStrictEqual(old.status, 0)
    }).pipe(Effect.scoped, Effect.provide(registry), Effect.provideService(Metric.MetricRegistry, new Map())))

  it("the documented rules pass promtool check rules, and the alert fires on an open circuit", () => {
    const check = promtool(["check", "rules", rules])
    assert.strictEqual(check.status, 0, check.output)
    assert.include(check.output, "SUCCESS: 5 rules found")
    // docs/observability.md shows the same rules.
    assert.include(readFileSync(join(root, "docs", "observability.md"), "utf8"), readFileSync(rules, "utf8").split("\n").slice(3).join("\n"))
    const dir = mkdtempSync(join(tmpdir(), "effect-circuit-rules-"))
    const tests = join(dir, "tests.yml")
    writeFileSync(tests, `rule_files:
  - ${rules}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'effect_circuit_state{circuit="payments",state="open"}'
        values: '0 1 1 1 1 1'
      - series: 'effect_circuit_state{circuit="payments",state="closed"}'
        values: '1 0 0 0 0 0'
      - series: 'effect_circuit_state{circuit="inventory",state="closed"}'
        values: '1 1 1 1 1 1'
      - series: 'effect_circuit_events_total{circuit="payments",event="short-circuited"}'
        values: '0+60x5'
      - series: 'effect_circuit_events_total{circuit="payments",event="success"}'
        values: '0+60x5'
      - series: 'effect_circuit_events_total{circuit="payments",event="failure"}'
        values: '0+180x5'
    alert_rule_test:
      - eval_time: 2m
        alertname: CircuitOpen
        exp_alerts: []
      - eval_time: 4m
        alertname: CircuitOpen
        exp_alerts:
          - exp_labels: { severity: warning, circuit: payments }
            exp_annotations:
              summary: "Circuit payments has been open for 2 minutes"
              description: "Calls to payments are short-circuited: its dependency keeps failing (probes did not close it)."
    promql_expr_test:
      - expr: circuit:effect_circuit_short_circuits:rate1m
        eval_time: 4m
        exp_samples:
          - labels: 'circuit:effect_circuit_short_circuits:rate1m{circuit="payments"}'
            value: 1
      - expr: circuit:effect_circuit_error_ratio:rate5m
        eval_time: 5m
        exp_samples:
          - labels: 'circuit:effect_circuit_error_ratio:rate5m{circuit="payments"}'
            value: 0.8
      - expr: circuit:effect_circuit_open:max == 1
        eval_time: 4m
        exp_samples:
          - labels: 'circuit:effect_circuit_open:max{circuit="payments"}'
            value: 1
`)
    const run = promtool(["test", "rules", tests])
    assert.strictEqual(run.status, 0, run.output)
  })

  it.live("OTLP translated to Prometheus gives the /metrics names, labels and types; units are the metric's", () =>
    Effect.gen(function*() {
      const bodies: Array<string> = []
      const url = yield* serve((req, res) => {
        let body = ""
        req.on("data", (chunk) => (body += chunk))
        req.on("end", () => {
          bodies.push(body)
          res.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
        return true
      })
      const scrape = yield* Effect.gen(function*() {
        yield* traffic
        const context = yield* Effect.context<never>()
        return Array.from(CircuitMetrics.prometheusChunks(context, (c) => PrometheusMetrics.formatUnsafe(c))).join("")
      }).pipe(
        Effect.provide(
          OtlpMetrics.layer({
            url: `${url}/v1/metrics`,
            resource: { serviceName: "conventions" },
            exportInterval: "1 hour",
            shutdownTimeout: "2 seconds"
          }).pipe(
            Layer.provide([FetchHttpClient.layer, OtlpSerialization.layerJson])
          )
        ),
        Effect.provide(registry)
      )
      assert.isAtLeast(bodies.length, 1, "the exporter's last export reached the receiver")
      const otlp = translate(JSON.parse(bodies[bodies.length - 1]!))
      const prometheus = families(scrape)
      const names = Object.values(CircuitMetrics.metricNames)
      assert.sameMembers(Array.from(otlp.keys()), names)
      for (const name of names) {
        const o = otlp.get(name)!
        const p = prometheus.get(name)
        assert.isDefined(p, name)
        assert.strictEqual(o.translated, name, `${name} (unit ${o.unit}) keeps its name through the translation`)
        assert.strictEqual(o.type, p!.type, name)
        assert.sameDeepMembers(o.labelSets, p!.labelSets, `${name}: the same series`)
        assert.notInclude(o.attributeKeys, "unit", `${name}: no unit attribute on points`)
      }
      assert.strictEqual(otlp.get("effect_circuit_latency_seconds")!.unit, "s")
      assert.strictEqual(otlp.get("effect_circuit_error_ratio")!.unit, "1")
      assert.strictEqual(otlp.get("effect_circuit_events_total")!.unit, "{event}")
      assert.strictEqual(otlp.get("effect_circuit_state")!.unit, "{state}")
      assert.strictEqual(otlp.get("effect_circuit_active_calls")!.unit, "{call}")
    }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map())))
})

// The OpenTelemetry → Prometheus name translation (the compatibility
// specification, as Prometheus's OTLP receiver applies it with suffixes on):
// tokens of the name; the unit's Prometheus word appended unless already
// there (a unit in braces adds nothing, "1" adds nothing); `_total` for a
// monotonic sum; `_ratio` for a gauge of unit "1".
const unitWords: Record<string, string> = { s: "seconds", ms: "milliseconds", By: "bytes", "1": "", "%": "percent" }
const translateName = (name: string, unit: string, type: string, monotonic: boolean): string => {
  let tokens = name.split(/[^A-Za-z0-9]+/).filter((t) => t !== "")
  const [main = "", per] = unit.split("/")
  if (main !== "" && !/[{}]/.test(main)) {
    const word = unitWords[main] ?? main
    if (word !== "" && !tokens.includes(word)) tokens.push(word)
  }
  if (per !== undefined && per !== "") tokens.push("per", per)
  if (type === "sum" && monotonic) tokens = [...tokens.filter((t) => t !== "total"), "total"]
  if (unit === "1" && type === "gauge") tokens = [...tokens.filter((t) => t !== "ratio"), "ratio"]
  return tokens.join("_")
}

interface Family {
  readonly type: string
  readonly labelSets: Array<string>
}

// The circuit families of an OTLP/JSON export: translated name, type, unit, label sets.
const translate = (payload: any) => {
  const out = new Map<string, Family & { translated: string; unit: string; attributeKeys: Array<string> }>()
  for (const resource of payload.resourceMetrics ?? []) {
    for (const scope of resource.scopeMetrics ?? []) {
      for (const metric of scope.metrics ?? []) {
        if (!String(metric.name).startsWith("effect_circuit_")) continue
        const kind = metric.sum !== undefined ? "sum" : metric.gauge !== undefined ? "gauge" : "histogram"
        const data = metric.sum ?? metric.gauge ?? metric.histogram
        const keys = new Set<string>()
        const labelSets = (data.dataPoints as Array<any>).map((point) => {
          const pairs = (point.attributes ?? []).map((a: any) => {
            keys.add(a.key)
            return `${a.key}=${a.value.stringValue}`
          })
          return pairs.sort().join(",")
        })
        out.set(metric.name, {
          translated: translateName(metric.name, metric.unit ?? "", kind, metric.sum?.isMonotonic === true),
          unit: metric.unit,
          type: kind === "sum" ? "counter" : kind,
          labelSets,
          attributeKeys: Array.from(keys)
        })
      }
    }
  }
  return out
}

// The circuit families of Prometheus text: type and label sets (buckets, sums and counts folded into the histogram's series).
const families = (text: string) => {
  const out = new Map<string, Family>()
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type !== null && type[1]!.startsWith("effect_circuit_")) out.set(type[1]!, { type: type[2]!, labelSets: [] })
    const sample = /^(effect_circuit_[a-z_]+?)(_bucket|_sum|_count)?\{(.*)\} \S+$/.exec(line)
    if (sample === null) continue
    const family = out.get(sample[1]!) ?? out.get(sample[1]! + (sample[2] ?? ""))
    if (family === undefined) continue
    if (family.type === "histogram" && sample[2] !== "_count") continue
    const labels = Array.from(sample[3]!.matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g), (m) => `${m[1]}=${JSON.parse(`"${m[2]}"`)}`)
    family.labelSets.push(labels.sort().join(","))
  }
  return out
}


/**
 * The clients of bench/observability-load.ts, in a process of their own (as
 * a dashboard and a Prometheus server would be): `readers` Hystrix stream
 * readers that read everything, and a `/metrics` scrape every
 * `scrapeEveryMillis` (the next waits for the last, as Prometheus). Runs for
 * `seconds`, then prints one JSON line of what they received.
 *
 *   node bench/observability-clients.ts <baseUrl> <readers> <scrapeEveryMillis> <seconds>
 */
import * as http from "node:http"
import { performance } from "node:perf_hooks"

const [base = "", readerArg = "5", scrapeArg = "1000", secondsArg = "20"] = process.argv.slice(2)
const readers = Number(readerArg)
const scrapeEvery = Number(scrapeArg)
const seconds = Number(secondsArg)

let streamBytes = 0
const requests: Array<http.ClientRequest> = []
for (let i = 0; i < readers; i++) {
  const request = http.get(`${base}/hystrix.stream`, (res) => res.on("data", (chunk: Buffer) => (streamBytes += chunk.length)))
  request.on("error", () => {}) // destroyed at the end
  requests.push(request)
}
let scrapes = 0
let scrapeBytes = 0
const scrapeMillis: Array<number> = []
let scraping = false
const scrape = () => {
  if (scraping) return
  scraping = true
  const started = performance.now()
  const request = http.get(`${base}/metrics`, (res) => {
    res.on("data", (chunk: Buffer) => (scrapeBytes += chunk.length))
    res.on("end", () => {
      scrapes++
      scrapeMillis.push(performance.now() - started)
      scraping = false
    })
  })
  request.on("error", () => {}) // cut at the end
}
scrape()
const scraper = setInterval(scrape, scrapeEvery)
setTimeout(() => {
  clearInterval(scraper)
  for (const r of requests) r.destroy()
  const round = (n: number) => Math.round(n * 10) / 10
  console.log(JSON.stringify({
    streamMegabytes: round(streamBytes / 1e6),
    scrapes,
    scrapeMegabytes: round(scrapeBytes / 1e6),
    scrapeSecondsMean: scrapeMillis.length === 0 ? null : round(scrapeMillis.reduce((a, b) => a + b, 0) / scrapeMillis.length / 1000)
  }))
  process.exit(0)
}, seconds * 1000)

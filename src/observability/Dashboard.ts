/**
 * A live dashboard page: one card per circuit with its state, error
 * percentage, request volume, latency percentiles, active calls and a small
 * rolling chart, fed by the Hystrix stream.
 *
 * **Details**
 *
 * - `html()` is the whole page as one string: HTML, CSS and JavaScript
 *   inline, no build step, no request to any other host. It opens an
 *   `EventSource` on the stream's URL (default `/hystrix.stream`, relative to
 *   the page) and redraws a card for every `HystrixCommand` it receives.
 * - `layerHttp` serves it on an `effect/http` router; `nodeHandler` is the
 *   plain Node `(req, res)` version. `Observability.layerHttp` serves the
 *   page, the stream and `/metrics` together.
 * - Each card is `<article class="card" data-circuit="<name>" data-state="<state>">`,
 *   so tests and scripts can find a circuit's state without parsing text.
 *
 * **Gotchas**
 *
 * - The chart keeps the last 60 updates in the page; reloading the page
 *   starts it again (the server keeps no history).
 * - The page shows what the stream sends: with `metrics: false` on the
 *   registry, latencies are 0.
 *
 * **Example** (Serving the dashboard and its stream)
 *
 * ```ts
 * import { createServer } from "node:http"
 * import { Layer } from "effect"
 * import { HttpRouter } from "effect/http"
 * import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
 * import { CircuitRegistry, Observability } from "effect-circuit"
 *
 * HttpRouter.serve(Observability.layerHttp()).pipe(
 *   Layer.provide(NodeHttpServer.layer(createServer, { port: 8080 })),
 *   Layer.provide(CircuitRegistry.layer()),
 *   Layer.launch,
 *   NodeRuntime.runMain
 * ) // open http://localhost:8080/dashboard
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import type { NodeRequest, NodeResponse } from "./HystrixStream.ts"

/**
 * Options of the page.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where the page opens its `EventSource`, relative to the page. Default `/hystrix.stream`. */
  readonly streamUrl?: string | undefined
  /** The page's title. Default `Circuits`. */
  readonly title?: string | undefined
}

// Safe inside a <script> element and inside HTML text.
const scriptValue = (value: unknown): string =>
  JSON.stringify(value).replace(/</g, "\\u003c").replace(/>/g, "\\u003e").replace(/&/g, "\\u0026")
const escapeHtml = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const css = `
:root { color-scheme: dark; --bg: #0d1117; --panel: #161b22; --line: #30363d; --text: #e6edf3; --muted: #8b949e;
  --green: #3fb950; --red: #f85149; --amber: #d29922; --blue: #58a6ff; --purple: #bc8cff; --orange: #f0883e; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
header { display: flex; align-items: center; gap: 16px; padding: 16px 24px; border-bottom: 1px solid var(--line);
  background: linear-gradient(180deg, #161b22, #0d1117); position: sticky; top: 0; z-index: 1; }
header h1 { font-size: 18px; margin: 0; font-weight: 600; letter-spacing: .2px; }
header .summary { color: var(--muted); display: flex; gap: 14px; flex-wrap: wrap; }
header .summary b { color: var(--text); font-variant-numeric: tabular-nums; }
.conn { margin-left: auto; display: flex; align-items: center; gap: 8px; color: var(--muted); font-size: 13px; }
.dot { width: 9px; height: 9px; border-radius: 50%; background: var(--muted); }
.conn.live .dot { background: var(--green); box-shadow: 0 0 0 0 rgba(63,185,80,.6); animation: pulse 2s infinite; }
.conn.down .dot { background: var(--red); }
@keyframes pulse { 0% { box-shadow: 0 0 0 0 rgba(63,185,80,.55); } 70% { box-shadow: 0 0 0 8px rgba(63,185,80,0); } 100% { box-shadow: 0 0 0 0 rgba(63,185,80,0); } }
main { padding: 20px 24px 40px; display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 16px; }
.empty { color: var(--muted); grid-column: 1 / -1; text-align: center; padding: 60px 0; }
.card { background: var(--panel); border: 1px solid var(--line); border-left: 4px solid var(--green); border-radius: 10px;
  padding: 14px 16px 12px; display: flex; flex-direction: column; gap: 10px; transition: border-color .3s; }
.card[data-state="open"], .card[data-state="forced-open"] { border-left-color: var(--red); }
.card[data-state="half-open"] { border-left-color: var(--amber); }
.card[data-state="forced-closed"] { border-left-color: var(--blue); }
.card.stale { opacity: .55; }
.top { display: flex; align-items: center; gap: 10px; }
.name { font: 600 15px/1.2 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.state { margin-left: auto; font-size: 11px; font-weight: 700; letter-spacing: .6px; text-transform: uppercase;
  padding: 3px 9px; border-radius: 999px; background: rgba(63,185,80,.15); color: var(--green); white-space: nowrap; }
.card[data-state="open"] .state, .card[data-state="forced-open"] .state { background: rgba(248,81,73,.15); color: var(--red); }
.card[data-state="half-open"] .state { background: rgba(210,153,34,.15); color: var(--amber); }
.card[data-state="forced-closed"] .state { background: rgba(88,166,255,.15); color: var(--blue); }
.headline { display: flex; align-items: flex-end; gap: 14px; }
.err { font-size: 34px; font-weight: 650; line-height: 1; font-variant-numeric: tabular-nums; }
.err small { font-size: 16px; font-weight: 500; color: var(--muted); margin-left: 2px; }
.vol { color: var(--muted); font-size: 12.5px; padding-bottom: 3px; }
.vol b { color: var(--text); font-variant-numeric: tabular-nums; }
.retry { color: var(--amber); font-size: 12px; }
svg.chart { width: 100%; height: 54px; display: block; background: #0d1117; border: 1px solid #21262d; border-radius: 6px; }
.legend { display: flex; gap: 12px; font-size: 11px; color: var(--muted); margin-top: -6px; }
.legend i { display: inline-block; width: 10px; height: 3px; border-radius: 2px; vertical-align: middle; margin-right: 4px; }
.counts { display: grid; grid-template-columns: repeat(4, 1fr); gap: 6px; }
.count { background: #0d1117; border: 1px solid #21262d; border-radius: 6px; padding: 5px 7px; }
.count .v { font-weight: 650; font-variant-numeric: tabular-nums; font-size: 15px; }
.count .k { color: var(--muted); font-size: 11px; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.count.success .v { color: var(--green); } .count.failure .v { color: var(--red); } .count.timeout .v { color: var(--orange); }
.count.rejected .v { color: var(--purple); } .count.short .v { color: var(--blue); } .count.fallback .v { color: var(--text); }
table.lat { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 12.5px; }
table.lat th { color: var(--muted); font-weight: 500; text-align: right; padding: 0 4px; font-size: 11px; white-space: nowrap; }
table.lat td { text-align: right; padding: 1px 4px; white-space: nowrap; }
table.lat th:first-child, table.lat td:first-child { text-align: left; padding-left: 0; color: var(--muted); }
.active { display: flex; align-items: center; gap: 8px; font-size: 12.5px; color: var(--muted); }
.active b { color: var(--text); font-variant-numeric: tabular-nums; }
.meter { flex: 1; height: 6px; background: #21262d; border-radius: 3px; overflow: hidden; }
.meter > div { height: 100%; width: 0; background: var(--blue); transition: width .3s; }
.props { color: var(--muted); font-size: 11.5px; border-top: 1px solid #21262d; padding-top: 8px; }
`

const script = `
(function () {
  "use strict";
  var cfg = window.__CIRCUITS__;
  var grid = document.getElementById("grid");
  var conn = document.getElementById("conn");
  var connText = document.getElementById("conn-text");
  var cards = new Map();
  var HISTORY = 60;
  var SVGNS = "http://www.w3.org/2000/svg";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(n) { return Math.round(n).toLocaleString("en-US"); }
  function ms(n) {
    if (n >= 10000) return (n / 1000).toFixed(1) + " s";
    return fmt(n) + " ms";
  }
  function duration(n) {
    if (n === 0) return "off";
    if (n >= 60000 && n % 60000 === 0) return (n / 60000) + " min";
    if (n >= 1000) return (n / 1000) + " s";
    return n + " ms";
  }

  function makeCard(name) {
    var card = el("article", "card");
    card.setAttribute("data-circuit", name);
    var top = el("div", "top");
    var nm = el("div", "name", name);
    nm.title = name;
    var state = el("span", "state", "closed");
    top.appendChild(nm); top.appendChild(state);

    var headline = el("div", "headline");
    var err = el("div", "err");
    var vol = el("div", "vol");
    headline.appendChild(err); headline.appendChild(vol);
    var retry = el("div", "retry");

    var svg = document.createElementNS(SVGNS, "svg");
    svg.setAttribute("class", "chart");
    svg.setAttribute("viewBox", "0 0 300 54");
    svg.setAttribute("preserveAspectRatio", "none");
    var area = document.createElementNS(SVGNS, "path");
    area.setAttribute("fill", "rgba(88,166,255,.18)");
    area.setAttribute("stroke", "#58a6ff");
    area.setAttribute("stroke-width", "1.5");
    area.setAttribute("vector-effect", "non-scaling-stroke");
    var line = document.createElementNS(SVGNS, "polyline");
    line.setAttribute("fill", "none");
    line.setAttribute("stroke", "#f85149");
    line.setAttribute("stroke-width", "1.5");
    line.setAttribute("vector-effect", "non-scaling-stroke");
    svg.appendChild(area); svg.appendChild(line);
    var legend = el("div", "legend");
    var l1 = el("span"); var i1 = el("i"); i1.style.background = "#58a6ff"; l1.appendChild(i1); l1.appendChild(document.createTextNode("requests/s"));
    var l2 = el("span"); var i2 = el("i"); i2.style.background = "#f85149"; l2.appendChild(i2); l2.appendChild(document.createTextNode("error % (0-100)"));
    var peak = el("span", "", ""); peak.style.marginLeft = "auto";
    legend.appendChild(l1); legend.appendChild(l2); legend.appendChild(peak);

    var counts = el("div", "counts");
    var kinds = [["success", "success"], ["failure", "failure"], ["timeout", "timeout"], ["rejected", "rejected"],
      ["short", "short-circuited"], ["fallback", "fallback ok"], ["fallback", "fallback failed"], ["fallback", "ignored"],
      ["fallback", "fallback rejected"]];
    var countEls = kinds.map(function (k) {
      var c = el("div", "count " + k[0]);
      var v = el("div", "v", "0");
      c.appendChild(v); c.appendChild(el("div", "k", k[1]));
      counts.appendChild(c);
      return v;
    });

    var lat = el("table", "lat");
    var head = el("tr");
    ["latency", "p50", "p90", "p99", "p99.5", "max", "mean"].forEach(function (h) { head.appendChild(el("th", "", h)); });
    lat.appendChild(head);
    function latRow(label) {
      var tr = el("tr");
      tr.appendChild(el("td", "", label));
      var cells = [];
      for (var i = 0; i < 6; i++) { var td = el("td", "", "0"); cells.push(td); tr.appendChild(td); }
      lat.appendChild(tr);
      return cells;
    }
    var exec = latRow("run");
    var total = latRow("total");

    var active = el("div", "active");
    var activeText = el("span");
    var meter = el("div", "meter"); var fill = el("div"); meter.appendChild(fill);
    var peakActive = el("span");
    active.appendChild(activeText); active.appendChild(meter); active.appendChild(peakActive);

    var props = el("div", "props");

    [top, headline, retry, svg, legend, counts, lat, active, props].forEach(function (x) { card.appendChild(x); });
    var c = { card: card, state: state, err: err, vol: vol, retry: retry, area: area, line: line, peak: peak,
      counts: countEls, exec: exec, total: total, activeText: activeText, fill: fill, peakActive: peakActive, props: props, history: [], seen: 0 };
    // Keep the cards sorted by name.
    var names = Array.from(cards.keys()).concat([name]).sort();
    var next = names[names.indexOf(name) + 1];
    grid.insertBefore(card, next === undefined ? null : cards.get(next).card);
    cards.set(name, c);
    var empty = document.getElementById("empty");
    if (empty) empty.remove();
    return c;
  }

  function draw(c) {
    var h = c.history, n = h.length;
    var maxRate = 1;
    h.forEach(function (p) { if (p.rate > maxRate) maxRate = p.rate; });
    var step = 300 / (HISTORY - 1);
    var x0 = 300 - (n - 1) * step;
    var d = "", pts = "";
    h.forEach(function (p, i) {
      var x = (x0 + i * step).toFixed(1);
      var y = (52 - (p.rate / maxRate) * 48).toFixed(1);
      d += (i === 0 ? "M" : "L") + x + " " + y + " ";
      pts += x + "," + (52 - (p.err / 100) * 48).toFixed(1) + " ";
    });
    if (n > 0) d += "L300 54 L" + x0.toFixed(1) + " 54 Z";
    c.area.setAttribute("d", d);
    c.line.setAttribute("points", pts);
    c.peak.textContent = "peak " + fmt(maxRate) + "/s";
  }

  function update(m) {
    var c = cards.get(m.name) || makeCard(m.name);
    var state = m.state || (m.propertyValue_circuitBreakerForceOpen ? "forced-open"
      : m.propertyValue_circuitBreakerForceClosed ? "forced-closed" : m.isCircuitBreakerOpen ? "open" : "closed");
    c.card.setAttribute("data-state", state);
    c.card.classList.remove("stale");
    c.seen = Date.now();
    c.state.textContent = state;
    var windowS = m.propertyValue_metricsRollingStatisticalWindowInMilliseconds / 1000;
    var rate = windowS > 0 ? m.requestCount / windowS : 0;
    var threshold = m.propertyValue_circuitBreakerErrorThresholdPercentage;
    c.err.textContent = "";
    c.err.appendChild(document.createTextNode(String(m.errorPercentage)));
    c.err.appendChild(el("small", "", "%"));
    c.err.style.color = m.errorPercentage >= threshold && m.requestCount > 0 ? "var(--red)"
      : m.errorPercentage >= threshold / 2 && m.requestCount > 0 ? "var(--amber)" : "var(--text)";
    c.vol.textContent = "";
    c.vol.appendChild(document.createTextNode("errors · "));
    c.vol.appendChild(el("b", "", fmt(m.errorCount)));
    c.vol.appendChild(document.createTextNode(" of "));
    c.vol.appendChild(el("b", "", fmt(m.requestCount)));
    c.vol.appendChild(document.createTextNode(" requests / " + duration(m.propertyValue_metricsRollingStatisticalWindowInMilliseconds) + " · "));
    c.vol.appendChild(el("b", "", rate.toFixed(1)));
    c.vol.appendChild(document.createTextNode("/s"));
    c.retry.textContent = state === "open" ? "short-circuiting · probe after " + duration(m.propertyValue_circuitBreakerSleepWindowInMilliseconds) + " sleep window"
      : state === "half-open" ? "probing: one call is testing the dependency"
      : state === "forced-open" ? "forced open: every call is short-circuited" : "";
    c.retry.style.display = c.retry.textContent ? "" : "none";
    var values = [m.rollingCountSuccess, m.rollingCountFailure, m.rollingCountTimeout,
      m.rollingCountSemaphoreRejected + m.rollingCountThreadPoolRejected, m.rollingCountShortCircuited,
      m.rollingCountFallbackSuccess, m.rollingCountFallbackFailure, m.rollingCountBadRequests,
      m.rollingCountFallbackRejection];
    values.forEach(function (v, i) { c.counts[i].textContent = fmt(v); });
    // Fallback rejections only happen with a fallback limit: the tile shows with one (or a rejection).
    c.counts[8].parentNode.style.display =
      m.propertyValue_fallbackIsolationSemaphoreMaxConcurrentRequests >= 2147483647 && !m.rollingCountFallbackRejection ? "none" : "";
    [[c.exec, m.latencyExecute, m.latencyExecute_mean], [c.total, m.latencyTotal, m.latencyTotal_mean]].forEach(function (r) {
      var cells = r[0], l = r[1];
      [l["50"], l["90"], l["99"], l["99.5"], l["100"], r[2]].forEach(function (v, i) { cells[i].textContent = ms(v); });
    });
    var max = m.propertyValue_executionIsolationSemaphoreMaxConcurrentRequests;
    var unlimited = max >= 2147483647;
    c.activeText.textContent = "";
    c.activeText.appendChild(document.createTextNode("active "));
    c.activeText.appendChild(el("b", "", fmt(m.currentConcurrentExecutionCount)));
    c.activeText.appendChild(document.createTextNode(unlimited ? " (no limit)" : " / " + fmt(max)));
    // An adaptive limit: the number above is the live one.
    if (m.concurrencyLimit && m.concurrencyLimit !== "fixed") c.activeText.appendChild(el("small", "adaptive", " " + m.concurrencyLimit));
    c.fill.style.width = unlimited || max === 0 ? "0" : Math.min(100, 100 * m.currentConcurrentExecutionCount / max) + "%";
    c.peakActive.textContent = "peak " + fmt(m.rollingMaxConcurrentExecutionCount);
    c.props.textContent = "trips at ≥ " + threshold + "% of ≥ " + m.propertyValue_circuitBreakerRequestVolumeThreshold +
      " requests · sleep " + duration(m.propertyValue_circuitBreakerSleepWindowInMilliseconds) +
      " · timeout " + duration(m.propertyValue_executionTimeoutInMilliseconds);
    c.history.push({ rate: rate, err: m.requestCount > 0 ? m.errorPercentage : 0 });
    if (c.history.length > HISTORY) c.history.shift();
    draw(c);
    summary();
  }

  function summary() {
    var open = 0, half = 0, total = 0;
    cards.forEach(function (c) {
      total++;
      var s = c.card.getAttribute("data-state");
      if (s === "open" || s === "forced-open") open++;
      if (s === "half-open") half++;
    });
    document.getElementById("n-total").textContent = String(total);
    document.getElementById("n-open").textContent = String(open);
    document.getElementById("n-half").textContent = String(half);
  }

  function connect() {
    var source = new EventSource(cfg.streamUrl);
    source.onopen = function () { conn.className = "conn live"; connText.textContent = "live"; };
    source.onerror = function () { conn.className = "conn down"; connText.textContent = "reconnecting…"; };
    source.onmessage = function (e) {
      var m;
      try { m = JSON.parse(e.data); } catch (_) { return; }
      if (m && m.type === "HystrixCommand") update(m);
      conn.className = "conn live"; connText.textContent = "live · " + new Date().toLocaleTimeString();
    };
  }
  setInterval(function () {
    var now = Date.now();
    cards.forEach(function (c) { if (now - c.seen > 5000) c.card.classList.add("stale"); });
  }, 1000);
  connect();
})();
`

/**
 * The whole page.
 *
 * @since 0.1.0
 * @category constructors
 */
export const html = (options: Options = {}): string => {
  const title = options.title ?? "Circuits"
  const config = { streamUrl: options.streamUrl ?? "/hystrix.stream" }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${css}</style>
</head>
<body>
<header>
  <h1>${escapeHtml(title)}</h1>
  <div class="summary"><span><b id="n-total">0</b> circuits</span><span><b id="n-open">0</b> open</span><span><b id="n-half">0</b> half-open</span></div>
  <div id="conn" class="conn"><span class="dot"></span><span id="conn-text">connecting…</span></div>
</header>
<main id="grid"><div id="empty" class="empty">Waiting for circuits… (a circuit appears after its first call)</div></main>
<script>window.__CIRCUITS__ = ${scriptValue(config)};</script>
<script>${script}</script>
</body>
</html>
`
}

/**
 * Adds `GET <path>` (default `/dashboard`) serving the page.
 *
 * @since 0.1.0
 * @category http
 */
export const layerHttp = (
  options: Options & { readonly path?: HttpRouter.PathInput | undefined } = {}
): Layer.Layer<never, never, HttpRouter.HttpRouter> => {
  const page = html(options)
  return HttpRouter.add(
    "GET",
    options.path ?? "/dashboard",
    Effect.sync(() => HttpServerResponse.html(page))
  )
}

/**
 * A plain Node `(req, res)` handler serving the page.
 *
 * @since 0.1.0
 * @category http
 */
export const nodeHandler = (options: Options = {}): (req: NodeRequest, res: NodeResponse) => void => {
  const page = html(options)
  return (_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" })
    res.end(page)
  }
}

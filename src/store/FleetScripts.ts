/**
 * The fleet store's changes as Redis Lua scripts: one atomic script per
 * change, each the `FleetModel` function of the same name, run inside Redis.
 *
 * **Details**
 *
 * - One circuit is one hash key, `<prefix>{<name>}`: the hash tag keeps a
 *   circuit's key in one Cluster slot whatever the prefix. Fields: `st`
 *   (state), `g` (generation), `oa` (openedAt), `n` (openings), `lh` (the
 *   probe leases held: `"<ticket> <until> ..."`, at most `halfOpenProbes`),
 *   `lu` (the latest end of a lease held, which is all a script of an
 *   earlier version reads of them), `lg` (the generation `lh` and `ps` were
 *   written in: with `lu`, their fence against such a script), `ps` (the
 *   round's probes that succeeded), `pk` (the `halfOpenProbes` it counts to), `lt` (the last
 *   ticket), `sk` (errors in a row), `br` (when a stable backoff resets),
 *   `bk`/`bm` (the window's shape), `ci` (the current bucket's index),
 *   `ta` (the Retry-After that lengthens the current opening) with `to`
 *   (the `oa` of the opening it belongs to: a key last written by a script
 *   that did not know `ta` cannot lend an older opening's hint to a newer
 *   one; no field but the ring's starts with `r`) and the ring: `r<slot>` = `"<bucket index> <7 counts> <slow>"` for
 *   `slot = index mod buckets`, so the key never holds more than `buckets`
 *   buckets whatever the call rate (a ring cell written before slow calls
 *   were counted has no `<slow>`: 0).
 * - Every script takes the store's time as its first argument; an empty
 *   string means Redis `TIME` (production), a number drives the script from
 *   a test's clock.
 * - Every script answers the circuit as it stands (`FleetModel.view`), all
 *   numbers as exact decimal strings, and refreshes the key's time to live.
 * - A change of generation (a trip, a probe taken, a close) is published on
 *   the channel given (`<prefix>changes`), with the circuit's name, so that
 *   processes that have not used the circuit lately read it at once.
 * - Bad arguments fail the script before it writes anything.
 *
 * **Gotchas**
 *
 * - `TIME` inside a script needs effect replication (the default since
 *   Redis 5; the only mode since 7).
 *
 * @since 0.1.0
 */
import * as Redis from "effect/persistence/Redis"
import * as Window from "../core/Window.ts"
import {
  type BatchStreak,
  type FleetRule,
  type FleetStateName,
  type FleetView,
  noStreak,
  type ProbeOutcome,
  retryAfterOf
} from "./FleetModel.ts"

// Shared by every script: arguments, the hash as a table, the window as a
// ring, the answer. ARGV: now, idle, volume, percent, buckets, bucketMillis,
// generation, consecutive failures (0: off), slow percent (-1: off), stable
// backoff (1) or not (0), half-open probes, then the script's own (from ARGV 12), then the
// channel to announce a change of generation on ("" for none) and the
// circuit's name.
const prelude = `
local key = KEYS[1]
local function bad(name) error({ err = "ERR effect-circuit: bad argument " .. name }) end
local function number(i, name, min)
  local v = tonumber(ARGV[i])
  if v == nil or v ~= v or v < min or v > 1e300 then bad(name) end
  return v
end
local function fmt(v) return string.format("%.17g", v) end
local now
if ARGV[1] == "" then
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = number(1, "now", 0)
end
local idle = number(2, "idle", 1)
local volume = number(3, "requestVolumeThreshold", 0)
local percent = number(4, "errorPercentThreshold", 0)
local buckets = number(5, "buckets", 1)
local bucketMillis = number(6, "bucketMillis", 0)
local generation = number(7, "generation", 0)
local consecutive = number(8, "consecutiveFailures", 0)
local slowPercent = number(9, "slowCallPercentThreshold", -1)
local stable = number(10, "backoffReset", 0)
local probes = number(11, "halfOpenProbes", 1)
if probes ~= math.floor(probes) then bad("halfOpenProbes") end
local channel = ARGV[#ARGV - 1]
local circuit = ARGV[#ARGV]
if bucketMillis <= 0 or buckets ~= math.floor(buckets) then bad("shape") end

local raw = redis.call("HGETALL", key)
local h = {}
for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
local exists = h.st ~= nil
local st = h.st or "closed"
local g = tonumber(h.g) or 0
local oa = tonumber(h.oa) or 0
local n = tonumber(h.n) or 0
-- The probe leases held, as { ticket, until }, and the round's successes. They hold only if
-- written in this generation (lg) with lu their latest end: a script of an earlier version
-- changes st, g and lu alone, and its one lease (lu) is then the only one held.
local leases = {}
local ps = tonumber(h.ps) or 0
do
  local v = {}
  local latest = 0
  for x in string.gmatch(h.lh or "", "%S+") do v[#v + 1] = tonumber(x) end
  for i = 1, #v - 1, 2 do
    leases[#leases + 1] = { v[i], v[i + 1] }
    if v[i + 1] > latest then latest = v[i + 1] end
  end
  local lu = tonumber(h.lu) or 0
  if tonumber(h.lg) ~= g or latest ~= lu then
    leases = {}
    ps = 0
    if st == "half-open" and lu > 0 then leases[1] = { 0, lu } end
  end
end
local lt = tonumber(h.lt) or 0
local pk = tonumber(h.pk) or probes
-- FleetModel.withProbes: another number of probes starts the round's count of successes again.
if pk ~= probes then
  pk = probes
  ps = 0
end
local sk = tonumber(h.sk) or 0
local br = tonumber(h.br) or 0
-- A Retry-After belongs to the opening it was given for.
local ra = tonumber(h.ta) or 0
if tonumber(h.to) ~= oa then ra = 0 end
local loaded = g
local bk = tonumber(h.bk) or buckets
local bm = tonumber(h.bm) or bucketMillis
local ci = tonumber(h.ci) or math.floor(now / bucketMillis)
local ring = {}
local changed = {}
local deleted = {}
for f, v in pairs(h) do
  if string.sub(f, 1, 1) == "r" then
    local cell = {}
    for x in string.gmatch(v, "%S+") do cell[#cell + 1] = tonumber(x) end
    ring[tonumber(string.sub(f, 2))] = cell
  end
end

-- FleetModel.shaped: a new shape starts an empty window at now.
local function shape()
  if bk ~= buckets or bm ~= bucketMillis then
    for slot, _ in pairs(ring) do deleted[#deleted + 1] = "r" .. slot end
    ring = {}
    changed = {}
    bk = buckets
    bm = bucketMillis
    ci = math.floor(now / bm)
    sk = 0
  end
end
local function emptyWindow()
  bk = buckets
  bm = bucketMillis
  for slot, _ in pairs(ring) do deleted[#deleted + 1] = "r" .. slot end
  ring = {}
  changed = {}
  ci = math.floor(now / bm)
end
-- FleetModel.addAt: roll to now (never back), then add to the current bucket.
local function add(c)
  local idx = math.floor(now / bm)
  if idx > ci then ci = idx end
  local any = false
  for k = 1, 8 do if c[k] ~= 0 then any = true end end
  if not any then return end
  local slot = ci % bk
  local cell = ring[slot]
  if cell == nil or cell[1] ~= ci then
    cell = { ci, 0, 0, 0, 0, 0, 0, 0, 0 }
    ring[slot] = cell
  end
  for k = 1, 8 do cell[k + 1] = (cell[k + 1] or 0) + c[k] end
  changed[slot] = true
end
-- Window.totals(Window.rollTo(window, now)).
local function totals()
  local idx = math.floor(now / bm)
  if idx < ci then idx = ci end
  local t = { 0, 0, 0, 0, 0, 0, 0, 0 }
  for _, cell in pairs(ring) do
    if cell[1] <= idx and cell[1] > idx - bk then
      for k = 1, 8 do t[k] = t[k] + (cell[k + 1] or 0) end
    end
  end
  return t
end
-- Breaker.exceedsThresholds: the error percentage, or the slow percentage when on.
local function exceeds()
  local t = totals()
  local requests = t[1] + t[2] + t[3] + t[4]
  if requests < volume then return false end
  if (t[2] + t[3] + t[4]) * 100 >= percent * requests then return true end
  return slowPercent >= 0 and t[8] * 100 >= slowPercent * requests
end
-- FleetModel.opened: from closed a fresh count of openings, unless a stable backoff survives the close;
-- the opening lasts at least the Retry-After of what opened it.
local function opened(retryAfter)
  if st == "half-open" or (stable == 1 and now < br) then n = n + 1 else n = 1 end
  st = "open"
  g = g + 1
  oa = now
  leases = {}
  ps = 0
  ra = retryAfter
end
local function save(tag)
  local lu, ln = 0, 0
  local held = {}
  for _, l in ipairs(leases) do
    if l[2] > lu then lu = l[2] end
    if ln == 0 or l[2] < ln then ln = l[2] end
    held[#held + 1] = fmt(l[1]) .. " " .. fmt(l[2])
  end
  local args = {
    "st", st, "g", fmt(g), "oa", fmt(oa), "n", fmt(n), "lu", fmt(lu), "sk", fmt(sk), "br", fmt(br),
    "lh", table.concat(held, " "), "lg", fmt(g), "ps", fmt(ps), "pk", fmt(pk), "lt", fmt(lt),
    "bk", fmt(bk), "bm", fmt(bm), "ci", fmt(ci), "ta", fmt(ra), "to", fmt(oa)
  }
  for slot, _ in pairs(changed) do
    local cell = ring[slot]
    local parts = {}
    for k = 1, 9 do parts[k] = fmt(cell[k] or 0) end
    args[#args + 1] = "r" .. slot
    args[#args + 1] = table.concat(parts, " ")
  end
  local kept = {}
  for _, f in ipairs(deleted) do
    local slot = tonumber(string.sub(f, 2))
    if ring[slot] == nil then kept[#kept + 1] = f end
  end
  if #kept > 0 then redis.call("HDEL", key, unpack(kept)) end
  redis.call("HSET", key, unpack(args))
  redis.call("PEXPIRE", key, fmt(idle))
  -- Processes that have not used the circuit lately hear of a state change at once.
  if channel ~= "" and g ~= loaded then redis.call("PUBLISH", channel, circuit) end
  local t = totals()
  local out = { tag, st, fmt(g), fmt(oa), fmt(n), fmt(lu), fmt(now) }
  for k = 1, 8 do out[#out + 1] = fmt(t[k]) end
  out[#out + 1] = fmt(sk)
  out[#out + 1] = fmt(ra)
  out[#out + 1] = fmt(#leases)
  out[#out + 1] = fmt(ln)
  out[#out + 1] = fmt(ps)
  out[#out + 1] = fmt(lt)
  return out
end
-- FleetModel.record: c is the 7 counts and slow; the batch ends with
-- \`trailing\` errors after its last success, and \`broken\` says it had one;
-- \`retryAfter\` is its failures' longest Retry-After.
local function record(c, trailing, broken, retryAfter)
  shape()
  add(c)
  if broken then sk = trailing else sk = sk + trailing end
  if generation == g and st == "closed" and (c[1] + c[2] + c[3] + c[4]) > 0 and
    (exceeds() or (consecutive > 0 and sk >= consecutive)) then opened(retryAfter) end
end
`

/**
 * `FleetModel.record`: ARGV 12–18 are the seven counts, 19 the slow count,
 * 20 the errors after the batch's last success, 21 whether it had one (1) or
 * not (0), 22 the longest Retry-After of its failures (0: none).
 *
 * @since 0.1.0
 * @category scripts
 */
export const recordLua = `${prelude}
local c = {}
for k = 1, 8 do
  c[k] = number(11 + k, "count", 0)
  if c[k] ~= math.floor(c[k]) then bad("count") end
end
local trailing = number(20, "trailing", 0)
local broken = number(21, "broken", 0)
local retryAfter = number(22, "retryAfter", 0)
record(c, trailing, broken == 1, retryAfter)
return save("ok")
`

/**
 * `FleetModel.acquire`: ARGV 12 is the sleep window, 13 the lease.
 *
 * @since 0.1.0
 * @category scripts
 */
export const acquireLua = `${prelude}
local sleep = number(12, "sleepMillis", 0)
local lease = number(13, "leaseMillis", 1)
if generation == g and st == "open" and now - oa >= math.max(sleep, ra) then
  st = "half-open"
  g = g + 1
  lt = lt + 1
  leases = { { lt, now + lease } }
  ps = 0
  return save("probe")
end
if generation == g and st == "half-open" then
  -- A lapsed lease is a freed slot.
  local live = {}
  for _, l in ipairs(leases) do if l[2] > now then live[#live + 1] = l end end
  if #live + ps < pk then
    -- A round afresh (nothing running, nothing succeeded) is a new generation.
    if #live == 0 and ps == 0 then g = g + 1 end
    lt = lt + 1
    live[#live + 1] = { lt, now + lease }
    leases = live
    return save("probe")
  end
end
return save("denied")
`

/**
 * `FleetModel.settle`: ARGV 12 is the probe's outcome, 13 whether it was slow
 * (1) or not (0), 14 a failure's Retry-After (0: none), 15 the lease's ticket.
 *
 * @since 0.1.0
 * @category scripts
 */
export const settleLua = `${prelude}
local outcome = ARGV[12]
local slow = number(13, "slow", 0)
local retryAfter = number(14, "retryAfter", 0)
local ticket = number(15, "ticket", 0)
local one = {
  success = { 1, 0, 0, 0, 0, 0, 0, 0 }, failure = { 0, 1, 0, 0, 0, 0, 0, 0 }, timeout = { 0, 0, 1, 0, 0, 0, 0, 0 },
  rejected = { 0, 0, 0, 1, 0, 0, 0, 0 }, interrupted = { 0, 0, 0, 0, 0, 0, 0, 0 }, ignored = { 0, 0, 0, 0, 0, 0, 0, 0 }
}
local c = one[outcome]
if c == nil then bad("outcome") end
-- FleetModel.countsOf: a slow request (never a rejection) counts as slow too.
if slow == 1 and c[1] + c[2] + c[3] > 0 then c = { c[1], c[2], c[3], c[4], 0, 0, 0, 1 } end
local held = false
local others = {}
if generation == g and st == "half-open" then
  for _, l in ipairs(leases) do
    if l[1] == ticket then held = true else others[#others + 1] = l end
  end
end
if not held then
  if outcome == "success" then record(c, 0, true, retryAfter)
  elseif c[1] + c[2] + c[3] + c[4] > 0 then record(c, 1, false, retryAfter)
  else record(c, 0, false, retryAfter) end
elseif outcome == "success" and ps + 1 < pk then
  -- Counted; the slot is not given again.
  leases = others
  ps = ps + 1
  shape()
  add(c)
  sk = 0
elseif outcome == "success" then
  -- FleetModel.settle: a stable backoff keeps the count of openings.
  if stable == 1 then br = now + (now - oa) else n = 0; br = 0 end
  st = "closed"
  g = g + 1
  oa = 0
  leases = {}
  ps = 0
  sk = 0
  ra = 0
  emptyWindow()
elseif outcome == "interrupted" or outcome == "ignored" then
  leases = others
else
  shape()
  add(c)
  sk = sk + 1
  opened(retryAfter)
end
return save("ok")
`

/**
 * Where a script announces a change of generation: the channel ("" for
 * nowhere) and the circuit's name to publish.
 *
 * @since 0.1.0
 * @category models
 */
export interface Announce {
  readonly channel: string
  readonly circuit: string
}

const noAnnounce: Announce = { channel: "", circuit: "" }

/**
 * A script's raw answer: a tag, then the view's fields as strings.
 *
 * @since 0.1.0
 * @category models
 */
export type Reply = ReadonlyArray<string>

// The arguments every script starts with.
const common = (
  now: number | undefined,
  idleMillis: number,
  rule: FleetRule,
  generation: number
): Array<string> => [
  now === undefined ? "" : String(now),
  String(idleMillis),
  String(rule.requestVolumeThreshold),
  String(rule.errorPercentThreshold),
  String(rule.buckets),
  String(rule.bucketMillis),
  String(generation),
  String(rule.consecutiveFailures === undefined || rule.consecutiveFailures === Infinity ? 0 : rule.consecutiveFailures),
  String(rule.slowCallPercentThreshold ?? -1),
  rule.backoffReset === "stable" ? "1" : "0",
  String(rule.halfOpenProbes ?? 1)
]

/**
 * @since 0.1.0
 * @category scripts
 */
export const record = Redis.script(
  (
    key: string,
    now: number | undefined,
    idleMillis: number,
    rule: FleetRule,
    generation: number,
    counts: Window.Counts,
    channel: Announce = noAnnounce,
    streak: BatchStreak = noStreak,
    retryAfter = 0
  ) => [
    key,
    ...common(now, idleMillis, rule, generation),
    ...Window.kinds.map((kind) => String(counts[kind])),
    String(counts.slow ?? 0),
    String(streak.trailing),
    streak.broken ? "1" : "0",
    String(retryAfterOf(retryAfter)),
    channel.channel,
    channel.circuit
  ],
  { lua: recordLua, numberOfKeys: 1 }
).withReturnType<Reply>()

/**
 * @since 0.1.0
 * @category scripts
 */
export const acquire = Redis.script(
  (
    key: string,
    now: number | undefined,
    idleMillis: number,
    rule: FleetRule,
    generation: number,
    sleepMillis: number,
    leaseMillis: number,
    channel: Announce = noAnnounce
  ) => [
    key,
    ...common(now, idleMillis, rule, generation),
    String(sleepMillis),
    String(leaseMillis),
    channel.channel,
    channel.circuit
  ],
  { lua: acquireLua, numberOfKeys: 1 }
).withReturnType<Reply>()

/**
 * @since 0.1.0
 * @category scripts
 */
export const settle = Redis.script(
  (
    key: string,
    now: number | undefined,
    idleMillis: number,
    rule: FleetRule,
    generation: number,
    ticket: number,
    outcome: ProbeOutcome,
    channel: Announce = noAnnounce,
    slow = false,
    retryAfter = 0
  ) => [
    key,
    ...common(now, idleMillis, rule, generation),
    outcome,
    slow ? "1" : "0",
    String(retryAfterOf(retryAfter)),
    String(ticket),
    channel.channel,
    channel.circuit
  ],
  { lua: settleLua, numberOfKeys: 1 }
).withReturnType<Reply>()

const states: ReadonlySet<string> = new Set(["closed", "open", "half-open"])

/**
 * Reads a script's answer; `undefined` if it is not one (a store that is not
 * ours, or a proxy that mangled it).
 *
 * @since 0.1.0
 * @category conversions
 */
export const decodeReply = (reply: unknown): { readonly tag: string; readonly view: FleetView } | undefined => {
  if (!Array.isArray(reply) || reply.length !== 21) return undefined
  const [tag, state] = reply as Array<unknown>
  if (typeof tag !== "string" || typeof state !== "string" || !states.has(state)) return undefined
  const n: Array<number> = []
  for (let i = 2; i < 21; i++) {
    const v = Number(reply[i])
    if (!Number.isFinite(v)) return undefined
    n.push(v)
  }
  return {
    tag,
    view: {
      state: state as FleetStateName,
      generation: n[0]!,
      openedAt: n[1]!,
      openings: n[2]!,
      leaseUntil: n[3]!,
      leases: n[15]!,
      leaseNext: n[16]!,
      probesSucceeded: n[17]!,
      ticket: n[18]!,
      now: n[4]!,
      totals: {
        success: n[5]!,
        failure: n[6]!,
        timeout: n[7]!,
        rejected: n[8]!,
        shortCircuited: n[9]!,
        fallbackSuccess: n[10]!,
        fallbackFailure: n[11]!,
        slow: n[12]!
      },
      streak: n[13]!,
      retryAfter: n[14]!
    }
  }
}

/**
 * The key of circuit `name` under `prefix`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyOf = (prefix: string, name: string): string => `${prefix}{${name}}`

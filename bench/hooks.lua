-- wrk's side of bench/hooks.py: Bitrix24 event notifications as the portal posts them (form-encoded,
-- signed with auth[application_token]; docs/protocols/bitrix24.md §6.3), deal, contact and invoice
-- events in turn. Run as `wrk ... -s bench/hooks.lua <url> -- <token>`; `done` prints one line that
-- bench/hooks.py reads: requests, seconds, error counts and latency percentiles in microseconds.

local threads = {}
local token = ""
local counter = 0

local events = {
  "event=ONCRMDEALUPDATE&data%%5BFIELDS%%5D%%5BID%%5D=%d",
  "event=ONCRMCONTACTUPDATE&data%%5BFIELDS%%5D%%5BID%%5D=%d",
  "event=ONCRMDYNAMICITEMUPDATE&data%%5BFIELDS%%5D%%5BID%%5D=%d&data%%5BFIELDS%%5D%%5BENTITY_TYPE_ID%%5D=31",
}
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function setup(thread)
  -- Each thread starts its ids elsewhere, so threads do not post the same objects in step.
  thread:set("offset", #threads * 1000)
  table.insert(threads, thread)
end

function init(args)
  token = args[1] or ""
  counter = offset or 0
end

function request()
  counter = counter + 1
  local n = counter % 5000 + 1
  local body = string.format(events[counter % 3 + 1], n)
    .. "&ts=1736405807&auth%5Bdomain%5D=portal.bench&auth%5Bapplication_token%5D=" .. token
  return wrk.format("POST", "/hooks/bitrix24", headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "OBMEN-BENCH requests=%d micros=%d connect=%d read=%d write=%d status=%d timeout=%d p50=%d p95=%d p99=%d max=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end

-- wrk script shared by every scenario of bench/run.py. Settings come from the environment:
--   BENCH_PATHS   file with one request path per line; each request picks one at random (else wrk's URL)
--   BENCH_BODIES  file with one JSON body per line; when set, every request is a POST of a random body
--   BENCH_EXPECT  the status every answer must have (default 200); others are counted as "unexpected"
-- A new session cookie in an answer replaces the one sent, as a browser's would (the portal renews an
-- unchanged session's cookie once it is a minute old).
-- done() prints one JSON line: request count, duration, latency percentiles (microseconds), errors.

local function lines(name)
  local found = {}
  if name == nil or name == "" then return found end
  for line in io.lines(name) do
    if line ~= "" then found[#found + 1] = line end
  end
  return found
end

local paths = lines(os.getenv("BENCH_PATHS"))
local bodies = lines(os.getenv("BENCH_BODIES"))
local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(os.time() * 100 + tid)
  unexpected = 0
  last_unexpected = ""
  if #bodies > 0 then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
  end
end

function request()
  local path = wrk.path
  if #paths > 0 then path = paths[math.random(#paths)] end
  local body = nil
  if #bodies > 0 then body = bodies[math.random(#bodies)] end
  return wrk.format(nil, path, nil, body)
end

function response(status, headers, body)
  if status ~= expect then
    unexpected = unexpected + 1
    last_unexpected = tostring(status)
  end
  local renewed = headers["Set-Cookie"]
  if renewed ~= nil then
    local session = string.match(renewed, "^(session=[^;]*)")
    if session ~= nil then wrk.headers["Cookie"] = session end
  end
end

function done(summary, latency, requests)
  local bad, last = 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + (thread:get("unexpected") or 0)
    local seen = thread:get("last_unexpected")
    if seen ~= nil and seen ~= "" then last = seen end
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "unexpected": %d, "last_unexpected": "%s", ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p95": %d, "p99": %d, "mean": %.1f, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes, bad, last,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99),
    latency.mean, latency.max))
end

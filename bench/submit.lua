-- wrk script: every connection is one phone that opened the form once (its session cookie and
-- CSRF token come from the driver, one pair per thread), then submits again and again, each time
-- with a new submission UUID. The driver runs wrk with as many threads as connections.
-- Counts answers without a receipt; done() prints one JSON line for the driver.

local phones = {}      -- filled by the driver: { {cookie=..., token=...}, ... }
local body_rest = ""   -- the urlencoded answers (the same for every submission)
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  thread:set("cookie", phones[(counter - 1) % #phones + 1].cookie)
  thread:set("token", phones[(counter - 1) % #phones + 1].token)
  thread:set("body_rest", body_rest)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(id * 7919 + os.time())
  missing = 0
  bad_status = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Cookie"] = cookie
end

local function uuid4()
  local function hex(n)
    local s = ""
    for _ = 1, n do s = s .. string.format("%x", math.random(0, 15)) end
    return s
  end
  return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-" ..
         string.format("%x", math.random(8, 11)) .. hex(3) .. "-" .. hex(12)
end

function request()
  local body = "csrf_token=" .. token .. "&submission_uuid=" .. uuid4() .. "&" .. body_rest
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
  elseif not string.find(body, 'id="receipt"', 1, true) then
    missing = missing + 1
  end
end

function done(summary, latency, requests)
  local without_receipt, failed = 0, 0
  for _, t in ipairs(threads) do
    without_receipt = without_receipt + t:get("missing")
    failed = failed + t:get("bad_status")
  end
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"non_2xx": %d, "socket_errors": %d, "without_receipt": %d, "not_200": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    without_receipt, failed))
end

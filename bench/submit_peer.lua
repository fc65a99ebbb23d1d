-- wrk script for the peer (django-survey-and-report, bench/peer_survey.py): every connection is one
-- respondent that opened the survey once (its csrftoken cookie and the page's csrfmiddlewaretoken
-- come from the driver, one pair per thread), then posts the same valid answers again and again.
-- The peer answers a stored response with 302 to /survey/confirm/<uuid>/ and an invalid one with
-- 200 (the form again): anything but that 302 counts as failed. The driver runs wrk with as many
-- threads as connections; done() prints one JSON line for it.

local phones = {}      -- filled by the driver: { {cookie=..., token=...}, ... }
local body_rest = ""   -- the urlencoded answers (the same for every submission)
local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("cookie", phones[(counter - 1) % #phones + 1].cookie)
  thread:set("token", phones[(counter - 1) % #phones + 1].token)
  thread:set("body_rest", body_rest)
  table.insert(threads, thread)
end

function init(args)
  missing = 0
  bad_status = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["Cookie"] = cookie
  wrk.body = "csrfmiddlewaretoken=" .. token .. "&" .. body_rest
end

function response(status, headers, body)
  if status ~= 302 then
    bad_status = bad_status + 1
  else
    local location = headers["Location"] or headers["location"] or ""
    if not string.find(location, "/confirm/", 1, true) then
      missing = missing + 1
    end
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

-- wrk script for tests/bench/bench_predict.py: POSTs the bodies in the files named after `--`, in
-- turn, and prints one JSON line with the answers counted by status and the latency figures.
local bodies = {}
local sent = 0
statuses = {}

function init(args)
  for _, path in ipairs(args) do
    local file = assert(io.open(path, "rb"))
    bodies[#bodies + 1] = file:read("*a")
    file:close()
  end
end

function request()
  sent = sent + 1
  return wrk.format("POST", "/", { ["Content-Type"] = "application/json" }, bodies[sent % #bodies + 1])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do
    parts[#parts + 1] = string.format('"%d": %d', status, count)
  end
  local errors = summary.errors
  io.write(string.format(
    '{"statuses": {%s}, "requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, '
      .. '"socket_errors": %d}\n',
    table.concat(parts, ", "), summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3, errors.connect + errors.read + errors.write + errors.timeout
  ))
end

-- wrk script: every request is a different pre-signed Influencer Hero webhook with a current
-- X-InfluencerHero-Timestamp. Usage: wrk ... -s bench/bodies.lua URL -- BODIES_FILE THREADS
-- BODIES_FILE has one "signature<TAB>path<TAB>body" line per webhook; thread k of n sends lines
-- k, k+n, k+2n, ... so no two requests of a run carry the same body until a thread wraps around
-- (reported as "wrapped"). done() prints one JSON line for bench/run.ts.

local threads = {}
local count = 0

function setup(thread)
  thread:set("index", count)
  count = count + 1
  table.insert(threads, thread)
end

function init(args)
  local file, total = args[1], tonumber(args[2])
  heads, tails, n, at, wrapped = {}, {}, 0, 0, 0
  local line_number = 0
  for line in io.lines(file) do
    if line_number % total == index then
      local signature, path, body = line:match("^(%x+)\t(%S+)\t(.*)$")
      n = n + 1
      heads[n] = "POST " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n" ..
        "Content-Type: application/json\r\nContent-Length: " .. #body .. "\r\n" ..
        "X-InfluencerHero-Signature: " .. signature .. "\r\nX-InfluencerHero-Timestamp: "
      tails[n] = "\r\n\r\n" .. body
    end
    line_number = line_number + 1
  end
end

function request()
  at = at + 1
  if at > n then
    at = 1
    wrapped = wrapped + 1
  end
  return heads[at] .. os.time() .. tails[at]
end

function done(summary, latency, requests)
  local wraps = 0
  for _, thread in ipairs(threads) do wraps = wraps + thread:get("wrapped") end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
      '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"wrapped":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, wraps))
end

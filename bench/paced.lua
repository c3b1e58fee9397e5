-- wrk script for a steady request rate: bench/bodies.lua's requests, each connection pausing
-- before every request for a random time averaging PAUSE_MS (uniform in 0 .. 2 x PAUSE_MS, so
-- the connections never march in step); C connections with an average pause of C / RATE
-- seconds send about RATE requests per second (a little fewer, by the time answers take).
-- Usage: wrk -t1 -cC ... -s bench/paced.lua URL -- BODIES_FILE THREADS PAUSE_MS

local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(here .. "bodies.lua")

local load_bodies = init
local pause = 0

function init(args)
  load_bodies(args)
  pause = tonumber(args[3])
end

function delay()
  return math.random() * 2 * pause
end

-- Latency per call as the client sees it (on_response info.latency: from the
-- request's submit to its completion in the C loop), at concurrency CONC.
-- Prints p50, p90, p99, max in milliseconds; and wall_p50/wall_p99: the same
-- calls timed around client:call in Lua (adds signing, decoding, scheduling).
--   lua5.4 bench/latency.lua ENDPOINT v1|v3 CONC [CALLS=2000 at 1, 10000 otherwise]
local common = require "bench.common"
local ecs = common.ecs

local endpoint = assert(arg[1], "usage: latency.lua ENDPOINT v1|v3 CONC [CALLS]")
local version = arg[2] or "v1"
local conc = tonumber(arg[3]) or 1
local calls = tonumber(arg[4]) or (conc == 1 and 2000 or 10000)

local samples, n = {}, 0
local recording = false
local client = common.client(endpoint, {
  signature_version = version, max_concurrency = conc, timeout = 10,
  on_response = function(info)
    if recording then
      n = n + 1
      samples[n] = info.latency
    end
  end,
})

local failed = 0
local wall, nw = {}, 0
local now = common.now
local function load(m)
  ecs.run(function()
    local tasks = {}
    for w = 1, conc do
      local share = m // conc + (w <= m % conc and 1 or 0)
      tasks[w] = ecs.spawn(function()
        for _ = 1, share do
          local t0 = now()
          local res = client:call("DescribeRegions", {})
          if recording then nw = nw + 1; wall[nw] = now() - t0 end
          if not (res and res.Regions) then failed = failed + 1 end
        end
      end)
    end
    for _, t in ipairs(tasks) do t:wait() end
  end)
end

load(conc * 4) -- warm-up
failed = 0
recording = true
load(calls)
table.sort(samples)
table.sort(wall)
local ms = function(p) return common.percentile(samples, p) * 1000 end
common.result(("latency-%s-c%d"):format(version, conc), {
  calls = calls, samples = n, failures = failed,
  p50_ms = ms(50), p90_ms = ms(90), p99_ms = ms(99), max_ms = samples[n] * 1000,
  wall_p50_ms = common.percentile(wall, 50) * 1000, wall_p99_ms = common.percentile(wall, 99) * 1000,
})

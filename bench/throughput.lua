-- Throughput: CALLS DescribeRegions calls from CONC coroutines (tasks) of one
-- client, against the emulator. Every call is a fresh signature (new nonce,
-- timestamp), a request over a kept-alive connection, and a decoded JSON reply.
--   lua5.4 bench/throughput.lua ENDPOINT v1|v3 [CALLS=20000] [CONC=64] [WARMUP=CONC*4] [NAME]
local common = require "bench.common"
local ecs = common.ecs

local endpoint = assert(arg[1], "usage: throughput.lua ENDPOINT v1|v3 [CALLS] [CONC]")
local version = arg[2] or "v1"
local calls = tonumber(arg[3]) or 20000
local conc = tonumber(arg[4]) or 64
local warmup = tonumber(arg[5]) or conc * 4

local client = common.client(endpoint, { signature_version = version, max_concurrency = conc, timeout = 10 })

-- Runs n calls spread over conc tasks (as even as possible); returns ok, failures, first error.
local function load(n)
  local ok, failed, first_err = 0, 0, nil
  ecs.run(function()
    local tasks = {}
    for w = 1, conc do
      local share = n // conc + (w <= n % conc and 1 or 0)
      tasks[w] = ecs.spawn(function()
        for _ = 1, share do
          local res, err = client:call("DescribeRegions", {})
          if res and res.Regions then
            ok = ok + 1
          else
            failed = failed + 1
            first_err = first_err or tostring(err)
          end
        end
      end)
    end
    for _, t in ipairs(tasks) do t:wait() end
  end)
  return ok, failed, first_err
end

-- Warm-up: connections opened, code paths hot; not counted.
load(warmup)
collectgarbage("collect")

local t0, c0 = common.now(), os.clock()
local ok, failed, first_err = load(calls)
local wall, cpu = common.now() - t0, os.clock() - c0
common.result(arg[6] or ("lua-ecs-" .. version), {
  calls = calls, ok = ok, failures = failed, seconds = wall,
  rate = calls / wall, cpu_seconds = cpu, cpu_us_per_call = cpu / calls * 1e6,
})
if first_err then io.stderr:write("first failure: ", first_err, "\n") end

-- Memory: CALLS tasks spawned at once, each doing one DescribeRegions call, with
-- max_concurrency CONC (so CALLS - CONC calls wait in the client's queue), REPS
-- times. For each repetition: RSS before (after a full GC), peak RSS during the
-- run (VmHWM, reset before each repetition via /proc/self/clear_refs), RSS after
-- (after a full GC). Sizes in kB.
--   lua5.4 bench/memory.lua ENDPOINT [CALLS=10000] [CONC=256] [REPS=5]
local common = require "bench.common"
local ecs = common.ecs

local endpoint = assert(arg[1], "usage: memory.lua ENDPOINT [CALLS] [CONC] [REPS]")
local calls = tonumber(arg[2]) or 10000
local conc = tonumber(arg[3]) or 256
local reps = tonumber(arg[4]) or 5

local client = common.client(endpoint, { max_concurrency = conc, timeout = 30 })

local function full_gc()
  collectgarbage("collect")
  collectgarbage("collect")
end

-- One call first: it maps libcurl and the libraries it links (ecs.loop loads
-- on the first call), ~8 MB of file-backed code pages that are not memory a
-- run holds on to. The RSS of a fresh process is printed too.
local fresh = common.rss()
assert(client:call("DescribeRegions", {}))
print(("fresh process %d kB; after one call (libraries mapped) %d kB"):format(fresh, common.rss()))

local can_reset = common.reset_peak()
if not can_reset then io.stderr:write("cannot reset VmHWM; peak is the process peak so far\n") end

for rep = 1, reps do
  full_gc()
  local before = common.rss()
  common.reset_peak()
  local ok, failed, first_err = 0, 0, nil
  local t0 = common.now()
  ecs.run(function()
    local tasks = {}
    for i = 1, calls do
      tasks[i] = ecs.spawn(function()
        local res, err = client:call("DescribeRegions", {})
        if res and res.Regions then ok = ok + 1
        else failed = failed + 1; first_err = first_err or tostring(err) end
      end)
    end
    for i = 1, calls do tasks[i]:wait() end
  end)
  local wall = common.now() - t0
  local _, peak = common.rss()
  full_gc()
  local after = common.rss()
  common.result("memory", {
    rep = rep, calls = calls, ok = ok, failures = failed, seconds = wall,
    rss_before_kb = before, rss_peak_kb = peak, rss_after_kb = after,
    lua_kb = math.floor(collectgarbage("count")),
  })
  if first_err then io.stderr:write("first failure: ", first_err, "\n") end
end

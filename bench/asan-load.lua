-- The load run under AddressSanitizer + UBSan by bench/asan-load.sh: CALLS
-- DescribeRegions calls from CONC tasks, the tasks alternating between a v1 GET
-- client and a v3 POST client, so both signers, both methods, the queue of the
-- concurrency slots and the transfer pool are all exercised. Then the clients
-- and the loop are dropped and collected before exit, so LeakSanitizer sees
-- everything freed.
--   lua5.4 bench/asan-load.lua ENDPOINT [CALLS=2000] [CONC=64]
local common = require "bench.common"
local ecs = common.ecs

local endpoint = assert(arg[1], "usage: asan-load.lua ENDPOINT [CALLS] [CONC]")
local calls = tonumber(arg[2]) or 2000
local conc = tonumber(arg[3]) or 64

local clients = {
  common.client(endpoint, { signature_version = "v1", method = "GET", max_concurrency = 32 }),
  common.client(endpoint, { signature_version = "v3", method = "POST", max_concurrency = 16 }),
}
local ok, failed, first_err = 0, 0, nil
ecs.run(function()
  local tasks = {}
  for w = 1, conc do
    local client = clients[w % 2 + 1]
    local share = calls // conc + (w <= calls % conc and 1 or 0)
    tasks[w] = ecs.spawn(function()
      for _ = 1, share do
        local res, err = client:call("DescribeRegions", {})
        if res and res.Regions then ok = ok + 1
        else failed = failed + 1; first_err = first_err or tostring(err) end
      end
    end)
  end
  for _, t in ipairs(tasks) do t:wait() end
end)
clients = nil
collectgarbage("collect")
collectgarbage("collect")
common.result("asan-load", { calls = calls, ok = ok, failures = failed })
if first_err then io.stderr:write("first failure: ", first_err, "\n") end
os.exit(failed == 0 and 0 or 1, true) -- true: lua_close, so every __gc runs before LSan looks

-- Where one call's CPU goes, without the network: the same 64-task load as
-- bench/throughput.lua, but on a stub transport that answers every request at
-- once with a real DescribeRegions reply (fetched once from the emulator). The
-- difference to bench/throughput.lua's cpu_us_per_call is libcurl + kernel.
-- Then the pieces of the Lua path alone: JSON decode of the reply, and a
-- scheduler round trip (spawn/suspend/wake) with no call.
--   lua5.4 bench/split.lua ENDPOINT [CALLS=20000] [CONC=64]
local common = require "bench.common"
local ecs = common.ecs
local scheduler = require "ecs.scheduler"
local json = require("cjson.safe").new()

local endpoint = assert(arg[1], "usage: split.lua ENDPOINT [CALLS] [CONC]")
local calls = tonumber(arg[2]) or 20000
local conc = tonumber(arg[3]) or 64

-- A real reply to answer with.
local real = common.client(endpoint, {})
local req = real:prepare("DescribeRegions", {})
local p = assert(io.popen("curl -s '" .. req.url .. "'"))
local BODY = p:read("a")
p:close()
assert(json.decode(BODY).Regions, "no DescribeRegions reply from " .. endpoint)

-- The stub: submit queues, run_once completes everything queued.
local Stub = {}
Stub.__index = Stub
function Stub:submit(_, on_done)
  self.n = self.n + 1
  self.q[self.n] = on_done
  return self.n
end
-- The pipeline's one way to send (the transport seam's request): submit, and wait.
function Stub:request(req)
  local task = scheduler.current()
  self:submit(req, function(r) scheduler.wake(task, r) end)
  return scheduler.suspend()
end
function Stub:timer(_, on_fire) return self:submit(nil, on_fire) end
function Stub:cancel() end
function Stub:pending() return self.n end
function Stub:run_once()
  local q, n = self.q, self.n
  self.q, self.n = {}, 0
  for i = 1, n do q[i] { status = 200, headers = { ["x-acs-request-id"] = "x" }, body = BODY, latency = 0 } end
  return n
end
function Stub:close() end
scheduler.transport_factory = function() return setmetatable({ q = {}, n = 0 }, Stub) end

local function cpu_per_call(version, n)
  local client = common.client(endpoint, { signature_version = version, max_concurrency = conc })
  local function load(m)
    ecs.run(function()
      local tasks = {}
      for w = 1, conc do
        local share = m // conc + (w <= m % conc and 1 or 0)
        tasks[w] = ecs.spawn(function()
          for _ = 1, share do assert(client:call("DescribeRegions", {})) end
        end)
      end
      for _, t in ipairs(tasks) do
        local _, err = t:wait()
        if not t.ok then error(err, 0) end -- a figure of failed calls would be no figure
      end
    end)
  end
  load(conc * 4)
  collectgarbage("collect")
  local c0 = os.clock()
  load(n)
  return (os.clock() - c0) / n * 1e6
end

local function time(n, fn)
  collectgarbage("collect")
  local c0 = os.clock()
  for _ = 1, n do fn() end
  return (os.clock() - c0) / n * 1e6
end

local fields = {
  calls = calls,
  stub_call_v1_us = cpu_per_call("v1", calls),
  stub_call_v3_us = cpu_per_call("v3", calls),
  prepare_v1_us = time(calls, function() real:prepare("DescribeRegions", {}) end),
  json_decode_us = time(calls, function() json.decode(BODY) end),
  reply_bytes = #BODY,
}
-- A scheduler round trip: a task suspends, the stub wakes it.
fields.suspend_wake_us = (function()
  local c0 = os.clock()
  ecs.run(function()
    local tasks = {}
    for w = 1, conc do
      tasks[w] = ecs.spawn(function()
        local tr = scheduler.transport()
        for _ = 1, calls // conc do
          local me = scheduler.current()
          tr:submit(nil, function(r) scheduler.wake(me, r) end)
          scheduler.suspend()
        end
      end)
    end
    for _, t in ipairs(tasks) do t:wait() end
  end)
  return (os.clock() - c0) / (calls // conc * conc) * 1e6
end)()
common.result("split", fields)

-- Refreshing credentials under load: a client on 2-second STS credentials
-- (RAM role ARN, AssumeRole to the emulator) makes calls for SECONDS; every
-- call must succeed, and the emulator counts the AssumeRole requests (about
-- one per refresh: at a fifth of a lifetime left, i.e. every ~1.6 s).
--   lua5.4 bench/credentials.lua URL [SECONDS=30] [TASKS=4]
local common = require "bench.common"
local ecs = common.ecs
local cjson = require "cjson"

local url = assert(arg[1], "usage: credentials.lua URL [SECONDS] [TASKS]")
local seconds, tasks = tonumber(arg[2]) or 30, tonumber(arg[3]) or 4

local function control(method, path, body)
  local p = assert(io.popen(("curl -s -X %s %s/__emulator/%s -d '%s'"):format(method, url, path, body or "")))
  local out = p:read("a")
  p:close()
  return out
end
control("POST", "reset")
control("POST", "config", cjson.encode { sts_lifetime = 2, speed = 0 })

local provider = ecs.credentials.ram_role_arn {
  access_key_id = "testid", access_key_secret = "testsecret",
  role_arn = "acs:ram::1234567890123456:role/bench", sts_endpoint = url, getenv = function() end,
}
local client = ecs.client { credentials = provider, endpoint = url, region = "cn-hangzhou" }
local calls, failures, t0 = 0, 0, ecs.now()
ecs.run(function()
  local running = {}
  for i = 1, tasks do
    running[i] = ecs.spawn(function()
      while ecs.now() - t0 < seconds do
        local res, err = client:call("DescribeRegions", {})
        calls = calls + 1
        if not res then
          failures = failures + 1
          io.stderr:write(tostring(err), "\n")
        end
        ecs.sleep(0.05)
      end
    end)
  end
  for _, t in ipairs(running) do t:wait() end
end)
local stats = cjson.decode(control("GET", "stats"))
local assumed = stats.sts and stats.sts.AssumeRole or 0
print(("%.1f s on 2-second credentials: %d calls, %d failed, %d AssumeRole"):format(
  ecs.now() - t0, calls, failures, assumed))
print(("RESULT credentials seconds=%.1f calls=%d failures=%d assume_role=%d"):format(
  ecs.now() - t0, calls, failures, assumed))
os.exit(failures == 0 and 0 or 1)

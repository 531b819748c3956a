-- One quota, many processes, one limiter state in Redis (ecs.ratestore.redis), beside the same
-- processes with in-process limiters (what bench/competing.lua measures).
--
--   lua5.4 bench/redis_store.lua EMULATOR_URL REDIS_URL [PROCS=4] [CALLS=250] [TASKS=50] [RATE=50] [LIMIT=60]
--     For each of "local" (in-process limiters) and "redis" (rate_store = REDIS_URL): resets the
--     emulator, sets a DescribeInstances quota of RATE req/s (burst RATE) for the test AccessKey,
--     and starts PROCS processes of this script ("worker" mode) that begin at the same instant.
--     Each runs TASKS tasks making CALLS client:call("DescribeInstances") in all through one
--     client with no rate_limits, and counts attempts and throttles in on_response. Then, in one
--     process: the round trip an acquire costs (a key that never waits, one task, 2000 acquires,
--     p50/p99), against the in-process limiter's.
--     Targets (redis): total <= 1.15 x ideal (ideal = PROCS x CALLS / RATE), throttled <= 5 % of
--     attempts, 0 failed; Redis commands per call <= 1; added latency per call p50 <= 0.3 ms.
--     Then "warm": the redis run again at once, on the state the first left in Redis.
-- Prints RESULT lines (bench/common.lua): redis-store-local, redis-store-redis,
-- redis-store-warm, redis-store-latency.
local common = require "bench.common"
local core = require "ecs.core"
local ecs = common.ecs

local STARTUP = 1.0 -- throttles in the first second are counted apart (the first wave)

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function percentile(list, p)
  table.sort(list)
  return common.percentile(list, p)
end

-------------------------------------------------------------------- worker
local function worker(mode, url, redis_url, calls, tasks, start, limit, index, prefix)
  local attempts, throttled, startup_throttled, failures, done = 0, 0, 0, 0, 0
  local first_error
  local store
  if mode ~= "local" then
    local redis = require "ecs.ratestore.redis"
    redis.KEY_PREFIX = prefix -- a fresh key per run: no state from an earlier run
    -- knobs for experiments (defaults: the module's)
    redis.EPOCH_REFRESH = tonumber(os.getenv("BENCH_EPOCH_REFRESH")) or redis.EPOCH_REFRESH
    redis.LINGER_MAX = tonumber(os.getenv("BENCH_LINGER_MAX")) or redis.LINGER_MAX
    store = redis.new(redis_url, { record_latency = true })
  end
  local client = common.client(url, { region = "cn-hangzhou", rate_store = store })
  local accepted = {} -- per second since the start (BENCH_TRACE=1)
  local function on_response(info)
    attempts = attempts + 1
    if not info.code then
      local sec = math.floor(core.now() - start)
      accepted[sec] = (accepted[sec] or 0) + 1
    end
    if info.throttled then
      throttled = throttled + 1
      if core.now() - start < STARTUP then startup_throttled = startup_throttled + 1 end
    end
  end
  local wait = start - core.now()
  if wait > 0 then ecs.sleep(wait) end
  local left, unfinished, finished_at = calls, calls, nil
  ecs.run(function()
    ecs.spawn(function()
      while unfinished > 0 and core.now() < start + limit do ecs.sleep(0.25) end
      if unfinished > 0 then
        common.result("redis-store-worker", { index = index, seconds = limit, attempts = attempts,
          throttled = throttled, failures = failures, unfinished = unfinished })
        os.exit(1)
      end
    end)
    for _ = 1, tasks do
      ecs.spawn(function()
        while left > 0 do
          left = left - 1
          local res, err = client:call("DescribeInstances", { RegionId = "cn-hangzhou" },
            { on_response = on_response })
          unfinished = unfinished - 1
          if res then done = done + 1 else
            failures = failures + 1
            first_error = first_error or tostring(err.code or err)
          end
          if unfinished == 0 then finished_at = core.now() end
        end
      end)
    end
  end)
  local fields = { index = index, seconds = (finished_at or core.now()) - start, attempts = attempts,
    throttled = throttled, startup_throttled = startup_throttled, failures = failures, done = done,
    unfinished = 0, first_error = first_error or "-" }
  if store then
    local s = store.stats
    fields.commands, fields.round_trips, fields.acquires = s.commands, s.round_trips, s.acquires
    fields.fallbacks = s.fallbacks
    local lat = store.latencies
    fields.rtt_p50_ms = #lat > 0 and percentile(lat, 50) * 1000 or 0
    fields.rtt_p99_ms = #lat > 0 and percentile(lat, 99) * 1000 or 0
  end
  if os.getenv("BENCH_TRACE") == "1" then
    local per = {}
    for sec = 0, math.floor(fields.seconds) do per[#per + 1] = tostring(accepted[sec] or 0) end
    fields.accepted = table.concat(per, ",")
  end
  common.result("redis-store-worker", fields)
  os.exit(failures == 0 and 0 or 1)
end

-- The cost of one acquire: a key with a rate so high that it never waits, one task, n acquires.
local function latency(redis_url, n)
  local redis = require "ecs.ratestore.redis"
  redis.KEY_PREFIX = "ecs:rate:bench-latency-" .. os.time() .. ":"
  local store = redis.new(redis_url, { log = function(l) io.stderr:write(l, "\n") end })
  local config = { rate = 1e9, burst = 1e9, adaptive = false }
  local lr = store:limiter("bench\0latency", config)
  local ll = require("ecs.ratestore.local").new():limiter("bench\0latency", config)
  local redis_times, local_times = {}, {}
  ecs.run(function()
    for _ = 1, 100 do lr:acquire(core.now()) end -- warm-up (connection, script cache)
    local c0 = store.stats.commands
    for i = 1, n do
      local t0 = core.now()
      lr:acquire(t0)
      lr:observe(core.now(), "ok", nil, t0)
      redis_times[i] = core.now() - t0
      t0 = core.now()
      ll:acquire(t0)
      ll:observe(core.now(), "ok", nil, t0)
      local_times[i] = core.now() - t0
    end
    local commands = store.stats.commands - c0
    common.result("redis-store-latency", { n = n, mode = store.mode,
      redis_p50_ms = percentile(redis_times, 50) * 1000, redis_p99_ms = percentile(redis_times, 99) * 1000,
      local_p50_ms = percentile(local_times, 50) * 1000, local_p99_ms = percentile(local_times, 99) * 1000,
      added_p50_ms = (percentile(redis_times, 50) - percentile(local_times, 50)) * 1000,
      commands_per_call = commands / n })
  end)
end

-------------------------------------------------------------------- driver
local function fields(line)
  local t = {}
  for k, v in line:gmatch("(%S+)=(%S+)") do t[k] = tonumber(v) or v end
  return t
end

local function run(mode, url, redis_url, procs, calls, tasks, rate, limit, prefix)
  local control = require "bench.control"
  control.reset(url, { speed = 0 })
  control.request(url, "POST", "quotas", { action = "DescribeInstances", rate = rate, burst = rate })
  local lua = os.getenv("LUA") or "lua5.4"
  local start = core.now() + 1.0
  local pipes = {}
  for i = 1, procs do
    pipes[i] = assert(io.popen(table.concat({ lua, shq(arg[0]), "worker", mode, shq(url), shq(redis_url),
      calls, tasks, ("%.6f"):format(start), limit, i, shq(prefix) }, " ")))
  end
  local workers = {}
  for i = 1, procs do
    local out = pipes[i]:read("a")
    pipes[i]:close()
    local w
    for line in out:gmatch("[^\n]+") do
      if line:find("^RESULT redis%-store%-worker ") then w = fields(line)
      else io.stdout:write("    worker ", i, ": ", line, "\n") end
    end
    workers[i] = w or { index = i, seconds = limit, attempts = 0, throttled = 0, failures = 0,
      unfinished = calls, first_error = "no result" }
  end
  local sum = { attempts = 0, throttled = 0, startup_throttled = 0, failures = 0, unfinished = 0,
    commands = 0, round_trips = 0, acquires = 0, fallbacks = 0 }
  local slowest, fastest, waits, accepted = 0, math.huge, {}, {}
  for _, w in ipairs(workers) do
    for k in pairs(sum) do sum[k] = sum[k] + (tonumber(w[k]) or 0) end
    slowest, fastest = math.max(slowest, w.seconds), math.min(fastest, w.seconds)
    if w.rtt_p50_ms then waits[#waits + 1] = w.rtt_p50_ms end
    local sec = 0
    for n in tostring(w.accepted or ""):gmatch("%d+") do
      sec = sec + 1
      accepted[sec] = (accepted[sec] or 0) + tonumber(n)
    end
    print(("  %s process %d: %6.2f s, %4d attempts, %4d throttled (%d in the first %g s), %d failed%s%s"):format(
      mode, w.index, w.seconds, w.attempts, w.throttled, w.startup_throttled or 0, STARTUP, w.failures,
      w.first_error ~= "-" and (" (first: " .. tostring(w.first_error) .. ")") or "",
      w.commands and (", %d Redis commands for %d acquires, script call round trip p50 %.3f ms, p99 %.3f ms")
        :format(w.commands, w.acquires, w.rtt_p50_ms, w.rtt_p99_ms) or ""))
  end
  if #accepted > 0 then print("  accepted per second, all processes: " .. table.concat(accepted, " ")) end
  local stats = control.stats(url)
  local ideal = procs * calls / rate
  local share = sum.attempts > 0 and sum.throttled / sum.attempts or 0
  local calls_total = procs * calls
  local result = { procs = procs, calls = calls, tasks = tasks, rate = rate, seconds = slowest, fastest = fastest,
    ideal = ideal, attempts = sum.attempts, throttled = sum.throttled, throttled_pct = share * 100,
    startup_throttled = sum.startup_throttled, failures = sum.failures, unfinished = sum.unfinished,
    emulator_requests = stats.total_requests or 0 }
  local function verdict(ok) return ok and "ok" or "MISSED" end
  print(("%s: %d processes x %d calls, %d tasks each, quota %d req/s: total %.2f s (ideal %.1f s%s), "
    .. "%d attempts, %d throttled = %.1f %% (%d in the first %g s)%s, %d failed, %d unfinished"):format(
    mode, procs, calls, tasks, rate, slowest, ideal,
    mode ~= "local" and (", target <= %.1f s %s"):format(1.15 * ideal,
      verdict(slowest <= 1.15 * ideal and sum.unfinished == 0)) or "",
    sum.attempts, sum.throttled, share * 100, sum.startup_throttled, STARTUP,
    mode ~= "local" and (" (target <= 5 %% %s)"):format(verdict(share <= 0.05)) or "",
    sum.failures, sum.unfinished))
  if mode ~= "local" then
    result.commands, result.round_trips, result.fallbacks = sum.commands, sum.round_trips, sum.fallbacks
    result.commands_per_call = sum.commands / calls_total
    result.commands_per_acquire = sum.acquires > 0 and sum.commands / sum.acquires or 0
    table.sort(waits)
    result.rtt_p50_ms = waits[math.ceil(#waits / 2)] or 0
    print(("  Redis: %d commands in %d round trips for %d calls (%d acquires) = %.2f commands per call "
      .. "(target <= 1 %s); %d fallbacks; script call round trip p50 %.3f ms (median of the processes)"):format(
      sum.commands, sum.round_trips, calls_total, sum.acquires, result.commands_per_call,
      verdict(result.commands_per_call <= 1), sum.fallbacks, result.rtt_p50_ms))
  end
  common.result("redis-store-" .. mode, result)
  return sum.failures + sum.unfinished
end

if arg[1] == "worker" then
  worker(arg[2], arg[3], arg[4], tonumber(arg[5]), tonumber(arg[6]), tonumber(arg[7]), tonumber(arg[8]),
    tonumber(arg[9]), arg[10])
elseif arg[1] and arg[1]:find("^https?://") and arg[2] then
  local url, redis_url = arg[1], arg[2]
  local procs, calls, tasks = tonumber(arg[3]) or 4, tonumber(arg[4]) or 250, tonumber(arg[5]) or 50
  local rate, limit = tonumber(arg[6]) or 50, tonumber(arg[7]) or 60
  math.randomseed(os.time())
  local prefix = ("ecs:rate:bench-%d-%d:"):format(os.time(), math.random(1e6))
  local failed = run("local", url, redis_url, procs, calls, tasks, rate, limit, prefix)
  failed = failed + run("redis", url, redis_url, procs, calls, tasks, rate, limit, prefix)
  -- Again at once, on the state the first run left in Redis (within the keys' TTL): a fleet's
  -- next job starts from the rate learned, without the first wave of throttles.
  failed = failed + run("warm", url, redis_url, procs, calls, tasks, rate, limit, prefix)
  latency(redis_url, 2000)
  os.exit(failed == 0 and 0 or 1)
else
  io.stderr:write("usage: redis_store.lua EMULATOR_URL REDIS_URL [PROCS CALLS TASKS RATE LIMIT]\n")
  os.exit(2)
end

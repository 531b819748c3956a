-- Competing limiters: several independent processes share one service quota
-- (as the console, Terraform and other scripts share an account's quota) and
-- none of them knows the others exist.
--
--   lua5.4 bench/competing.lua URL [PROCS=4] [CALLS=250] [TASKS=50] [RATE=50] [LIMIT=60]
--     Resets the emulator, sets a DescribeInstances quota of RATE req/s (burst
--     RATE) for the test AccessKey, then starts PROCS processes of this script
--     ("worker" mode) that all begin at the same instant. Each runs TASKS
--     coroutines making CALLS client:call("DescribeInstances", {RegionId = ...})
--     in all, through one client with no rate_limits (adaptive limiter,
--     default retries: 5 attempts, retry budget), and counts attempts and
--     throttles in on_response. A process still busy LIMIT seconds after the
--     start reports its unfinished calls and stops.
--     Targets (PROCS > 1): every call succeeds, total <= 1.5 x ideal
--     (ideal = PROCS x CALLS / RATE), slowest process <= 1.5 x the fastest,
--     throttled <= 15 % of attempts. PROCS = 1: <= 1.1 x ideal, throttled <= 5 %.
--   BENCH_TRACE=1 adds each process's limiter rate and accepted calls per second.
-- Prints RESULT lines (bench/common.lua); exits 1 when a call failed or did not finish.
local common = require "bench.common"
local core = require "ecs.core"
local ecs = common.ecs

-- Throttles in the first STARTUP seconds are counted apart: until its first
-- throttle a limiter with no configured rate does not limit, so every
-- process's first wave (TASKS requests at once) meets a quota whose burst
-- the fastest process has already taken.
local STARTUP = 1.0

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-------------------------------------------------------------------- worker
-- worker URL CALLS TASKS START LIMIT INDEX: START on core.now()'s clock
-- (CLOCK_MONOTONIC, the same in every process of the machine).
local function worker(url, calls, tasks, start, limit, index)
  local trace = os.getenv("BENCH_TRACE") == "1"
  local attempts, throttled, failures, done, startup_throttled = 0, 0, 0, 0, 0
  local other, first_error = {}, nil
  local accepted_per_s = {}
  local cuts = os.getenv("BENCH_TRACE") == "2"
  local last_epoch, client = 0, nil
  local function on_response(info)
    attempts = attempts + 1
    local limiter = cuts and client.limiters.DescribeInstances
    if limiter and limiter:epoch() ~= last_epoch then
      last_epoch = limiter:epoch()
      local st = limiter:state(core.now())
      io.stderr:write(("cut %d t=%.2f rate=%.2f last_max=%.2f measured=%.2f attempts=%d\n"):format(index,
        core.now() - start, st.rate or -1, st.last_max_rate, st.measured_rate, attempts))
    end
    if info.throttled then
      throttled = throttled + 1
      if core.now() - start < STARTUP then startup_throttled = startup_throttled + 1 end
    else
      if info.code then other[info.code] = (other[info.code] or 0) + 1 end
      local s = math.floor(core.now() - start)
      accepted_per_s[s] = (accepted_per_s[s] or 0) + 1
    end
  end
  -- Each process is a script of its own: one client, one limiter, no configured rate.
  client = common.client(url, { region = "cn-hangzhou" })
  local finished_at
  local function report(unfinished)
    local elapsed = (finished_at or core.now()) - start
    local codes = {}
    for code, n in pairs(other) do codes[#codes + 1] = code .. ":" .. n end
    common.result("competing-worker", { index = index, seconds = elapsed, attempts = attempts,
      throttled = throttled, startup_throttled = startup_throttled, failures = failures, done = done,
      unfinished = unfinished,
      calls = calls, first_error = first_error and first_error:gsub("%s", "_") or "-",
      other = #codes > 0 and table.concat(codes, ",") or "-" })
    if trace then
      local limiter = client.limiters.DescribeInstances
      local secs = {}
      for s = 0, math.floor(elapsed) do secs[#secs + 1] = tostring(accepted_per_s[s] or 0) end
      io.stdout:write(("TRACE %d accepted/s: %s\n"):format(index, table.concat(secs, " ")))
      if limiter then
        local st = limiter:state(core.now())
        io.stdout:write(("TRACE %d final limiter: rate %s, measured %.2f, last_max %.2f\n"):format(
          index, tostring(st.rate), st.measured_rate, st.last_max_rate))
      end
    end
    io.stdout:flush()
  end
  local wait = start - core.now()
  if wait > 0 then ecs.sleep(wait) end
  local left = calls
  local unfinished = calls
  ecs.run(function()
    -- The watchdog: a process still busy at the limit reports and stops.
    ecs.spawn(function()
      ecs.sleep(math.max(0, start + limit - core.now()))
      if unfinished > 0 then
        report(unfinished)
        os.exit(1)
      end
    end)
    if trace then
      ecs.spawn(function()
        while unfinished > 0 and core.now() < start + limit do
          local limiter = client.limiters.DescribeInstances
          if limiter then
            local st = limiter:state(core.now())
            io.stderr:write(("trace %d t=%5.1f rate=%s measured=%.1f last_max=%.1f attempts=%d throttled=%d done=%d\n"):format(
              index, core.now() - start, st.rate and ("%.1f"):format(st.rate) or "-", st.measured_rate,
              st.last_max_rate, attempts, throttled, done))
          end
          ecs.sleep(1)
        end
      end)
    end
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
  report(0)
  os.exit(failures == 0 and 0 or 1)
end

-------------------------------------------------------------------- driver
local function fields(line)
  local t = {}
  for k, v in line:gmatch("(%S+)=(%S+)") do t[k] = tonumber(v) or v end
  return t
end

local function driver(url, procs, calls, tasks, rate, limit)
  local control = require "bench.control"
  control.reset(url, { speed = 0 })
  control.request(url, "POST", "quotas", { action = "DescribeInstances", rate = rate, burst = rate })
  local lua = os.getenv("LUA") or "lua5.4"
  local script = arg[0]
  -- Every process starts at the same instant, after its interpreter and
  -- modules have loaded.
  local start = core.now() + 1.0
  local pipes = {}
  for i = 1, procs do
    pipes[i] = assert(io.popen(table.concat({ lua, shq(script), "worker", shq(url), calls, tasks,
      ("%.6f"):format(start), limit, i }, " ")))
  end
  local workers, trace = {}, {}
  local crashed = 0
  for i = 1, procs do
    local out = pipes[i]:read("a")
    pipes[i]:close()
    local w
    for line in out:gmatch("[^\n]+") do
      if line:find("^RESULT competing%-worker ") then w = fields(line)
      elseif line:find("^TRACE ") then trace[#trace + 1] = line:sub(7)
      else io.stdout:write("    worker ", i, ": ", line, "\n") end
    end
    if not w then
      crashed = crashed + 1
      w = { index = i, seconds = limit, attempts = 0, throttled = 0, failures = 0, done = 0,
        unfinished = calls, first_error = "no result" }
    end
    workers[#workers + 1] = w
  end
  local ideal = procs * calls / rate
  local attempts, throttled, failures, unfinished, startup = 0, 0, 0, 0, 0
  local slowest, fastest = 0, math.huge
  for _, w in ipairs(workers) do
    attempts, throttled = attempts + w.attempts, throttled + w.throttled
    startup = startup + (w.startup_throttled or 0)
    failures, unfinished = failures + w.failures, unfinished + w.unfinished
    -- A process that did not finish counts at the limit (a lower bound).
    slowest = math.max(slowest, w.seconds)
    fastest = math.min(fastest, w.seconds)
    print(("  process %d: %6.2f s%s, %4d attempts, %4d throttled (%4.1f %%; %d in the first %g s), %d failed%s%s"):format(
      w.index, w.seconds, w.unfinished > 0 and (" (stopped, " .. w.unfinished .. " calls unfinished)") or "",
      w.attempts, w.throttled, w.attempts > 0 and 100 * w.throttled / w.attempts or 0,
      w.startup_throttled or 0, STARTUP, w.failures,
      w.first_error ~= "-" and (" (first: " .. w.first_error .. ")") or "",
      w.other and w.other ~= "-" and (" other errors " .. w.other) or ""))
  end
  for _, line in ipairs(trace) do print("    " .. line) end
  local stats = control.stats(url)
  local share = attempts > 0 and throttled / attempts or 0
  local ratio = slowest / fastest
  local total_target = procs > 1 and 1.5 or 1.1
  local throttle_target = procs > 1 and 0.15 or 0.05
  local function verdict(ok) return ok and "ok" or "MISSED" end
  print(("%d processes x %d calls, %d tasks each, quota %d req/s (burst %d): total %.2f s (ideal %.1f s, target <= %.1f s) %s"):format(
    procs, calls, tasks, rate, rate, slowest, ideal, total_target * ideal, verdict(slowest <= total_target * ideal and unfinished == 0)))
  if procs > 1 then
    print(("  slowest / fastest = %.2f (%.2f / %.2f s; target <= 1.5) %s"):format(ratio, slowest, fastest,
      verdict(ratio <= 1.5 and unfinished == 0)))
  end
  print(("  %d attempts, %d throttled = %.1f %% (target <= %d %%) %s; %d failed, %d unfinished (target 0) %s"):format(
    attempts, throttled, share * 100, throttle_target * 100, verdict(share <= throttle_target),
    failures, unfinished, verdict(failures + unfinished == 0)))
  print(("  throttled in the first %g s: %d; after it: %d of %d attempts = %.1f %%"):format(STARTUP, startup,
    throttled - startup, attempts - startup, attempts > startup and 100 * (throttled - startup) / (attempts - startup) or 0))
  print(("  emulator: %d requests, %d throttled"):format(stats.total_requests or 0, stats.throttled or 0))
  common.result("competing-" .. procs, { procs = procs, calls = calls, tasks = tasks, rate = rate,
    seconds = slowest, fastest = fastest, ratio = ratio, attempts = attempts, throttled = throttled,
    throttled_pct = share * 100, startup_throttled = startup, failures = failures, unfinished = unfinished, ideal = ideal,
    crashed = crashed })
  return failures + unfinished + crashed
end

if arg[1] == "worker" then
  worker(arg[2], tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5]), tonumber(arg[6]),
    tonumber(arg[7]))
elseif arg[1] and arg[1]:find("^https?://") then
  local failed = driver(arg[1], tonumber(arg[2]) or 4, tonumber(arg[3]) or 250,
    tonumber(arg[4]) or 50, tonumber(arg[5]) or 50, tonumber(arg[6]) or 60)
  os.exit(failed == 0 and 0 or 1)
else
  io.stderr:write("usage: competing.lua URL [PROCS CALLS TASKS RATE LIMIT]\n")
  os.exit(2)
end

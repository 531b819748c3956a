-- Resilience of client:call against the emulator: an undeclared quota, faulty
-- replies, and the CPU cost of the limiter + retry bookkeeping.
--
--   lua5.4 bench/resilience.lua quota URL ecs|naive [CALLS=1000] [TASKS=200] [RATE=50]
--     The emulator limits DescribeInstances to RATE req/s (burst RATE); TASKS
--     coroutines make CALLS calls in all. "ecs": one client:call client with
--     no configured limits (adaptive limiter, default retries). "naive":
--     bench/naive.lua (no limiter, plain full-jitter retry, 20 attempts).
--     Targets: time <= 1.1 x CALLS/RATE, throttled <= 5 % of attempts, 0 failures.
--   lua5.4 bench/resilience.lua faults URL [RUNS=500] [DESCRIBES=2000] [SEED=42] [TASKS=50]
--     10 % of replies faulty (503 2.5 %, 500 2.5 %, reset 2 %, truncated 2 %,
--     slow 1 % at 1500 ms against a 0.5 s client timeout) and 20 % of
--     RunInstances replies lost after taking effect; RUNS RunInstances
--     (Amount 1) and DESCRIBES DescribeInstances over TASKS tasks, max_attempts 10.
--     Targets: 0 failed calls; instances created = RunInstances calls, exactly.
--   lua5.4 bench/resilience.lua cost [N=1000000]
--     CPU (os.clock) of the per-attempt bookkeeping of client:call, no network.
--     Target: <= 2 us per call.
-- Prints RESULT lines (bench/common.lua); exits 1 when a call failed.
local common = require "bench.common"
local control = require "bench.control"
local core = require "ecs.core"
local ecs = common.ecs

local mode = arg[1]

local function fmt(v) return ("%.3f"):format(v) end

-------------------------------------------------------------------- quota
local function quota(url, kind, calls, tasks, rate)
  control.reset(url, { speed = 0 })
  control.request(url, "POST", "quotas", { action = "DescribeInstances", rate = rate, burst = rate })
  local attempts, throttled, failures, other = 0, 0, 0, {}
  local function on_response(info)
    attempts = attempts + 1
    if info.throttled then throttled = throttled + 1
    elseif info.code then other[info.code] = (other[info.code] or 0) + 1 end
  end
  -- A region of its own, so that no limiter of another run applies.
  local client = common.client(url, { region = "cn-bench-quota-" .. kind })
  local call
  if kind == "naive" then
    local naive = require "bench.naive"
    call = function() return naive.call(client, "DescribeInstances", { RegionId = "cn-hangzhou" },
      { max_attempts = 20, on_response = on_response }) end
  else
    call = function() return client:call("DescribeInstances", { RegionId = "cn-hangzhou" },
      { on_response = on_response }) end
  end
  local left = calls
  local first_error
  local t0 = common.now()
  ecs.run(function()
    for _ = 1, tasks do
      ecs.spawn(function()
        while left > 0 do
          left = left - 1
          local res, err = call()
          if not res then
            failures = failures + 1
            first_error = first_error or tostring(err.code or err)
          end
        end
      end)
    end
  end)
  local elapsed = common.now() - t0
  local stats = control.stats(url)
  local limit = 1.1 * calls / rate
  local share = throttled / attempts
  print(("%s: %d calls, %d tasks, quota %d req/s: %.2f s (target <= %.1f s) %s; %d attempts, %d throttled = %.1f %% (target <= 5 %%) %s; %d failed%s"):format(
    kind, calls, tasks, rate, elapsed, limit, elapsed <= limit and "ok" or "MISSED",
    attempts, throttled, share * 100, share <= 0.05 and "ok" or "MISSED", failures,
    first_error and (" (first: " .. first_error .. ")") or ""))
  for code, n in pairs(other) do print(("  other errors: %s x%d"):format(code, n)) end
  print(("  emulator: %d requests, %d throttled; achieved %.1f calls/s"):format(
    stats.total_requests or 0, stats.throttled or 0, (calls - failures) / elapsed))
  common.result("quota-" .. kind, { seconds = elapsed, attempts = attempts, throttled = throttled,
    throttled_pct = share * 100, failures = failures, calls = calls, rate = rate,
    server_throttled = stats.throttled or 0 })
  -- The naive client is the comparison: its failures are figures, not errors.
  return kind == "naive" and 0 or failures
end

-------------------------------------------------------------------- faults
local IMAGE = "debian_12_4_x64_20G_alibase_20240126.vhd"

local function faults(url, runs, describes, seed, tasks)
  control.reset(url, { speed = 0, seed = seed })
  local client = common.client(url, { region = "cn-hangzhou", timeout = 0.5, max_attempts = 10 })
  local sg = assert(client:CreateSecurityGroup {}).SecurityGroupId
  control.request(url, "DELETE", "stats")
  control.request(url, "PUT", "faults", { faults = {
    { action = "RunInstances", kind = "lost", rate = 0.2 },
    { kind = "503", rate = 0.025 }, { kind = "500", rate = 0.025 },
    { kind = "reset", rate = 0.02 }, { kind = "truncated", rate = 0.02 },
    { kind = "slow", rate = 0.01, delay_ms = 1500 },
  } })
  local attempts, retried_codes, failures = 0, {}, {}
  local budget_exhausted = 0
  local function on_response(info)
    attempts = attempts + 1
    if info.code then retried_codes[info.code] = (retried_codes[info.code] or 0) + 1 end
  end
  local launched, described = 0, 0
  local runs_left, desc_left = runs, describes
  local t0 = common.now()
  ecs.run(function()
    for i = 1, tasks do
      ecs.spawn(function()
        -- Each task: a RunInstances, then its share of DescribeInstances, in turn.
        while runs_left > 0 or desc_left > 0 do
          if runs_left > 0 then
            runs_left = runs_left - 1
            local res, err = client:RunInstances({ ImageId = IMAGE, InstanceType = "ecs.g6.large",
              SecurityGroupId = sg, Amount = 1 }, { on_response = on_response })
            if res then launched = launched + 1 else
              failures[#failures + 1] = tostring(err)
              if err.retry_budget_exhausted then budget_exhausted = budget_exhausted + 1 end
            end
          end
          for _ = 1, math.ceil(describes / runs) do
            if desc_left <= 0 then break end
            desc_left = desc_left - 1
            local res, err = client:DescribeInstances({ PageSize = 10, PageNumber = i % 3 + 1 },
              { on_response = on_response })
            if res then described = described + 1 else
              failures[#failures + 1] = tostring(err)
              if err.retry_budget_exhausted then budget_exhausted = budget_exhausted + 1 end
            end
          end
        end
      end)
    end
  end)
  local elapsed = common.now() - t0
  local stats = control.stats(url)
  control.request(url, "DELETE", "faults")
  local total = assert(client:DescribeInstances { PageSize = 1 }).TotalCount
  local created = stats.created and stats.created.instance or 0
  local fired = 0
  local kinds = {}
  for kind, n in pairs(stats.faults or {}) do fired = fired + n; kinds[#kinds + 1] = kind .. " " .. n end
  table.sort(kinds)
  local codes = {}
  for code, n in pairs(retried_codes) do codes[#codes + 1] = code .. " " .. n end
  table.sort(codes)
  local exact = created == launched and launched == runs and total == runs
  print(("faults (seed %d): %d RunInstances + %d DescribeInstances over %d tasks in %.2f s; %d attempts, %d faults fired (%s)"):format(
    seed, runs, describes, tasks, elapsed, attempts, fired, table.concat(kinds, ", ")))
  print(("  error replies seen and retried: %s"):format(table.concat(codes, ", ")))
  print(("  failed calls: %d (target 0) %s%s"):format(#failures, #failures == 0 and "ok" or "MISSED",
    budget_exhausted > 0 and (" — " .. budget_exhausted .. " stopped by the retry budget") or ""))
  for i = 1, math.min(#failures, 5) do print("    " .. failures[i]) end
  print(("  RunInstances succeeded %d; instances created (stats) %d; TotalCount %d; ClientToken replays %d (target: created = calls = %d exactly) %s"):format(
    launched, created, total, stats.client_token_replays or 0, runs, exact and "ok" or "MISSED"))
  common.result("faults", { seconds = elapsed, attempts = attempts, faults = fired,
    failures = #failures, launched = launched, created = created, total = total, seed = seed,
    replays = stats.client_token_replays or 0, described = described,
    budget_exhausted = budget_exhausted })
  return #failures
end

-------------------------------------------------------------------- cost
-- The bookkeeping of one attempt in client:call (lua/ecs/client.lua, send):
-- success: limiter:acquire(now), limiter:observe(now, "ok", nil, t0), retry_budget:refund()
-- error:   acquire, observe(now, "throttled", retry_after, t0), core.classify, core.backoff,
--          retry_budget:take("retry")
-- The clock is a plain number advancing 1 us per iteration, so that a limiter
-- with a rate refills and never waits; the core.now() calls of send (2 per
-- attempt) are timed apart.
local function cost(n)
  local function time(fn)
    fn(n // 10) -- warm up
    collectgarbage("collect")
    local c0 = os.clock()
    fn(n)
    return (os.clock() - c0) / n * 1e6
  end
  local function success(limiter)
    local budget = core.retry_budget {}
    return function(k)
      local now = 1000.0
      for _ = 1, k do
        now = now + 1e-6
        limiter:acquire(now)
        limiter:observe(now, "ok", nil, now)
        budget:refund()
      end
    end
  end
  local results = {}
  -- 1. default client: no configured rate, adaptive, no throttle seen (the usual case)
  results.success_us = time(success(core.limiter { adaptive = true }))
  -- 2. a configured rate (rate_limits), token bucket active
  results.success_rate_us = time(success(core.limiter { rate = 1e7, adaptive = true }))
  -- 3. adaptive after a throttle: every "ok" computes the CUBIC rate
  local learnt = core.limiter { adaptive = true }
  learnt:acquire(999.0); learnt:observe(999.0, "throttled", nil, 999.0)
  learnt:observe(999.5, "ok", nil, 999.0)
  results.success_adaptive_us = time(success(learnt))
  -- 4. the same plus the two core.now() of send
  local limiter, budget = core.limiter { adaptive = true }, core.retry_budget {}
  local now_fn = core.now
  results.success_with_clock_us = time(function(k)
    for _ = 1, k do
      local t0 = now_fn()
      limiter:acquire(t0)
      limiter:observe(now_fn(), "ok", nil, t0)
      budget:refund()
    end
  end)
  -- 5. error path: a throttled reply (Throttling.User, HTTP 400, retry_after 20 ms)
  local elimiter, ebudget = core.limiter { adaptive = true }, core.retry_budget {}
  local classify, backoff, random = core.classify, core.backoff, math.random
  results.error_us = time(function(k)
    local now = 5000.0
    for _ = 1, k do
      now = now + 1e-3
      elimiter:acquire(now)
      local retryable, throttled = classify("Throttling.User", 400, true, true)
      elimiter:observe(now, throttled and "throttled" or "ok", 0.02, now)
      backoff(1, throttled, nil, nil, random()) -- as client:call draws its jitter
      ebudget:take("retry")
      ebudget:refund() -- keeps the budget from running dry (an empty one is not faster)
    end
  end)
  -- 6. error path of a transport failure (Transport.Reset, maybe sent, idempotent): no observe
  results.error_transport_us = time(function(k)
    local now = 9000.0
    for _ = 1, k do
      now = now + 1e-3
      elimiter:acquire(now)
      local _, throttled = classify("Transport.Reset", nil, true, true)
      backoff(2, throttled, nil, nil, random())
      ebudget:take("retry")
      ebudget:refund()
    end
  end)
  -- The parts alone.
  local pl, pb = core.limiter { adaptive = true }, core.retry_budget {}
  results.part_acquire_us = time(function(k) local now = 1.0
    for _ = 1, k do now = now + 1e-6; pl:acquire(now) end end)
  results.part_observe_ok_us = time(function(k) local now = 1.0
    for _ = 1, k do now = now + 1e-6; pl:observe(now, "ok", nil, now) end end)
  results.part_refund_us = time(function(k) for _ = 1, k do pb:refund() end end)
  results.part_classify_us = time(function(k)
    for _ = 1, k do classify("Throttling.User", 400, true, true) end end)
  results.part_classify_5xx_us = time(function(k)
    for _ = 1, k do classify("ServiceUnavailable", 503, true, false) end end)
  results.part_backoff_us = time(function(k) for _ = 1, k do backoff(3, false, nil, nil, random()) end end)
  results.part_now_us = time(function(k) for _ = 1, k do now_fn() end end)
  results.part_empty_loop_us = time(function(k) for _ = 1, k do end end)

  print(("bookkeeping per attempt, N=%d, os.clock (µs):"):format(n))
  print(("  success, default limiter (no rate, no throttle yet)  %6.3f  (target <= 2) %s"):format(
    results.success_us, results.success_us <= 2 and "ok" or "MISSED"))
  print(("  success, configured rate                             %6.3f  %s"):format(
    results.success_rate_us, results.success_rate_us <= 2 and "ok" or "MISSED"))
  print(("  success, adaptive after a throttle (CUBIC)           %6.3f  %s"):format(
    results.success_adaptive_us, results.success_adaptive_us <= 2 and "ok" or "MISSED"))
  print(("  success + 2 core.now() as in send                    %6.3f"):format(results.success_with_clock_us))
  print(("  error, throttled (classify, observe, backoff, take)  %6.3f  %s"):format(
    results.error_us, results.error_us <= 2 and "ok" or "MISSED"))
  print(("  error, transport (classify, backoff, take)           %6.3f"):format(results.error_transport_us))
  print(("  parts: acquire %.3f, observe ok %.3f, refund %.3f, classify throttle %.3f / 5xx %.3f, backoff %.3f, core.now %.3f, empty loop %.4f"):format(
    results.part_acquire_us, results.part_observe_ok_us, results.part_refund_us, results.part_classify_us,
    results.part_classify_5xx_us, results.part_backoff_us, results.part_now_us, results.part_empty_loop_us))
  common.result("cost", results)
  return 0
end

local failed
if mode == "quota" then
  failed = quota(assert(arg[2], "URL"), arg[3] or "ecs", tonumber(arg[4]) or 1000,
    tonumber(arg[5]) or 200, tonumber(arg[6]) or 50)
elseif mode == "faults" then
  failed = faults(assert(arg[2], "URL"), tonumber(arg[3]) or 500, tonumber(arg[4]) or 2000,
    tonumber(arg[5]) or 42, tonumber(arg[6]) or 50)
elseif mode == "cost" then
  failed = cost(tonumber(arg[2]) or 1000000)
else
  io.stderr:write("usage: resilience.lua quota URL ecs|naive [CALLS TASKS RATE] | faults URL [RUNS DESCRIBES SEED TASKS] | cost [N]\n")
  os.exit(2)
end
os.exit(failed == 0 and 0 or 1)

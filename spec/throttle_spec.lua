local core = require "ecs.core"

-- The constants of the AWS SDKs' adaptive retry mode, restated here so the
-- expected values below come from the published formulas, not from the C code.
local BETA, C = 0.7, 0.4

local function near(expected, actual, tol)
  tol = tol or 1e-9
  assert(math.abs(expected - actual) <= tol * math.max(1, math.abs(expected)),
    ("expected %.12g, got %.12g"):format(expected, actual))
end

local function err_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

-- Sends at `rate` req/s from t0 for `seconds`, every send a success; returns the end time.
local function steady(l, t0, rate, seconds)
  local t = t0
  while t < t0 + seconds do
    assert.are.equal(0, l:acquire(t))
    l:observe(t, "ok")
    t = t + 1 / rate
  end
  return t
end

-- A server with a quota: a token bucket of QUOTA req/s holding at most `burst`.
local function server(quota, burst)
  local tokens, last = burst, 0
  return function(t)
    tokens = math.min(burst, tokens + (t - last) * quota)
    last = t
    if tokens >= 1 then
      tokens = tokens - 1
      return true
    end
    return false
  end
end

describe("ecs.core.limiter: a configured token bucket #core", function()
  it("hands out the burst at once, then one token per 1/rate", function()
    local l = core.limiter { rate = 10, burst = 5, adaptive = false }
    for _ = 1, 5 do assert.are.equal(0, l:acquire(100)) end
    -- Tokens go into debt: each caller is told a later send time.
    for i = 1, 5 do near(i * 0.1, l:acquire(100)) end
    assert.are.equal(10, l:rate())
  end)

  it("defaults the burst to max(1, rate) and starts full", function()
    local l = core.limiter { rate = 4, adaptive = false }
    for _ = 1, 4 do assert.are.equal(0, l:acquire(0)) end
    near(0.25, l:acquire(0))
    local slow = core.limiter { rate = 0.5, adaptive = false }
    assert.are.equal(0, slow:acquire(0))
    near(2, slow:acquire(0))
    assert.are.equal(1, slow:state().burst)
  end)

  it("refills at the rate, up to the burst and no more", function()
    local l = core.limiter { rate = 10, burst = 3, adaptive = false }
    for _ = 1, 3 do l:acquire(0) end
    near(0, l:state(0).tokens)
    near(2, l:state(0.2).tokens)
    assert.are.equal(3, l:state(60).tokens)
    for _ = 1, 3 do assert.are.equal(0, l:acquire(60)) end
    near(0.1, l:acquire(60))
  end)

  it("gives 10 simultaneous callers send times in FIFO order, 1/rate apart", function()
    local l = core.limiter { rate = 5, burst = 1, adaptive = false }
    local sends = {}
    for i = 1, 10 do sends[i] = 7 + l:acquire(7) end
    assert.are.equal(7, sends[1])
    for i = 2, 10 do near(0.2, sends[i] - sends[i - 1]) end
    -- A latecomer queues behind the debt, not ahead of it.
    local late = 7.5 + l:acquire(7.5)
    near(sends[10] + 0.2, late)
  end)

  it("pays a debt off at the rate: waits shrink as time passes", function()
    local l = core.limiter { rate = 2, burst = 1, adaptive = false }
    assert.are.equal(0, l:acquire(0))
    near(0.5, l:acquire(0))   -- sends at 0.5
    near(0.75, l:acquire(0.25)) -- sends at 1.0
    near(0, l:acquire(5))     -- debt long paid
  end)

  it("never adapts when adaptive = false", function()
    local l = core.limiter { rate = 10, adaptive = false }
    l:observe(1, "throttled")
    l:observe(2, "throttled")
    assert.are.equal(10, l:rate())
  end)
end)

describe("ecs.core.limiter: unlimited mode #core", function()
  it("always returns 0 and reports no rate", function()
    local l = core.limiter {}
    for i = 1, 1000 do assert.are.equal(0, l:acquire(i * 1e-4)) end
    assert.is_nil(l:rate())
    assert.is_false(l:state().enabled)
    assert.is_nil(l:state().rate)
  end)

  it("still measures the send rate (0.5 s buckets, smoothing 0.8)", function()
    local l = core.limiter {}
    steady(l, 0, 20, 5)
    near(20, l:state().measured_rate, 0.05)
  end)

  it("stays unlimited with adaptive = false even when throttled", function()
    local l = core.limiter { adaptive = false }
    l:acquire(0)
    l:observe(0, "throttled")
    assert.is_nil(l:rate())
    assert.are.equal(0, l:acquire(0))
  end)
end)

describe("ecs.core.limiter: the server's retry_after #core", function()
  it("holds every caller until now + retry_after in unlimited mode", function()
    local l = core.limiter { adaptive = false }
    l:observe(10, "throttled", 3)
    near(3, l:acquire(10))
    near(2, l:acquire(11))
    assert.are.equal(0, l:acquire(13.5))
  end)

  it("hands out no token before that time, and no burst at it", function()
    local l = core.limiter { rate = 10, burst = 10, adaptive = false }
    l:observe(0, "ok", 2)
    near(2, l:acquire(0))
    near(2.1, l:acquire(0))
    near(1.2, l:acquire(1))  -- sends at 2.2
    assert.are.equal(10, l:rate())
  end)

  it("does not shorten an earlier, longer hint", function()
    local l = core.limiter { adaptive = false }
    l:observe(0, "throttled", 5)
    l:observe(1, "throttled", 1)
    near(4, l:acquire(1))
  end)

  it("is honoured when the same throttle turns adaptive limiting on", function()
    local l = core.limiter {}
    steady(l, 0, 20, 3)
    l:observe(3, "throttled", 4)
    assert.is_true(l:state().enabled)
    assert.is_true(l:acquire(3) >= 4)
  end)
end)

describe("ecs.core.limiter: adaptive rate (CUBIC, as the AWS SDKs) #core", function()
  it("turns on at the first throttle with beta x the measured rate", function()
    local l = core.limiter {}
    local t = steady(l, 0, 20, 5)
    local m = l:state().measured_rate
    l:observe(t, "throttled")
    local s = l:state()
    assert.is_true(s.enabled)
    near(m, s.last_max_rate)
    near(BETA * m, s.rate)
    near(BETA * m, l:rate())
    assert.are.equal(t, s.last_throttle)
    -- Capacity follows the rate, and the bucket keeps no saved burst.
    near(BETA * m, s.burst)
    assert.is_true(s.tokens <= 0)
    near(1 / (BETA * m), l:acquire(t))
  end)

  it("drops a configured bucket's saved burst on a throttle", function()
    local l = core.limiter { rate = 10 }
    assert.are.equal(0, l:acquire(0))
    l:observe(0, "throttled")
    assert.is_true(l:state(0).tokens <= 0)
    local r = l:rate()
    near(1 / r, l:acquire(0))
  end)

  it("before the first full 0.5 s bucket, takes the rate so far, not 0", function()
    local l = core.limiter {}
    for i = 0, 29 do l:acquire(i / 100); l:observe(i / 100, "ok") end -- 30 accepted in the first bucket
    l:observe(0.3, "throttled")
    near(30 / 0.5, l:state().last_max_rate)
    near(BETA * 30 / 0.5, l:rate())
  end)

  it("recovers along W(t) = C(t - K)^3 + last_max, capped at 2x the measured rate", function()
    local l = core.limiter {}
    local t0 = steady(l, 0, 20, 5)
    l:observe(t0, "throttled")
    local m = l:state().measured_rate
    local K = ((m * (1 - BETA)) / C) ^ (1 / 3)
    -- Accepted requests go on at 20/s and keep feeding the measured rate.
    local t = t0
    local function until_dt(dt)
      while t + 0.05 < t0 + dt do t = t + 0.05; l:observe(t, "ok") end
      l:observe(t0 + dt, "ok")
      t = t0 + dt
    end
    for _, dt in ipairs { 0.25, 0.5, 1, 2, K, K + 0.5, K + 2, K + 5 } do
      until_dt(dt)
      local expected = math.min(C * (dt - K) ^ 3 + m, 2 * l:state().measured_rate)
      near(expected, l:rate())
    end
    -- Below last_max before K and flat at 2x the measured rate far out.
    assert.is_true(l:rate() > m)
    until_dt(K + 20)
    near(2 * l:state().measured_rate, l:rate())
  end)

  it("on a later throttle takes min(measured, fill rate) as the new maximum", function()
    local l = core.limiter {}
    local t0 = steady(l, 0, 20, 5)
    l:observe(t0, "throttled")
    for i = 1, 20 do l:observe(t0 + i * 0.05, "ok") end
    local fill = l:rate()
    assert.is_true(fill < l:state().measured_rate)
    l:observe(t0 + 1.5, "throttled")
    near(fill, l:state().last_max_rate, 1e-6)
    near(BETA * fill, l:rate(), 1e-6)
  end)

  it("cuts once per congestion event: replies to sends scheduled before the cut, or within 0.5 s of it, do not cut again", function()
    local l = core.limiter {}
    local t0 = steady(l, 0, 20, 5)
    l:observe(t0, "throttled")
    local after_one = l:rate()
    for i = 1, 10 do l:observe(t0 + i * 0.01, "throttled", nil, t0 - 0.05) end
    near(after_one, l:rate())
    -- Within half a second of a cut even a later send does not cut again:
    -- the first replies at the new rate are still coming in.
    l:observe(t0 + 0.2, "throttled", nil, t0 + 0.1)
    near(after_one, l:rate())
    -- After that, a send scheduled after the cut that is throttled cuts again.
    l:observe(t0 + 0.6, "throttled", nil, t0 + 0.5)
    assert.is_true(l:rate() < after_one)
    near(BETA * l:state().last_max_rate, l:rate())
  end)

  it("never goes below 0.5 req/s, with a capacity of at least one token", function()
    local l = core.limiter {}
    local t = steady(l, 0, 20, 2)
    for i = 1, 40 do l:observe(t + i, "throttled") end
    assert.are.equal(0.5, l:rate())
    assert.are.equal(1, l:state().burst)
    assert.are.equal(0, l:acquire(t + 50))
    near(2, l:acquire(t + 50))
  end)

  it("treats a configured rate as the ceiling", function()
    local l = core.limiter { rate = 10 }
    -- Before any throttle: the configured bucket, untouched by successes.
    local t = steady(l, 0, 8, 5)
    assert.are.equal(10, l:rate())
    l:observe(t, "throttled")
    local m = l:state().measured_rate
    near(BETA * math.min(m, 10), l:rate())
    for i = 1, 200 do
      l:acquire(t + i * 0.1)
      l:observe(t + i * 0.1, "ok")
      assert.is_true(l:rate() <= 10)
    end
    assert.are.equal(10, l:rate())
    assert.are.equal(10, l:state().burst)
  end)

  it("scales a configured burst with the adapted rate", function()
    local l = core.limiter { rate = 10, burst = 20 }
    local t = steady(l, 0, 10, 3)
    l:observe(t, "throttled")
    local s = l:state()
    near(20 * s.rate / 10, s.burst)
  end)

  it("converges to a 50 req/s quota: few throttles, close to the quota", function()
    -- A client that sends as fast as the limiter allows (1 ms of work per
    -- call), against a server that admits 50 req/s with a 50-request burst.
    local admit = server(50, 50)
    local l = core.limiter {}
    local t, sent, throttled, late_ok = 0, 0, 0, 0
    while true do
      local acquired = t
      t = t + l:acquire(t)
      if t >= 60 then break end
      sent = sent + 1
      if admit(t) then
        if t >= 30 then late_ok = late_ok + 1 end
        l:observe(t, "ok", nil, acquired)
      else
        throttled = throttled + 1
        l:observe(t, "throttled", nil, acquired)
      end
      t = t + 0.001
    end
    assert.is_true(throttled / sent <= 0.05, ("throttled %d of %d"):format(throttled, sent))
    assert.is_true(late_ok / 30 >= 0.9 * 50, ("%.2f req/s over the last 30 s"):format(late_ok / 30))
    assert.is_true(late_ok / 30 <= 50 + 50 / 30)
  end)

  it("converges with 20 concurrent callers and 50 ms replies", function()
    -- Event-driven: each caller acquires, sleeps the wait, sends (or queues
    -- again when the rate was cut meanwhile, as client:call does), gets the
    -- reply 50 ms later, reports it and acquires again.
    local admit = server(50, 50)
    local l = core.limiter {}
    local queue = {} -- { time, kind, acquired_at, ok }, sorted by time descending
    local function push(e)
      local i = #queue + 1
      while i > 1 and queue[i - 1][1] < e[1] do i = i - 1 end
      table.insert(queue, i, e)
    end
    for _ = 1, 20 do push { 0, "acquire" } end
    local sent, throttled, late_ok = 0, 0, 0
    while true do
      local e = table.remove(queue)
      local t = e[1]
      if t >= 60 then break end
      if e[2] == "acquire" then
        push { t + l:acquire(t), "send", t, l:epoch() }
      elseif e[2] == "send" and e[4] ~= l:epoch() then
        push { t, "acquire" } -- the rate was cut while it waited: queue again
      elseif e[2] == "send" then
        sent = sent + 1
        local ok = admit(t)
        if not ok then throttled = throttled + 1 elseif t >= 30 then late_ok = late_ok + 1 end
        push { t + 0.05, "reply", e[3], ok }
      else
        l:observe(t, e[4] and "ok" or "throttled", nil, e[3])
        push { t, "acquire" }
      end
    end
    assert.is_true(throttled / sent <= 0.05, ("throttled %d of %d"):format(throttled, sent))
    assert.is_true(late_ok / 30 >= 0.9 * 50, ("%.2f req/s over the last 30 s"):format(late_ok / 30))
  end)
end)

describe("ecs.core.limiter: bad arguments #core", function()
  it("rejects a bad configuration", function()
    assert.matches("rate must be a positive number", err_of(core.limiter, { rate = -1 }))
    assert.matches("rate must be a positive number", err_of(core.limiter, { rate = 0 }))
    assert.matches("rate must be a number", err_of(core.limiter, { rate = "10" }))
    assert.matches("burst must be a positive number", err_of(core.limiter, { rate = 1, burst = -2 }))
    assert.matches("burst must be at least 1", err_of(core.limiter, { rate = 1, burst = 0.5 }))
    assert.matches("burst needs a rate", err_of(core.limiter, { burst = 5 }))
    assert.matches("adaptive must be a boolean", err_of(core.limiter, { adaptive = "yes" }))
    assert.matches("table expected", err_of(core.limiter, 10))
  end)

  it("rejects a time that is not a finite number", function()
    local l = core.limiter { rate = 1 }
    assert.matches("time", err_of(l.acquire, l, "1"))
    assert.matches("time", err_of(l.acquire, l))
    assert.matches("finite", err_of(l.acquire, l, 0 / 0))
    assert.matches("finite", err_of(l.acquire, l, math.huge))
    assert.matches("time", err_of(l.observe, l, nil, "ok"))
    assert.matches("time", err_of(l.state, l, {}))
  end)

  it("rejects an unknown outcome and a bad retry_after", function()
    local l = core.limiter {}
    assert.matches("invalid option", err_of(l.observe, l, 1, "slow"))
    assert.matches("string expected", err_of(l.observe, l, 1))
    assert.matches("retry_after", err_of(l.observe, l, 1, "throttled", "2"))
    assert.matches("time", err_of(l.observe, l, 1, "throttled", nil, "x"))
  end)

  it("ignores a server hint that is not a time, and caps a long one at 30 s", function()
    for _, hint in ipairs { -1, 0 / 0, math.huge } do
      local l = core.limiter { rate = 10, adaptive = false }
      l:observe(1, "throttled", hint)
      assert.is_true(l:acquire(1) < 1)
    end
    local l = core.limiter { rate = 10, adaptive = false }
    l:observe(100, "throttled", 3600)
    local wait = l:acquire(100)
    assert.is_true(wait <= 30 and wait > 29, "waits " .. wait)
  end)

  it("rejects a method called on something else", function()
    local l = core.limiter {}
    assert.matches("limiter expected", err_of(l.acquire, {}, 1))
    assert.matches("limiter expected", err_of(l.rate, core.retry_budget {}))
  end)
end)

-- Several processes, each with its own limiter, against one server token bucket they cannot
-- see (as other callers of an account share its quota): an event-driven simulation of the
-- arithmetic that request.lua drives (reservations, epochs re-checked every 0.5 s, backoff).
local function compete(procs, calls, tasks, quota, until_t)
  math.randomseed(7)
  local server = { tokens = quota, stamp = 0 }
  local function accept(t)
    server.tokens = math.min(quota, server.tokens + (t - server.stamp) * quota)
    server.stamp = t
    if server.tokens >= 1 then server.tokens = server.tokens - 1; return true end
    return false
  end
  local ps, all = {}, {}
  for p = 1, procs do
    ps[p] = { limiter = core.limiter {}, started = 0, done = 0, finished = nil, attempts = 0, throttled = 0 }
    for _ = 1, tasks do
      local task = { p = ps[p], attempt = 1 }
      all[#all + 1] = task
      task.state, task.t = "acquire", 0
    end
  end
  local failures = 0
  while true do
    local task
    for _, x in ipairs(all) do
      if x.state ~= "idle" and (not task or x.t < task.t) then task = x end
    end
    if not task or task.t > until_t then break end
    local p, t, l = task.p, task.t, task.p.limiter
    if task.state == "acquire" then
      if p.started >= calls and task.attempt == 1 then
        task.state = "idle"
      else
        if task.attempt == 1 then p.started = p.started + 1 end
        task.reserved, task.epoch = t, l:epoch()
        task.send_at = t + l:acquire(t)
        task.state, task.t = "wait", math.min(task.send_at, t + 0.5)
      end
    elseif task.state == "wait" then
      if l:epoch() ~= task.epoch then
        task.state = "acquire" -- voided: queue again at the new rate
        task.attempt_keep = true
      elseif t >= task.send_at then
        p.attempts = p.attempts + 1
        local ok = accept(t)
        l:observe(t + 0.002, ok and "ok" or "throttled", nil, task.reserved)
        if ok then
          p.done = p.done + 1
          if p.done == calls then p.finished = t end
          task.attempt, task.state, task.t = 1, "acquire", t + 0.002
        else
          p.throttled = p.throttled + 1
          if task.attempt >= 5 then
            failures = failures + 1
            task.attempt, task.state, task.t = 1, "acquire", t + 0.002
          else
            task.attempt = task.attempt + 1
            task.state, task.t = "acquire", t + 0.002 + core.backoff(task.attempt - 1, true, nil, nil, math.random())
          end
        end
      else
        task.t = math.min(task.send_at, t + 0.5)
      end
    end
    if task.state == "acquire" and task.attempt_keep then
      task.attempt_keep = nil
      -- re-acquire at once (the same attempt): undo the started count of a fresh call
      if task.attempt == 1 then p.started = p.started - 1 end
    end
  end
  return ps, failures
end

describe("ecs.core.limiter: competitors it cannot see #core", function()
  it("four processes x 250 calls against one 50 req/s quota all finish (none starves)", function()
    local ps, failures = compete(4, 250, 50, 50, 60)
    local slowest, attempts, throttled = 0, 0, 0
    for i, p in ipairs(ps) do
      assert.is_number(p.finished, "process " .. i .. " did not finish: " .. p.done .. " of 250 calls")
      slowest = math.max(slowest, p.finished)
      attempts, throttled = attempts + p.attempts, throttled + p.throttled
    end
    assert.are.equal(0, failures)
    assert.is_true(slowest <= 30, "the last process took " .. slowest .. " s")
    assert.is_true(throttled / attempts <= 0.25, ("%.1f %% of attempts throttled"):format(100 * throttled / attempts))
  end)

  it("one process alone meets the quota without waste", function()
    local ps, failures = compete(1, 1000, 200, 50, 60)
    assert.are.equal(0, failures)
    assert.is_true(ps[1].finished <= 22, "took " .. tostring(ps[1].finished))
  end)

  it("a recovery of 1.5x voids the reservations made at the lower rate (epoch)", function()
    local l = core.limiter {}
    for i = 1, 20 do l:observe(i * 0.05, "ok") end
    l:observe(1, "throttled") -- cut: now limited
    local e = l:epoch()
    for _ = 1, 50 do l:acquire(1) end -- reservations far ahead at the cut rate
    local t = 1
    while l:epoch() == e and t < 30 do
      t = t + 0.05
      l:observe(t, "ok")
    end
    assert.is_true(l:epoch() > e, "no new epoch while the rate recovered")
    assert.is_true(l:acquire(t) < 1, "a new reservation still pays the old debt")
  end)
end)

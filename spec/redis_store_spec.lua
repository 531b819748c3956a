-- The Redis rate store (ecs.ratestore.redis): the script's arithmetic against core.limiter on a
-- controlled clock, two processes sharing one key, Redis killed and frozen mid-run, URLs and
-- authentication at client creation, key expiry, commands per call. It starts its own
-- redis-server (spec/support/redis.lua) on a free loopback port, and calls the emulator.
local ecs = require "ecs"
local core = require "ecs.core"
local redis = require "ecs.ratestore.redis"
local script = require "ecs.ratestore.redis_script"
local client_module = require "ecs.client"
local redis_support = require "support.redis"
local emu = require "support.emulator"

local function near(expected, actual, what)
  assert(type(actual) == "number", (what or "value") .. ": got " .. tostring(actual))
  assert(math.abs(expected - actual) <= 1e-9 * math.max(1, math.abs(expected)),
    ("%s: expected %.15g, got %.15g"):format(what or "value", expected, actual))
end

local seq = 0
local function client(opts)
  seq = seq + 1
  opts.endpoint = emu.endpoint
  opts.region = opts.region or ("cn-redis-" .. seq)
  opts.access_key_id = opts.access_key_id or "testid"
  opts.access_key_secret = opts.access_key_secret or "testsecret"
  return client_module.new(opts, function() return nil end)
end

local function logger()
  local lines = {}
  return lines, function(line) lines[#lines + 1] = line end
end

local function count(lines, pattern)
  local n = 0
  for _, l in ipairs(lines) do if l:find(pattern) then n = n + 1 end end
  return n
end

describe("ecs.ratestore.redis", function()
  local server, url
  setup(function()
    server = redis_support.start { password = "s3cr3t-pw", unixsocket = true }
    url = "redis://:s3cr3t-pw@127.0.0.1:" .. server.port .. "/0"
  end)
  teardown(function() if server then server:stop() end end)
  before_each(function()
    if not server:running() then server:restart() end
    server:cli("FLUSHALL")
  end)

  describe("URLs", function()
    it("parses redis:// and unix:// URLs", function()
      assert.are.same({ host = "10.0.0.5", port = 6379, db = 0, url = "redis://10.0.0.5:6379/0" },
        redis.parse("redis://10.0.0.5:6379/0"))
      assert.are.same({ host = "redis.internal", port = 6380, db = 3, password = "p@ss:w/rd",
        url = "redis://:****@redis.internal:6380/3" }, redis.parse("redis://:p%40ss%3Aw%2Frd@redis.internal:6380/3"))
      assert.are.same({ host = "::1", port = 7000, db = 0, user = "app", password = "x",
        url = "redis://app:****@[::1]:7000" }, redis.parse("redis://app:x@[::1]:7000"))
      assert.are.same({ host = "h", port = 6379, db = 0, url = "redis://h" }, redis.parse("redis://h"))
      assert.are.same({ path = "/run/redis.sock", db = 2, password = "pw",
        url = "unix:///run/redis.sock?db=2&password=****" }, redis.parse("unix:///run/redis.sock?db=2&password=pw"))
    end)

    it("names what is wrong with a bad URL, never the password", function()
      local cases = {
        ["redis://:hunter2@127.0.0.1:6379/x"] = "the database must be a number",
        ["redis://:hunter2@127.0.0.1:port/0"] = "the port must be a number",
        ["redis://:hunter2@127.0.0.1:99999/0"] = "the port must be 1 to 65535",
        ["redis://:hunter2@/0"] = "no host",
        ["rediss://:hunter2@127.0.0.1/0"] = "TLS",
        ["http://:hunter2@127.0.0.1/0"] = "unsupported scheme 'http'",
        ["127.0.0.1:6379"] = "no scheme",
        ["unix://run/redis.sock?password=hunter2"] = "must be absolute",
        ["unix:///run/redis.sock?password=hunter2&dbx=1"] = "an unknown parameter",
        -- passwords written without percent-encoding: / and @ and & in them
        ["redis://:hunt/er2@127.0.0.1:6379/0"] = "the port must be a number",
        ["redis://user:hunt/er2@127.0.0.1/0"] = "the port must be a number",
        ["unix:///run/redis.sock?password=hunt&er2"] = "an unknown parameter",
        ["redis://:hunter2@127.0.0.1:6379/0/extra"] = "nothing may follow",
        ["redis://hunter2@127.0.0.1:6379/0"] = "a password is given as :password@",
      }
      for bad_url, why in pairs(cases) do
        local ok, err = pcall(client, { rate_store = bad_url })
        assert.is_false(ok, bad_url)
        assert.matches("rate_store: bad URL", err, 1, true)
        assert.matches(why, err, 1, true)
        assert.is_nil(err:find("hunter2", 1, true), "the password is in: " .. err)
        assert.is_nil(err:find("hunt", 1, true), "part of the password is in: " .. err)
      end
      -- a raw @ in the password parses; the URL shown for it (logs, tostring) masks all of it
      local a = redis.parse("redis://:p@ss@127.0.0.1:6379/0")
      assert.are.equal("p@ss", a.password)
      assert.are.equal("redis://:****@127.0.0.1:6379/0", a.url)
    end)

    it("reads a reply with a malformed or huge length as a bad reply, never raising", function()
      local function socket_of(bytes)
        local pos = 1
        return {
          receive = function(_, what)
            if what == "*l" then
              local e = bytes:find("\r\n", pos, true)
              if not e then return nil, "closed" end
              local line = bytes:sub(pos, e - 1)
              pos = e + 2
              return line
            end
            local data = bytes:sub(pos, pos + what - 1)
            pos = pos + what
            return data
          end,
        }
      end
      for _, bytes in ipairs { "$99999999999\r\n", "*1\r\n$1.5\r\nx\r\n", "$ 3\r\nabc\r\n", "*2e9\r\n" } do
        local ok, reply, err = pcall(redis.read_reply, socket_of(bytes))
        assert.is_true(ok, reply)
        assert.is_nil(reply)
        assert.matches("bad reply", err)
      end
      assert.are.equal("abc", redis.read_reply(socket_of("$3\r\nabc\r\n")))
    end)
  end)

  describe("at client creation", function()
    it("connects, authenticates and loads the script", function()
      local c = client { rate_store = url }
      assert.are.equal("shared", c.rate_store.mode)
      assert.are.equal("1", server:cli("SCRIPT EXISTS " .. redis.SCRIPT_SHA))
      assert(c:call("DescribeRegions", {}))
      -- the clients of one URL share a store
      assert.are.equal(c.rate_store, client { rate_store = url }.rate_store)
      -- and ECS_RATE_STORE is read when the option is absent
      local env = client_module.new({ endpoint = emu.endpoint, region = "cn-env", access_key_id = "testid",
        access_key_secret = "testsecret" }, function(name) if name == "ECS_RATE_STORE" then return url end end)
      assert.are.equal(c.rate_store, env.rate_store)
    end)

    it("raises on a wrong password, a missing one, a database out of range, naming the URL only", function()
      local port = server.port
      local cases = {
        ["redis://:wrong-pw@127.0.0.1:" .. port .. "/0"] = "WRONGPASS",
        ["redis://127.0.0.1:" .. port .. "/0"] = "NOAUTH",
        ["redis://:s3cr3t-pw@127.0.0.1:" .. port .. "/4000"] = "DB index is out of range",
        ["unix://" .. server.unixsocket .. "?password=wrong-pw"] = "WRONGPASS",
      }
      for bad_url, why in pairs(cases) do
        local ok, err = pcall(client, { rate_store = bad_url })
        assert.is_false(ok, bad_url)
        assert.matches("rate_store " .. redis.redact(bad_url):gsub("%p", "%%%0"), err)
        assert.matches(why, err, 1, true)
        assert.is_nil(err:find("wrong-pw", 1, true))
        assert.is_nil(err:find("s3cr3t", 1, true))
      end
    end)

    it("does not raise when Redis cannot be reached: the store starts in this process", function()
      local lines, log = logger()
      local free = "redis://127.0.0.1:" .. redis_support.free_port() .. "/0"
      local store = redis.new(free, { log = log })
      assert.are.equal("fallback", store.mode)
      assert.are.equal(1,
        count(lines, "^ecs: rate store redis://127%.0%.0%.1:%d+/0 unavailable %(connection refused%)"))
      local c = client { rate_store = store }
      assert(c:call("DescribeRegions", {}))
      assert.are.equal(1, #lines)
    end)

    it("works over a unix socket with a database number", function()
      local store = redis.new("unix://" .. server.unixsocket .. "?db=3&password=s3cr3t-pw", { log = error })
      assert.are.equal("shared", store.mode)
      local c = client { rate_store = store }
      assert(c:call("DescribeRegions", {}))
      assert.matches("ecs:rate:DescribeRegions:", server:cli("-n 3 KEYS 'ecs:rate:*'"))
      assert.are.equal("", server:cli("-n 0 KEYS 'ecs:rate:*'"))
    end)
  end)

  describe("the script's arithmetic", function()
    -- One EVAL of the script at time t: observations { throttled, retry_after, reserved_at },
    -- then n acquires; config { rate, burst, adaptive }.
    local function evaluate(store, key, t, config, obs, n)
      local args = { "EVAL", script, "1", key, "60000", tostring(config.rate or 0), tostring(config.burst or 0),
        config.adaptive == false and "0" or "1", ("%.17g"):format(t), tostring(#obs) }
      for _, o in ipairs(obs) do
        args[#args + 1] = o.throttled and "1" or "0"
        args[#args + 1] = "0"
        args[#args + 1] = tostring(o.retry_after or 0)
        args[#args + 1] = o.reserved_at and ("%.17g"):format(t - o.reserved_at) or ""
      end
      args[#args + 1] = tostring(n)
      local replies = assert(store:exchange(redis.command(args), 1))
      local reply = replies[1]
      assert(type(reply) == "string", type(reply) == "table" and reply.err)
      local fields = {}
      for f in reply:gmatch("%S+") do fields[#fields + 1] = f end
      assert.are.equal(7 + n, #fields)
      return fields
    end

    -- Drives core.limiter and the script with the same events; compares every wait and state.
    local function compare(config, events)
      local store = redis.new(url, { log = error })
      local key = "ecs:rate:spec:" .. tostring(math.random(1e9))
      local l = core.limiter(config)
      local checked = 0
      ecs.run(function()
        for i, e in ipairs(events) do
          local what = ("event %d (%s at %.3f)"):format(i, e.kind, e.t)
          local reply
          if e.kind == "acquire" then
            local expected = l:acquire(e.t)
            reply = evaluate(store, key, e.t, config, {}, 1)
            near(expected, tonumber(reply[8]), what .. " wait")
          else
            l:observe(e.t, e.kind, e.retry_after, e.reserved_at)
            reply = evaluate(store, key, e.t, config, { { throttled = e.kind == "throttled",
              retry_after = e.retry_after, reserved_at = e.reserved_at } }, 0)
          end
          local st = l:state()
          assert.are.equal(l:epoch(), tonumber(reply[1]), what .. " epoch")
          assert.are.equal(st.enabled and "1" or "0", reply[2], what .. " enabled")
          if st.enabled then
            near(st.rate, tonumber(reply[3]), what .. " rate")
            near(st.burst, tonumber(reply[4]), what .. " burst")
            near(st.tokens, tonumber(reply[5]), what .. " tokens")
          end
          near(st.measured_rate, tonumber(reply[6]), what .. " measured rate")
          near(st.last_max_rate, tonumber(reply[7]), what .. " last max rate")
          checked = checked + 1
        end
      end)
      assert.are.equal(#events, checked)
      return l
    end

    it("hands out a configured bucket as core.limiter does", function()
      local events = {}
      for _ = 1, 12 do events[#events + 1] = { kind = "acquire", t = 100 } end
      for i = 1, 10 do events[#events + 1] = { kind = "acquire", t = 100 + i * 0.37 } end
      local l = compare({ rate = 10, burst = 5, adaptive = false }, events)
      assert.are.equal(10, l:rate())
    end)

    it("cuts on a throttle, recovers on the CUBIC curve, reprices, as core.limiter does", function()
      -- 20 req/s accepted for 3 s, throttles, then recovery with acquires
      local events, t = {}, 1000
      for _ = 1, 60 do
        events[#events + 1] = { kind = "acquire", t = t }
        events[#events + 1] = { kind = "ok", t = t + 0.01, reserved_at = t }
        t = t + 0.05
      end
      events[#events + 1] = { kind = "throttled", t = t, reserved_at = t - 0.02 }
      -- a second throttle of a request reserved before the cut changes nothing
      events[#events + 1] = { kind = "throttled", t = t + 0.1, reserved_at = t - 0.01 }
      for _ = 1, 200 do
        t = t + 0.07
        events[#events + 1] = { kind = "acquire", t = t }
        events[#events + 1] = { kind = "ok", t = t + 0.005, reserved_at = t }
      end
      -- a throttle with a retry-after hint holds every sender back
      events[#events + 1] = { kind = "throttled", t = t + 1, reserved_at = t + 0.9, retry_after = 2 }
      events[#events + 1] = { kind = "acquire", t = t + 1.1 }
      events[#events + 1] = { kind = "acquire", t = t + 1.2 }
      events[#events + 1] = { kind = "ok", t = t + 3.5, reserved_at = t + 3.2 }
      local l = compare({}, events)
      assert.is_true(l:epoch() >= 3, "cuts and reprices: epoch " .. l:epoch())
    end)

    it("agrees with core.limiter on random event sequences", function()
      math.randomseed(42)
      for _, config in ipairs { {}, { rate = 7, burst = 3 }, { rate = 50, adaptive = false }, { adaptive = false } } do
        local events, t, last_acquire = {}, 500 + math.random() * 100, nil
        for _ = 1, 250 do
          t = t + math.random() * 0.2
          local r = math.random()
          if r < 0.45 then
            events[#events + 1] = { kind = "acquire", t = t }
            last_acquire = t
          elseif r < 0.85 then
            events[#events + 1] = { kind = "ok", t = t, reserved_at = last_acquire }
          else
            events[#events + 1] = { kind = "throttled", t = t, reserved_at = last_acquire,
              retry_after = math.random() < 0.3 and math.random() * 3 or nil }
          end
        end
        compare(config, events)
      end
    end)

    it("keeps the state in one key that expires after its last use", function()
      local saved = redis.TTL
      redis.TTL = 1
      local ok, err = pcall(function()
        local store = redis.new(url, { log = error })
        local c = client { rate_store = store }
        assert(c:call("DescribeRegions", {}))
        local keys = server:cli("KEYS 'ecs:rate:*'")
        assert.matches("^ecs:rate:DescribeRegions:%x+$", keys)
        local ttl = tonumber(server:cli("PTTL " .. keys))
        assert.is_true(ttl > 0 and ttl <= 1000, "PTTL " .. tostring(ttl))
        assert.are.equal("string", server:cli("TYPE " .. keys))
        local state = server:cli("GET " .. keys)
        assert.matches("last_throttle", state, 1, true) -- a MessagePack map of the limiter's fields
        assert.is_nil(state:find("testid", 1, true)) -- no AccessKeyId
        os.execute("sleep 1.2")
        assert.are.equal("", server:cli("KEYS 'ecs:rate:*'"))
      end)
      redis.TTL = saved
      assert(ok, err)
    end)
  end)

  describe("shared state", function()
    it("shares one bucket between two processes", function()
      local worker = os.tmpname()
      local f = assert(io.open(worker, "w"))
      f:write([[
        local ecs, core, redis = require "ecs", require "ecs.core", require "ecs.ratestore.redis"
        local url, start = arg[1], tonumber(arg[2])
        local store = redis.new(url, { log = function(l) io.stderr:write(l, "\n") end })
        local limiter = store:limiter("spec\0two-processes", { rate = 20, burst = 1, adaptive = false })
        ecs.sleep(math.max(0, start - core.now()))
        ecs.run(function()
          for _ = 1, 15 do
            local t = core.now()
            local wait = limiter:acquire(t)
            ecs.sleep(wait)
            print(("%.6f"):format(t + wait))
          end
        end)
        print("mode " .. store.mode)
      ]])
      f:close()
      local start = core.now() + 0.5
      local cmd = ("%s %s %s %.6f"):format(os.getenv("LUA") or "lua5.4", worker, url, start)
      local a, b = io.popen(cmd), io.popen(cmd)
      local outs = { a:read("*a"), b:read("*a") }
      a:close()
      b:close()
      os.remove(worker)
      local times = {}
      for _, out in ipairs(outs) do
        assert.matches("mode shared", out)
        for v in out:gmatch("(%d+%.%d+)\n") do times[#times + 1] = tonumber(v) end
      end
      assert.are.equal(30, #times)
      table.sort(times)
      -- One bucket of 20 req/s: 30 sends span at least 29 / 20 s (two buckets would take half).
      assert.is_true(times[30] - times[1] >= 29 / 20 - 0.05, ("span %.3f s"):format(times[30] - times[1]))
      local close = 0
      for i = 2, 30 do if times[i] - times[i - 1] < 0.025 then close = close + 1 end end
      assert.is_true(close <= 2, close .. " sends closer than half the interval")
    end)

    it("a throttle seen by one host cuts the rate of all, and a retry-after hint holds all back", function()
      local a = redis.new(url, { log = error })
      local b = redis.new(url, { log = error })
      local key = "e\0cn-shared\0testid\0DescribeInstances"
      local la = a:limiter(key, { adaptive = true })
      local lb = b:limiter(key, { adaptive = true })
      ecs.run(function()
        local t = core.now()
        -- unlimited until the first throttle
        for _ = 1, 20 do
          assert.are.equal(0, la:acquire(core.now()))
          la:observe(core.now(), "ok", nil, t)
        end
        assert.is_nil(lb:rate())
        local epoch = lb:epoch()
        lb:acquire(core.now())
        la:observe(core.now(), "throttled", nil, core.now())
        ecs.sleep(0.05) -- the throttle goes out at once, in a task of its own
        lb:acquire(core.now())
        assert.is_number(lb:rate(), "b sees the cut rate")
        -- b's tasks that reserved before the cut queue again; the one whose reply brought the
        -- news reserved after it
        local seen_by_waiting_task = ecs.spawn(function() return lb:epoch() end):wait()
        assert.are_not.equal(epoch, seen_by_waiting_task, "b's earlier reservations are void")
        assert.are.equal(epoch, lb:epoch())
        -- a hint of 1.5 s from a's server holds b back
        la:observe(core.now(), "throttled", 1.5, core.now())
        ecs.sleep(0.05)
        local wait = lb:acquire(core.now())
        assert.is_true(wait > 1.2 and wait <= 1.5, "wait " .. wait)
      end)
      assert.are.equal("shared", a.mode)
      assert.are.equal("shared", b.mode)
    end)

    it("costs at most one command per call, fewer when calls overlap", function()
      emu.reset { speed = 0 }
      local store = redis.new(url, { log = error })
      local c = client { rate_store = store, region = "cn-commands" }
      ecs.run(function()
        local tasks = {}
        for i = 1, 20 do
          tasks[i] = ecs.spawn(function()
            for _ = 1, 10 do assert(c:call("DescribeRegions", {})) end
          end)
        end
        for _, t in ipairs(tasks) do t:wait() end
      end)
      local stats = store.stats
      assert.are.equal(200, stats.acquires)
      assert.is_true(stats.commands <= 200, stats.commands .. " commands for 200 calls")
      assert.are.equal(stats.commands, stats.round_trips) -- one command a round trip: the connection is kept
    end)
  end)

  describe("when Redis fails", function()
    -- Calls from `tasks` tasks until stop() is true; returns the count of calls and failures.
    local function load(c, tasks, stop)
      local calls, failures = 0, {}
      ecs.run(function()
        local list = {}
        for i = 1, tasks do
          list[i] = ecs.spawn(function()
            while not stop() do
              local res, err = c:call("DescribeRegions", {})
              calls = calls + 1
              if not res then failures[#failures + 1] = tostring(err) end
            end
          end)
        end
        for _, t in ipairs(list) do t:wait() end
      end)
      return calls, failures
    end

    it("limits in this process while Redis is killed, and shares again after its restart", function()
      emu.reset { speed = 0 }
      local lines, log = logger()
      local store = redis.new(url, { log = log })
      local c = client { rate_store = store, region = "cn-killed" }
      local t0, phase, modes = core.now(), 0, {}
      local calls, failures = load(c, 8, function()
        local t = core.now() - t0
        if phase == 0 and t > 0.3 then
          phase = 1
          server:kill()
        elseif phase == 1 and t > 1.0 then
          phase = 2
          modes.killed = store.mode
          server:restart()
        end
        return t > 2.5
      end)
      assert.are.same({}, failures)
      assert.is_true(calls > 100, calls .. " calls")
      assert.are.equal("fallback", modes.killed)
      assert.are.equal("shared", store.mode)
      assert.are.equal(1, count(lines, "unavailable"), table.concat(lines, "\n"))
      assert.are.equal(1, count(lines, "is back; limits are shared again"), table.concat(lines, "\n"))
      assert.are.equal(2, #lines)
      assert.is_nil(table.concat(lines):find("s3cr3t", 1, true))
      -- the state is in Redis again
      assert.matches("ecs:rate:DescribeRegions:", server:cli("KEYS 'ecs:rate:*'"))
    end)

    it("falls back when Redis stops answering (a timeout), and returns when it answers again", function()
      emu.reset { speed = 0 }
      local lines, log = logger()
      local store = redis.new(url, { log = log, timeout = 0.1 })
      local c = client { rate_store = store, region = "cn-frozen" }
      local t0, phase, modes = core.now(), 0, {}
      local calls, failures = load(c, 4, function()
        local t = core.now() - t0
        if phase == 0 and t > 0.2 then
          phase = 1
          server:pause()
        elseif phase == 1 and t > 0.8 then
          phase = 2
          modes.paused = store.mode
          server:resume()
        end
        return t > 2.5
      end)
      assert.are.same({}, failures)
      assert.is_true(calls > 50, calls .. " calls")
      assert.are.equal("fallback", modes.paused)
      assert.are.equal("shared", store.mode)
      assert.are.equal(1, count(lines, "unavailable %(timeout%)"), table.concat(lines, "\n"))
      assert.are.equal(1, count(lines, "is back; limits"), table.concat(lines, "\n"))
    end)

    it("tries a Redis that fails again soon after its return less and less often", function()
      local lines, log = logger()
      local store = redis.new(url, { log = log })
      local limiter = store:limiter("e\0r\0a\0Flapping", { adaptive = true })
      local function until_mode(mode)
        for _ = 1, 200 do
          limiter:acquire(core.now())
          if store.mode == mode then return true end
          ecs.sleep(0.02)
        end
        return false
      end
      local backoffs = {}
      ecs.run(function()
        for round = 1, 3 do
          server:kill()
          assert(until_mode("fallback"), "no fallback in round " .. round)
          backoffs[round] = store.backoff
          server:restart()
          assert(until_mode("shared"), "no return in round " .. round)
        end
      end)
      -- each outage soon after a return starts with a longer delay (at least double)
      assert.are.equal(redis.BACKOFF_MIN, backoffs[1])
      assert.is_true(backoffs[2] >= 2 * backoffs[1] and backoffs[3] >= 2 * backoffs[2],
        table.concat(backoffs, " "))
      assert.are.equal(3, count(lines, "unavailable"))
      assert.are.equal(3, count(lines, "is back; limits"))
    end)

    it("keeps limiting in this process with what it observed while shared", function()
      local lines, log = logger()
      local store = redis.new(url, { log = log })
      local limiter = store:limiter("e\0r\0a\0Throttled", { adaptive = true })
      ecs.run(function()
        for _ = 1, 10 do
          limiter:acquire(core.now())
          limiter:observe(core.now(), "ok", nil, core.now())
        end
        limiter:observe(core.now(), "throttled", nil, core.now())
        ecs.sleep(0.05)
        server:kill()
        local epoch = limiter:epoch()
        local wait = limiter:acquire(core.now()) -- finds Redis gone: this process decides
        assert.are.equal("fallback", store.mode)
        assert.are_not.equal(epoch, limiter:epoch())
        assert.is_number(limiter:rate(), "the local limiter saw the throttle")
        assert.is_true(wait >= 0)
      end)
      assert.are.equal(1, count(lines, "unavailable"))
    end)
  end)
end)

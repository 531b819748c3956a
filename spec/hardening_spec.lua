-- Hostile servers, misuse and bad input: each case never hangs, crashes or misleads.
-- (The limiter with competitors: throttle_spec.lua; a hung DNS lookup: dns_stall_spec.lua.)
local ecs = require "ecs"
local core = require "ecs.core"
local client_module = require "ecs.client"
local errors = require "ecs.errors"
local scheduler = require "ecs.scheduler"
local emu = require "support.emulator"
local stub_server = require "support.stub_server"

local seq = 0
-- Each client gets its own region, so limiters learnt by one spec do not carry over.
local function client(opts, getenv)
  seq = seq + 1
  opts = opts or {}
  opts.endpoint = opts.endpoint or emu.endpoint
  opts.region = opts.region or ("cn-hard-" .. seq)
  opts.access_key_id = opts.access_key_id or "testid"
  opts.access_key_secret = opts.access_key_secret or "testsecret"
  return client_module.new(opts, getenv or function() return nil end)
end

local function fault(f) assert(emu.control("POST", "faults", f) == 200) end

-- Inside a run: records what every submit of the run's transport carried.
local function recording(fn)
  local transport = scheduler.transport()
  local seen = {}
  transport.submit = function(self, req, on_done)
    seen[#seen + 1] = { url = req.url, timeout = req.timeout, verify_tls = req.verify_tls }
    return getmetatable(self).submit(self, req, on_done)
  end
  local ok, err = pcall(fn, seen)
  transport.submit = nil
  if not ok then error(err, 0) end
  return seen
end

describe("hardening", function()
  before_each(function() emu.reset { speed = 0 } end)
  after_each(function() emu.control("DELETE", "faults") end)

  describe("with a misbehaving server", function()
    local stub
    setup(function()
      local throttled = '{"Code":"Throttling","Message":"slow down","RequestId":"R"}'
      stub = stub_server.start {
        HourHint = { status = 503, body = throttled, headers = { ["x-acs-retry-after"] = "3600000" } },
        LongHint = { status = 503, body = throttled, headers = { ["x-acs-retry-after"] = string.rep("9", 400) } },
        WordHint = { status = 503, body = throttled, headers = { ["x-acs-retry-after"] = "soon" } },
        ArrayReply = { body = "[1,2,3]" },
        StringReply = { body = '"ok"' },
        CodeReply = { body = '{"Code":"Forbidden.RAM","Message":"not allowed","RequestId":"R3"}' },
        SuccessCode = { body = '{"Code":"200","Message":"ok","RequestId":"R4"}' },
        DescribeHugeHeader = { body = '{"RequestId":"R5"}', headers = (function()
          local h = {} -- 96 KB of headers, in lines nginx's configuration can hold
          for i = 1, 24 do h["X-Filler-" .. i] = string.rep("f", 4000) end
          return h
        end)() },
        Big = { body = '{"RequestId":"R6","Id":12345678901234567890,"Neg":-9007199254740993,'
          .. '"Exact":9007199254740992,"Float":12345678901234567890.5,"Text":"12345678901234567890"}' },
        NonceReplay = { status = 400, body = '{"Code":"SignatureNonceUsed","Message":"used","RequestId":"R7"}' },
      }
    end)
    teardown(function() stub.stop() end)

    it("caps a server's retry hint (x-acs-retry-after of an hour -> 30 s)", function()
      local _, err = client { endpoint = stub.url, max_attempts = 1 }:call("HourHint", {})
      assert.are.equal("Throttling", err.code)
      assert.are.equal(errors.MAX_RETRY_AFTER, err.retry_after)
      assert.are.equal(30, errors.MAX_RETRY_AFTER)
    end)

    it("ignores a hint too long to read or not a number: nil, err and on_response still run", function()
      for _, action in ipairs { "LongHint", "WordHint" } do
        local infos = {}
        local res, err = client { endpoint = stub.url, max_attempts = 1,
          on_response = function(i) infos[#infos + 1] = i end }:call(action, {})
        assert.is_nil(res)
        assert.are.equal("Throttling", err.code)
        assert.is_nil(err.retry_after)
        assert.are.equal(1, #infos)
        assert.are.equal(503, infos[1].status)
      end
    end)

    it("treats a 2xx whose body is not a JSON object, or carries an error Code, as an error", function()
      local c = client { endpoint = stub.url, max_attempts = 1 }
      for _, action in ipairs { "ArrayReply", "StringReply" } do
        local res, err = c:call(action, {})
        assert.is_nil(res)
        assert.are.equal("Transport.BadResponse", err.code)
        assert.are.equal(200, err.http_status)
      end
      local res, err = c:call("CodeReply", {})
      assert.is_nil(res)
      assert.are.equal("Forbidden.RAM", err.code)
      assert.are.equal("R3", err.request_id)
      assert.is_false(err.retryable)
      -- a success word in Code is still a reply
      assert.are.equal("R4", assert(c:call("SuccessCode", {})).RequestId)
    end)

    it("reports headers over the limit as Transport.BadResponse, with no HTTP status, and never retries", function()
      local res, err = client { endpoint = stub.url }:call("DescribeHugeHeader", {})
      assert.is_nil(res)
      assert.are.equal("Transport.BadResponse", err.code)
      assert.matches("reply headers over the limit", err.message)
      assert.is_nil(err.http_status)
      assert.is_false(err.retryable)
      assert.are.equal(1, err.attempts)
    end)

    it("keeps integers beyond 2^53 exact, as strings", function()
      local res = assert(client { endpoint = stub.url }:call("Big", {}))
      assert.are.equal("12345678901234567890", res.Id)
      assert.are.equal("-9007199254740993", res.Neg)
      assert.are.equal(9007199254740992, res.Exact)
      if math.type then assert.are.equal("integer", math.type(res.Exact)) end
      assert.are.equal("number", type(res.Float))
      assert.are.equal("12345678901234567890", res.Text)
      -- the same text when there is nothing to quote
      local body = '{"a":1}'
      assert.are.equal(body, core.quote_big_integers(body))
    end)

    it("reports a replayed nonce as a lost reply: Transport.Reset with no HTTP status", function()
      local _, err = client { endpoint = stub.url, max_attempts = 1 }:call("NonceReplay", {})
      assert.are.equal("Transport.Reset", err.code)
      assert.is_nil(err.http_status)
      assert.are.equal("SignatureNonceUsed", err.service_code)
      assert.is_nil(err.message:find("curl", 1, true))
    end)
  end)

  describe("deadline bounds all waiting", function()
    it("behind a rate limit of one call per 5 s", function()
      local c = client { rate_limits = { DescribeRegions = 0.2 } }
      assert(c:call("DescribeRegions", {}))
      local t0 = core.now()
      local res, err = c:call("DescribeRegions", {}, { deadline = 1 })
      local took = core.now() - t0
      assert.is_nil(res)
      assert.are.equal("DeadlineExceeded", err.code)
      assert.is_true(err.deadline_exceeded)
      assert.is_false(err.retryable)
      assert.matches("rate limiter", err.message)
      assert.is_true(took <= 1.2, "took " .. took)
    end)

    it("behind a full queue, and a timed-out waiter is never woken by a later release", function()
      fault { action = "DescribeZones", kind = "slow", delay_ms = 1500 }
      local c = client { max_concurrency = 1 }
      ecs.run(function()
        local busy = ecs.spawn(function() return c:call("DescribeZones", { RegionId = "cn-hangzhou" }) end)
        ecs.sleep(0.05)
        local t0 = ecs.now()
        local res, err = c:call("DescribeRegions", {}, { deadline = 0.5 })
        assert.is_true(ecs.now() - t0 <= 0.7, "waited " .. (ecs.now() - t0))
        assert.is_nil(res)
        assert.are.equal("DeadlineExceeded", err.code)
        assert.matches("concurrency slot", err.message)
        -- the slow call releases its slot meanwhile: this sleep must run its full time
        local s0 = ecs.now()
        ecs.sleep(1.5)
        assert.is_true(ecs.now() - s0 >= 1.45, "sleep cut short")
        assert(busy:wait())
        assert(c:call("DescribeRegions", {}))
      end)
    end)

    it("never sends an attempt with less than MIN_ATTEMPT_TIME left", function()
      fault { action = "DescribeRegions", kind = "503" }
      local c = client { max_attempts = 1000 }
      local t0 = core.now()
      local _, err
      local seen = ecs.run(function()
        return recording(function()
          _, err = c:call("DescribeRegions", {}, { deadline = 0.6 })
        end)
      end)
      assert.is_true(core.now() - t0 <= 0.75)
      assert.is_true(err.deadline_exceeded)
      assert.is_true(#seen >= 2)
      for _, s in ipairs(seen) do
        assert.is_true(s.timeout >= require("ecs.request").MIN_ATTEMPT_TIME, "sent with " .. s.timeout .. " s left")
      end
    end)
  end)

  describe("per-call options", function()
    it("are never mutated, nor shared between clients", function()
      local opts = { timeout = 5 }
      local strict, lax = client(), client { verify_tls = false, log = function() end }
      assert(strict:call("DescribeRegions", {}, opts))
      assert.is_nil(getmetatable(opts))
      fault { action = "DescribeZones", kind = "503", count = 1 } -- the strict call retries
      local seen = ecs.run(function()
        return recording(function()
          local a = ecs.spawn(function() return strict:call("DescribeZones", { RegionId = "cn-hangzhou" }, opts) end)
          local b = ecs.spawn(function() return lax:call("DescribeRegions", {}, opts) end)
          assert(a:wait())
          assert(b:wait())
        end)
      end)
      local strict_sends = 0
      for _, s in ipairs(seen) do
        if s.url:find("Action=DescribeZones", 1, true) then
          strict_sends = strict_sends + 1
          assert.is_true(s.verify_tls, "the strict client went out with verify_tls = false")
        end
      end
      assert.are.equal(2, strict_sends)
      assert.is_nil(getmetatable(opts))
    end)
  end)

  describe("a call where the task cannot yield", function()
    local function sent() return (emu.stats().requests or {}).DescribeRegions or 0 end

    it("raises before anything is sent, and leaves the scheduler consistent", function()
      local c = client()
      ecs.run(function()
        local before = sent()
        local ok, err = pcall(string.gsub, "x", "x", function() c:call("DescribeRegions", {}) end)
        assert.is_false(ok)
        assert.matches("cannot wait for a reply here", err)
        ok, err = pcall(table.sort, { 3, 1, 2 }, function(a, b) c:call("DescribeRegions", {}); return a < b end)
        assert.is_false(ok)
        assert.matches("cannot wait for a reply here", err)
        ok, err = pcall(string.gsub, "x", "x", function() ecs.sleep(0.1) end)
        assert.is_false(ok)
        assert.matches("cannot wait here", err)
        assert.are.equal(before, sent())
        -- no stray reply or timer wakes a later wait early
        local s0 = ecs.now()
        ecs.sleep(0.3)
        assert.is_true(ecs.now() - s0 >= 0.29)
        assert(c:call("DescribeRegions", {}))
      end)
    end)
  end)

  describe("time values", function()
    it("raise on NaN, infinite or absurd values", function()
      for _, v in ipairs { 0 / 0, math.huge, 1e300, -1 } do
        assert.has_error(function() client { timeout = v } end)
        assert.has_error(function() client { connect_timeout = v } end)
        assert.has_error(function() client { deadline = v } end)
      end
      assert.has_error(function() ecs.sleep(3e6) end, "ecs.sleep: expected seconds, at most 1e+06 (got 3000000.0)")
      assert.has_error(function() ecs.sleep(0 / 0) end)
      local c = client()
      assert.has_error(function() c:prepare("DescribeRegions", {}, { timestamp = 0 / 0 }) end,
        "timestamp: expected epoch seconds from 0 to the end of year 9999")
      assert.has_error(function() c:prepare("DescribeRegions", {}, { timestamp = 1e300 }) end)
      assert.has_error(function() core.timestamp(0 / 0) end)
      local loop = require("ecs.loop").new()
      assert.has_error(function() loop:submit({ url = emu.endpoint }, { timeout = math.huge }) end)
      assert.has_error(function() loop:submit({ url = emu.endpoint }, { timeout = 0 / 0 }) end)
      assert.has_error(function() loop:timer(0 / 0) end)
      assert.has_error(function() loop:timer(1e300) end)
      loop:close()
    end)

    it("raise a timeout below the transport's resolution to it (never 'no timeout')", function()
      fault { action = "DescribeRegions", kind = "slow", delay_ms = 300 }
      local t0 = core.now()
      local _, err = client { timeout = 0.0001, max_attempts = 1 }:call("DescribeRegions", {})
      assert.are.equal("Transport.Timeout", err.code)
      assert.is_true(core.now() - t0 < 0.25)
    end)
  end)

  it("core.integers visits each table once (shared and self-referring tables)", function()
    local root = {}
    local node = root
    for _ = 1, 24 do -- 2^24 visits when each table is entered at every path to it
      local child = { n = 1.0 }
      node.a, node.b = child, child
      node = child
    end
    root.self = root
    local t0 = os.clock()
    core.integers(root)
    assert.is_true(os.clock() - t0 < 0.5)
    if math.type then assert.are.equal("integer", math.type(node.n)) end
  end)

  it("refuses CR, LF or NUL in anything that becomes a header", function()
    assert.has_error(function() client { user_agent = "x\r\nX-Evil: 1" } end,
      "user_agent: must not contain CR, LF or NUL (it becomes a header)")
    assert.has_error(function() client { security_token = "tok\nX-Evil: 1" } end,
      "security_token: must not contain CR, LF or NUL (it becomes a header)")
    assert.has_error(function() client { api_version = "2014-05-26\0" } end)
    -- pinned values and the action reach v3 headers through the signer too
    local v3 = client { signature_version = "v3" }
    assert.has_error(function()
      v3:prepare("DescribeRegions", {}, { timestamp = "2016-02-23T12:46:24Z\r\nX-Evil: 1" })
    end, "timestamp: must not contain CR, LF or NUL (it becomes a header)")
    assert.has_error(function() v3:prepare("DescribeRegions", {}, { nonce = "n\nX-Evil: 1" }) end,
      "nonce: must not contain CR, LF or NUL (it becomes a header)")
    local signer = core.signer { endpoint = emu.endpoint, host = "127.0.0.1", api_version = "2014-05-26",
      access_key_id = "id", access_key_secret = "secret", version = "v3" }
    assert.has_error(function() signer:sign("DescribeRegions\0RunInstances", {}) end,
      "action: must not contain CR, LF or NUL (it becomes a header)")
    local loop = require("ecs.loop").new()
    assert.has_error(function()
      loop:submit({ url = emu.endpoint, headers = { ["X-A"] = "v\r\nX-B: w" } }, {})
    end, "submit: header X-A contains CR, LF or NUL")
    loop:close()
  end)

  it("refuses a GET URL over the limit before sending, suggesting POST", function()
    local c = client()
    local before = (emu.stats().requests or {}).DescribeRegions or 0
    local ok, err = pcall(c.call, c, "DescribeRegions", { AcceptLanguage = string.rep("a", 9000) })
    assert.is_false(ok)
    assert.matches('use method = "POST"', err)
    assert.are.equal(before, (emu.stats().requests or {}).DescribeRegions or 0)
    assert(client { method = "POST" }:call("DescribeRegions", { AcceptLanguage = string.rep("a", 9000) }))
  end)

  it("drops a limiter no live client uses, and shares the ones in use", function()
    collectgarbage("collect")
    local base = client_module.limiter_count()
    local clients = {}
    for i = 1, 300 do
      clients[i] = client { region = "cn-gc-" .. i }
      assert(clients[i]:call("DescribeRegions", {}))
    end
    assert.is_true(client_module.limiter_count() >= base + 300)
    clients = nil -- luacheck: ignore
    collectgarbage("collect")
    collectgarbage("collect")
    assert.is_true(client_module.limiter_count() <= base + 5, "left " .. client_module.limiter_count() - base)
    local a = client { region = "cn-gc-shared" }
    assert(a:call("DescribeRegions", {}))
    collectgarbage("collect")
    local b = client { region = "cn-gc-shared" }
    assert(b:call("DescribeRegions", {}))
    assert.are.equal(a.limiters.DescribeRegions, b.limiters.DescribeRegions)
  end)

  it("warns once per client, through the log, that verify_tls = false does not authenticate", function()
    local lines = {}
    local function log(l) if l:find("warning", 1, true) then lines[#lines + 1] = l end end
    local c = client { verify_tls = false, log = log }
    assert(c:call("DescribeRegions", {}))
    assert(c:call("DescribeRegions", {}))
    assert.are.equal(1, #lines)
    assert.matches("^ecs: warning: verify_tls = false: the connection to .* not authenticated", lines[1])
    -- a strict client turned lax for one call warns once too
    lines = {}
    local strict = client { log = log }
    assert(strict:call("DescribeRegions", {}, { verify_tls = false }))
    assert(strict:call("DescribeRegions", {}, { verify_tls = false }))
    assert.are.equal(1, #lines)
  end)

  describe("what users saw", function()
    it("the region chain applies with an endpoint", function()
      local env = { ALIBABA_CLOUD_REGION_ID = "cn-hangzhou" }
      local c = client_module.new({ endpoint = emu.endpoint, access_key_id = "testid",
        access_key_secret = "testsecret" }, function(k) return env[k] end)
      assert.are.equal("cn-hangzhou", c.region)
      assert(c:DescribeInstances {})
      assert.are.equal("cn-hangzhou", emu.last("DescribeInstances").params.RegionId)
    end)

    it("transport errors name the host and port, and a timeout the limit that ran out", function()
      local port = emu.free_port()
      local _, err = client { endpoint = "http://127.0.0.1:" .. port, max_attempts = 1 }:call("DescribeRegions", {})
      assert.are.equal("Transport.ConnectFailed", err.code)
      assert.are.equal("cannot connect to 127.0.0.1:" .. port, err.message)
      fault { action = "DescribeRegions", kind = "slow", delay_ms = 1000 }
      _, err = client { timeout = 0.2, max_attempts = 1 }:call("DescribeRegions", {})
      assert.are.equal("Transport.Timeout", err.code)
      assert.are.equal("no complete reply from " .. emu.endpoint:match("//(.*)$") .. " within the timeout of 0.2 s",
        err.message)
      _, err = client { max_attempts = 1 }:call("DescribeRegions", {}, { deadline = 0.3 })
      assert.matches("within the time left before the call's deadline", err.message)
    end)

    it("a lost reply is Transport.Reset with no HTTP status and no libcurl text", function()
      fault { action = "DescribeRegions", kind = "reset" }
      local _, err = client { max_attempts = 1 }:call("DescribeRegions", {})
      assert.are.equal("Transport.Reset", err.code)
      assert.is_nil(err.http_status)
      assert.are.equal("the connection to " .. emu.endpoint:match("//(.*)$") .. " closed before a complete reply",
        err.message)
    end)
  end)
end)

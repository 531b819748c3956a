-- The seams of the request pipeline: a credentials provider, a rate store, the scheduler's
-- semaphore and the C core's one retry decision (core.decide).
local ecs = require "ecs"
local core = require "ecs.core"
local client_module = require "ecs.client"
local scheduler = require "ecs.scheduler"
local emu = require "support.emulator"

local seq = 0
local function client(opts)
  seq = seq + 1
  opts.endpoint = emu.endpoint
  opts.region = opts.region or ("cn-seam-" .. seq)
  return client_module.new(opts, function() return nil end)
end

describe("seams", function()
  before_each(function() emu.reset { speed = 0 } end)

  describe("credentials provider", function()
    it("signs with what get() returns, re-keying when it returns new credentials", function()
      local pairs_given = {
        { access_key_id = "testid", access_key_secret = "testsecret" },
        { access_key_id = "STS.testid", access_key_secret = "stssecret", security_token = "ststoken" },
      }
      local current, gets = 1, 0
      local provider = { source = "test provider" }
      function provider:get() gets = gets + 1; return pairs_given[current] end
      function provider:invalidate() end
      local c = client { credentials = provider }
      assert.matches("credentials=test provider", tostring(c))
      assert(c:call("DescribeRegions", {}))
      assert.are.equal("testid", emu.last("DescribeRegions").params.AccessKeyId)
      current = 2
      assert(c:call("DescribeRegions", {}))
      local last = emu.last("DescribeRegions").params
      assert.are.equal("STS.testid", last.AccessKeyId)
      assert.are.equal("ststoken", last.SecurityToken)
      assert.is_true(gets >= 3) -- at creation, then once per attempt
    end)

    it("returns the provider's error, and invalidates it when the service refuses the key", function()
      local invalidated = 0
      local fail = false
      local provider = { source = "flaky" }
      function provider:get()
        if fail then return nil, require("ecs.errors").new { code = "Credentials.Unavailable", message = "down" } end
        return { access_key_id = "unknown-key", access_key_secret = "x" }
      end
      function provider:invalidate() invalidated = invalidated + 1 end
      local c = client { credentials = provider, max_attempts = 1 }
      local _, err = c:call("DescribeRegions", {})
      assert.are.equal("InvalidAccessKeyId.NotFound", err.code)
      assert.are.equal(1, invalidated)
      fail = true
      _, err = c:call("DescribeRegions", {})
      assert.are.equal("Credentials.Unavailable", err.code)
    end)

    it("a static provider is dropped once the signer has its keys (the secret stays in C)", function()
      local c = client { access_key_id = "testid", access_key_secret = "testsecret" }
      assert(c:call("DescribeRegions", {}))
      local seen = {}
      local function walk(t)
        if seen[t] then return end
        seen[t] = true
        for k, v in pairs(t) do
          assert.are_not.equal("testsecret", v, "the secret is reachable at " .. tostring(k))
          if type(v) == "table" then walk(v) end
        end
      end
      walk(c)
    end)
  end)

  describe("rate store", function()
    it("gives each (endpoint, region, account, action) one limiter, from the client's store", function()
      local keys, store = {}, {}
      function store:limiter(key, config)
        keys[#keys + 1] = key
        return core.limiter(config)
      end
      local c = client { access_key_id = "testid", access_key_secret = "testsecret", rate_store = store,
        rate_limits = { DescribeRegions = 50 } }
      assert(c:call("DescribeRegions", {}))
      assert(c:call("DescribeRegions", {}))
      assert(c:call("DescribeZones", { RegionId = "cn-hangzhou" }))
      assert.are.equal(2, #keys)
      assert.are.equal(emu.endpoint .. "\0" .. c.region .. "\0testid\0DescribeRegions", keys[1])
      assert.has_error(function() client { rate_store = {} } end,
        "rate_store: invalid value (expected a rate store (a table with limiter()) or a URL such as redis://host:6379/0)")
    end)
  end)

  describe("scheduler semaphore", function()
    it("hands units out in FIFO order and times waiters out without losing units", function()
      local order = {}
      ecs.run(function()
        local sem = scheduler.semaphore(1)
        assert.is_true(sem:wait())
        local tasks = {}
        for i = 1, 3 do
          tasks[i] = ecs.spawn(function()
            if sem:wait(i == 2 and 0.05 or nil) then
              order[#order + 1] = i
              ecs.sleep(0.01)
              sem:post()
            else
              order[#order + 1] = "timeout " .. i
            end
          end)
        end
        ecs.sleep(0.1)
        sem:post()
        for _, t in ipairs(tasks) do t:wait() end
        assert.are.equal(1, sem.count)
        assert.is_true(sem:wait(0))
        assert.is_false(sem:wait(0))
      end)
      assert.are.same({ "timeout 2", 1, 3 }, order)
    end)
  end)

  describe("core.decide", function()
    local function decide(outcome, budget)
      outcome.draw = outcome.draw or 0.5
      return core.decide(budget or core.retry_budget {}, outcome)
    end

    it("retries what a resend can fix, with a delay, and says why not otherwise", function()
      local retryable, throttled, delay = decide { code = "ServiceUnavailable", status = 503, attempt = 1, max_attempts = 5 }
      assert.is_true(retryable)
      assert.is_false(throttled)
      assert.are.equal(0.05, delay) -- full jitter over 0.1 s, draw 0.5
      local r, t, d, why = decide { code = "InvalidParameter", status = 400, attempt = 1, max_attempts = 5 }
      assert.is_false(r); assert.is_false(t); assert.is_nil(d)
      assert.are.equal("not retryable", why)
      _, _, d, why = decide { code = "Throttling", status = 400, attempt = 5, max_attempts = 5 }
      assert.is_nil(d); assert.are.equal("max_attempts reached", why)
      -- a lost reply is resent only when the call is idempotent
      assert.is_nil(select(3, decide { code = "Transport.Reset", maybe_sent = true, attempt = 1, max_attempts = 5 }))
      assert.is_number(select(3, decide { code = "Transport.Reset", maybe_sent = true, idempotent = true,
        attempt = 1, max_attempts = 5 }))
      -- a reply over the limits is never resent
      assert.are.equal("not retryable", select(4, decide { code = "Transport.BadResponse", idempotent = true,
        permanent = true, attempt = 1, max_attempts = 5 }))
    end)

    it("honours a server's hint up to 30 s, and never past the deadline", function()
      local _, throttled, delay = decide { code = "Throttling", status = 400, attempt = 1, max_attempts = 5,
        retry_after = 3600 }
      assert.is_true(throttled)
      assert.are.equal(30, delay)
      local _, _, d, why = decide { code = "Throttling", attempt = 1, max_attempts = 5, retry_after = 2,
        time_left = 1, min_attempt = 0.05 }
      assert.is_nil(d)
      assert.are.equal("deadline", why)
    end)

    it("spends the retry budget, and stops when it is empty", function()
      local budget = core.retry_budget { capacity = 10, retry_cost = 5, timeout_cost = 10 }
      assert.is_number(select(3, decide({ code = "InternalError", attempt = 1, max_attempts = 5 }, budget)))
      assert.is_number(select(3, decide({ code = "InternalError", attempt = 1, max_attempts = 5 }, budget)))
      assert.are.equal("retry budget exhausted",
        select(4, decide({ code = "InternalError", attempt = 1, max_attempts = 5 }, budget)))
      assert.are.equal(0, budget:tokens())
    end)
  end)
end)

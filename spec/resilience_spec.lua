-- Throttling, retries and idempotency of client:call against the emulator.
local ecs = require "ecs"
local emu = require "support.emulator"
local stub_server = require "support.stub_server"

local IMAGE = "debian_12_4_x64_20G_alibase_20240126.vhd"
local seq = 0

-- Each client gets its own region name, so limiters learnt by one spec do
-- not carry over to the next (limiters are shared per endpoint/region/action).
local function client(opts)
  seq = seq + 1
  opts = opts or {}
  opts.endpoint = opts.endpoint or emu.endpoint
  opts.region = opts.region or ("cn-test-" .. seq)
  opts.access_key_id, opts.access_key_secret = "testid", "testsecret"
  return ecs.client(opts)
end

local function quota(action, rate, burst)
  assert(emu.control("POST", "quotas", { action = action, rate = rate, burst = burst }) == 200)
end

describe("resilience", function()
  before_each(function() emu.reset { speed = 0, seed = 7 } end)

  it("converges to a service quota it was not told about", function()
    quota("DescribeRegions", 40, 10)
    local c = client()
    local attempts, throttled, failed = 0, 0, 0
    local hooked = client { region = c.region, on_response = function(info)
      attempts = attempts + 1
      if info.throttled then throttled = throttled + 1 end
    end }
    ecs.run(function()
      for _ = 1, 40 do
        ecs.spawn(function()
          for _ = 1, 3 do
            if not hooked:call("DescribeRegions", {}) then failed = failed + 1 end
          end
        end)
      end
    end)
    assert.are.equal(0, failed)
    assert.are.equal(120, attempts - throttled)
    -- Without a limiter, 40 tasks against a burst of 10 would be throttled
    -- on most first attempts; the adaptive limiter keeps that a minority.
    assert.is_true(throttled < attempts / 2, ("throttled %d of %d"):format(throttled, attempts))
  end)

  it("spaces calls by a configured rate limit, in FIFO order", function()
    local order = {}
    local c = client { rate_limits = { DescribeRegions = 10 } }
    local t0 = ecs.now()
    ecs.run(function()
      for i = 1, 15 do
        ecs.spawn(function() assert(c:call("DescribeRegions", {})); order[#order + 1] = i end)
      end
    end)
    -- A burst of 10, then 5 more at 10/s: at least 0.4 s, whatever the machine.
    assert.is_true(ecs.now() - t0 >= 0.4)
    -- The burst goes out at once, so its replies come back in any order (on fresh connections
    -- they did); the calls that waited for the limiter come after it, in FIFO order.
    local burst = { table.unpack(order, 1, 10) }
    table.sort(burst)
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }, burst)
    assert.are.same({ 11, 12, 13, 14, 15 }, { table.unpack(order, 11, 15) })
    assert.are.equal(0, emu.stats().throttled or 0)
  end)

  it("takes a burst with a configured rate, and rejects bad limits at once", function()
    local c = client { rate_limits = { DescribeRegions = { rate = 2, burst = 6 } } }
    local t0 = ecs.now()
    ecs.run(function()
      for _ = 1, 6 do ecs.spawn(function() assert(c:call("DescribeRegions", {})) end) end
    end)
    assert.is_true(ecs.now() - t0 < 0.4, "a burst of 6 should not wait for 2/s")
    assert.are.equal(6, c.limiters.DescribeRegions:state().burst)
    assert.has_error(function() client { rate_limits = { DescribeRegions = 0 } } end)
    assert.has_error(function() client { rate_limits = { DescribeRegions = { burst = 5 } } } end)
    assert.has_error(function() client { rate_limits = { DescribeRegions = { rate = 5, burst = 0.5 } } } end)
  end)

  it("honours x-acs-retry-after before retrying a throttled call", function()
    quota("DescribeRegions", 2, 1) -- a token every 500 ms
    local c = client { adaptive = false }
    assert(c:call("DescribeRegions", {}))
    local statuses = {}
    local t0 = ecs.now()
    local res = c:call("DescribeRegions", {}, { on_response = function(i) statuses[#statuses + 1] = i.status end })
    assert.is_table(res)
    assert.are.same({ 400, 200 }, statuses)
    assert.is_true(ecs.now() - t0 >= 0.3, "retried before the hinted time")
  end)

  it("stops retrying when the client's retry budget is spent", function()
    local stub = stub_server.start {
      DescribeBroken = { status = 500, body = '{"Code":"InternalError","Message":"down","RequestId":"R"}' },
    }
    local c = client { endpoint = stub.url, max_attempts = 5 }
    local attempts, exhausted = 0, 0
    ecs.run(function()
      for _ = 1, 40 do
        ecs.spawn(function()
          local _, err = c:call("DescribeBroken", {}, { on_response = function() attempts = attempts + 1 end })
          assert.are.equal("InternalError", err.code)
          if err.retry_budget_exhausted then exhausted = exhausted + 1 end
        end)
      end
    end)
    stub.stop()
    -- 40 calls, 500 tokens at 5 a retry: 100 retries, not the 160 that 5 attempts allow.
    assert.are.equal(140, attempts)
    assert.is_true(exhausted > 0)
    assert.are.equal(0, c.retry_budget:tokens())
  end)

  it("gives up at the deadline", function()
    emu.control("POST", "faults", { action = "DescribeRegions", kind = "slow", delay_ms = 3000 })
    local t0 = ecs.now()
    local _, err = client { timeout = 10 }:call("DescribeRegions", {}, { deadline = 0.4 })
    assert.are.equal("Transport.Timeout", err.code)
    assert.is_true(ecs.now() - t0 < 2.5, "the deadline did not bound the call")
  end)

  it("survives faulty replies without failing a call or creating a server twice", function()
    -- 10% of replies faulty, and 20% of RunInstances replies lost after taking effect.
    assert(emu.control("PUT", "faults", { faults = {
      { action = "RunInstances", kind = "lost", rate = 0.2 },
      { kind = "503", rate = 0.025 }, { kind = "500", rate = 0.025 },
      { kind = "reset", rate = 0.02 }, { kind = "truncated", rate = 0.02 },
      { kind = "slow", rate = 0.01, delay_ms = 1500 },
    } }) == 200)
    local c = client { region = "cn-hangzhou", timeout = 0.5, max_attempts = 10 }
    local sg = assert(c:CreateSecurityGroup {}).SecurityGroupId
    local failures, launched = {}, 0
    ecs.run(function()
      for i = 1, 30 do
        ecs.spawn(function()
          local res, err = c:RunInstances { ImageId = IMAGE, InstanceType = "ecs.g6.large",
            SecurityGroupId = sg, Amount = 1 }
          if res then launched = launched + 1 else failures[#failures + 1] = tostring(err) end
          for _ = 1, 4 do
            local ok, e = c:DescribeInstances { PageSize = 10, PageNumber = i % 3 + 1 }
            if not ok then failures[#failures + 1] = tostring(e) end
          end
        end)
      end
    end)
    assert.are.same({}, failures)
    assert.are.equal(30, launched)
    local stats = emu.stats()
    assert.are.equal(30, stats.created.instance)
    assert.is_true((stats.faults and (stats.faults.lost or 0) or 0) > 0, "no reply was lost")
    emu.control("DELETE", "faults")
    assert.are.equal(30, assert(c:DescribeInstances {}).TotalCount)
  end)
end)

local core = require "ecs.core"
local unpack = table.unpack or unpack -- luacheck: ignore

local function err_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("ecs.core.retry_budget #core", function()
  it("starts full with the defaults: 500 tokens, 5 a retry", function()
    local b = core.retry_budget()
    assert.are.equal(500, b:tokens())
    for i = 1, 100 do
      assert.is_true(b:take("retry"), "retry " .. i)
    end
    assert.are.equal(0, b:tokens())
    assert.is_false(b:take("retry"))
    assert.are.equal(0, b:tokens())
  end)

  it("charges 10 for a timeout and refuses what it cannot cover", function()
    local b = core.retry_budget { capacity = 25 }
    assert.is_true(b:take("timeout"))
    assert.is_true(b:take("timeout"))
    assert.are.equal(5, b:tokens())
    assert.is_false(b:take("timeout"))
    assert.are.equal(5, b:tokens()) -- a refusal deducts nothing
    assert.is_true(b:take("retry"))
    assert.are.equal(0, b:tokens())
  end)

  it("refunds on success, up to the capacity and no more", function()
    local b = core.retry_budget {}
    for _ = 1, 100 do b:take("retry") end
    assert.is_false(b:take("retry"))
    for _ = 1, 4 do b:refund() end
    assert.are.equal(4, b:tokens())
    assert.is_false(b:take("retry"))
    b:refund()
    assert.is_true(b:take("retry"))
    for _ = 1, 1000 do b:refund() end
    assert.are.equal(500, b:tokens())
  end)

  it("takes every field as an option", function()
    local b = core.retry_budget { capacity = 12, retry_cost = 3, timeout_cost = 4, refund = 2 }
    assert.are.equal(12, b:tokens())
    assert.is_true(b:take("retry"))
    assert.is_true(b:take("timeout"))
    assert.are.equal(5, b:tokens())
    b:refund()
    assert.are.equal(7, b:tokens())
    b:refund(); b:refund(); b:refund()
    assert.are.equal(12, b:tokens())
  end)

  it("is one budget per object", function()
    local a, b = core.retry_budget {}, core.retry_budget {}
    a:take("timeout")
    assert.are.equal(490, a:tokens())
    assert.are.equal(500, b:tokens())
  end)

  it("rejects bad arguments", function()
    assert.matches("capacity must be a finite number >= 0", err_of(core.retry_budget, { capacity = -1 }))
    assert.matches("retry_cost must be a number", err_of(core.retry_budget, { retry_cost = "5" }))
    assert.matches("table expected", err_of(core.retry_budget, 5))
    local b = core.retry_budget {}
    assert.matches("invalid option", err_of(b.take, b, "throttle"))
    assert.matches("string expected", err_of(b.take, b))
    assert.matches("retry budget expected", err_of(b.refund, {}))
    assert.matches("retry budget expected", err_of(b.tokens, core.limiter {}))
  end)
end)

describe("ecs.core.classify #core", function()
  -- { code, http_status, maybe_sent, idempotent, retryable, throttled }
  local CASES = {
    { "Throttling", 400, true, false, true, true },
    { "Throttling.User", 400, true, false, true, true },
    { "Throttling.Api", 503, true, false, true, true },
    { "ServiceUnavailable", 503, true, false, true, false },
    { "ServiceUnavailable.Backend", 503, true, false, true, false },
    { "InternalError", 500, true, false, true, false },
    { "UnknownError", 500, true, false, true, false },
    { "LastTokenProcessing", 400, true, false, true, false },
    -- A resend cannot fix these, whatever the status says.
    { "SignatureDoesNotMatch", 400, true, true, false, false },
    { "SignatureDoesNotMatch", 500, true, true, false, false },
    { "InvalidParameter", 503, true, true, false, false },
    { "MissingParameter.RegionId", 500, true, true, false, false },
    { "Forbidden.RAM", 503, true, true, false, false },
    { "InvalidInstanceId.NotFound", 500, true, true, false, false },
    { "IncorrectInstanceStatus", 503, true, true, false, false },
    -- Unknown codes: the status decides.
    { "SomethingNew", 500, true, false, true, false },
    { "SomethingNew", 503, true, false, true, false },
    { "SomethingNew", 400, true, true, false, false },
    { nil, 502, true, false, true, false },
    { nil, 404, true, true, false, false },
    -- Transport: a connection never made sent nothing, so any call may go again.
    { "Transport.ConnectFailed", nil, false, false, true, false },
    { "Transport.ResolveFailed", nil, false, false, true, false },
    { "Transport.Timeout", nil, true, true, true, false },
    { "Transport.Timeout", nil, true, false, false, false },
    { "Transport.Timeout", nil, false, false, true, false },
    { "Transport.Reset", nil, true, true, true, false },
    { "Transport.Reset", nil, true, false, false, false },
    { "Transport.BadResponse", nil, true, true, true, false },
    { "Transport.BadResponse", nil, true, false, false, false },
    { "Transport.TLS", nil, false, true, false, false },
    { "Transport.BadURL", nil, false, true, false, false },
  }
  for _, c in ipairs(CASES) do
    local code, status, maybe_sent, idempotent, retryable, throttled = unpack(c, 1, 6)
    it(("%s %s sent=%s idempotent=%s -> retryable=%s throttled=%s"):format(
      tostring(code), tostring(status), tostring(maybe_sent), tostring(idempotent),
      tostring(retryable), tostring(throttled)), function()
      local r, t = core.classify(code, status, maybe_sent, idempotent)
      assert.are.equal(retryable, r)
      assert.are.equal(throttled, t)
    end)
  end
end)

describe("ecs.core.backoff #core", function()
  local function samples(n, ...)
    local lo, hi, distinct, seen = math.huge, -math.huge, 0, {}
    for _ = 1, n do
      local d = core.backoff(...)
      lo, hi = math.min(lo, d), math.max(hi, d)
      if not seen[d] then seen[d], distinct = true, distinct + 1 end
    end
    return lo, hi, distinct
  end

  it("stays within [0, min(cap, base * 2^(attempt-1))] and spreads over it", function()
    for _, throttled in ipairs { false, true } do
      local base = throttled and 1 or 0.1
      for attempt = 1, 12 do
        local ceiling = math.min(20, base * 2 ^ (attempt - 1))
        local lo, hi, distinct = samples(500, attempt, throttled)
        assert.is_true(lo >= 0, "negative delay")
        assert.is_true(hi <= ceiling, ("attempt %d: %g > %g"):format(attempt, hi, ceiling))
        -- Full jitter: 500 uniform draws all below half the ceiling would be a 2^-500 fluke.
        assert.is_true(hi > ceiling / 2, ("attempt %d: max %g of %g"):format(attempt, hi, ceiling))
        assert.is_true(distinct > 400, "not jittered")
      end
    end
  end)

  it("takes an explicit base and cap", function()
    local _, hi = samples(500, 5, false, 1, 3)
    assert.is_true(hi <= 3 and hi > 1.5)
    _, hi = samples(500, 2, true, 0.01)
    assert.is_true(hi <= 0.02 and hi > 0.01)
    assert.are.equal(0, core.backoff(3, false, 0))
  end)

  it("caps huge attempt numbers at 20 s", function()
    local _, hi = samples(200, 1000, false)
    assert.is_true(hi <= 20 and hi > 10)
  end)

  it("rejects bad arguments", function()
    assert.matches("attempt counts from 1", err_of(core.backoff, 0, false))
    assert.matches("number expected", err_of(core.backoff, "x", false))
    assert.matches("must not be negative", err_of(core.backoff, 1, false, -1))
  end)
end)

describe("core.backoff with the caller's random draw #core", function()
  it("scales the draw into the full-jitter window and checks it", function()
    assert.are.equal(0, core.backoff(1, false, nil, nil, 0))
    assert.are.equal(0.05, core.backoff(1, false, nil, nil, 0.5))
    assert.are.equal(0.5 * 0.4, core.backoff(3, false, nil, nil, 0.5))
    assert.are.equal(0.5 * 4, core.backoff(3, true, nil, nil, 0.5))
    assert.are.equal(10, core.backoff(30, false, nil, nil, 0.5)) -- capped at 20 s
    assert.has_error(function() core.backoff(1, false, nil, nil, 1) end)
    assert.has_error(function() core.backoff(1, false, nil, nil, -0.1) end)
  end)
end)

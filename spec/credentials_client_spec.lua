-- Temporary credentials through the client, against a loopback stub that plays STS and an ECS
-- endpoint that refuses expired tokens (spec/support/lua_stub.lua): single flight at an expiry
-- boundary, refresh on short lifetimes with no failed call, the forced refresh on a refused token,
-- and no secret in tostring, errors or the debug log.
local ecs = require "ecs"
local client_module = require "ecs.client"
local credentials = require "ecs.credentials"
local refresh = require "ecs.credentials.refresh"
local lua_stub = require "support.lua_stub"

local function noenv() return nil end

describe("credentials through the client", function()

  local stub
  setup(function()
    stub = lua_stub.start {
      ["/sts/"] = 'require("stub").sts()',
      ["= /"] = 'require("stub").ecs()',
    }
  end)
  teardown(function() stub.stop() end)
  before_each(function() stub.reset() end)

  local seq = 0
  local function role()
    return credentials.ram_role_arn {
      source = credentials.static { access_key_id = "LTAIbase0001", access_key_secret = "base-secret-0001" },
      role_arn = "acs:ram::1234:role/ops", sts_endpoint = stub.url .. "/sts", getenv = noenv,
    }
  end
  -- A client of the stub's ECS endpoint. The provider fetches first (inside a run): a client
  -- keys its signer when it is made (see the lazy-keying spec below).
  local function client_of(p, opts)
    ecs.run(function() assert(p:get()) end)
    seq = seq + 1
    opts = opts or {}
    opts.credentials, opts.endpoint, opts.region = p, stub.url, "cn-cred-" .. seq
    return client_module.new(opts, noenv)
  end

  -- Waits (outside a run) until the clock passes `t`.
  local function wait_until(t)
    while refresh.clock() < t do ecs.sleep(0.02) end
  end

  it("makes a client with a fetching provider without fetching; the first call fetches", function()
    local p = role()
    local c = client_module.new({ credentials = p, endpoint = stub.url, region = "cn-lazy" }, noenv)
    assert.are.equal(0, stub.count("sts"))
    assert(c:call("DescribeRegions", {}))
    assert.are.equal(1, stub.count("sts"))
  end)

  it("200 concurrent calls at an expiry boundary make exactly one STS request", function()
    stub.set("lifetime", 2)
    local p = role()
    local c = client_of(p)
    local first = p:get()
    assert.are.equal(1, stub.count("sts"))
    wait_until(first.expiration + 0.05)
    local failures = {}
    ecs.run(function()
      local tasks = {}
      for i = 1, 200 do
        tasks[i] = ecs.spawn(function() return c:call("DescribeRegions", {}) end)
      end
      for _, t in ipairs(tasks) do
        local res, err = t:wait()
        if not res then failures[#failures + 1] = tostring(err) end
      end
    end)
    assert.are.same({}, failures)
    assert.are.equal(2, stub.count("sts"))
    assert.are.equal(200, stub.count("ecs"))
    assert.are.equal(0, stub.count("ecs_refused"))
  end)

  it("refreshes 2-second credentials ahead of expiry: a 6-second script with no failed call", function()
    stub.set("lifetime", 2)
    local p = role()
    local c = client_of(p)
    local calls, failures = 0, {}
    local started = ecs.now()
    ecs.run(function()
      local tasks = {}
      for i = 1, 20 do
        tasks[i] = ecs.spawn(function()
          while ecs.now() - started < 6 do
            local res, err = c:call("DescribeRegions", {})
            calls = calls + 1
            if not res then failures[#failures + 1] = tostring(err) end
            ecs.sleep(0.01)
          end
        end)
      end
      for _, t in ipairs(tasks) do t:wait() end
    end)
    assert.are.same({}, failures)
    assert.is_true(calls > 1000, "calls: " .. calls)
    assert.are.equal(0, stub.count("ecs_refused"))
    -- Credentials living 1 to 2 s (their Expiration is in whole seconds) are refreshed when a
    -- fifth of that is left: every 0.8 to 1.6 s, so 4 to 8 refreshes after the first fetch.
    local fetched = stub.count("sts")
    assert.is_true(fetched >= 1 + 3 and fetched <= 1 + 9, "STS requests: " .. fetched)
  end)

  it("a call refused for an expired token forces one refresh and one retry", function()
    local p = role()
    local c = client_of(p)
    assert(c:call("DescribeRegions", {}))
    stub.revoke() -- the service now says every token so far has expired
    local infos = {}
    assert(c:call("DescribeRegions", {}, { on_response = function(i) infos[#infos + 1] = i end }))
    assert.are.equal(2, stub.count("sts"), "one refresh")
    assert.are.equal(2, #infos)
    assert.are.equal("InvalidSecurityToken.Expired", infos[1].code)
    assert.is_nil(infos[2].code)
  end)

  it("many calls refused at once make one refresh", function()
    local p = role()
    local c = client_of(p)
    stub.revoke()
    local function batch()
      local ok = 0
      ecs.run(function()
        local tasks = {}
        for i = 1, 50 do tasks[i] = ecs.spawn(function() return c:call("DescribeRegions", {}) end) end
        for _, t in ipairs(tasks) do if t:wait() then ok = ok + 1 end end
      end)
      return ok
    end
    local first = batch()
    assert.are.equal(50, batch())
    assert.are.equal(2, stub.count("sts"))
    assert.are.equal(50, first)
  end)

  it("keeps secrets out of tostring(client), errors and the debug log", function()
    local lines = {}
    local p = role()
    local c = client_of(p, { log = function(line) lines[#lines + 1] = line end, log_level = 2 })
    local creds = p:get()
    assert(c:call("DescribeRegions", {}))
    stub.set("sts_fail", "403")
    stub.revoke()
    p:invalidate(creds)
    local _, err = c:call("DescribeRegions", {})
    assert.are.equal("Credentials.RefreshFailed", err.code)
    local text = table.concat(lines, "\n") .. "\n" .. tostring(c) .. "\n" .. tostring(err) .. "\n" .. tostring(p)
    for _, secret in ipairs { "base-secret-0001", creds.access_key_secret, creds.security_token } do
      assert.is_nil(text:find(secret, 1, true), "a secret appears: " .. secret)
    end
    assert.matches("credentials=ram_role_arn acs:ram::1234:role/ops", tostring(c), 1, true)
  end)
end)

-- Refresh, single flight and failure handling of the fetching providers (credentials/refresh.lua),
-- with a provider whose fetch the spec scripts and a clock it sets. No network.
local ecs = require "ecs"
local errors = require "ecs.errors"
local refresh = require "ecs.credentials.refresh"

-- A provider whose fetch returns what `script` says; counts fetches.
local function scripted(opts)
  local class = refresh.class({})
  local p = refresh.init(setmetatable({ fetches = 0 }, class), "scripted test-role", opts.clock)
  function class:fetch()
    self.fetches = self.fetches + 1
    if opts.delay then ecs.sleep(opts.delay) end
    return opts.script(self.fetches)
  end
  return p
end

local function creds(n, expiration)
  return { access_key_id = "STS.id" .. n, access_key_secret = "secret-" .. n, security_token = "token-" .. n,
           expiration = expiration }
end

local function unavailable()
  return nil, errors.new { code = "ServiceUnavailable", http_status = 503, message = "sts is down", action = "AssumeRole" }
end

describe("credentials refresh", function()
  local now
  local function clock() return now end
  before_each(function() now = 1000000 end)

  it("fetches on first use inside a task, never outside one", function()
    local p = scripted { clock = clock, script = function(n) return creds(n, now + 3600) end }
    local c, err = p:get()
    assert.is_nil(c)
    assert.are.equal("Credentials.NotFetched", err.code)
    assert.matches("scripted test-role", err.message, 1, true)
    assert.are.equal(0, p.fetches)
    local got = ecs.run(function() return p:get() end)
    assert.are.equal("STS.id1", got.access_key_id)
    assert.are.equal(got, p:get()) -- outside a task: what it holds
    assert.are.equal(1, p.fetches)
    assert.is_true(p.refreshing)
  end)

  it("returns the same table while the credentials do not change, a new one when they do", function()
    local same = true
    local p = scripted { clock = clock, script = function(n)
      return creds(same and 1 or n, now + 3600)
    end }
    ecs.run(function()
      local first = p:get()
      p:invalidate(first)
      local second = p:get()
      assert.are.equal(first, second) -- fetched anew, but unchanged
      assert.are.equal(2, p.fetches)
      same = false
      p:invalidate(second)
      local third = p:get()
      assert.are_not.equal(second, third)
      assert.are.equal("STS.id3", third.access_key_id)
    end)
  end)

  it("refreshes when less than min(180 s, a fifth of the lifetime) is left", function()
    for _, case in ipairs { { lifetime = 3600, ahead = 180 }, { lifetime = 100, ahead = 20 } } do
      now = 1000000
      local p = scripted { clock = clock, script = function(n) return creds(n, now + case.lifetime) end }
      ecs.run(function()
        local first = p:get()
        local expires = first.expiration
        now = expires - case.ahead - 1
        assert.are.equal(first, p:get())
        assert.are.equal(1, p.fetches)
        now = expires - case.ahead + 1
        local second = p:get()
        assert.are.equal(2, p.fetches, "lifetime " .. case.lifetime)
        assert.are_not.equal(first, second)
      end)
    end
  end)

  it("lets other tasks go on with valid credentials while one refreshes ahead of expiry", function()
    local p = scripted { clock = clock, delay = 0.3, script = function(n) return creds(n, now + 3600) end }
    ecs.run(function()
      local first = p:get()
      now = first.expiration - 60
      local refresher = ecs.spawn(function() return p:get() end)
      ecs.sleep(0.01)
      local t0 = ecs.now()
      local meanwhile = p:get()
      assert.is_true(ecs.now() - t0 < 0.1, "a task waited for a refresh ahead of expiry")
      assert.are.equal(first, meanwhile)
      local refreshed = refresher:wait()
      assert.are.equal("STS.id2", refreshed.access_key_id)
      assert.are.equal(refreshed, p:get())
    end)
    assert.are.equal(2, p.fetches)
  end)

  it("makes one fetch for 200 tasks that need credentials at once; they all get its result", function()
    local p = scripted { clock = clock, delay = 0.05, script = function(n) return creds(n, now + 2) end }
    local results = {}
    ecs.run(function()
      local tasks = {}
      for i = 1, 200 do tasks[i] = ecs.spawn(function() return p:get() end) end
      for i, t in ipairs(tasks) do results[i] = t:wait() end
      -- at the expiry boundary: again one fetch
      now = now + 2
      tasks = {}
      for i = 1, 200 do tasks[i] = ecs.spawn(function() return p:get() end) end
      for i, t in ipairs(tasks) do results[200 + i] = t:wait() end
    end)
    assert.are.equal(2, p.fetches)
    for i = 1, 200 do assert.are.equal(results[1], results[i]) end
    for i = 201, 400 do assert.are.equal(results[201], results[i]) end
    assert.are_not.equal(results[1], results[201])
  end)

  it("keeps valid credentials when a refresh fails, and retries with backoff", function()
    local failing = false
    local p = scripted { clock = clock, script = function(n)
      if failing then return unavailable() end
      return creds(n, now + 3600)
    end }
    ecs.run(function()
      local first = p:get()
      failing = true
      now = first.expiration - 100
      assert.are.equal(first, p:get()) -- the refresh failed: the old ones still serve
      assert.are.equal(2, p.fetches)
      assert.are.equal(first, p:get()) -- within the backoff: no new fetch
      assert.are.equal(2, p.fetches)
      now = now + refresh.BACKOFF + 0.01
      assert.are.equal(first, p:get())
      assert.are.equal(3, p.fetches)
      -- the backoff doubles (with jitter: 1 to 2 x BACKOFF now), but never past half the time left
      now = now + refresh.BACKOFF - 0.01
      p:get()
      assert.are.equal(3, p.fetches)
      failing = false
      now = now + 4 * refresh.BACKOFF
      local renewed = p:get()
      assert.are.equal(4, p.fetches)
      assert.are_not.equal(first, renewed)
      assert.are.equal(0, p:status().failures)
    end)
  end)

  it("fails with Credentials.RefreshFailed naming the provider and the cause once expired", function()
    local failing = false
    local p = scripted { clock = clock, script = function(n)
      if failing then return unavailable() end
      return creds(n, now + 600)
    end }
    ecs.run(function()
      local first = p:get()
      failing = true
      now = first.expiration + 1
      local c, err = p:get()
      assert.is_nil(c)
      assert.are.equal("Credentials.RefreshFailed", err.code)
      assert.are.equal("ServiceUnavailable", err.service_code)
      assert.matches("scripted test-role", tostring(err), 1, true)
      assert.matches("expired at", tostring(err), 1, true)
      assert.matches("ServiceUnavailable: sts is down", tostring(err), 1, true)
      assert.is_nil(tostring(err):find("secret-1", 1, true))
      assert.is_nil(tostring(err):find("token-1", 1, true))
      -- a fetch of expired credentials tries a failure a retry can fix more than once
      assert.are.equal(1 + refresh.FETCH_TRIES, p.fetches)
      -- moments later: the same error at once, no new fetch
      local _, again = p:get()
      assert.are.equal(err, again)
      assert.are.equal(1 + refresh.FETCH_TRIES, p.fetches)
    end)
  end)

  it("tries a first fetch again only for failures a retry can fix", function()
    local p = scripted { clock = clock, script = function(n)
      if n < 3 then return unavailable() end
      return creds(n, now + 3600)
    end }
    local c = ecs.run(function() return p:get() end)
    assert.are.equal("STS.id3", c.access_key_id)
    local q = scripted { clock = clock, script = function()
      return nil, errors.new { code = "NoPermission", http_status = 403, message = "not allowed" }
    end }
    local none, err = ecs.run(function() return q:get() end)
    assert.is_nil(none)
    assert.are.equal(1, q.fetches)
    assert.are.equal("Credentials.RefreshFailed", err.code)
    assert.matches("cannot get credentials: NoPermission: not allowed", err.message, 1, true)
  end)

  it("refetches once however many tasks report a refusal; a late report changes nothing", function()
    local p = scripted { clock = clock, delay = 0.05, script = function(n) return creds(n, now + 3600) end }
    ecs.run(function()
      local first = p:get()
      local tasks = {}
      for i = 1, 50 do
        tasks[i] = ecs.spawn(function()
          p:invalidate(first)
          return p:get()
        end)
      end
      local second
      for _, t in ipairs(tasks) do
        local c = t:wait()
        second = second or c
        assert.are.equal(second, c)
      end
      assert.are.equal(2, p.fetches)
      p:invalidate(first) -- about credentials already replaced
      assert.are.equal(second, p:get())
      assert.are.equal(2, p.fetches)
      p:invalidate() -- no argument: the current ones
      assert.are_not.equal(second, p:get())
      assert.are.equal(3, p.fetches)
    end)
  end)

  it("reports a failed refresh of refused credentials instead of serving them again", function()
    local failing = false
    local p = scripted { clock = clock, script = function(n)
      if failing then return nil, errors.new { code = "NoPermission", http_status = 403, message = "role gone" } end
      return creds(n, now + 3600)
    end }
    ecs.run(function()
      local first = p:get()
      failing = true
      p:invalidate(first)
      local c, err = p:get()
      assert.is_nil(c)
      assert.matches("refused the credentials", err.message, 1, true)
      assert.are.equal(2, p.fetches) -- a refusal is not a failure a retry can fix
      assert.are.equal(err, select(2, p:get())) -- within the backoff: no new fetch
      assert.are.equal(2, p.fetches)
      p:invalidate() -- a new refusal: fetch at once
      p:get()
      assert.are.equal(3, p.fetches)
    end)
  end)

  it("uses fetched credentials for a few seconds even when its clock says they expired", function()
    local p = scripted { clock = clock, script = function(n) return creds(n, now - 3600) end }
    ecs.run(function()
      local first = p:get()
      assert.are.equal(first, p:get())
      assert.are.equal(1, p.fetches)
      now = now + refresh.MIN_VALIDITY
      assert.are_not.equal(first, p:get())
    end)
  end)

  it("passes a raise in fetch on to the fetching task, and wakes the waiting ones", function()
    local p = scripted { clock = clock, delay = 0.02, script = function() error("fetch broke", 0) end }
    local waited_err
    local ok, err = pcall(ecs.run, function()
      local waiter = ecs.spawn(function()
        ecs.sleep(0.005)
        return p:get()
      end)
      local ok2, e = pcall(p.get, p)
      local _, werr = waiter:wait()
      waited_err = werr
      error(e, 0)
      return ok2
    end)
    assert.is_false(ok)
    assert.matches("fetch broke", err, 1, true)
    assert.are.equal("Credentials.RefreshFailed", waited_err.code)
  end)

  it("keeps the secret out of the provider's fields and tostring", function()
    local p = scripted { clock = clock, script = function(n) return creds(n, now + 3600) end }
    ecs.run(function() assert(p:get()) end)
    local seen = {}
    local function walk(t, path)
      if seen[t] then return end
      seen[t] = true
      for k, v in pairs(t) do
        assert.are_not.equal("secret-1", v, "the secret is reachable at " .. path .. "." .. tostring(k))
        if type(v) == "table" then walk(v, path .. "." .. tostring(k)) end
      end
    end
    walk(p, "provider")
    assert.is_nil(tostring(p):find("secret", 1, true))
    local status = p:status()
    assert.is_true(status.fetched)
    assert.is_number(status.expires)
  end)

  it("reads the services' times, and its clock follows the wall clock", function()
    assert.are.equal(0, refresh.parse_time("1970-01-01T00:00:00Z"))
    assert.are.equal(1700000000, refresh.parse_time("2023-11-14T22:13:20Z"))
    assert.are.equal(951782400, refresh.parse_time("2000-02-29T00:00:00Z"))
    assert.are.equal(1700000000.25, refresh.parse_time("2023-11-14T22:13:20.25Z"))
    assert.are.equal(1700000000 - 8 * 3600, refresh.parse_time("2023-11-14T22:13:20+08:00"))
    for _, bad in ipairs { "", "2023-11-14", "2023-13-01T00:00:00Z", "yesterday", "2023-11-14T22:13:20 UTC", 5 } do
      assert.is_nil(refresh.parse_time(bad), tostring(bad))
    end
    assert.are.equal("2023-11-14T22:13:20Z", refresh.format_time(1700000000.7))
    local c, t = refresh.clock(), os.time()
    assert.is_true(c >= t - 1 and c < t + 1)
  end)
end)

-- client:call end to end against the emulator (and a stub server for
-- replies the emulator never gives).
local ecs = require "ecs"
local emu = require "support.emulator"
local stub_server = require "support.stub_server"

local SECRET = "testsecret"

local function client(opts)
  opts = opts or {}
  opts.endpoint = opts.endpoint or emu.endpoint
  opts.access_key_id = opts.access_key_id or "testid"
  opts.access_key_secret = opts.access_key_secret or SECRET
  return ecs.client(opts)
end

local function fault(f)
  local status = emu.control("POST", "faults", f)
  assert(status == 200, "fault injection failed")
end

describe("client:call", function()
  before_each(function() emu.reset { speed = 0 } end)

  it("returns the decoded reply, outside ecs.run too", function()
    local res, err = client():call("DescribeRegions", {})
    assert.is_nil(err)
    assert.is_string(res.RequestId)
    assert.is_true(#res.Regions.Region > 10)
    local frankfurt
    for _, r in ipairs(res.Regions.Region) do
      if r.RegionId == "eu-central-1" then frankfurt = r end
    end
    assert.are.equal("ecs.eu-central-1.aliyuncs.com", frankfurt.RegionEndpoint)
  end)

  it("gives numbers that are integers as integers", function()
    local res = assert(client():call("DescribeInstances", { RegionId = "cn-hangzhou", PageSize = 10 }))
    assert.are.equal(0, res.TotalCount)
    if math.type then assert.are.equal("integer", math.type(res.TotalCount)) end
    assert.are.equal("10", tostring(res.PageSize))
  end)

  it("signs every call afresh, in v1 GET, v1 POST and v3", function()
    for _, o in ipairs { { signature_version = "v1" }, { method = "POST" }, { signature_version = "v3" },
      { signature_version = "v3", method = "POST" } } do
      local c = client(o)
      for _ = 1, 3 do assert(c:call("DescribeRegions", {})) end
    end
    assert.are.equal(12, emu.stats().results.DescribeRegions.OK)
  end)

  it("returns the service's error as a table with a readable tostring", function()
    local res, err = client():call("DescribeInstances", { RegionId = "cn-hangzhou", Bogus = "1" })
    assert.is_nil(res)
    assert.is_true(ecs.is_error(err))
    assert.are.equal("InvalidParameter", err.code)
    assert.are.equal(400, err.http_status)
    assert.are.equal("DescribeInstances", err.action)
    assert.is_string(err.request_id)
    assert.is_false(err.retryable)
    assert.are.equal(1, err.attempts)
    assert.matches("^InvalidParameter: .+ %(action DescribeInstances, HTTP 400, request [%w-]+, 1 attempt%)$",
      tostring(err))
    local _, denied = client():call("NoSuchAction", {})
    assert.are.equal("InvalidAction", denied.code)
    assert.are.equal(403, denied.http_status)
  end)

  it("keeps the secret out of errors and hook records", function()
    local records = {}
    local c = client { access_key_secret = "wrong-secret-value", on_response = function(info) records[#records + 1] = info end }
    local _, err = c:call("DescribeRegions", {})
    assert.are.equal("SignatureDoesNotMatch", err.code)
    local function dump(t)
      local out = {}
      for k, v in pairs(t) do out[#out + 1] = tostring(k) .. "=" .. tostring(v) end
      return table.concat(out, " ")
    end
    for _, text in ipairs { tostring(err), dump(err), dump(records[1]) } do
      assert.is_nil(text:find("wrong-secret-value", 1, true))
    end
  end)

  describe("retries", function()
    it("resends a 503 with a new signature and counts attempts", function()
      fault { action = "DescribeRegions", kind = "503", count = 2 }
      local attempts = {}
      local res = client { on_response = function(i) attempts[#attempts + 1] = i.attempt .. ":" .. tostring(i.status) end }
        :call("DescribeRegions", {})
      assert.is_table(res)
      assert.are.same({ "1:503", "2:503", "3:200" }, attempts)
    end)

    it("gives up after max_attempts with the last error", function()
      fault { action = "DescribeRegions", kind = "500" }
      local _, err = client { max_attempts = 2 }:call("DescribeRegions", {})
      assert.are.equal("InternalError", err.code)
      assert.are.equal(2, err.attempts)
      assert.is_true(err.retryable)
      local _, once = client():call("DescribeRegions", {}, { max_attempts = 1 })
      assert.are.equal(1, once.attempts)
    end)

    it("does not resend what cannot succeed", function()
      local n = 0
      local _, err = client { on_response = function() n = n + 1 end }:call("NoSuchAction", {})
      assert.are.equal(1, n)
      assert.are.equal(1, err.attempts)
    end)
  end)

  describe("transport errors", function()
    it("Transport.ConnectFailed for a closed port", function()
      local _, err = client { endpoint = "http://127.0.0.1:" .. emu.free_port(), max_attempts = 2 }
        :call("DescribeRegions", {})
      assert.are.equal("Transport.ConnectFailed", err.code)
      assert.is_true(err.retryable)
      assert.are.equal(2, err.attempts)
      assert.is_nil(err.http_status)
      assert.matches("^Transport%.ConnectFailed: .+%(action DescribeRegions, 2 attempts%)$", tostring(err))
    end)

    it("Transport.Reset when the server closes without a reply", function()
      fault { action = "DescribeRegions", kind = "reset" }
      local _, err = client { max_attempts = 1 }:call("DescribeRegions", {})
      assert.are.equal("Transport.Reset", err.code)
    end)

    it("Transport.Timeout for a server slower than timeout", function()
      fault { action = "DescribeRegions", kind = "slow", delay_ms = 3000 }
      local _, err = client { timeout = 0.3, max_attempts = 1 }:call("DescribeRegions", {})
      assert.are.equal("Transport.Timeout", err.code)
    end)

    it("Transport.BadResponse for a truncated body", function()
      fault { action = "DescribeRegions", kind = "truncated" }
      local _, err = client { max_attempts = 1 }:call("DescribeRegions", {})
      assert.are.equal("Transport.BadResponse", err.code)
    end)

    it("resends after a lost reply only when the call is idempotent", function()
      fault { action = "DescribeRegions", kind = "lost", count = 1 }
      assert.is_table(client():call("DescribeRegions", {}))
      -- ModifyInstanceAttribute takes no ClientToken: a lost reply is final.
      fault { action = "ModifyInstanceAttribute", kind = "lost", count = 1 }
      local _, err = client():call("ModifyInstanceAttribute", { InstanceId = "i-x", InstanceName = "n" })
      assert.are.equal("Transport.Reset", err.code)
      assert.is_false(err.retryable)
      assert.are.equal(1, err.attempts)
    end)

    it("adds one ClientToken to actions that take one, kept across retries", function()
      fault { action = "CreateSecurityGroup", kind = "lost", count = 1 }
      local attempts = 0
      local res = assert(client { on_response = function() attempts = attempts + 1 end }
        :call("CreateSecurityGroup", { RegionId = "cn-hangzhou" }))
      assert.are.equal(2, attempts)
      assert.are.equal(1, emu.stats().created.securitygroup)
      assert.are.equal(1, emu.stats().client_token_replays)
      local token = emu.last("CreateSecurityGroup").params.ClientToken
      assert.matches("^%x+%-%x+%-4%x+%-%x+%-%x+$", token)
      assert.is_string(res.SecurityGroupId)
      -- A caller's own token is kept; actions without ClientToken get none.
      assert(client():call("CreateSecurityGroup", { RegionId = "cn-hangzhou", ClientToken = "mine-1" }))
      assert.are.equal("mine-1", emu.last("CreateSecurityGroup").params.ClientToken)
      assert(client():call("DescribeRegions", {}))
      assert.is_nil(emu.last("DescribeRegions").params.ClientToken)
    end)
  end)

  describe("replies the emulator never gives", function()
    local stub
    setup(function()
      stub = stub_server.start {
        Nulls = { body = '{"RequestId":"R1","Name":null,"List":[1,null,3],"Size":40}' },
        DescribeHtml = { status = 502, body = "<html><body>Bad Gateway</body></html>" },
        CreateHtml = { status = 502, body = "<html><body>Bad Gateway</body></html>" },
        Garbled = { body = "{not json" },
        Throttled = { status = 400, body = '{"Code":"Throttling.User","Message":"slow down","RequestId":"R2"}' },
      }
    end)
    teardown(function() stub.stop() end)

    it("keeps JSON nulls as ecs.null", function()
      local res = assert(client { endpoint = stub.url }:call("Nulls", {}))
      assert.are.equal(ecs.null, res.Name)
      assert.are.equal(ecs.null, res.List[2])
      assert.are.equal(3, #res.List)
      assert.are.equal(40, res.Size)
    end)

    it("turns a non-JSON body into Transport.BadResponse, retryable only when idempotent", function()
      local _, err = client { endpoint = stub.url, max_attempts = 1 }:call("DescribeHtml", {})
      assert.are.equal("Transport.BadResponse", err.code)
      assert.are.equal(502, err.http_status)
      assert.is_true(err.retryable)
      assert.matches("Bad Gateway", err.message)
      local _, create = client { endpoint = stub.url, max_attempts = 1 }:call("CreateHtml", {})
      assert.are.equal("Transport.BadResponse", create.code)
      assert.is_false(create.retryable)
      local _, garbled = client { endpoint = stub.url, max_attempts = 1 }:call("Garbled", {})
      assert.are.equal("Transport.BadResponse", garbled.code)
      assert.are.equal(200, garbled.http_status)
    end)

    it("marks throttling as retryable and throttled", function()
      local _, err = client { endpoint = stub.url, max_attempts = 1 }:call("Throttled", {})
      assert.are.equal("Throttling.User", err.code)
      assert.is_true(err.retryable)
      assert.is_true(err.throttled)
    end)
  end)

  describe("concurrency", function()
    it("runs many calls from many tasks", function()
      local c = client()
      local ok, failed = 0, 0
      ecs.run(function()
        for _ = 1, 50 do
          ecs.spawn(function()
            for _ = 1, 4 do
              if c:call("DescribeRegions", {}) then ok = ok + 1 else failed = failed + 1 end
            end
          end)
        end
      end)
      assert.are.equal(200, ok)
      assert.are.equal(0, failed)
    end)

    it("keeps working after a burst gave its memory back", function()
      local c = client { max_concurrency = 100 }
      local loop = require("ecs.loop").new()
      assert.are.equal(0, loop:trim()) -- nothing pooled yet
      loop:close()
      local ok = 0
      ecs.run(function()
        for _ = 1, 1000 do -- a burst: afterwards pooled transfers and idle connections go
          ecs.spawn(function() if c:call("DescribeRegions", {}) then ok = ok + 1 end end)
        end
      end)
      assert.are.equal(1000, ok)
      assert.is_table(c:call("DescribeRegions", {}))
      ecs.run(function()
        local tasks = {}
        for i = 1, 20 do tasks[i] = ecs.spawn(function() return c:call("DescribeRegions", {}) end) end
        for _, t in ipairs(tasks) do assert.is_table(t:wait()) end
      end)
    end)

    it("keeps at most max_concurrency calls in flight and queues the rest in FIFO order", function()
      fault { action = "DescribeRegions", kind = "slow", delay_ms = 50 }
      local c = client { max_concurrency = 3 }
      local most, longest_queue, order = 0, 0, {}
      ecs.run(function()
        local tasks = {}
        for i = 1, 12 do
          tasks[i] = ecs.spawn(function() assert(c:call("DescribeRegions", {})); order[#order + 1] = i end)
        end
        local monitor = ecs.spawn(function()
          repeat
            most = math.max(most, c.max_concurrency - c.slots.count)
            longest_queue = math.max(longest_queue, c.slots.tail - c.slots.head + 1)
            ecs.sleep(0.005)
          until #order == 12
        end)
        for _, t in ipairs(tasks) do t:wait() end
        monitor:wait()
      end)
      assert.are.equal(3, most)
      assert.are.equal(9, longest_queue)
      assert.are.equal(c.max_concurrency, c.slots.count)
      -- FIFO: each batch of three starts only when the previous one is done.
      for i = 1, 12 do assert.is_true(order[i] <= math.floor((i - 1) / 3) * 3 + 3, "order " .. i) end
    end)
  end)

  it("calls on_response once per attempt with what a log needs", function()
    local seen = {}
    local c = client { on_response = function(info) seen[#seen + 1] = info end }
    assert(c:call("DescribeRegions", {}))
    assert.are.equal(1, #seen)
    local info = seen[1]
    assert.are.equal("DescribeRegions", info.action)
    assert.are.equal(200, info.status)
    assert.are.equal(1, info.attempt)
    assert.is_string(info.request_id)
    assert.is_true(info.latency > 0)
    local per_call = {}
    assert(c:call("DescribeRegions", {}, { on_response = function(i) per_call[#per_call + 1] = i end }))
    assert.are.equal(1, #per_call)
    assert.are.equal(1, #seen)
  end)

  it("raises at once on programmer errors", function()
    local c = client()
    assert.has_error(function() c:call(42) end, "action: expected an ECS action name such as 'DescribeInstances'")
    assert.has_error(function() c:call("DescribeRegions", {}, { timeut = 1 }) end,
      "timeut: unknown option of client:call; did you mean timeout?")
    assert.has_error(function() c:call("DescribeRegions", {}, { timeout = -1 }) end,
      "timeout: invalid value (expected seconds > 0, at most 1e6)")
    assert.has_error(function() client { max_concurrency = 0 } end)
  end)

  it("ecs.call uses the default client", function()
    ecs.default_client { endpoint = emu.endpoint, access_key_id = "testid", access_key_secret = SECRET }
    local res = assert(ecs.call("DescribeRegions", {}))
    assert.is_string(res.RequestId)
  end)
end)

describe("client:call over TLS", function()
  local port, url, ca
  setup(function()
    port = emu.free_port()
    local out = emu.sh(emu.shq(emu.CLI) .. " start --tls --port " .. port)
    url, ca = out:match("^(%S+)\n"), out:match("ca_file=(%S+)")
    assert(url and ca, "emulator --tls did not start: " .. out)
  end)
  teardown(function() emu.sh(emu.shq(emu.CLI) .. " stop --port " .. port) end)

  it("verifies the server with the given CA", function()
    local res, err = client { endpoint = url, ca_file = ca }:call("DescribeRegions", {})
    assert.is_nil(err)
    assert.is_string(res.RequestId)
  end)

  it("refuses a server it cannot verify", function()
    local _, err = client { endpoint = url }:call("DescribeRegions", {})
    assert.are.equal("Transport.TLS", err.code)
    assert.is_false(err.retryable)
  end)
end)

-- The debug log: ecs.client{ log = fn } and ECS_DEBUG=1|2, one line per attempt with the retry
-- decision; level 2 adds the sent parameters and the reply; no secret ever appears.
local ecs = require "ecs"
local emu = require "support.emulator"

local SECRET = "Distinctive-Secret-7f3a9c"
local TOKEN = "Distinctive-Token-b41e6d"
local seq = 0

local function client(opts, getenv)
  seq = seq + 1
  opts.endpoint = emu.endpoint
  opts.region = opts.region or ("cn-log-" .. seq) -- limiters are shared per region: keep them apart
  opts.access_key_id = opts.access_key_id or "testid"
  opts.access_key_secret = opts.access_key_secret or "testsecret"
  return require("ecs.client").new(opts, getenv or function() return nil end)
end

local function collector()
  local lines = {}
  return lines, function(line) lines[#lines + 1] = line end
end

-- Runs lua5.4 with the in-tree modules and the given environment; returns stderr.
local function stderr_of(env, code)
  local out, rc = emu.sh("cd " .. emu.shq(emu.ROOT) .. " && env " .. env
    .. " LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/?.so;;' lua5.4 -e "
    .. emu.shq(code) .. " 2>&1 >/dev/null")
  assert.are.equal(0, rc, out)
  return out
end

describe("debug log", function()
  before_each(function() emu.reset { speed = 0 } end)
  after_each(function() emu.control("DELETE", "faults") end)

  it("writes one line per attempt: action, attempt, status, latency, request id, code, decision", function()
    assert(emu.control("POST", "faults", { action = "DescribeRegions", kind = "503", count = 2 }) == 200)
    local lines, log = collector()
    local c = client { log = log }
    local res = assert(c:call("DescribeRegions", {}))
    assert.are.equal(3, #lines, table.concat(lines, "\n"))
    for i = 1, 2 do
      assert.matches("^ecs: DescribeRegions attempt=" .. i .. " status=503 latency=[%d.]+ms request_id=%S+ "
        .. "code=ServiceUnavailable %-> retry in [%d.]+s$", lines[i])
    end
    assert.matches("^ecs: DescribeRegions attempt=3 status=200 latency=[%d.]+ms request_id="
      .. res.RequestId:gsub("%-", "%%-") .. " code=%- %-> done$", lines[3])
  end)

  it("says why there is no retry", function()
    local lines, log = collector()
    local c = client { log = log }
    assert.is_nil(c:call("DescribeInstances", { RegionId = "cn-hangzhou", PageSize = "many" }))
    assert.are.equal(1, #lines)
    assert.matches("status=400 .* code=%S+ %-> no retry: not retryable$", lines[1])

    assert(emu.control("POST", "faults", { action = "DescribeRegions", kind = "503" }) == 200)
    lines, log = collector()
    c = client { log = log, max_attempts = 2 }
    assert.is_nil(c:call("DescribeRegions", {}))
    assert.are.equal(2, #lines)
    assert.matches("%-> no retry: max_attempts reached$", lines[2])
  end)

  it("names transport errors with no HTTP status", function()
    local lines, log = collector()
    local port = emu.free_port()
    local c = require("ecs.client").new({ endpoint = "http://127.0.0.1:" .. port, region = "cn-log-x",
      access_key_id = "testid", access_key_secret = "testsecret", log = log, max_attempts = 1 },
      function() return nil end)
    assert.is_nil(c:call("DescribeRegions", {}))
    assert.are.equal(1, #lines)
    assert.matches("attempt=1 status=%- .* code=Transport%.ConnectFailed %-> no retry: max_attempts reached$", lines[1])
  end)

  it("level 2 adds the sent parameters and the reply body", function()
    local lines, log = collector()
    local c = client { log = log, log_level = 2 }
    assert(c:call("DescribeRegions", { AcceptLanguage = "en-US" }))
    assert.are.equal(3, #lines)
    assert.matches("^ecs:   sent GET .*AcceptLanguage=en%-US", lines[2])
    assert.matches("Action=DescribeRegions", lines[2])
    assert.matches("^ecs:   reply {.*\"RegionId\"", lines[3])
    -- level 1 has no parameters
    local l1, log1 = collector()
    assert(client({ log = log1 }):call("DescribeRegions", {}))
    assert.are.equal(1, #l1)
  end)

  it("never logs the secret, the signature or the security token, at any level", function()
    for _, version in ipairs { "v1", "v3" } do
      for _, method in ipairs { "GET", "POST" } do
        local lines, log = collector()
        local c = client { log = log, log_level = 2, access_key_id = "LTAIdistinctive0042",
          access_key_secret = SECRET, security_token = TOKEN, signature_version = version, method = method }
        local req = c:prepare("DescribeRegions", {})
        assert.is_nil(c:call("DescribeRegions", {})) -- the emulator knows no such key
        local text = table.concat(lines, "\n")
        assert.is_true(#lines >= 2, text)
        assert.is_nil(text:find(SECRET, 1, true), "secret logged")
        assert.is_nil(text:find(TOKEN, 1, true), "security token logged")
        assert.is_nil(text:find("LTAIdistinctive0042", 1, true), "whole AccessKeyId logged")
        -- a v1 request carries Signature and SecurityToken as parameters: both masked
        local signature = (req.url .. "&" .. (req.body or "")):match("[?&]Signature=([^&]+)")
        if signature then
          assert.is_nil(text:find(signature, 1, true), "signature logged")
          assert.matches("Signature=%*%*%*%*", text)
          assert.matches("SecurityToken=%*%*%*%*", text)
        end
        assert.is_nil(text:find("Authorization", 1, true))
      end
    end
  end)

  it("ECS_DEBUG=1 writes the lines to stderr, ECS_DEBUG=2 adds parameters; unset writes nothing", function()
    local code = ("local ecs = require 'ecs'; local c = ecs.client{ endpoint = %q, region = 'cn-log-env', "
      .. "access_key_id = 'testid', access_key_secret = %q }; assert(c:call('DescribeRegions', {}))")
      :format(emu.endpoint, "testsecret")
    local one = stderr_of("ECS_DEBUG=1", code)
    assert.matches("^ecs: DescribeRegions attempt=1 status=200 .*%-> done\n$", one)
    local two = stderr_of("ECS_DEBUG=2", code)
    assert.matches("ecs:   sent GET .*Action=DescribeRegions", two)
    assert.matches("ecs:   reply {", two)
    assert.is_nil(two:find("testsecret", 1, true))
    assert.are.equal("", stderr_of("ECS_DEBUG=", code))
  end)

  it("checks its options", function()
    assert.has_error(function() ecs.client { region = "cn-hangzhou", log = "stderr" } end,
      "log: invalid value (expected a function(line))")
    assert.has_error(function() ecs.client { region = "cn-hangzhou", log_level = 3 } end,
      "log_level: invalid value (expected 1 (a line per attempt) or 2 (plus parameters and reply))")
  end)
end)

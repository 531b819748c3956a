local ecs = require "ecs"
local client_mod = require "ecs.client"

local SECRET = "s3cr3t-Value-that-must-not-leak"
local PIN = { timestamp = "2016-02-23T12:46:24Z", nonce = "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf" }
local NO_ENV = function() return nil end

local function query_of(url)
  local t = {}
  for k, v in (url:match("%?(.*)$") or ""):gmatch("([^&=]+)=([^&]*)") do t[k] = v end
  return t
end

local function new(opts)
  opts.access_key_id = opts.access_key_id or "LTAI5tExampleKeyId"
  opts.access_key_secret = opts.access_key_secret or SECRET
  return client_mod.new(opts, NO_ENV)
end

describe("ecs.client", function()
  it("reproduces the reference's worked example through prepare", function()
    local c = ecs.client {
      endpoint = "http://ecs.aliyuncs.com", access_key_id = "testid", access_key_secret = "testsecret",
    }
    local req = c:prepare("DescribeRegions", { Format = "XML" }, PIN)
    assert.are.equal("GET", req.method)
    assert.matches("&Signature=OLeaidS1JvxuMvnyHOwuJ%%2BuX5qY%%3D$", req.url)
    assert.are.equal("", req.body)
  end)

  it("accepts the timestamp pin as epoch seconds", function()
    local c = new { region = "cn-hangzhou" }
    local req = c:prepare("DescribeRegions", {}, { timestamp = 1456231584, nonce = "n" })
    assert.are.equal("2016-02-23T12%3A46%3A24Z", query_of(req.url).Timestamp)
  end)

  it("sends exactly the caller's parameters plus the common ones, and no RegionId", function()
    local c = new { region = "cn-hangzhou" }
    local req = c:prepare("DescribeInstances", { PageSize = 10, InstanceIds = '["i-1"]' }, PIN)
    local q = query_of(req.url)
    local names = {}
    for k in pairs(q) do names[#names + 1] = k end
    table.sort(names)
    assert.are.same({ "AccessKeyId", "Action", "Format", "InstanceIds", "PageSize", "Signature",
      "SignatureMethod", "SignatureNonce", "SignatureVersion", "Timestamp", "Version" }, names)
    assert.are.equal("JSON", q.Format)
    assert.are.equal("2014-05-26", q.Version)
    assert.matches("^https://ecs%.cn%-hangzhou%.aliyuncs%.com/%?", req.url)
  end)

  it("lets a caller's parameter override a common default", function()
    local req = new({ region = "cn-hangzhou" }):prepare("DescribeRegions", { Format = "XML" }, PIN)
    assert.are.equal("XML", query_of(req.url).Format)
  end)

  it("adds SecurityToken for STS credentials", function()
    local c = new { region = "cn-hangzhou", security_token = "STS.token" }
    assert.are.equal("STS.token", query_of(c:prepare("DescribeRegions", {}, PIN).url).SecurityToken)
  end)

  it("signs POST and v3 requests as configured", function()
    local post = new({ region = "cn-hangzhou", method = "POST" }):prepare("DescribeRegions", {}, PIN)
    assert.are.equal("POST", post.method)
    assert.matches("Action=DescribeRegions", post.body)
    local v3 = new({ region = "cn-hangzhou", signature_version = "v3" }):prepare("DescribeRegions", { A = 1 }, PIN)
    assert.matches("^ACS3%-HMAC%-SHA256 Credential=LTAI5tExampleKeyId,", v3.headers.authorization)
    assert.are.equal("https://ecs.cn-hangzhou.aliyuncs.com/?A=1", v3.url)
  end)

  it("sets a user agent naming the library", function()
    local req = new({ region = "cn-hangzhou" }):prepare("DescribeRegions", {}, PIN)
    assert.are.equal("lua-ecs/" .. ecs.version, req.headers["user-agent"])
    local custom = new({ region = "cn-hangzhou", user_agent = "fleet/1.0" }):prepare("DescribeRegions")
    assert.are.equal("fleet/1.0", custom.headers["user-agent"])
  end)

  it("uses a fresh nonce for every prepare", function()
    local c = new { region = "cn-hangzhou" }
    assert.are_not.equal(query_of(c:prepare("DescribeRegions").url).SignatureNonce,
      query_of(c:prepare("DescribeRegions").url).SignatureNonce)
  end)

  describe("raises at once on programmer errors", function()
    local function err_of(f)
      local ok, err = pcall(f)
      assert.is_false(ok)
      return tostring(err)
    end

    it("an unknown option, naming it and the closest valid one", function()
      assert.matches("acess_key_id: unknown option of ecs.client; did you mean access_key_id%?",
        err_of(function() new { region = "cn-hangzhou", acess_key_id = "x" } end))
    end)

    it("bad option values", function()
      assert.matches("signature_version: invalid value %(expected 'v1' or 'v3'%)",
        err_of(function() new { region = "cn-hangzhou", signature_version = "v2" } end))
      assert.matches("method: invalid value", err_of(function() new { region = "cn-hangzhou", method = "PUT" } end))
      assert.matches("region: invalid value", err_of(function() new { region = 5 } end))
      assert.matches("endpoint: unsupported scheme 'ftp' %(use http:// or https://%)",
        err_of(function() new { endpoint = "ftp://x" } end))
      assert.matches("endpoint: ECS is served at the root path",
        err_of(function() new { endpoint = "http://x/api" } end))
    end)

    it("no region and no endpoint", function()
      assert.matches("^.-region: required", err_of(function() new {} end))
    end)

    it("a bad action or params", function()
      local c = new { region = "cn-hangzhou" }
      assert.matches("action: expected an ECS action name", err_of(function() c:prepare(nil) end))
      assert.matches("action: expected an ECS action name", err_of(function() c:prepare("Describe Regions") end))
      assert.matches("params: expected a table", err_of(function() c:prepare("DescribeRegions", "x") end))
      assert.matches("Tag%.1%.Key: cannot send a value of type function",
        err_of(function() c:prepare("TagResources", { Tag = { { Key = print } } }) end))
      assert.matches("nonce: expected a string", err_of(function() c:prepare("DescribeRegions", {}, { nonce = 1 }) end))
      assert.matches("call it as client:prepare", err_of(function() c.prepare("DescribeRegions") end))
    end)
  end)

  describe("keeps the secret out of sight", function()
    it("in tostring and in the client's fields", function()
      local c = new { region = "cn-hangzhou", security_token = "STS-SECRET-TOKEN" }
      local s = tostring(c)
      assert.is_nil(s:find(SECRET, 1, true))
      assert.is_nil(s:find("STS-SECRET-TOKEN", 1, true))
      assert.is_nil(s:find("LTAI5tExampleKeyId", 1, true)) -- the id is masked too
      assert.matches("access_key_id=LTAI%*%*%*%*eyId", s)
      for k, v in pairs(c) do
        assert.is_nil(tostring(v):find(SECRET, 1, true), k)
      end
    end)

    it("in every error a client raises", function()
      local c = new { region = "cn-hangzhou" }
      local attempts = {
        function() c:prepare("X", { Signature = SECRET }) end,
        function() c:prepare("X", { A = print }) end,
        function() c:prepare("X", { A = 0 / 0 }) end,
        function() new { region = "cn-hangzhou", access_key_secret = SECRET, bogus = 1 } end,
        function() client_mod.new({ region = "x", access_key_secret = SECRET }, NO_ENV) end,
      }
      for i, f in ipairs(attempts) do
        local ok, err = pcall(f)
        assert.is_false(ok, "attempt " .. i)
        assert.is_nil(tostring(err):find(SECRET, 1, true), "attempt " .. i)
      end
    end)
  end)
end)

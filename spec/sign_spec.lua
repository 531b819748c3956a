local core = require "ecs.core"
local openssl = require "support.openssl"

-- The worked example of the reference (section 4.4).
local EXAMPLE = {
  version = "v1", method = "GET",
  endpoint = "http://ecs.aliyuncs.com", host = "ecs.aliyuncs.com",
  action = "DescribeRegions", api_version = "2014-05-26",
  access_key_id = "testid", access_key_secret = "testsecret",
  timestamp = "2016-02-23T12:46:24Z", nonce = "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
  params = { Format = "XML" },
}
local EXAMPLE_STS = "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%"
  .. "3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3"
  .. "-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-"
  .. "02-23T12%253A46%253A24Z%26Version%3D2014-05-26"

local function with(base, changes)
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(changes) do t[k] = v end
  return t
end

local function query_of(s)
  local t = {}
  for k, v in s:gmatch("([^&=]+)=([^&]*)") do t[k] = v end
  return t
end

describe("ecs.core.sign v1 #core", function()
  it("reproduces the reference's worked example byte for byte", function()
    local req, sts = core.sign(EXAMPLE)
    assert.are.equal(EXAMPLE_STS, sts)
    assert.are.equal("http://ecs.aliyuncs.com/?AccessKeyId=testid&Action=DescribeRegions"
      .. "&Format=XML&SignatureMethod=HMAC-SHA1&SignatureNonce=3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"
      .. "&SignatureVersion=1.0&Timestamp=2016-02-23T12%3A46%3A24Z&Version=2014-05-26"
      .. "&Signature=OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D", req.url)
    assert.are.equal("GET", req.method)
    assert.are.equal("", req.body)
  end)

  it("signs with HMAC-SHA1 keyed by secret& (checked with openssl)", function()
    local req, sts = core.sign(with(EXAMPLE, { params = { Format = "JSON", InstanceId = { "i-1", "i 2*" } } }))
    local sig = openssl.base64("sha1", sts, "testsecret&")
    assert.are.equal(core.percent_encode(sig), query_of(req.url:match("%?(.*)$")).Signature)
  end)

  it("puts the signed parameters in a form body for POST", function()
    local req, sts = core.sign(with(EXAMPLE, { method = "POST" }))
    assert.are.equal("POST", req.method)
    assert.are.equal("http://ecs.aliyuncs.com/", req.url)
    assert.are.equal("application/x-www-form-urlencoded", req.headers["content-type"])
    assert.are.equal("POST&%2F&" .. EXAMPLE_STS:sub(#"GET&%2F&" + 1), sts)
    local form = query_of(req.body)
    assert.are.equal(core.percent_encode(openssl.base64("sha1", sts, "testsecret&")), form.Signature)
    assert.are.equal("DescribeRegions", form.Action)
  end)

  it("adds the common parameters, JSON by default, and the token when given", function()
    local req = core.sign(with(EXAMPLE, { params = {}, security_token = "tok/en" }))
    local q = query_of(req.url:match("%?(.*)$"))
    assert.are.same({
      AccessKeyId = "testid", Action = "DescribeRegions", Format = "JSON",
      SignatureMethod = "HMAC-SHA1", SignatureNonce = EXAMPLE.nonce, SignatureVersion = "1.0",
      Timestamp = "2016-02-23T12%3A46%3A24Z", Version = "2014-05-26", SecurityToken = "tok%2Fen",
      Signature = q.Signature,
    }, q)
  end)

  it("generates a fresh nonce and timestamp unless pinned", function()
    local spec = with(EXAMPLE, {})
    spec.nonce, spec.timestamp = nil, nil
    local a = query_of(core.sign(spec).url:match("%?(.*)$"))
    local b = query_of(core.sign(spec).url:match("%?(.*)$"))
    assert.are_not.equal(a.SignatureNonce, b.SignatureNonce)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d%%3A%d%d%%3A%d%dZ$", a.Timestamp)
  end)

  it("refuses parameters that the client sets itself", function()
    for _, name in ipairs { "Signature", "AccessKeyId", "SignatureNonce", "Timestamp", "Action", "SecurityToken" } do
      local ok, err = pcall(core.sign, with(EXAMPLE, { params = { [name] = "x" } }))
      assert.is_false(ok)
      assert.matches("^" .. name .. ": common parameter set by the client", err)
    end
  end)

  it("checks its argument and never echoes the secret in errors", function()
    local cases = {
      "not a table",
      with(EXAMPLE, { version = "v2" }),
      with(EXAMPLE, { method = "PUT" }),
      with(EXAMPLE, { action = 42 }),
      (function() local t = with(EXAMPLE, {}); t.access_key_secret = nil; return t end)(),
      with(EXAMPLE, { params = "x" }),
      with(EXAMPLE, { params = { F = print } }),
    }
    for i, spec in ipairs(cases) do
      local ok, err = pcall(core.sign, spec)
      assert.is_false(ok, "case " .. i)
      assert.is_nil(tostring(err):find("testsecret", 1, true), "case " .. i)
    end
  end)
end)

describe("ecs.core.sign v3 (ACS3-HMAC-SHA256) #core", function()
  local V3 = with(EXAMPLE, {
    version = "v3", endpoint = "https://ecs.cn-hangzhou.aliyuncs.com", host = "ecs.cn-hangzhou.aliyuncs.com",
    action = "DescribeInstances",
    params = { RegionId = "cn-hangzhou", InstanceIds = '["i-1","i-2"]', Tag = { { Key = "a b", Value = "*" } } },
  })

  -- Rebuilds the canonical request from what the request carries, following
  -- the published algorithm, and lets openssl do the hashing.
  local function expected_signature(req, query, body, secret)
    local names = {}
    for name in req.headers.authorization:match("SignedHeaders=([^,]+)"):gmatch("[^;]+") do
      names[#names + 1] = name
    end
    local canonical_headers = {}
    for _, name in ipairs(names) do
      canonical_headers[#canonical_headers + 1] = name .. ":" .. req.headers[name] .. "\n"
    end
    local canonical = table.concat({
      req.method, "/", query, table.concat(canonical_headers), table.concat(names, ";"),
      openssl.hex("sha256", body),
    }, "\n")
    local sts = "ACS3-HMAC-SHA256\n" .. openssl.hex("sha256", canonical)
    return openssl.hex("sha256", sts, secret), sts, names
  end

  it("signs a GET with the parameters in the query", function()
    local req, sts, canonical = core.sign(V3)
    assert.matches("^GET\n/\n", canonical)
    local query = req.url:match("%?(.*)$")
    assert.are.equal("InstanceIds=%5B%22i-1%22%2C%22i-2%22%5D&RegionId=cn-hangzhou"
      .. "&Tag.1.Key=a%20b&Tag.1.Value=%2A", query)
    local sig, expected_sts, names = expected_signature(req, query, "", "testsecret")
    assert.are.equal(expected_sts, sts)
    assert.are.same({ "host", "x-acs-action", "x-acs-content-sha256", "x-acs-date",
      "x-acs-signature-nonce", "x-acs-version" }, names)
    assert.are.equal("ACS3-HMAC-SHA256 Credential=testid,SignedHeaders=" .. table.concat(names, ";")
      .. ",Signature=" .. sig, req.headers.authorization)
    assert.are.equal("DescribeInstances", req.headers["x-acs-action"])
    assert.are.equal("2014-05-26", req.headers["x-acs-version"])
    assert.are.equal("2016-02-23T12:46:24Z", req.headers["x-acs-date"])
    assert.are.equal(EXAMPLE.nonce, req.headers["x-acs-signature-nonce"])
    assert.are.equal("ecs.cn-hangzhou.aliyuncs.com", req.headers.host)
    assert.are.equal(openssl.hex("sha256", ""), req.headers["x-acs-content-sha256"])
    assert.are.equal("", req.body)
  end)

  it("signs a POST with the parameters in a form body and signs content-type", function()
    local req = core.sign(with(V3, { method = "POST", security_token = "sts-token" }))
    assert.are.equal("https://ecs.cn-hangzhou.aliyuncs.com/", req.url)
    assert.are.equal("InstanceIds=%5B%22i-1%22%2C%22i-2%22%5D&RegionId=cn-hangzhou"
      .. "&Tag.1.Key=a%20b&Tag.1.Value=%2A", req.body)
    local sig, _, names = expected_signature(req, "", req.body, "testsecret")
    assert.are.same({ "content-type", "host", "x-acs-action", "x-acs-content-sha256", "x-acs-date",
      "x-acs-security-token", "x-acs-signature-nonce", "x-acs-version" }, names)
    assert.matches(",Signature=" .. sig .. "$", req.headers.authorization)
    assert.are.equal(openssl.hex("sha256", req.body), req.headers["x-acs-content-sha256"])
    assert.are.equal("sts-token", req.headers["x-acs-security-token"])
  end)

  it("sends no common parameters in the query: they travel as headers", function()
    local req = core.sign(with(V3, { params = {} }))
    assert.are.equal("https://ecs.cn-hangzhou.aliyuncs.com/", req.url)
    assert.is_nil(req.url:find("Action", 1, true))
  end)
end)

describe("ecs.core nonces, timestamps and digests #core", function()
  it("makes UUID v4 nonces from random bytes, never repeating", function()
    local seen = {}
    for _ = 1, 1000 do
      local n = core.nonce()
      assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$", n)
      assert.is_nil(seen[n])
      seen[n] = true
    end
  end)

  it("formats UTC ISO 8601 timestamps", function()
    assert.are.equal("2016-02-23T12:46:24Z", core.timestamp(1456231584))
    assert.are.equal("1970-01-01T00:00:00Z", core.timestamp(0))
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", core.timestamp())
    assert.has_error(function() core.timestamp("soon") end)
  end)

  it("computes HMACs and digests like openssl", function()
    assert.are.equal(openssl.hex("sha256", "abc", "key"), core.hmac("sha256", "key", "abc"))
    assert.are.equal(openssl.base64("sha1", "abc", "key"), core.hmac("sha1", "key", "abc", "base64"))
    assert.are.equal(openssl.hex("sha256", "abc"), core.digest("sha256", "abc"))
    assert.has_error(function() core.digest("md5", "abc") end)
    assert.has_error(function() core.hmac("sha256", "k", "m", "base32") end)
  end)
end)

describe("ecs.core.signer #core", function()
  local function signer_for(spec)
    return core.signer {
      version = spec.version, method = spec.method, endpoint = spec.endpoint, host = spec.host,
      api_version = spec.api_version, access_key_id = spec.access_key_id,
      access_key_secret = spec.access_key_secret, security_token = spec.security_token,
    }
  end

  it("signs exactly as core.sign does, request after request", function()
    for _, version in ipairs { "v1", "v3" } do
      for _, method in ipairs { "GET", "POST" } do
        local spec = with(EXAMPLE, { version = version, method = method, security_token = "tok",
          params = { Format = "XML", Tag = { { Key = "a b", Value = "*" } }, Size = 40 } })
        local signer = signer_for(spec)
        for _ = 1, 3 do -- the arena and MAC context are reused
          local a, a_sts = core.sign(spec)
          local b, b_sts = signer:sign(spec.action, spec.params, spec.timestamp, spec.nonce)
          assert.are.same(a, b)
          assert.are.equal(a_sts, b_sts)
        end
      end
    end
  end)

  it("reproduces the worked example and makes fresh nonces unless pinned", function()
    local signer = signer_for(EXAMPLE)
    local req = signer:sign("DescribeRegions", { Format = "XML" }, EXAMPLE.timestamp, EXAMPLE.nonce)
    assert.matches("&Signature=OLeaidS1JvxuMvnyHOwuJ%%2BuX5qY%%3D$", req.url)
    local a, b = signer:sign("DescribeRegions", {}), signer:sign("DescribeRegions", {})
    assert.are_not.equal(a.url, b.url)
  end)

  it("draws unique UUID v4 nonces from its pool, across refills", function()
    local signer = signer_for(EXAMPLE)
    local seen = {}
    for i = 1, 3000 do -- a pool holds about 255 nonces: several refills
      local nonce = signer:sign("DescribeRegions", {}).url:match("SignatureNonce=([^&]+)")
      assert.matches("^%x+%-%x+%-4%x%x%x%-[89ab]%x%x%x%-%x+$", nonce)
      assert.is_nil(seen[nonce], "repeated at " .. i)
      seen[nonce] = true
    end
  end)

  it("keeps the secret out of its string form and raises clear errors", function()
    local signer = signer_for(EXAMPLE)
    assert.is_nil(tostring(signer):find("testsecret", 1, true))
    assert.has_error(function() signer:sign() end)
    assert.has_error(function() signer:sign("", {}) end, "sign: action must not be empty")
    assert.has_error(function() signer:sign("X", "params") end, "sign: params must be a table (got string)")
    local ok, err = pcall(signer.sign, signer, "X", { A = print })
    assert.is_false(ok)
    assert.matches("A: cannot send a value of type function", err)
    -- The arena recovers from an error in the middle of a request.
    assert.matches("Signature=", signer:sign("DescribeRegions", { B = "1" }).url)
    assert.has_error(function() core.signer { version = "v1" } end)
  end)
end)

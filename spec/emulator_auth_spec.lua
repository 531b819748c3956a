-- The emulator's request checks: signatures v1 and v3, common parameters,
-- timestamps, nonces, access keys, STS tokens, routing. Plain curl requests.
local E = require "support.emulator"

local function code(res) return res.json and res.json.Code end

describe("emulator authentication", function()
  before_each(function() E.reset({ speed = 0 }) end)

  describe("accepts correctly signed requests", function()
    for _, v in ipairs { "v1", "v3" } do
      for _, m in ipairs { "GET", "POST" } do
        it("signature " .. v .. " over " .. m, function()
          local res = E.call("DescribeZones", { RegionId = "cn-hangzhou" }, { v = v, method = m })
          assert.are.equal(200, res.status, res.body)
          assert.is_string(res.json.RequestId)
          assert.are.equal("cn-hangzhou-a", res.json.Zones.Zone[1].ZoneId)
          local last = E.last("DescribeZones")
          assert.are.equal(m, last.method)
          assert.are.equal(v, last.signature_version)
          assert.are.equal("cn-hangzhou", last.params.RegionId)
        end)
      end
    end

    it("the worked example of the reference signs to the documented value", function()
      local req, sts = E.prepare("DescribeRegions", {}, { pin = {
        timestamp = "2016-02-23T12:46:24Z", nonce = "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf" } })
      -- the request is too old to pass, and the emulator names the string it signed
      E.set_param(req, "Format", "XML")
      local res = E.send(req)
      assert.are.equal(400, res.status)
      assert.matches("<Code>InvalidTimeStamp.Expired</Code>", res.body, 1, true)
      assert.is_string(sts)
    end)

    it("answers XML when Format=XML, JSON by default from the signers", function()
      local res = E.call("DescribeRegions", { Format = "XML" })
      assert.are.equal(200, res.status)
      assert.matches("^<%?xml", res.body)
      assert.matches("<DescribeRegionsResponse>.*<RegionId>cn%-hangzhou</RegionId>.*<RequestId>", res.body)
      assert.matches("text/xml", res.headers["content-type"])
      local j = E.call("DescribeRegions", {})
      assert.matches("application/json", j.headers["content-type"])
      assert.is_table(j.json.Regions.Region)
    end)

    it("gives every reply a fresh RequestId, also in an x-acs-request-id header", function()
      local a, b = E.call("DescribeRegions", {}), E.call("DescribeRegions", {})
      assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", a.json.RequestId)
      assert.are_not.equal(a.json.RequestId, b.json.RequestId)
      assert.are.equal(a.json.RequestId, a.headers["x-acs-request-id"])
    end)
  end)

  describe("rejects", function()
    it("an unknown AccessKeyId", function()
      local res = E.call("DescribeRegions", {}, { id = "nobody" })
      assert.are.equal(400, res.status)
      assert.are.equal("InvalidAccessKeyId.NotFound", code(res))
      res = E.call("DescribeRegions", {}, { id = "nobody", v = "v3" })
      assert.are.equal("InvalidAccessKeyId.NotFound", code(res))
    end)

    it("a wrong secret with SignatureDoesNotMatch naming the server's string-to-sign (v1)", function()
      local req, sts = E.prepare("DescribeRegions", {}, { secret = "not-the-secret" })
      local res = E.send(req)
      assert.are.equal(400, res.status)
      assert.are.equal("SignatureDoesNotMatch", code(res))
      assert.truthy(res.json.Message:find("server string to sign is:" .. sts, 1, true))
      assert.are.equal("ecs.aliyuncs.com", res.json.HostId)
      assert.is_string(res.json.RequestId)
    end)

    it("a tampered parameter or signature (v1 GET and POST)", function()
      for _, m in ipairs { "GET", "POST" } do
        local req = E.prepare("DescribeZones", { RegionId = "cn-hangzhou" }, { method = m })
        E.set_param(req, "RegionId", "cn-beijing")
        assert.are.equal("SignatureDoesNotMatch", code(E.send(req)))
        req = E.prepare("DescribeZones", { RegionId = "cn-hangzhou" }, { method = m })
        E.set_param(req, "Signature", E.flip(E.get_param(req, "Signature")))
        assert.are.equal("SignatureDoesNotMatch", code(E.send(req)))
      end
    end)

    it("a tampered v3 request: signature, signed header, query and body", function()
      local req = E.prepare("DescribeZones", { RegionId = "cn-hangzhou" }, { v = "v3" })
      local auth = E.header(req, "authorization")
      E.set_header(req, "authorization", auth:gsub("Signature=(%x+)", function(s) return "Signature=" .. E.flip(s) end))
      local res = E.send(req)
      assert.are.equal(400, res.status)
      assert.are.equal("SignatureDoesNotMatch", code(res))
      assert.truthy(res.json.Message:find("server string to sign is:ACS3-HMAC-SHA256\n", 1, true))

      req = E.prepare("DescribeZones", { RegionId = "cn-hangzhou" }, { v = "v3" })
      E.set_header(req, "x-acs-date", E.iso(os.time() - 5))
      assert.are.equal("SignatureDoesNotMatch", code(E.send(req)))

      req = E.prepare("DescribeZones", { RegionId = "cn-hangzhou" }, { v = "v3", method = "GET" })
      req.url = req.url:gsub("cn%-hangzhou", "cn-beijing")
      assert.are.equal("SignatureDoesNotMatch", code(E.send(req)))

      req = E.prepare("DescribeZones", { RegionId = "cn-hangzhou" }, { v = "v3", method = "POST" })
      assert.truthy(req.body:find("cn-hangzhou", 1, true))
      req.body = req.body:gsub("cn%-hangzhou", "cn-beijing")
      assert.are.equal("SignatureDoesNotMatch", code(E.send(req)))
    end)

    it("an incomplete signature (IncompleteSignature)", function()
      for _, name in ipairs { "SignatureNonce", "SignatureMethod", "SignatureVersion" } do
        local req = E.prepare("DescribeRegions", {})
        E.set_param(req, name, nil)
        local res = E.send(req)
        assert.are.equal(400, res.status, name)
        assert.are.equal("IncompleteSignature", code(res), name)
      end
      local req = E.prepare("DescribeRegions", {}, { v = "v3" })
      E.set_header(req, "authorization", "ACS3-HMAC-SHA256 Credential=testid")
      assert.are.equal("IncompleteSignature", code(E.send(req)))
      req = E.prepare("DescribeRegions", {}, { v = "v3" })
      local auth = E.header(req, "authorization")
      E.set_header(req, "authorization", (auth:gsub("x%-acs%-date;", "")))
      assert.are.equal("IncompleteSignature", code(E.send(req)))
    end)

    it("a bad SignatureMethod or SignatureVersion (InvalidParamater, as the reference spells it)", function()
      local req = E.prepare("DescribeRegions", {})
      E.set_param(req, "SignatureMethod", "HMAC-SHA256")
      local res = E.send(req)
      assert.are.equal(400, res.status)
      assert.are.equal("InvalidParamater", code(res))
      assert.matches("SignatureMethod", res.json.Message)
      req = E.prepare("DescribeRegions", {})
      E.set_param(req, "SignatureVersion", "2.0")
      res = E.send(req)
      assert.are.equal("InvalidParamater", code(res))
      assert.matches("SignatureVersion", res.json.Message)
      req = E.prepare("DescribeRegions", {}, { v = "v3" })
      E.set_header(req, "authorization", (E.header(req, "authorization"):gsub("^ACS3%-HMAC%-SHA256", "ACS3-HMAC-SM3")))
      assert.are.equal("InvalidParamater", code(E.send(req)))
    end)

    it("a reused SignatureNonce within 15 minutes (v1 and v3)", function()
      for _, v in ipairs { "v1", "v3" } do
        local req = E.prepare("DescribeRegions", {}, { v = v })
        assert.are.equal(200, E.send(req).status)
        local res = E.send(req)
        assert.are.equal(400, res.status)
        assert.are.equal("SignatureNonceUsed", code(res))
      end
    end)

    it("a malformed Timestamp (IllegalTimestamp) and one more than 15 minutes off (InvalidTimeStamp.Expired)", function()
      local req = E.prepare("DescribeRegions", {})
      E.set_param(req, "Timestamp", "yesterday")
      local res = E.send(req)
      assert.are.equal(400, res.status)
      assert.are.equal("IllegalTimestamp", code(res))
      for _, v in ipairs { "v1", "v3" } do
        for _, off in ipairs { -16 * 60, 16 * 60 } do
          res = E.send(E.prepare("DescribeRegions", {}, { v = v, pin = { timestamp = E.iso(os.time() + off) } }))
          assert.are.equal(400, res.status)
          assert.are.equal("InvalidTimeStamp.Expired", code(res))
        end
        res = E.send(E.prepare("DescribeRegions", {}, { v = v, pin = { timestamp = E.iso(os.time() - 10 * 60) } }))
        assert.are.equal(200, res.status)
      end
      req = E.prepare("DescribeRegions", {}, { v = "v3" })
      E.set_header(req, "x-acs-date", "2024-13-45")
      assert.are.equal("IllegalTimestamp", code(E.send(req)))
    end)

    it("missing common parameters (MissingParameter)", function()
      for _, name in ipairs { "Action", "AccessKeyId", "Signature", "Timestamp", "Version" } do
        local req = E.prepare("DescribeRegions", {})
        E.set_param(req, name, nil)
        local res = E.send(req)
        assert.are.equal(400, res.status, name)
        assert.are.equal("MissingParameter", code(res), name)
        assert.truthy(res.json.Message:find('"' .. name .. '"', 1, true), res.json.Message)
      end
    end)

    it("an unknown action with InvalidAction (403)", function()
      local res = E.call("DescribeUnicorns", {})
      assert.are.equal(403, res.status)
      assert.are.equal("InvalidAction", code(res))
      res = E.call("DescribeUnicorns", {}, { v = "v3" })
      assert.are.equal(403, res.status)
    end)

    it("an ECS action it does not simulate with one clear error, never a fake success", function()
      local res = E.call("CreateVpc", { RegionId = "cn-hangzhou" })
      assert.are.equal(501, res.status)
      assert.are.equal("Emulator.ActionNotSimulated", code(res))
      assert.matches("CreateVpc", res.json.Message)
      res = E.call("DescribeKeyPairs", { RegionId = "cn-hangzhou" }, { v = "v3" })
      assert.are.equal("Emulator.ActionNotSimulated", code(res))
    end)

    it("a wrong API version", function()
      local res = E.call("DescribeRegions", {}, { api_version = "2016-01-01" })
      assert.are.equal(400, res.status)
      assert.are.equal("InvalidParameter", code(res))
      assert.matches("Version", res.json.Message)
    end)

    it("HTTP methods other than GET and POST", function()
      local req = E.prepare("DescribeRegions", {})
      local res = E.http("PUT", req.url, req.headers)
      assert.are.equal(403, res.status)
      assert.are.equal("UnsupportedHTTPMethod", code(res))
    end)
  end)

  describe("STS key pairs", function()
    it("require the SecurityToken (v1 and v3)", function()
      for _, v in ipairs { "v1", "v3" } do
        local res = E.call("DescribeRegions", {}, { v = v, id = "STS.testid", secret = "stssecret" })
        assert.are.equal(400, res.status)
        assert.are.equal("MissingSecurityToken", code(res))
        res = E.call("DescribeRegions", {}, { v = v, id = "STS.testid", secret = "stssecret", token = "other" })
        assert.are.equal("InvalidSecurityToken.MismatchWithAccessKey", code(res))
        res = E.call("DescribeRegions", {}, { v = v, id = "STS.testid", secret = "stssecret", token = "ststoken" })
        assert.are.equal(200, res.status, res.body)
      end
    end)
  end)

  it("keeps the same error shape in XML", function()
    local req = E.prepare("DescribeRegions", { Format = "XML" }, { id = "nobody" })
    local res = E.send(req)
    assert.are.equal(400, res.status)
    assert.matches("^<%?xml", res.body)
    for _, tag in ipairs { "RequestId", "HostId", "Code", "Message" } do
      assert.matches("<" .. tag .. ">", res.body, 1, true)
    end
    assert.matches("<Code>InvalidAccessKeyId.NotFound</Code>", res.body, 1, true)
  end)
end)

-- The emulator's credential services: STS (AssumeRole, signed; AssumeRoleWithOIDC, unsigned),
-- the instance metadata paths and the credentials URI, the temporary keys they issue (accepted by
-- ECS actions with their SecurityToken, refused once expired), their settings, stats and faults;
-- and the official Node.js credentials library against them. Plain curl requests.
local E = require "support.emulator"
local cjson = require "cjson"

local function code(res) return res.json and res.json.Code end
local function now() return os.time() end
local function sleep(s) E.sh("sleep " .. s) end

local function assume(params, opts)
  local res = E.assume_role(params, opts)
  assert(res.status == 200, "AssumeRole: HTTP " .. tostring(res.status) .. " " .. res.body)
  return res.json.Credentials, res.json
end

local function oidc(params, opts)
  local res = E.assume_role_oidc(params, opts)
  assert(res.status == 200, "AssumeRoleWithOIDC: HTTP " .. tostring(res.status) .. " " .. res.body)
  return res.json.Credentials, res.json
end

local function is_temporary(c)
  assert.matches("^STS%.%w+$", c.AccessKeyId)
  assert.matches("^%w+$", c.AccessKeySecret)
  assert.matches("^CAIS[%w+/]+=*$", c.SecurityToken)
  assert.is_number(E.epoch(c.Expiration), c.Expiration)
end

-- a DescribeRegions signed with temporary keys (v1 GET unless extra says otherwise)
local function ecs_with(c, extra)
  return E.call("DescribeRegions", {}, E.keys_of(c, extra))
end

local function token()
  local res = E.metadata_token(60)
  assert(res.status == 200, "PUT /latest/api/token: HTTP " .. tostring(res.status))
  return res.body
end

describe("emulator STS", function()
  before_each(function() E.reset({ speed = 0 }) end)
  after_each(function() E.reset() end)

  describe("AssumeRole", function()
    it("signed v1 by testid returns temporary keys that ECS actions accept with their SecurityToken", function()
      local t0 = now()
      local c, body = assume({ DurationSeconds = "900" })
      is_temporary(c)
      local exp = E.epoch(c.Expiration)
      assert.is_true(exp >= t0 + 900 and exp <= now() + 901, c.Expiration)
      assert.matches("^[%x%-]+$", body.RequestId)
      assert.are.equal(E.ROLE_ARN .. "/emulator-spec", body.AssumedRoleUser.Arn)
      assert.matches("^%d+:emulator%-spec$", body.AssumedRoleUser.AssumedRoleId)
      for _, v in ipairs { "v1", "v3" } do
        for _, m in ipairs { "GET", "POST" } do
          local res = ecs_with(c, { v = v, method = m })
          assert.are.equal(200, res.status, v .. " " .. m .. ": " .. res.body)
        end
      end
      local last = E.last("AssumeRole")
      assert.are.equal("v1", last.signature_version)
      assert.are.equal("900", last.params.DurationSeconds)
      assert.are.equal(E.ROLE_ARN, last.params.RoleArn)
    end)

    it("defaults DurationSeconds to 3600 and gives every call its own keys", function()
      local t0 = now()
      local a, b = assume(), assume()
      assert.is_true(math.abs(E.epoch(a.Expiration) - (t0 + 3600)) <= 2, a.Expiration)
      assert.are_not.equal(a.AccessKeyId, b.AccessKeyId)
      assert.are_not.equal(a.SecurityToken, b.SecurityToken)
    end)

    it("is also accepted over GET and signed v3; answers XML without Format", function()
      is_temporary(assume(nil, { method = "GET" }))
      is_temporary(assume(nil, { v = "v3" }))
      local req = E.sts_prepare("AssumeRole", { RoleArn = E.ROLE_ARN, RoleSessionName = "xml", Format = "XML" })
      local res = E.send(req)
      assert.are.equal(200, res.status)
      assert.matches("<AssumeRoleResponse>.*<Credentials>.*<AccessKeyId>STS%.", res.body)
    end)

    it("checks the signature, key, timestamp and nonce as for ECS actions (HostId sts.aliyuncs.com)", function()
      local p = { RoleArn = E.ROLE_ARN, RoleSessionName = "s1" }
      local req, sts = E.sts_prepare("AssumeRole", p, { secret = "wrong" })
      local res = E.send(req)
      assert.are.equal(400, res.status)
      assert.are.equal("SignatureDoesNotMatch", code(res))
      assert.truthy(res.json.Message:find("server string to sign is:" .. sts, 1, true))
      assert.are.equal("sts.aliyuncs.com", res.json.HostId)
      assert.are.equal("InvalidAccessKeyId.NotFound", code(E.assume_role(nil, { id = "nobody" })))
      assert.are.equal("InvalidTimeStamp.Expired",
        code(E.assume_role(nil, { pin = { timestamp = now() - 3600 } })))
      assert.are.equal(200, E.assume_role(nil, { pin = { nonce = "sts-nonce" } }).status)
      assert.are.equal("SignatureNonceUsed", code(E.assume_role(nil, { pin = { nonce = "sts-nonce" } })))
      req = E.sts_prepare("AssumeRole", p)
      E.set_param(req, "RoleSessionName", "s2")
      assert.are.equal("SignatureDoesNotMatch", code(E.send(req)))
    end)

    it("checks RoleArn, RoleSessionName, DurationSeconds, Policy and ExternalId", function()
      local cases = {
        { { RoleArn = false }, 400, "MissingParameter.RoleArn" },
        { { RoleArn = "acs:ram::123:user/alice" }, 400, "InvalidParameter.RoleArn" },
        { { RoleArn = "acs:ram::abc:role/r" }, 400, "InvalidParameter.RoleArn" },
        { { RoleSessionName = false }, 400, "MissingParameter.RoleSessionName" },
        { { RoleSessionName = "a" }, 400, "InvalidParameter.RoleSessionName" },
        { { RoleSessionName = "has space" }, 400, "InvalidParameter.RoleSessionName" },
        { { DurationSeconds = "899" }, 400, "InvalidParameter.DurationSeconds" },
        { { DurationSeconds = "43201" }, 400, "InvalidParameter.DurationSeconds" },
        { { DurationSeconds = "1h" }, 400, "InvalidParameter.DurationSeconds" },
        { { Policy = "{not json" }, 400, "InvalidParameter.PolicyGrammar" },
        { { ExternalId = "x" }, 400, "InvalidParameter.ExternalId" },
      }
      for _, case in ipairs(cases) do
        local res = E.assume_role(case[1])
        assert.are.equal(case[3], code(res), cjson.encode(case[1]) .. " -> " .. res.body)
        assert.are.equal(case[2], res.status)
      end
      is_temporary(assume({ DurationSeconds = "43200", ExternalId = "abcd-1234",
        Policy = '{"Statement":[{"Action":["ecs:Describe*"],"Effect":"Allow","Resource":["*"]}],"Version":"1"}' }))
    end)

    it("assumes only the roles of the sts_roles setting when it lists any (NoPermission)", function()
      local other = "acs:ram::1234567890123456:role/other"
      assert.are.equal(200, (E.control("POST", "config", { sts_roles = { E.ROLE_ARN } })))
      is_temporary(assume())
      local res = E.assume_role({ RoleArn = other })
      assert.are.equal(403, res.status)
      assert.are.equal("NoPermission", code(res))
      assert.are.equal(400, (E.control("POST", "config", { sts_roles = { "not-an-arn" } })))
      E.control("POST", "config", { sts_roles = {} })
      is_temporary(assume({ RoleArn = other }))
    end)

    it("may be called with temporary keys (chained roles), which need their SecurityToken", function()
      local c = assume()
      local c2 = assume(nil, E.keys_of(c))
      is_temporary(c2)
      assert.are_not.equal(c.AccessKeyId, c2.AccessKeyId)
      assert.are.equal(200, ecs_with(c2).status)
      local res = E.assume_role(nil, { id = c.AccessKeyId, secret = c.AccessKeySecret })
      assert.are.equal("MissingSecurityToken", code(res))
      -- and the static STS pair of the access key file too
      is_temporary(assume(nil, { id = "STS.testid", secret = "stssecret", token = "ststoken" }))
    end)

    it("routes by Version: other STS actions are refused, ECS actions are untouched", function()
      local res = E.send(E.sts_prepare("GetCallerIdentity", {}))
      assert.are.equal(501, res.status)
      assert.are.equal("Emulator.ActionNotSimulated", code(res))
      res = E.send(E.sts_prepare("DescribeRegions", {}))
      assert.are.equal(404, res.status)
      assert.are.equal("InvalidAction.NotFound", code(res))
      res = E.call("AssumeRole", { RoleArn = E.ROLE_ARN, RoleSessionName = "ecs" })
      assert.are.equal("InvalidAction", code(res))
      assert.are.equal(200, E.call("DescribeRegions", {}).status)
    end)
  end)

  describe("AssumeRoleWithOIDC", function()
    it("unsigned, accepts a token of the configured file and returns keys ECS actions accept", function()
      local t0 = now()
      local c, body = oidc()
      is_temporary(c)
      assert.is_true(math.abs(E.epoch(c.Expiration) - (t0 + 3600)) <= 2, c.Expiration)
      assert.are.equal(E.ROLE_ARN .. "/emulator-spec", body.AssumedRoleUser.Arn)
      assert.is_string(body.OIDCTokenInfo.Subject)
      assert.are.equal(200, ecs_with(c).status)
      assert.are.equal(200, ecs_with(c, { v = "v3" }).status)
      local last = E.last("AssumeRoleWithOIDC")
      assert.are.equal("none", last.signature_version)
      assert.are.equal(E.OIDC_TOKEN, last.params.OIDCToken)
    end)

    it("shows the claims of a JWT-shaped token and ignores the newline of a token file", function()
      local _, j = E.control("GET", "config")
      local jwt
      for _, t in ipairs(j.oidc_tokens) do if t:find("^eyJ") then jwt = t end end
      assert.is_string(jwt)
      local _, body = oidc({ OIDCToken = jwt .. "\n", DurationSeconds = "1200" })
      assert.are.equal("system:serviceaccount:default:emulator", body.OIDCTokenInfo.Subject)
      assert.are.equal("https://oidc.emulator.invalid", body.OIDCTokenInfo.Issuer)
      assert.are.equal("sts.aliyuncs.com", body.OIDCTokenInfo.ClientIds)
    end)

    it("refuses other tokens, an empty token, a provider of another account, malformed parameters", function()
      local cases = {
        { { OIDCToken = "forged" }, 401, "AuthenticationFail.OIDCToken.Invalid" },
        { { OIDCToken = false }, 401, "AuthenticationFail.OIDCToken.Invalid" },
        { { OIDCToken = "  " }, 401, "AuthenticationFail.OIDCToken.Invalid" },
        { { OIDCProviderArn = "acs:ram::999:oidc-provider/emulator" }, 401, "AuthenticationFail.NoPermission" },
        { { OIDCProviderArn = false }, 400, "MissingParameter.OIDCProviderArn" },
        { { OIDCProviderArn = "acs:ram::123:role/x" }, 400, "InvalidParameter.OIDCProviderArn" },
        { { RoleArn = "nope" }, 400, "InvalidParameter.RoleArn" },
        { { RoleSessionName = false }, 400, "MissingParameter.RoleSessionName" },
        { { DurationSeconds = "60" }, 400, "InvalidParameter.DurationSeconds" },
      }
      for _, case in ipairs(cases) do
        local res = E.assume_role_oidc(case[1])
        assert.are.equal(case[3], code(res), cjson.encode(case[1]) .. " -> " .. res.body)
        assert.are.equal(case[2], res.status)
        assert.are.equal("sts.aliyuncs.com", res.json.HostId)
      end
      E.control("POST", "config", { sts_roles = { "acs:ram::1234567890123456:role/other" } })
      assert.are.equal("AuthenticationFail.NoPermission", code(E.assume_role_oidc()))
    end)

    it("accepts the tokens set through the control API instead of the file's", function()
      local st, j = E.control("POST", "config", { oidc_tokens = { "rotated-1", "rotated-2" } })
      assert.are.equal(200, st)
      assert.are.same({ "rotated-1", "rotated-2" }, j.oidc_tokens)
      is_temporary(oidc({ OIDCToken = "rotated-2" }))
      assert.are.equal("AuthenticationFail.OIDCToken.Invalid", code(E.assume_role_oidc()))
      assert.are.equal(400, (E.control("POST", "config", { oidc_tokens = { 1 } })))
      E.reset()
      is_temporary(oidc())
    end)
  end)

  describe("temporary keys", function()
    it("expire after the sts_lifetime setting: InvalidSecurityToken.Expired (v1 and v3)", function()
      local st, j = E.control("POST", "config", { sts_lifetime = 2 })
      assert.are.equal(200, st)
      assert.are.equal(2, j.sts_lifetime)
      local t0 = now()
      local c = assume() -- DurationSeconds 3600, overridden
      local exp = E.epoch(c.Expiration)
      assert.is_true(exp >= t0 + 2 and exp <= now() + 3, c.Expiration)
      assert.are.equal(200, ecs_with(c).status)
      local o = oidc({ DurationSeconds = "1" }) -- small values are accepted while overridden
      assert.is_true(E.epoch(o.Expiration) <= now() + 3, o.Expiration)
      assert.truthy(E.wait(function() return os.time() >= exp + 1 end, 6))
      for _, v in ipairs { "v1", "v3" } do
        local res = ecs_with(c, { v = v })
        assert.are.equal(400, res.status)
        assert.are.equal("InvalidSecurityToken.Expired", code(res), res.body)
      end
      assert.are.equal("InvalidSecurityToken.Expired", code(ecs_with(o)))
      assert.are.equal("InvalidSecurityToken.Expired", code(E.assume_role(nil, E.keys_of(c))))
      -- 0 gives DurationSeconds back its say
      E.control("POST", "config", { sts_lifetime = 0 })
      assert.are.equal("InvalidParameter.DurationSeconds", code(E.assume_role({ DurationSeconds = "2" })))
    end)

    it("refuse a missing or another key's SecurityToken", function()
      local a, b = assume(), assume()
      for _, v in ipairs { "v1", "v3" } do
        assert.are.equal("MissingSecurityToken",
          code(E.call("DescribeRegions", {}, { v = v, id = a.AccessKeyId, secret = a.AccessKeySecret })))
        assert.are.equal("InvalidSecurityToken.MismatchWithAccessKey",
          code(ecs_with({ AccessKeyId = a.AccessKeyId, AccessKeySecret = a.AccessKeySecret,
            SecurityToken = b.SecurityToken }, { v = v })))
        assert.are.equal("SignatureDoesNotMatch",
          code(ecs_with({ AccessKeyId = a.AccessKeyId, AccessKeySecret = b.AccessKeySecret,
            SecurityToken = a.SecurityToken }, { v = v })))
      end
    end)

    it("are expired at once by POST /__emulator/expire-keys (an early revocation)", function()
      local c = assume()
      local m = E.metadata(E.METADATA_CREDENTIALS .. "EcsRamRoleTest", token()).json
      assert.are.equal(200, ecs_with(c).status)
      local st, j = E.control("POST", "expire-keys")
      assert.are.equal(200, st)
      assert.are.equal(2, j.expired)
      assert.are.equal("InvalidSecurityToken.Expired", code(ecs_with(c)))
      assert.are.equal("InvalidSecurityToken.Expired", code(ecs_with(m)))
      -- the next ones are fine, and the metadata service hands out a new pair
      assert.are.equal(200, ecs_with(assume()).status)
      local m2 = E.metadata(E.METADATA_CREDENTIALS .. "EcsRamRoleTest", token()).json
      assert.are_not.equal(m.AccessKeyId, m2.AccessKeyId)
      assert.are.equal(200, ecs_with(m2).status)
      assert.are.equal(405, (E.control("GET", "expire-keys")))
    end)

    it("are forgotten by a reset", function()
      local c = assume()
      E.reset()
      assert.are.equal("InvalidAccessKeyId.NotFound", code(ecs_with(c)))
    end)
  end)

  describe("metadata service", function()
    it("token flow: PUT a token, read the role name, then the role's keys (Code Success)", function()
      local tok = token()
      assert.matches("^%w+$", tok)
      local last = E.last("metadata")
      assert.are.equal("PUT", last.method)
      assert.are.equal("60", last.params.ttl)
      local res = E.metadata(E.METADATA_CREDENTIALS, tok)
      assert.are.equal(200, res.status)
      assert.are.equal("EcsRamRoleTest", res.body)
      res = E.metadata(E.METADATA_CREDENTIALS .. "EcsRamRoleTest", tok)
      assert.are.equal(200, res.status)
      local c = res.json
      assert.are.equal("Success", c.Code)
      is_temporary(c)
      assert.is_number(E.epoch(c.LastUpdated))
      assert.is_true(E.epoch(c.Expiration) >= now() + 6 * 3600 - 5, c.Expiration)
      assert.are.equal(200, ecs_with(c).status)
      assert.are.equal(200, ecs_with(c, { v = "v3" }).status)
      local s = E.stats()
      assert.are.equal(1, s.metadata["/latest/api/token"])
      assert.are.equal(1, s.metadata[E.METADATA_CREDENTIALS])
      assert.are.equal(1, s.metadata[E.METADATA_CREDENTIALS .. "EcsRamRoleTest"])
      assert.are.equal(0, s.metadata_tokenless)
      assert.are.equal("present", E.last("metadata").params.token)
    end)

    it("answers without a token while imdsv1 is on, 401 once it is off; 401 for a wrong or expired token", function()
      local res = E.metadata(E.METADATA_CREDENTIALS .. "EcsRamRoleTest")
      assert.are.equal(200, res.status)
      assert.are.equal("Success", res.json.Code)
      assert.are.equal(1, E.stats().metadata_tokenless)
      assert.are.equal(401, E.metadata(E.METADATA_CREDENTIALS, "not-a-token").status)
      local short = E.metadata_token(1).body
      assert.are.equal(200, E.metadata(E.METADATA_CREDENTIALS, short).status)
      sleep(1.2)
      assert.are.equal(401, E.metadata(E.METADATA_CREDENTIALS, short).status)
      assert.are.equal(200, (E.control("POST", "config", { imdsv1 = false })))
      assert.are.equal(401, E.metadata(E.METADATA_CREDENTIALS).status)
      assert.are.equal(200, E.metadata(E.METADATA_CREDENTIALS, token()).status)
      assert.are.equal(400, (E.control("POST", "config", { imdsv1 = "no" })))
    end)

    it("wants a TTL of 1..21600 seconds and a PUT for the token", function()
      assert.are.equal(400, E.metadata_token(nil).status)
      assert.are.equal(400, E.metadata_token(0).status)
      assert.are.equal(400, E.metadata_token(21601).status)
      assert.are.equal(200, E.metadata_token(21600).status)
      assert.are.equal(405, E.metadata("/latest/api/token").status)
    end)

    it("serves the role of the role_name setting; 404 for another role, or with none attached", function()
      assert.are.equal(404, E.metadata(E.METADATA_CREDENTIALS .. "OtherRole", token()).status)
      assert.are.equal(404, E.metadata("/latest/meta-data/instance-id", token()).status)
      assert.are.equal(200, (E.control("POST", "config", { role_name = "OtherRole" })))
      assert.are.equal("OtherRole", E.metadata(E.METADATA_CREDENTIALS, token()).body)
      assert.are.equal(200, E.metadata(E.METADATA_CREDENTIALS .. "OtherRole", token()).status)
      assert.are.equal(404, E.metadata(E.METADATA_CREDENTIALS .. "EcsRamRoleTest", token()).status)
      E.control("POST", "config", { role_name = "" })
      assert.are.equal(404, E.metadata(E.METADATA_CREDENTIALS, token()).status)
      assert.are.equal(400, (E.control("POST", "config", { role_name = "no spaces" })))
    end)

    it("hands out the same keys while more than half their lifetime remains, then new ones that expire", function()
      E.control("POST", "config", { sts_lifetime = 2 })
      local path = E.METADATA_CREDENTIALS .. "EcsRamRoleTest"
      local a = E.metadata(path, token()).json
      local a2 = E.metadata(path, token()).json
      assert.are.equal(a.AccessKeyId, a2.AccessKeyId)
      assert.is_true(E.epoch(a.Expiration) <= now() + 3, a.Expiration)
      sleep(1.6)
      local b = E.metadata(path, token()).json
      assert.are_not.equal(a.AccessKeyId, b.AccessKeyId)
      assert.truthy(E.wait(function() return os.time() >= E.epoch(a.Expiration) + 1 end, 6))
      assert.are.equal("InvalidSecurityToken.Expired", code(ecs_with(a)))
    end)
  end)

  describe("credentials URI", function()
    it("GET /__emulator/credentials-uri returns temporary keys with Code Success", function()
      local res = E.http("GET", E.endpoint .. E.CREDENTIALS_URI)
      assert.are.equal(200, res.status)
      assert.matches("application/json", res.headers["content-type"])
      assert.are.equal("Success", res.json.Code)
      is_temporary(res.json)
      assert.are.equal(200, ecs_with(res.json).status)
      assert.are.equal(1, E.stats().credentials_uri)
      E.control("POST", "config", { sts_lifetime = 2 })
      local c = E.http("GET", E.endpoint .. E.CREDENTIALS_URI).json
      assert.are_not.equal(res.json.AccessKeyId, c.AccessKeyId)
      assert.is_true(E.epoch(c.Expiration) <= now() + 3, c.Expiration)
    end)
  end)

  describe("stats and faults", function()
    it("count STS requests per action with their results, metadata requests per path; reset clears", function()
      assume()
      assume()
      E.assume_role({ RoleArn = "bad" })
      oidc()
      E.assume_role_oidc({ OIDCToken = "forged" })
      E.metadata_token(60)
      E.http("GET", E.endpoint .. E.CREDENTIALS_URI)
      E.call("DescribeRegions", {})
      local s = E.stats()
      assert.are.same({ AssumeRole = 3, AssumeRoleWithOIDC = 2 }, s.sts)
      assert.are.same({ OK = 2, ["InvalidParameter.RoleArn"] = 1 }, s.sts_results.AssumeRole)
      assert.are.same({ OK = 1, ["AuthenticationFail.OIDCToken.Invalid"] = 1 }, s.sts_results.AssumeRoleWithOIDC)
      assert.are.same({ ["/latest/api/token"] = 1 }, s.metadata)
      assert.are.equal(1, s.credentials_uri)
      -- ECS counters stay ECS's
      assert.are.equal(1, s.total_requests)
      assert.are.same({ DescribeRegions = 1 }, s.requests)
      E.control("DELETE", "stats")
      s = E.stats()
      assert.are.same({}, s.sts)
      assert.are.same({}, s.metadata)
      assume()
      E.reset()
      assert.are.same({}, E.stats().sts)
    end)

    it("faults fire on STS actions and metadata paths only when they name them", function()
      E.control("POST", "faults", { action = "*", kind = "503" })
      assert.are.equal(503, E.call("DescribeRegions", {}).status)
      is_temporary(assume())
      is_temporary(oidc())
      assert.are.equal(200, E.metadata_token(60).status)
      E.control("PUT", "faults", { faults = {
        { action = "AssumeRole", kind = "503", count = 1 },
        { action = "metadata", kind = "500", count = 1 },
        { action = "credentials-uri", kind = "503", count = 1 },
      } })
      local res = E.assume_role()
      assert.are.equal(503, res.status)
      assert.are.equal("ServiceUnavailable", code(res))
      is_temporary(assume())
      assert.are.equal(500, E.metadata_token(60).status)
      assert.are.equal(200, E.metadata_token(60).status)
      assert.are.equal(503, E.http("GET", E.endpoint .. E.CREDENTIALS_URI).status)
      assert.are.equal(200, E.http("GET", E.endpoint .. E.CREDENTIALS_URI).status)
      E.control("PUT", "faults", { action = "/latest/api/token", kind = "503", count = 1 })
      assert.are.equal(200, E.metadata(E.METADATA_CREDENTIALS).status)
      assert.are.equal(503, E.metadata_token(60).status)
      local s = E.stats()
      assert.are.same({ OK = 2, ServiceUnavailable = 1 }, s.sts_results.AssumeRole)
    end)

    it("quotas apply to an STS action only when they name it", function()
      E.control("POST", "quotas", { action = "*", rate = 0, burst = 1 })
      assume()
      assume()
      E.control("PUT", "quotas", { quotas = { AssumeRole = { rate = 0, burst = 1 } } })
      assume()
      local res = E.assume_role()
      assert.are.equal("Throttling.User", code(res))
    end)
  end)

  describe("settings at start", function()
    local started = {}
    after_each(function()
      for _, port in ipairs(started) do E.sh(E.shq(E.CLI) .. " stop --port " .. port .. " >/dev/null 2>&1") end
      started = {}
    end)

    it("--sts-lifetime, --oidc-tokens, --role-name, --no-imdsv1; reset goes back to them", function()
      local file = os.tmpname()
      local fh = assert(io.open(file, "w"))
      fh:write("# comment\n\n  file-token-1  \nfile-token-2\n")
      fh:close()
      local port = E.free_port()
      local out, rc = E.sh(E.shq(E.CLI) .. " start --speed 0 --port " .. port .. " --sts-lifetime 2 --oidc-tokens " ..
        E.shq(file) .. " --role-name CliRole --no-imdsv1 2>&1")
      os.remove(file)
      assert.are.equal(0, rc, out)
      started[#started + 1] = port
      local url = out:match("^(%S+)")
      local health = E.http("GET", url .. "/__emulator/health").json
      assert.are.same({ "file-token-1", "file-token-2" }, health.settings.oidc_tokens)
      assert.are.equal(2, health.settings.sts_lifetime)
      assert.are.equal("CliRole", health.settings.role_name)
      assert.is_false(health.settings.imdsv1)
      local t0 = now()
      local res = E.assume_role_oidc({ OIDCToken = "file-token-2" }, { endpoint = url })
      assert.are.equal(200, res.status, res.body)
      assert.is_true(E.epoch(res.json.Credentials.Expiration) <= t0 + 4)
      assert.are.equal(401, E.metadata(E.METADATA_CREDENTIALS, nil, url).status)
      local tok = E.metadata_token(60, url).body
      assert.are.equal("CliRole", E.metadata(E.METADATA_CREDENTIALS, tok, url).body)
      E.http("POST", url .. "/__emulator/config", { ["Content-Type"] = "application/json" },
        '{"sts_lifetime":0,"imdsv1":true,"role_name":"x"}')
      E.http("POST", url .. "/__emulator/reset")
      health = E.http("GET", url .. "/__emulator/health").json
      assert.are.equal(2, health.settings.sts_lifetime)
      assert.are.equal("CliRole", health.settings.role_name)
      assert.is_false(health.settings.imdsv1)
    end)

    it("rejects bad values", function()
      for _, opt in ipairs { "--sts-lifetime 1.5", "--sts-lifetime x", "--oidc-tokens /nonexistent/file",
        "--role-name 'a b'" } do
        local out, rc = E.sh(E.shq(E.CLI) .. " start --port " .. E.free_port() .. " " .. opt .. " 2>&1")
        assert.are_not.equal(0, rc, opt)
        assert.matches(opt:match("^(%S+)"), out, 1, true)
      end
    end)
  end)

  describe("the official Node.js credentials library (@alicloud/credentials)", function()
    local DIR = E.ROOT .. "/spec/conformance"
    local SCRIPT = [[
const P = (m) => require('@alicloud/credentials/dist/src/providers/' + m).default;
const Ecs = require('@alicloud/ecs20140526');
const { $OpenApiUtil } = require('@alicloud/openapi-core');
const [host, httpUrl, tokenFile, roleArn, providerArn] = process.argv.slice(2);
const out = {};
async function attempt(name, fn) {
  try { out[name] = { ok: true, value: await fn() }; }
  catch (e) { out[name] = { ok: false, message: String(e && e.message || e).slice(0, 400) }; }
}
async function describe(c) {
  const cfg = new $OpenApiUtil.Config({ accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret,
    securityToken: c.securityToken, endpoint: host, protocol: 'https', regionId: 'cn-hangzhou' });
  return (await new Ecs.default(cfg).describeRegions(new Ecs.DescribeRegionsRequest({}))).body.regions.region.length;
}
(async () => {
  await attempt('ram_role_arn', async () => {
    const src = P('static_ak').builder().withAccessKeyId('testid').withAccessKeySecret('testsecret').build();
    const p = P('ram_role_arn').builder().withCredentialsProvider(src).withRoleArn(roleArn)
      .withRoleSessionName('node-sdk').withExternalId('abcd-1234').withDurationSeconds(900)
      .withPolicy('{"Statement":[{"Action":["*"],"Effect":"Allow","Resource":["*"]}],"Version":"1"}')
      .withStsEndpoint(host).build();
    const c = await p.getCredentials();
    return { id: c.accessKeyId, provider: c.providerName, regions: await describe(c) };
  });
  await attempt('ram_role_arn_wrong_secret', async () => {
    const src = P('static_ak').builder().withAccessKeyId('testid').withAccessKeySecret('wrong').build();
    await P('ram_role_arn').builder().withCredentialsProvider(src).withRoleArn(roleArn).withStsEndpoint(host).build().getCredentials();
  });
  await attempt('oidc', async () => {
    const p = P('oidc_role_arn').builder().withOIDCProviderArn(providerArn).withRoleArn(roleArn)
      .withOIDCTokenFilePath(tokenFile).withRoleSessionName('node-oidc').withStsEndpoint(host).build();
    const c = await p.getCredentials();
    return { id: c.accessKeyId, regions: await describe(c) };
  });
  await attempt('uri', async () => {
    const c = await P('uri').builder().withCredentialsURI(httpUrl + '/__emulator/credentials-uri').build().getCredentials();
    return { id: c.accessKeyId, token: c.securityToken.length };
  });
  console.log(JSON.stringify(out));
})();
]]
    local port, results

    setup(function()
      local _, present = E.sh("test -d " .. E.shq(DIR .. "/node_modules/@alicloud/credentials") ..
        " && test -d " .. E.shq(DIR .. "/node_modules/@alicloud/ecs20140526"))
      if present ~= 0 then
        local out, rc = E.sh("cd " .. E.shq(DIR) .. " && npm ci --no-audit --no-fund --ignore-scripts 2>&1")
        assert(rc == 0, "npm ci in spec/conformance failed:\n" .. out)
      end
      port = E.free_port()
      local out, rc = E.sh(E.shq(E.CLI) .. " start --tls --speed 0 --port " .. port .. " 2>&1")
      assert(rc == 0, out)
      local url = out:match("^(%S+)")
      local ca = out:match("ca_file=(%S+)")
      local script, tokens = os.tmpname(), os.tmpname()
      local fh = assert(io.open(script, "w")); fh:write(SCRIPT); fh:close()
      fh = assert(io.open(tokens, "w")); fh:write(E.OIDC_TOKEN .. "\n"); fh:close()
      local cmd = "NODE_PATH=" .. E.shq(DIR .. "/node_modules") .. " NODE_EXTRA_CA_CERTS=" .. E.shq(ca) ..
        " node " .. E.shq(script) .. " " .. E.shq(url:gsub("^https://", "")) .. " " .. E.shq(E.endpoint) .. " " ..
        E.shq(tokens) .. " " .. E.shq(E.ROLE_ARN) .. " " .. E.shq(E.OIDC_PROVIDER_ARN) .. " 2>&1"
      local res, rc2 = E.sh(cmd)
      os.remove(script)
      os.remove(tokens)
      assert(rc2 == 0, "node failed:\n" .. res)
      results = cjson.decode(res:match("(%b{})%s*$"))
    end)

    teardown(function()
      if port then E.sh(E.shq(E.CLI) .. " stop --port " .. port .. " >/dev/null 2>&1") end
    end)

    local function ok(name)
      local r = results[name]
      assert(r and r.ok, name .. ": " .. cjson.encode(r))
      return r.value
    end

    it("RAM role ARN (AssumeRole signed over query + form) gives keys the official ECS SDK uses", function()
      local v = ok("ram_role_arn")
      assert.matches("^STS%.", v.id)
      assert.are.equal("ram_role_arn/static_ak", v.provider)
      assert.is_true(v.regions > 10)
      -- the library recognises the emulator's SignatureDoesNotMatch message
      assert.is_false(results.ram_role_arn_wrong_secret.ok)
      assert.matches("the access key secret is invalid", results.ram_role_arn_wrong_secret.message, 1, true)
    end)

    it("OIDC role ARN (unsigned AssumeRoleWithOIDC, token file with a newline)", function()
      local v = ok("oidc")
      assert.matches("^STS%.", v.id)
      assert.is_true(v.regions > 10)
    end)

    it("credentials URI", function()
      local v = ok("uri")
      assert.matches("^STS%.", v.id)
      assert.is_true(v.token > 100)
    end)
  end)
end)

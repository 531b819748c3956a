-- Each fetching provider against a throwaway loopback stub (spec/support/lua_stub.lua): STS
-- AssumeRole and AssumeRoleWithOIDC, the instance metadata service, a credentials URI, a command;
-- and the transport's PUT. Every fetch goes to 127.0.0.1; the real endpoints appear only in unit
-- assertions.
local ecs = require "ecs"
local credentials = require "ecs.credentials"
local lua_stub = require "support.lua_stub"
local cjson = require "cjson"

local function noenv() return nil end


local function tmpfile(content)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(content)
  f:close()
  return path
end

local function base()
  return credentials.static { access_key_id = "LTAIbase0001", access_key_secret = "base-secret-0001" }
end

local function no_secret_in(text)
  for _, s in ipairs { "base-secret", "-secret-", "role-token", "md-token", "oidc-token-value" } do
    assert.is_nil(text:find(s, 1, true), "a secret in: " .. text)
  end
end

describe("credentials providers", function()

  local stub
  setup(function()
    stub = lua_stub.start {
      ["/sts/"] = 'require("stub").sts()',
      ["/latest/"] = 'require("stub").metadata()',
      ["= /uri"] = 'require("stub").uri()',
      ["= /echo"] = [[ngx.req.read_body()
        ngx.print(ngx.req.get_method(), " [", ngx.req.get_body_data() or "", "] ",
          ngx.var.http_content_length or "-")]],
    }
  end)
  teardown(function() stub.stop() end)
  before_each(function() stub.reset() end)

  describe("ram_role_arn", function()
    local function role(opts)
      opts.sts_endpoint = opts.sts_endpoint or (stub.url .. "/sts")
      opts.getenv = opts.getenv or noenv
      return credentials.ram_role_arn(opts)
    end

    it("assumes the role with AssumeRole, signed v1 with the source's key, once while valid", function()
      local p = role { source = base(), role_arn = "acs:ram::1234:role/ops", session_name = "nightly",
        duration = 900, policy = '{"Version":"1"}', external_id = "ext-1" }
      local c1, c2 = ecs.run(function() return p:get(), p:get() end)
      assert.are.equal(c1, c2)
      assert.matches("^STS%.role%d+$", c1.access_key_id)
      assert.is_string(c1.security_token)
      assert.is_true(math.abs(c1.expiration - (os.time() + 900)) <= 2)
      assert.are.equal(1, stub.count("sts"))
      local sent = cjson.decode(stub.get("sts_last"))
      assert.are.same({ method = "POST", action = "AssumeRole", RoleArn = "acs:ram::1234:role/ops",
        RoleSessionName = "nightly", DurationSeconds = "900", Policy = '{"Version":"1"}', ExternalId = "ext-1",
        AccessKeyId = "LTAIbase0001", has_signature = true, has_token = false, in_query = false }, sent)
      assert.matches("ram_role_arn acs:ram::1234:role/ops", tostring(p), 1, true)
    end)

    it("chains: sends the source's token, and refreshes a source the service refused, once", function()
      local inner = role { source = base(), role_arn = "acs:ram::1234:role/first" }
      local outer = role { source = inner, role_arn = "acs:ram::1234:role/second" }
      local c = ecs.run(function() return assert(outer:get()) end)
      assert.are.equal(2, stub.count("sts"))
      assert.is_true(cjson.decode(stub.get("sts_last")).has_token)
      stub.revoke() -- every token so far is now expired at the service
      outer:invalidate(c)
      local c2, err = ecs.run(function() return outer:get() end)
      assert.is_nil(err)
      assert.are_not.equal(c, c2)
      -- outer refused (the source's token expired), the source refreshed, outer again
      assert.are.equal(5, stub.count("sts"))
    end)

    it("fails with Credentials.RefreshFailed carrying the service's error, and no secret", function()
      stub.set("sts_fail", "403")
      local p = role { source = base(), role_arn = "acs:ram::1234:role/ops" }
      local c, err = ecs.run(function() return p:get() end)
      assert.is_nil(c)
      assert.are.equal("Credentials.RefreshFailed", err.code)
      assert.are.equal("NoPermission", err.service_code)
      assert.matches("NoPermission: stub: refusing on purpose (action AssumeRole, HTTP 403", err.message, 1, true)
      assert.matches("ram_role_arn acs:ram::1234:role/ops", tostring(err), 1, true)
      assert.are.equal(1, stub.count("sts")) -- a refusal is not tried again
      no_secret_in(tostring(err))
    end)

    it("retries a failing STS, then reports the transport's error when it cannot connect", function()
      stub.set("sts_fail", "500")
      local p = role { source = base(), role_arn = "acs:ram::1234:role/ops" }
      local _, err = ecs.run(function() return p:get() end)
      assert.are.equal("InternalError", err.service_code)
      assert.are.equal(require("ecs.credentials.refresh").FETCH_TRIES, stub.count("sts"))
      local closed = role { source = base(), role_arn = "acs:ram::1234:role/ops",
        sts_endpoint = "http://127.0.0.1:9", connect_timeout = 0.5, timeout = 1 }
      local _, err2 = ecs.run(function() return closed:get() end)
      assert.matches("Transport.ConnectFailed", err2.message, 1, true)
      assert.is_nil(err2.service_code) -- no reply came
      assert.matches("cannot connect to 127.0.0.1:9", tostring(err2), 1, true)
    end)

    it("finds its endpoint as the official libraries do, and checks its options", function()
      local function endpoint(opts, vars)
        opts.source, opts.role_arn = base(), "acs:ram::1:role/r"
        opts.getenv = function(n) return (vars or {})[n] end
        return credentials.ram_role_arn(opts).endpoint
      end
      assert.are.equal("https://sts.aliyuncs.com", endpoint {})
      assert.are.equal("https://sts.cn-shanghai.aliyuncs.com", endpoint { sts_region = "cn-shanghai" })
      assert.are.equal("https://sts-vpc.cn-beijing.aliyuncs.com",
        endpoint({}, { ALIBABA_CLOUD_STS_REGION = "cn-beijing", ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED = "true" }))
      assert.are.equal("http://127.0.0.1:1234",
        endpoint({}, { ALIBABA_CLOUD_STS_ENDPOINT = "http://127.0.0.1:1234/", ALIBABA_CLOUD_STS_REGION = "x" }))
      assert.are.equal("https://sts.example.internal", endpoint { sts_endpoint = "sts.example.internal" })
      local p = credentials.ram_role_arn { source = base(), getenv = function(n)
        return ({ ALIBABA_CLOUD_ROLE_ARN = "acs:ram::9:role/env", ALIBABA_CLOUD_ROLE_SESSION_NAME = "envsess" })[n]
      end }
      assert.are.equal("acs:ram::9:role/env", p.role_arn)
      assert.are.equal("envsess", p.session_name)
      assert.are.equal(3600, p.duration)
      assert.matches("^lua%-ecs%-%d+$", credentials.ram_role_arn { source = base(), role_arn = "acs:ram::1:role/r",
        getenv = noenv }.session_name)
      for _, case in ipairs {
        { { role_arn = "acs:ram::1:role/r" }, "source: required" },
        { { source = {}, role_arn = "acs:ram::1:role/r" }, "source: expected a credentials provider" },
        { { source = base(), role_arn = "arn:aws:iam::1:role/r" }, "role_arn: expected a RAM role ARN" },
        { { source = base(), role_arn = "acs:ram::1:role/r", duration = 60 }, "duration: expected whole seconds" },
        { { source = base(), role_arn = "acs:ram::1:role/r", session_name = "a b" }, "session_name: expected" },
        { { source = base(), role_arn = "acs:ram::1:role/r", sts_endpoint = "ftp://x" }, "sts_endpoint: expected an http" },
        { { source = base(), role_arn = "acs:ram::1:role/r", timeout = -1 }, "timeout: expected seconds" },
      } do
        case[1].getenv = noenv
        local ok, err = pcall(credentials.ram_role_arn, case[1])
        assert.is_false(ok)
        assert.matches(case[2], err, 1, true)
      end
    end)
  end)

  describe("oidc", function()
    it("assumes the role with the token file's token, unsigned, re-reading the file at each refresh", function()
      local file = tmpfile("oidc-token-value-A\n")
      stub.set("oidc_token", "oidc-token-value-A")
      local p = credentials.oidc { role_arn = "acs:ram::1234:role/pod", provider_arn = "acs:ram::1234:oidc-provider/ack",
        token_file = file, session_name = "pod-1", sts_endpoint = stub.url .. "/sts", getenv = noenv }
      local c = ecs.run(function() return assert(p:get()) end)
      assert.matches("^STS%.oidc", c.access_key_id)
      local sent = cjson.decode(stub.get("sts_last"))
      assert.are.equal("AssumeRoleWithOIDC", sent.action)
      assert.are.equal("acs:ram::1234:oidc-provider/ack", sent.OIDCProviderArn)
      assert.are.equal("acs:ram::1234:role/pod", sent.RoleArn)
      assert.are.equal("pod-1", sent.RoleSessionName)
      assert.is_false(sent.has_signature)
      assert.is_true(sent.in_query) -- Action and the other common parameters in the query
      assert.are.equal("POST", sent.method)
      -- the platform rotates the token: the next refresh sends the new one
      local f = assert(io.open(file, "w"))
      f:write("oidc-token-value-B")
      f:close()
      stub.set("oidc_token", "oidc-token-value-B")
      p:invalidate(c)
      local c2, err = ecs.run(function() return p:get() end)
      assert.is_nil(err)
      assert.are_not.equal(c, c2)
      os.remove(file)
      local _, err2 = ecs.run(function()
        p:invalidate(c2)
        return p:get()
      end)
      assert.matches("Credentials.Unreadable", err2.message, 1, true)
      assert.matches("cannot read the OIDC token file", tostring(err2), 1, true)
      no_secret_in(tostring(err2))
    end)

    it("reads the three environment variables, and names the one missing", function()
      local vars = { ALIBABA_CLOUD_ROLE_ARN = "acs:ram::1:role/r", ALIBABA_CLOUD_OIDC_PROVIDER_ARN = "acs:ram::1:oidc-provider/p",
        ALIBABA_CLOUD_OIDC_TOKEN_FILE = "/var/run/token", ALIBABA_CLOUD_ROLE_SESSION_NAME = "s1" }
      local p = credentials.oidc { getenv = function(n) return vars[n] end }
      assert.are.same({ "acs:ram::1:role/r", "acs:ram::1:oidc-provider/p", "/var/run/token", "s1", "https://sts.aliyuncs.com" },
        { p.role_arn, p.provider_arn, p.token_file, p.session_name, p.endpoint })
      vars.ALIBABA_CLOUD_OIDC_TOKEN_FILE = nil
      assert.has_error(function() credentials.oidc { getenv = function(n) return vars[n] end } end,
        "token_file: required (or set ALIBABA_CLOUD_OIDC_TOKEN_FILE)")
    end)
  end)

  describe("ecs_ram_role", function()
    local function md(opts)
      opts.metadata_endpoint = opts.metadata_endpoint or stub.url
      opts.getenv = opts.getenv or noenv
      return credentials.ecs_ram_role(opts)
    end

    it("defaults to the metadata address with 1 s to connect, and reads the environment", function()
      local p = credentials.ecs_ram_role { getenv = noenv }
      assert.are.equal("http://100.100.100.200", p.endpoint)
      assert.are.equal(1, p.transfer.connect_timeout)
      assert.is_nil(p.role_name)
      assert.is_false(p.disable_imds_v1)
      local q = credentials.ecs_ram_role { getenv = function(n)
        return ({ ALIBABA_CLOUD_ECS_METADATA = "web", ALIBABA_CLOUD_IMDSV1_DISABLED = "true",
          ALIBABA_CLOUD_ECS_METADATA_ENDPOINT = "http://127.0.0.1:8" })[n]
      end }
      assert.are.same({ "web", true, "http://127.0.0.1:8" }, { q.role_name, q.disable_imds_v1, q.endpoint })
    end)

    it("gets a metadata token with PUT, finds the role, and fetches its credentials with the token", function()
      local p = md {}
      local c = ecs.run(function() return assert(p:get()) end)
      assert.matches("^STS%.md", c.access_key_id)
      assert.is_number(c.expiration)
      assert.are.equal(1, stub.count("md_token"))
      assert.are.equal(1, stub.count("md_list"))
      assert.are.equal(2, stub.count("md_with_token"))
      assert.are.equal(0, stub.count("md_without_token"))
      assert.are.equal("stub-role", p.discovered_role)
      p:invalidate(c)
      ecs.run(function() assert(p:get()) end)
      assert.are.equal(1, stub.count("md_list")) -- the role name is kept
      local named = md { role_name = "stub-role" }
      ecs.run(function() assert(named:get()) end)
      assert.are.equal(1, stub.count("md_list"))
    end)

    it("falls back to asking without a token only while IMDSv1 is allowed", function()
      stub.set("md_token_fail", 1)
      local c = ecs.run(function() return md {}:get() end)
      assert.is_table(c)
      assert.are.equal(2, stub.count("md_without_token"))
      local strict = md { disable_imds_v1 = true }
      local none, err = ecs.run(function() return strict:get() end)
      assert.is_nil(none)
      assert.matches("IMDSv1 is disabled", tostring(err), 1, true)
      assert.are.equal(2, stub.count("md_without_token"))
    end)

    it("refuses a reply whose Code is not Success", function()
      stub.set("md_code", "Failed")
      local _, err = ecs.run(function() return md {}:get() end)
      assert.are.equal("Credentials.RefreshFailed", err.code)
      assert.matches("Code Failed", tostring(err), 1, true)
      no_secret_in(tostring(err))
    end)
  end)

  describe("uri", function()
    it("gets the credentials the URL serves, and refuses a Code other than Success", function()
      local p = credentials.uri { url = stub.url .. "/uri?token=abc" }
      local c = ecs.run(function() return assert(p:get()) end)
      assert.matches("^STS%.uri", c.access_key_id)
      assert.are.equal(1, stub.count("uri"))
      assert.is_nil(tostring(p):find("abc", 1, true)) -- the query stays out of names
      stub.set("uri_code", "Denied")
      p:invalidate(c)
      local _, err = ecs.run(function() return p:get() end)
      assert.matches("answered Code Denied", tostring(err), 1, true)
      assert.has_error(function() credentials.uri { url = "ftp://127.0.0.1/creds" } end,
        "url: expected an http or https URL")
      assert.has_error(function() credentials.uri { getenv = noenv } end,
        "ALIBABA_CLOUD_CREDENTIALS_URI: required (a URL)")
    end)
  end)

  describe("process", function()
    it("runs the command without blocking the loop and reads what it prints", function()
      local script = tmpfile([[sleep 0.3; printf '{"mode":"StsToken","access_key_id":"STS.proc","access_key_secret":"proc-secret","sts_token":"proc-token","expiration":"2099-01-01T00:00:00Z"}']])
      local p = credentials.process { command = "sh " .. script }
      local ticks = 0
      local c = ecs.run(function()
        local ticker = ecs.spawn(function()
          for _ = 1, 10 do ecs.sleep(0.02); ticks = ticks + 1 end
        end)
        local got = assert(p:get())
        ticker:wait()
        return got
      end)
      assert.are.equal(10, ticks)
      assert.are.same({ "STS.proc", "proc-secret", "proc-token", 4070908800 },
        { c.access_key_id, c.access_key_secret, c.security_token, c.expiration })
      os.remove(script)
    end)

    it("reports a failing, silent or slow command without its output", function()
      for _, case in ipairs {
        { "printf '{\"access_key_id\":\"X\",\"access_key_secret\":\"leaky-secret\"}'; exit 3", "exited with status 3" },
        { "printf 'not json'", "not a JSON object" },
        { "printf '{\"mode\":\"StsToken\",\"access_key_id\":\"X\",\"access_key_secret\":\"leaky-secret\"}'", "without sts_token" },
        { "sleep 5", "ran over its timeout" },
      } do
        local p = credentials.process { command = case[1], timeout = 0.5 }
        local _, err = ecs.run(function() return p:get() end)
        assert.are.equal("Credentials.RefreshFailed", err.code)
        assert.matches(case[2], tostring(err), 1, true)
        assert.is_nil(tostring(err):find("leaky-secret", 1, true))
      end
    end)
  end)

  describe("transport", function()
    it("sends PUT, with a body or with none, and a pooled handle forgets it", function()
      local scheduler = require "ecs.scheduler"
      local function send(req)
        local task = scheduler.current()
        req.url, req.timeout, req.connect_timeout = stub.url .. "/echo", 5, 5
        scheduler.transport():submit(req, function(r) scheduler.wake(task, r) end)
        return scheduler.suspend()
      end
      ecs.run(function()
        assert.are.equal("PUT [] 0", send({ method = "PUT" }).body)
        assert.are.equal("PUT [a=1&b=2] 7", send({ method = "PUT", body = "a=1&b=2" }).body)
        assert.are.equal("GET [] -", send({ method = "GET" }).body)
        assert.are.equal("POST [x] 1", send({ method = "POST", body = "x" }).body)
        assert.are.equal("GET [] -", send({ method = "GET" }).body)
      end)
    end)
  end)

  describe("profiles", function()
    local home
    before_each(function()
      home = os.tmpname()
      os.remove(home)
      assert(os.execute("mkdir -p '" .. home .. "/.aliyun' '" .. home .. "/.alibabacloud'"))
    end)
    after_each(function() os.execute("rm -rf '" .. home .. "'") end)

    local function write(path, text)
      local f = assert(io.open(home .. path, "w"))
      f:write(text)
      f:close()
    end

    it("CLI modes RamRoleArn, ChainableRamRoleArn, CredentialsURI and External fetch as their providers", function()
      write("/.aliyun/config.json", cjson.encode { current = "role", profiles = {
        { name = "base", mode = "AK", access_key_id = "LTAIbase0001", access_key_secret = "base-secret-0001" },
        { name = "role", mode = "RamRoleArn", access_key_id = "LTAIbase0001", access_key_secret = "base-secret-0001",
          ram_role_arn = "acs:ram::1:role/one", ram_session_name = "cli", expired_seconds = 1200,
          sts_endpoint = stub.url .. "/sts" },
        { name = "chained", mode = "ChainableRamRoleArn", source_profile = "role",
          ram_role_arn = "acs:ram::1:role/two" },
        { name = "uri", mode = "CredentialsURI", credentials_uri = stub.url .. "/uri" },
        { name = "ext", mode = "External", process_command =
          [[printf '{"mode":"AK","access_key_id":"EXT","access_key_secret":"ext-secret"}']] },
      } })
      local getenv = function(n) return ({ HOME = home })[n] end
      local p = credentials.cli_profile { getenv = getenv }
      assert.matches("profile role (ram_role_arn acs:ram::1:role/one", p.source, 1, true)
      ecs.run(function() assert(p:get()) end)
      local sent = cjson.decode(stub.get("sts_last"))
      assert.are.same({ "acs:ram::1:role/one", "cli", "1200" }, { sent.RoleArn, sent.RoleSessionName, sent.DurationSeconds })
      -- the chained profile's own STS call follows the chain's sts_endpoint option
      local chained = credentials.cli_profile { name = "chained", getenv = getenv, sts_endpoint = stub.url .. "/sts" }
      ecs.run(function() assert(chained:get()) end)
      sent = cjson.decode(stub.get("sts_last"))
      assert.are.equal("acs:ram::1:role/two", sent.RoleArn)
      assert.is_true(sent.has_token)
      assert.are.equal(3, stub.count("sts"))
      ecs.run(function() assert(credentials.cli_profile { name = "uri", getenv = getenv }:get()) end)
      assert.are.equal(1, stub.count("uri"))
      local ext = ecs.run(function() return credentials.cli_profile { name = "ext", getenv = getenv }:get() end)
      assert.are.equal("EXT", ext.access_key_id)
    end)

    it("INI types ram_role_arn and oidc_role_arn fetch as their providers", function()
      local token = tmpfile("oidc-token-value-C")
      write("/.alibabacloud/credentials", table.concat({
        "[default]", "type = ram_role_arn   # a comment", "access_key_id = LTAIbase0001",
        "access_key_secret = base-secret-0001", "role_arn = acs:ram::1:role/ini", "role_session_name = ini-s",
        "", "[pod]", "type = oidc_role_arn", "role_arn = acs:ram::1:role/pod",
        "oidc_provider_arn = acs:ram::1:oidc-provider/p", "oidc_token_file_path = " .. token,
      }, "\n"))
      local getenv = function(n) return ({ HOME = home })[n] end
      local p = credentials.ini_profile { getenv = getenv, sts_endpoint = stub.url .. "/sts" }
      ecs.run(function() assert(p:get()) end)
      local sent = cjson.decode(stub.get("sts_last"))
      assert.are.same({ "AssumeRole", "acs:ram::1:role/ini", "ini-s" }, { sent.action, sent.RoleArn, sent.RoleSessionName })
      local pod = credentials.ini_profile { name = "pod", getenv = getenv, sts_endpoint = stub.url .. "/sts" }
      ecs.run(function() assert(pod:get()) end)
      assert.are.equal("AssumeRoleWithOIDC", cjson.decode(stub.get("sts_last")).action)
      os.remove(token)
    end)

    it("the chain's EcsRamRole profile fetches from the metadata_endpoint option", function()
      write("/.aliyun/config.json", cjson.encode { current = "ecs", profiles = {
        { name = "ecs", mode = "EcsRamRole", ram_role_name = "stub-role" } } })
      local p = credentials.provider({ metadata_endpoint = stub.url }, function(n) return ({ HOME = home })[n] end)
      ecs.run(function() assert(p:get()) end)
      assert.are.equal(1, stub.count("md_creds"))
      assert.are.equal(0, stub.count("md_list"))
    end)
  end)
end)

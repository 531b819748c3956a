-- The credential providers against the emulator's STS, metadata and credentials-URI endpoints
-- (its own signature checks and key lifetimes); every fetch goes to the loopback emulator.
local ecs = require "ecs"
local cjson = require "cjson"
local emu = require "support.emulator"

local ROLE = emu.ROLE_ARN
local OIDC_PROVIDER = "acs:ram::1234567890123456:oidc-provider/emulator"
local function noenv() return nil end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- n calls through a client on the provider; returns the failures' codes
local function calls(provider, n, pause)
  local c = ecs.client { credentials = provider, endpoint = emu.endpoint, region = "cn-hangzhou" }
  local failed = {}
  ecs.run(function()
    for _ = 1, n do
      local res, err = c:call("DescribeRegions", {})
      if not res then failed[#failed + 1] = err.code end
      if pause then ecs.sleep(pause) end
    end
  end)
  return failed, c
end

describe("credential providers against the emulator", function()
  local token_file
  setup(function()
    token_file = os.tmpname()
    write(token_file, "emulator-oidc-token\n")
  end)
  teardown(function() os.remove(token_file) end)
  before_each(function() emu.reset { speed = 0 } end)

  it("ram_role_arn: AssumeRole signed with the source keys, the ECS call with the temporary ones", function()
    local p = ecs.credentials.ram_role_arn { access_key_id = "testid", access_key_secret = "testsecret",
      role_arn = ROLE, sts_endpoint = emu.endpoint, getenv = noenv }
    assert.are.same({}, (calls(p, 3)))
    local st = emu.stats()
    assert.are.equal(1, st.sts.AssumeRole)
    assert.matches("^STS%.", emu.last("DescribeRegions").params.AccessKeyId)
    assert.is_string(emu.last("DescribeRegions").params.SecurityToken)
  end)

  it("oidc: AssumeRoleWithOIDC with the token file", function()
    local p = ecs.credentials.oidc { role_arn = ROLE, provider_arn = OIDC_PROVIDER, token_file = token_file,
      sts_endpoint = emu.endpoint, getenv = noenv }
    assert.are.same({}, (calls(p, 2)))
    assert.are.equal(1, emu.stats().sts.AssumeRoleWithOIDC)
  end)

  it("ecs_ram_role: the metadata token flow, the role name, then the credentials", function()
    local p = ecs.credentials.ecs_ram_role { metadata_endpoint = emu.endpoint, getenv = noenv }
    assert.are.same({}, (calls(p, 2)))
    local md = emu.stats().metadata
    assert.are.equal(1, md["/latest/api/token"])
    assert.is_true((md["/latest/meta-data/ram/security-credentials/"] or 0) >= 1)
    assert.is_true((md["/latest/meta-data/ram/security-credentials/EcsRamRoleTest"] or 0) >= 1)
  end)

  it("uri: the credentials URI", function()
    local p = ecs.credentials.uri { url = emu.endpoint .. "/__emulator/credentials-uri" }
    assert.are.same({}, (calls(p, 2)))
    assert.is_true((emu.stats().credentials_uri or 0) >= 1)
  end)

  it("cli_profile: a RamRoleArn profile of ~/.aliyun/config.json", function()
    local path = os.tmpname()
    write(path, cjson.encode { current = "role", profiles = { {
      name = "role", mode = "RamRoleArn", access_key_id = "testid", access_key_secret = "testsecret",
      ram_role_arn = ROLE, ram_session_name = "spec", region_id = "cn-hangzhou" } } })
    local p = ecs.credentials.cli_profile { name = "role", path = path, sts_endpoint = emu.endpoint }
    local failed = calls(p, 2)
    os.remove(path)
    assert.are.same({}, failed)
    assert.are.equal(1, emu.stats().sts.AssumeRole)
  end)

  it("refreshes 2-second credentials ahead of expiry: 4 s of calls, none fails", function()
    emu.reset { speed = 0, sts_lifetime = 2 }
    local p = ecs.credentials.ram_role_arn { access_key_id = "testid", access_key_secret = "testsecret",
      role_arn = ROLE, sts_endpoint = emu.endpoint, getenv = noenv }
    local failed = calls(p, 40, 0.1)
    assert.are.same({}, failed)
    local assumed = emu.stats().sts.AssumeRole
    assert.is_true(assumed >= 2 and assumed <= 4, assumed .. " AssumeRole requests")
  end)
end)

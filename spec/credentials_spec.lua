local credentials = require "ecs.credentials"
local client_mod = require "ecs.client"
local cjson = require "cjson"

-- A temporary HOME with an aliyun CLI config, and an environment table.
local function home_with(config)
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p '" .. dir .. "/.aliyun'"))
  if config then
    local f = assert(io.open(dir .. "/.aliyun/config.json", "w"))
    f:write(type(config) == "string" and config or cjson.encode(config))
    f:close()
  end
  return dir
end

local function env(vars)
  return function(name) return vars[name] end
end

local CONFIG = {
  current = "work",
  profiles = {
    { name = "default", mode = "AK", access_key_id = "PROFILE_DEFAULT_ID", access_key_secret = "pd-secret",
      region_id = "cn-beijing" },
    { name = "work", mode = "AK", access_key_id = "PROFILE_WORK_ID", access_key_secret = "pw-secret",
      region_id = "cn-shanghai" },
    { name = "sts", mode = "StsToken", access_key_id = "STS.ID", access_key_secret = "ps-secret",
      sts_token = "the-token", region_id = "cn-shenzhen" },
    { name = "role", mode = "RamRoleArn", access_key_id = "X", access_key_secret = "Y" },
    { name = "sso", mode = "CloudSSO" },
  },
}

describe("ecs.credentials", function()
  local home
  before_each(function() home = home_with(CONFIG) end)
  after_each(function() os.execute("rm -rf '" .. home .. "'") end)

  it("prefers explicit fields over the environment and the profile", function()
    local c = credentials.resolve({ access_key_id = "EXPLICIT", access_key_secret = "e" },
      env { HOME = home, ALIBABA_CLOUD_ACCESS_KEY_ID = "ENV", ALIBABA_CLOUD_ACCESS_KEY_SECRET = "v" })
    assert.are.same({ access_key_id = "EXPLICIT", access_key_secret = "e", source = "explicit" }, c)
  end)

  it("reads the environment next, with the security token", function()
    local c = credentials.resolve({}, env {
      HOME = home, ALIBABA_CLOUD_ACCESS_KEY_ID = "ENV", ALIBABA_CLOUD_ACCESS_KEY_SECRET = "v",
      ALIBABA_CLOUD_SECURITY_TOKEN = "tok",
    })
    assert.are.same({ access_key_id = "ENV", access_key_secret = "v", security_token = "tok",
      source = "environment" }, c)
  end)

  it("ignores an incomplete environment pair and falls back to the profile", function()
    local c = credentials.resolve({}, env { HOME = home, ALIBABA_CLOUD_ACCESS_KEY_ID = "ENV" })
    assert.are.equal("PROFILE_WORK_ID", c.access_key_id)
  end)

  it("reads the CLI profile: 'current' by default, ALIBABA_CLOUD_PROFILE or the option to choose", function()
    assert.are.equal("profile work", credentials.resolve({}, env { HOME = home }).source)
    local c = credentials.resolve({}, env { HOME = home, ALIBABA_CLOUD_PROFILE = "default" })
    assert.are.equal("PROFILE_DEFAULT_ID", c.access_key_id)
    c = credentials.resolve({ profile = "sts" }, env { HOME = home, ALIBABA_CLOUD_PROFILE = "default" })
    assert.are.same({ access_key_id = "STS.ID", access_key_secret = "ps-secret", security_token = "the-token",
      source = "profile sts" }, c)
  end)

  it("raises clearly on profiles it cannot use, without their secrets", function()
    for _, case in ipairs {
      { "sso", "uses mode CloudSSO; lua-ecs reads modes AK, StsToken, RamRoleArn" },
      { "role", "is RamRoleArn mode but has no ram_role_arn" }, { "missing", "profile 'missing' not found" },
    } do
      local ok, err = pcall(credentials.resolve, { profile = case[1] }, env { HOME = home })
      assert.is_false(ok)
      assert.matches(case[2], err, 1, true)
      assert.is_nil(err:find("secret", 1, true) and err:find("-secret", 1, true))
    end
    local broken = home_with("{not json")
    local ok, err = pcall(credentials.resolve, {}, env { HOME = broken })
    os.execute("rm -rf '" .. broken .. "'")
    assert.is_false(ok)
    assert.matches("cannot parse", err)
  end)

  it("names all three sources when nothing is configured", function()
    local empty = home_with(nil)
    local ok, err = pcall(credentials.resolve, {}, env { HOME = empty })
    os.execute("rm -rf '" .. empty .. "'")
    assert.is_false(ok)
    assert.matches("access_key_id and access_key_secret", err, 1, true)
    assert.matches("ALIBABA_CLOUD_ACCESS_KEY_ID", err, 1, true)
    assert.matches(empty .. "/.aliyun/config.json", err, 1, true)
  end)

  it("requires both explicit fields when one is given", function()
    assert.has_error(function() credentials.resolve({ access_key_id = "X" }, env {}) end,
      "access_key_secret: required when access_key_id is given")
  end)

  it("gives clients a default region from the environment, then the profile", function()
    assert.are.equal("eu-central-1", credentials.default_region({}, env { HOME = home, ALIBABA_CLOUD_REGION_ID = "eu-central-1" }))
    assert.are.equal("cn-shanghai", credentials.default_region({}, env { HOME = home }))
    local c = client_mod.new({}, env { HOME = home })
    assert.are.equal("cn-shanghai", c.region)
    assert.are.equal("https://ecs.cn-shanghai.aliyuncs.com", c.endpoint)
    assert.are.equal("profile work", c.credentials_source)
  end)

  it("reads the real process environment by default", function()
    -- A child process, since this one's environment cannot be changed.
    local cmd = "ALIBABA_CLOUD_ACCESS_KEY_ID=CHILD_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET=child-secret "
      .. "ALIBABA_CLOUD_REGION_ID=us-east-1 HOME='" .. home .. "' " .. (arg and arg[-1] or "lua5.4")
      .. " -e 'local c = require(\"ecs\").client{}; io.write(c.region, \" \", c.credentials_source, \" \", tostring(c))'"
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    assert.matches("^us%-east%-1 environment ecs%.client{", out)
    assert.is_nil(out:find("child-secret", 1, true))
  end)
end)

-- The default chain's order and its choices, from configuration alone: no provider here fetches
-- (the default endpoints appear only in assertions).
describe("the default credentials chain", function()
  local home, dmi
  local function write(path, text)
    local f = assert(io.open(path, "w"))
    f:write(text)
    f:close()
  end
  before_each(function()
    home = home_with(nil)
    assert(os.execute("mkdir -p '" .. home .. "/.alibabacloud'"))
    dmi = home .. "/dmi"
    assert(os.execute("mkdir -p '" .. dmi .. "'"))
  end)
  after_each(function() os.execute("rm -rf '" .. home .. "'") end)

  local function pick(vars, opts)
    vars.HOME = vars.HOME or home
    opts = opts or {}
    opts.dmi_dir = opts.dmi_dir or dmi
    return credentials.provider(opts, env(vars))
  end

  local function everything()
    write(home .. "/.aliyun/config.json", cjson.encode { current = "cli", profiles = {
      { name = "cli", mode = "AK", access_key_id = "CLI_ID", access_key_secret = "cli-secret" } } })
    write(home .. "/.alibabacloud/credentials", "[default]\ntype = access_key\naccess_key_id = INI_ID\n"
      .. "access_key_secret = ini-secret\n")
    write(dmi .. "/sys_vendor", "Alibaba Cloud\n")
    return {
      ALIBABA_CLOUD_ACCESS_KEY_ID = "ENV_ID", ALIBABA_CLOUD_ACCESS_KEY_SECRET = "env-secret",
      ALIBABA_CLOUD_ROLE_ARN = "acs:ram::1:role/pod", ALIBABA_CLOUD_OIDC_PROVIDER_ARN = "acs:ram::1:oidc-provider/p",
      ALIBABA_CLOUD_OIDC_TOKEN_FILE = home .. "/token",
      ALIBABA_CLOUD_CREDENTIALS_URI = "http://127.0.0.1:9/creds",
    }
  end

  it("follows the order: environment, OIDC, CLI profile, INI file, ECS RAM role, credentials URI", function()
    local vars = everything()
    assert.are.equal("environment", pick(vars).source)
    vars.ALIBABA_CLOUD_ACCESS_KEY_SECRET = nil
    local p = pick(vars)
    assert.are.equal("oidc acs:ram::1:role/pod", p.source)
    assert.are.equal("https://sts.aliyuncs.com", p.endpoint)
    vars.ALIBABA_CLOUD_OIDC_PROVIDER_ARN = nil
    assert.are.equal("profile cli", pick(vars).source)
    os.remove(home .. "/.aliyun/config.json")
    assert.matches("^ini .*/%.alibabacloud/credentials %[default%]$", pick(vars).source)
    os.remove(home .. "/.alibabacloud/credentials")
    p = pick(vars)
    assert.are.equal("ecs_ram_role (the instance's role)", p.source)
    assert.are.equal("http://100.100.100.200", p.endpoint)
    os.remove(dmi .. "/sys_vendor")
    p = pick(vars)
    assert.are.equal("uri http://127.0.0.1:9/creds", p.source)
    vars.ALIBABA_CLOUD_CREDENTIALS_URI = nil
    assert.has_error(function() pick(vars) end)
  end)

  it("makes no fetch while picking: a fetching provider waits for its first use in a task", function()
    local vars = everything()
    vars.ALIBABA_CLOUD_ACCESS_KEY_ID = nil
    local p = pick(vars)
    assert.is_true(p.refreshing)
    assert.is_false(p:status().fetched)
    local c, err = p:get() -- outside a task: no fetch, an error saying so
    assert.is_nil(c)
    assert.are.equal("Credentials.NotFetched", err.code)
  end)

  it("takes the ECS RAM role only when named, or when DMI says Alibaba Cloud ECS, and never when disabled", function()
    local p = pick { ALIBABA_CLOUD_ECS_METADATA = "web-role" }
    assert.are.equal("web-role", p.role_name)
    assert.are.equal("http://100.100.100.200", p.endpoint)
    write(dmi .. "/product_name", "Alibaba Cloud ECS\n")
    assert.is_nil(pick({}).role_name)
    local ok, err = pcall(pick, { ALIBABA_CLOUD_ECS_METADATA = "web-role", ALIBABA_CLOUD_ECS_METADATA_DISABLED = "true" })
    assert.is_false(ok)
    assert.matches("ECS RAM role: disabled by ALIBABA_CLOUD_ECS_METADATA_DISABLED=true", err, 1, true)
    os.remove(dmi .. "/product_name")
    write(dmi .. "/sys_vendor", "QEMU\n")
    assert.has_error(function() pick {} end)
    -- the endpoint can be moved (VPC set-ups, tests, the emulator)
    assert.are.equal("http://127.0.0.1:9", pick({ ALIBABA_CLOUD_ECS_METADATA = "r",
      ALIBABA_CLOUD_ECS_METADATA_ENDPOINT = "http://127.0.0.1:9" }).endpoint)
    assert.are.equal("http://127.0.0.1:8", pick({ ALIBABA_CLOUD_ECS_METADATA = "r" },
      { metadata_endpoint = "http://127.0.0.1:8" }).endpoint)
  end)

  it("needs all three OIDC variables, and says which are missing", function()
    local ok, err = pcall(pick, { ALIBABA_CLOUD_ROLE_ARN = "acs:ram::1:role/pod" })
    assert.is_false(ok)
    assert.matches("OIDC: ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE not set (needs all three)",
      err, 1, true)
    local p = pick({ ALIBABA_CLOUD_ROLE_ARN = "acs:ram::1:role/pod", ALIBABA_CLOUD_OIDC_PROVIDER_ARN = "acs:ram::1:oidc-provider/p",
      ALIBABA_CLOUD_OIDC_TOKEN_FILE = "/t", ALIBABA_CLOUD_STS_ENDPOINT = "http://127.0.0.1:7" })
    assert.are.equal("http://127.0.0.1:7", p.endpoint)
  end)

  it("reads every CLI profile mode, and skips the file when ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true", function()
    write(home .. "/.aliyun/config.json", cjson.encode { current = "role", profiles = {
      { name = "ak", mode = "AK", access_key_id = "A", access_key_secret = "a-secret" },
      { name = "role", mode = "RamRoleArn", access_key_id = "A", access_key_secret = "a-secret",
        ram_role_arn = "acs:ram::1:role/r", sts_region = "cn-hangzhou" },
      { name = "chain", mode = "ChainableRamRoleArn", source_profile = "role", ram_role_arn = "acs:ram::1:role/c" },
      { name = "loop", mode = "ChainableRamRoleArn", source_profile = "loop", ram_role_arn = "acs:ram::1:role/c" },
      { name = "ecs", mode = "EcsRamRole", ram_role_name = "web" },
      { name = "oidc", mode = "OIDC", ram_role_arn = "acs:ram::1:role/o", oidc_provider_arn = "acs:ram::1:oidc-provider/p",
        oidc_token_file = "/t" },
      { name = "ext", mode = "External", process_command = "/usr/bin/cred-helper --json" },
      { name = "uri", mode = "CredentialsURI", credentials_uri = "http://127.0.0.1:9/c" },
    } })
    local p = pick {}
    assert.are.equal("https://sts.cn-hangzhou.aliyuncs.com", p.endpoint)
    assert.are.equal("acs:ram::1:role/r", p.role_arn)
    assert.are.equal("acs:ram::1:role/c", pick({}, { profile = "chain" }).role_arn)
    assert.are.equal("acs:ram::1:role/r", pick({}, { profile = "chain" }).source_provider.role_arn)
    assert.has_error(function() pick({}, { profile = "loop" }) end)
    assert.are.equal("web", pick({ ALIBABA_CLOUD_PROFILE = "ecs" }).role_name)
    assert.are.equal("acs:ram::1:oidc-provider/p", pick({}, { profile = "oidc" }).provider_arn)
    assert.are.equal("/usr/bin/cred-helper --json", pick({}, { profile = "ext" }).command)
    assert.are.equal("http://127.0.0.1:9/c", pick({}, { profile = "uri" }).url)
    local ok, err = pcall(pick, { ALIBABA_CLOUD_CLI_PROFILE_DISABLED = "true" })
    assert.is_false(ok)
    assert.matches("aliyun CLI profile: disabled by ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true", err, 1, true)
  end)

  it("reads the INI file: ALIBABA_CLOUD_CREDENTIALS_FILE, credentials or credentials.ini, a section by name", function()
    local ini = "[default]\ntype = sts\naccess_key_id = STS.I\naccess_key_secret = i-secret\nsecurity_token = \"i-token\"\n"
      .. "[off]\nenable = false\ntype = access_key\naccess_key_id = O\naccess_key_secret = o\n"
      .. "; a comment\n[role]\ntype = ecs_ram_role\nrole_name = ini-role\n"
    write(home .. "/.alibabacloud/credentials.ini", ini)
    local c = credentials.resolve({ dmi_dir = dmi }, env { HOME = home })
    assert.are.same({ access_key_id = "STS.I", access_key_secret = "i-secret", security_token = "i-token",
      source = "ini " .. home .. "/.alibabacloud/credentials.ini [default]" }, c)
    assert.are.equal("ini-role", pick({ ALIBABA_CLOUD_PROFILE = "role" }).role_name)
    local ok, err = pcall(pick, {}, { profile = "off" })
    assert.is_false(ok)
    assert.matches("has enable = false", err, 1, true)
    write(home .. "/elsewhere.ini", "[default]\ntype = access_key\naccess_key_id = ELSE\naccess_key_secret = e\n")
    assert.are.equal("ELSE", credentials.resolve({ dmi_dir = dmi },
      env { HOME = home, ALIBABA_CLOUD_CREDENTIALS_FILE = home .. "/elsewhere.ini" }).access_key_id)
    assert.has_error(function() pick { ALIBABA_CLOUD_CREDENTIALS_FILE = home .. "/nowhere" } end)
    write(home .. "/.alibabacloud/credentials", "[default]\ntype = rsa_key_pair\n")
    ok, err = pcall(pick, {})
    assert.is_false(ok)
    assert.matches("has type rsa_key_pair; lua-ecs reads types access_key", err, 1, true)
    write(home .. "/.alibabacloud/credentials", "[default]\nno equals sign\n")
    ok, err = pcall(pick, {})
    assert.matches("cannot parse .*line 2", err)
  end)

  it("raises when a profile asked for by name is in neither file", function()
    write(home .. "/.alibabacloud/credentials", "[default]\ntype = access_key\naccess_key_id = I\naccess_key_secret = i\n")
    write(dmi .. "/sys_vendor", "Alibaba Cloud\n")
    local ok, err = pcall(pick, { ALIBABA_CLOUD_PROFILE = "prod" })
    assert.is_false(ok)
    assert.matches("profile 'prod' not found (no section [prod] in", err, 1, true)
  end)

  it("raises with every source tried and why each was skipped", function()
    local ok, err = pcall(pick, {})
    assert.is_false(ok)
    for _, line in ipairs {
      "  - ecs.client options: no access_key_id and access_key_secret given",
      "  - environment: ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET are not both set",
      "  - OIDC: ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE are not set",
      "  - aliyun CLI profile: " .. home .. "/.aliyun/config.json does not exist",
      "  - INI file: " .. home .. "/.alibabacloud/credentials and " .. home .. "/.alibabacloud/credentials.ini do not exist",
      "  - ECS RAM role: ALIBABA_CLOUD_ECS_METADATA is not set and the machine is not an Alibaba Cloud ECS instance (DMI)",
      "  - credentials URI: ALIBABA_CLOUD_CREDENTIALS_URI is not set",
    } do
      assert.matches(line, err, 1, true)
    end
    -- ecs.client raises it at once
    local ok2, err2 = pcall(client_mod.new, { region = "cn-hangzhou" }, env { HOME = home })
    assert.is_false(ok2)
    assert.matches("credentials: none found", err2, 1, true)
  end)

  it("is exposed as ecs.credentials, with a constructor for every provider", function()
    local ecs = require "ecs"
    assert.are.equal(credentials, ecs.credentials)
    for _, name in ipairs { "static", "environment", "cli_profile", "ini_profile", "ram_role_arn", "oidc",
      "ecs_ram_role", "uri", "process", "chain" } do
      assert.is_function(ecs.credentials[name], name)
    end
    local s = ecs.credentials.static { access_key_id = "AK", access_key_secret = "sk-secret" }
    assert.is_true(s.static)
    assert.is_nil(tostring(s):find("sk-secret", 1, true))
    assert.has_error(function() ecs.credentials.static { access_key_id = "AK" } end,
      "access_key_secret: expected a non-empty string")
    local e = ecs.credentials.environment { getenv = env { ALIBABA_CLOUD_ACCESS_KEY_ID = "E",
      ALIBABA_CLOUD_ACCESS_KEY_SECRET = "e" } }
    assert.are.equal("environment", e.source)
    assert.has_error(function() ecs.credentials.environment { getenv = env {} } end)
  end)

  it("a chain of providers uses the first that gives credentials, from then on", function()
    local calls = 0
    local broken = { source = "broken", get = function()
      calls = calls + 1
      return nil, require("ecs.errors").new { code = "X.Failed", message = "no" }
    end, invalidate = function() end }
    local s = credentials.static { access_key_id = "AK", access_key_secret = "sk" }
    local ch = credentials.chain { broken, s }
    assert.are.equal("chain (broken, static)", ch.source)
    assert.are.equal("AK", ch:get().access_key_id)
    assert.are.equal("AK", ch:get().access_key_id)
    assert.are.equal(1, calls)
    assert.is_true(ch.static)
    local none, err = credentials.chain({ broken }):get()
    assert.is_nil(none)
    assert.are.equal("Credentials.NoneFound", err.code)
    assert.matches("broken: X.Failed: no", err.message, 1, true)
    assert.has_error(function() credentials.chain { s, 42 } end,
      "chain: item 2 is not a credentials provider (a table with get())")
  end)
end)

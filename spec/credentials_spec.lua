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
      { "role", "uses mode RamRoleArn" }, { "missing", "profile 'missing' not found" },
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

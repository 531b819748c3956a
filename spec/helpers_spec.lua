-- Generated helpers: validation before sending, and the wire form the
-- emulator receives.
local ecs = require "ecs"
local emu = require "support.emulator"
local api = require "ecs.api"

local function client()
  return ecs.client { endpoint = emu.endpoint, region = "cn-hangzhou",
    access_key_id = "testid", access_key_secret = "testsecret" }
end

local function err_of(f)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("helpers", function()
  before_each(function() emu.reset { speed = 0 } end)

  it("exist for every action of the model, resolved on demand", function()
    local c = client()
    local count = 0
    for _, name in ipairs(api.actions()) do
      assert.is_function(c[name], name)
      count = count + 1
    end
    assert.are.equal(#api.actions(), count)
    assert.is_true(count >= 380)
    assert.is_nil(rawget(c, "DescribeInstances"))
  end)

  it("fill RegionId from the client and send the call", function()
    local res = assert(client():DescribeInstances { PageSize = 5 })
    assert.are.equal(0, res.TotalCount)
    assert.are.equal("cn-hangzhou", emu.last("DescribeInstances").params.RegionId)
    assert(client():DescribeInstances { RegionId = "eu-central-1" })
    assert.are.equal("eu-central-1", emu.last("DescribeInstances").params.RegionId)
  end)

  it("encode JSON-style parameters from Lua tables and flatten repeated lists", function()
    local c = client()
    assert(c:DescribeInstances {
      InstanceIds = { "i-1", "i-2" }, Tag = { { Key = "env", Value = "prod" }, { Key = "team" } },
    })
    local p = emu.last("DescribeInstances").params
    assert.are.equal('["i-1","i-2"]', p.InstanceIds)
    assert.are.equal("env", p["Tag.1.Key"])
    assert.are.equal("prod", p["Tag.1.Value"])
    assert.are.equal("team", p["Tag.2.Key"])
    assert(c:DescribeInstances { InstanceIds = '["i-3"]', PrivateIpAddresses = {} })
    p = emu.last("DescribeInstances").params
    assert.are.equal('["i-3"]', p.InstanceIds)
    assert.are.equal("[]", p.PrivateIpAddresses)
  end)

  it("flatten objects to K.Sub and lists of objects to K.N.Sub", function()
    local c = client()
    local sg = assert(c:CreateSecurityGroup {}).SecurityGroupId
    assert(c:RunInstances {
      ImageId = "debian_12_4_x64_20G_alibase_20240126.vhd", InstanceType = "ecs.g6.large",
      SecurityGroupId = sg, Amount = 2, SystemDisk = { Category = "cloud_essd", Size = 40 },
      DataDisk = { { Size = 100, Category = "cloud_essd" } }, Tag = { { Key = "a", Value = "b" } },
      DryRun = false,
    })
    local p = emu.last("RunInstances").params
    assert.are.equal("cloud_essd", p["SystemDisk.Category"])
    assert.are.equal("40", p["SystemDisk.Size"])
    assert.are.equal("100", p["DataDisk.1.Size"])
    assert.are.equal("2", p.Amount)
    assert.are.equal("false", p.DryRun)
  end)

  it("leave the caller's table as it was", function()
    local params = { InstanceIds = { "i-1" } }
    assert(client():DescribeInstances(params))
    assert.are.same({ InstanceIds = { "i-1" } }, params)
  end)

  describe("raise before sending", function()
    it("on an unknown parameter, naming the closest valid one", function()
      assert.matches("^.-InstanceID: unknown parameter of DescribeInstances; did you mean InstanceIds%?$",
        err_of(function() client():DescribeInstances { InstanceID = "i-1" } end))
      assert.matches("Tag%.1%.Kee: unknown field in DescribeInstances; did you mean Key%?",
        err_of(function() client():DescribeInstances { Tag = { { Kee = "x" } } } end))
    end)

    it("on a missing required parameter, at the top or inside an object", function()
      assert.matches("SecurityGroupId: required parameter of AuthorizeSecurityGroup is missing",
        err_of(function() client():AuthorizeSecurityGroup { IpProtocol = "tcp" } end))
      assert.matches("Entry%.1%.Cidr: required field in CreatePrefixList is missing",
        err_of(function() client():CreatePrefixList { Entry = { { Description = "x" } } } end))
    end)

    it("on a wrong type, naming the path inside lists and objects", function()
      local c = client()
      assert.matches("PageSize: expected an integer, got string %(DescribeInstances%)",
        err_of(function() c:DescribeInstances { PageSize = "ten" } end))
      assert.matches("PageSize: expected an integer, got 2.5",
        err_of(function() c:DescribeInstances { PageSize = 2.5 } end))
      assert.matches("DryRun: expected true or false, got string",
        err_of(function() c:DescribeInstances { DryRun = "yes" } end))
      assert.matches("InstanceIds%.2: expected a string, got table",
        err_of(function() c:DescribeInstances { InstanceIds = { "i-1", {} } } end))
      assert.matches("Tag%.1%.Value: expected a string, got boolean",
        err_of(function() c:DescribeInstances { Tag = { { Key = "k", Value = true } } } end))
      assert.matches("SystemDisk%.ProvisionedIops: expected an integer",
        err_of(function() c:RunInstances { SystemDisk = { ProvisionedIops = "big" } } end))
      assert.matches("Tag: expected a list %(keys 1%.%.n%)",
        err_of(function() c:DescribeInstances { Tag = { Key = "k" } } end))
      assert.matches("InstanceIds: expected a list %(table%) of strings or a JSON array string, got number",
        err_of(function() c:DescribeInstances { InstanceIds = 5 } end))
    end)

    it("on a plain string where the model wants a list", function()
      local c = client()
      -- A repeated list (InstanceId.1=...): a string is never right.
      assert.matches("^.-InstanceId: expected a list %(table%) of strings, got string %(StopInstances%)$",
        err_of(function() c:StopInstances { InstanceId = "i-1" } end))
      assert.matches("^.-Tag: expected a list %(table%) of objects, got string %(DescribeInstances%)$",
        err_of(function() c:DescribeInstances { Tag = "env=prod" } end))
      -- A JSON-style list the model marks string_ok: a string only when it is a JSON array.
      assert.matches("^.-InstanceIds: expected a list %(table%) of strings or a JSON array string, "
        .. "got string 'i%-1' %(DescribeInstances%)$",
        err_of(function() c:DescribeInstances { InstanceIds = "i-1" } end))
      assert.matches("^.-InstanceIds: expected a list %(table%) of strings or a JSON array string, "
        .. "got string 'i%-1,i%-2'",
        err_of(function() c:DescribeInstances { InstanceIds = "i-1,i-2" } end))
      assert.matches("^.-InstanceIds: expected a list %(table%) of strings or a JSON array string, "
        .. "got string '%[\"i%-1\",' %(not valid JSON%)",
        err_of(function() c:DescribeInstances { InstanceIds = '["i-1",' } end))
      assert.matches("^.-InstanceIds: expected a list %(table%) of strings or a JSON array string, "
        .. "got string '{}'",
        err_of(function() c:DescribeInstances { InstanceIds = "{}" } end))
      assert.matches("^.-InstanceIds%.2: expected a string, got table",
        err_of(function() c:DescribeInstances { InstanceIds = '["i-1",["i-2"]]' } end))
      assert.is_nil((emu.stats().requests or {}).DescribeInstances)
      assert.is_nil((emu.stats().requests or {}).StopInstances)
      -- A ready JSON array string is still sent as given.
      assert(c:DescribeInstances { InstanceIds = ' [ "i-1" , "i-2" ] ' })
      assert.are.equal(' [ "i-1" , "i-2" ] ', emu.last("DescribeInstances").params.InstanceIds)
      assert(c:DescribeInstances { InstanceIds = "[]" })
      assert.are.equal("[]", emu.last("DescribeInstances").params.InstanceIds)
    end)

    it("on an action the API does not have", function()
      assert.matches("DescribeInstancez: not an action of the ECS API; did you mean DescribeInstances%?",
        err_of(function() client():DescribeInstancez {} end))
    end)

    it("without sending anything", function()
      pcall(function() client():DescribeInstances { Bogus = 1 } end)
      assert.is_nil((emu.stats().requests or {}).DescribeInstances)
    end)
  end)

  it("leave client:call as the generic path that sends exactly what it is given", function()
    local _, err = client():call("DescribeInstances", { RegionId = "cn-hangzhou", Bogus = "1" })
    assert.are.equal("InvalidParameter", err.code) -- the service, not the helper, refused it
  end)
end)

-- The examples run against the emulator as a user would run them.
local emu = require "support.emulator"
local ecs = require "ecs"

local function run_example(name, ...)
  local cmd = ("ECS_ENDPOINT=%s ALIBABA_CLOUD_ACCESS_KEY_ID=testid ALIBABA_CLOUD_ACCESS_KEY_SECRET=testsecret "
    .. "ALIBABA_CLOUD_REGION_ID=cn-hangzhou %s examples/%s %s"):format(emu.shq(emu.endpoint),
    arg and arg[-1] or "lua5.4", name, table.concat({ ... }, " "))
  return emu.sh(cmd .. " 2>&1")
end

describe("examples", function()
  local c
  before_each(function()
    emu.reset { speed = 0.02 }
    c = ecs.client { endpoint = emu.endpoint, region = "cn-hangzhou", access_key_id = "testid",
      access_key_secret = "testsecret" }
  end)

  it("fleet.lua runs the whole workflow and cleans up", function()
    local out, rc = run_example("fleet.lua")
    assert.are.equal(0, rc, out)
    assert.matches("all 12 running", out)
    assert.matches("listed 12 instances in 3 pages", out)
    assert.matches("summary: 12 instances launched in 4 concurrent batches", out)
    assert.are.equal(0, assert(c:DescribeInstances {}).TotalCount)
    assert.are.equal(0, #assert(c:collect("DescribeSecurityGroups", {})))
  end)

  it("security_group_audit.lua flags groups open to the world on sensitive ports", function()
    local open = assert(c:CreateSecurityGroup { SecurityGroupName = "open" }).SecurityGroupId
    assert(c:AuthorizeSecurityGroup { SecurityGroupId = open, IpProtocol = "tcp", PortRange = "20/25",
      SourceCidrIp = "0.0.0.0/0" })
    local closed = assert(c:CreateSecurityGroup { SecurityGroupName = "closed" }).SecurityGroupId
    assert(c:AuthorizeSecurityGroup { SecurityGroupId = closed, IpProtocol = "tcp", PortRange = "443/443",
      SourceCidrIp = "0.0.0.0/0" })
    local out, rc = run_example("security_group_audit.lua")
    assert.are.equal(1, rc, out)
    assert.truthy(out:find("!! " .. open .. " (open) opens TCP 22 (ssh) from 0.0.0.0/0", 1, true), out)
    assert.truthy(out:find("ok " .. closed .. " (closed)", 1, true), out)
    assert.matches("2 security groups audited, 1 flagged", out)
  end)

  it("snapshot_all_disks.lua snapshots each disk once, even when run twice", function()
    for _ = 1, 3 do assert(c:CreateDisk { ZoneId = "cn-hangzhou-a", Size = 20, DiskCategory = "cloud_essd" }) end
    local out, rc = run_example("snapshot_all_disks.lua")
    assert.are.equal(0, rc, out)
    assert.matches("3 snapshots complete, 0 failures", out)
    out, rc = run_example("snapshot_all_disks.lua")
    assert.are.equal(0, rc, out)
    assert.are.equal(3, #assert(c:collect("DescribeSnapshots", {})))
  end)
end)

-- The simulated ECS actions, driven over HTTP with curl-sent, lua-ecs-signed requests.
local E = require "support.emulator"

local R = "cn-hangzhou"
local IMG = "ubuntu_22_04_x64_20G_alibase_20240130.vhd"
local WIN = "win2022_21H2_x64_dtc_en-us_40G_alibase_20240110.vhd"

local function code(res) return res.json and res.json.Code end

local function sg()
  return E.ok("CreateSecurityGroup", { RegionId = R, SecurityGroupName = "spec-sg" }).SecurityGroupId
end

local function run(n, extra)
  local p = { RegionId = R, ImageId = IMG, InstanceType = "ecs.g6.large", SecurityGroupId = extra and extra.sg or sg(), Amount = n }
  for k, v in pairs(extra or {}) do if k ~= "sg" then p[k] = v end end
  return E.ok("RunInstances", p).InstanceIdSets.InstanceIdSet
end

local function instance(id)
  local j = E.ok("DescribeInstances", { RegionId = R, InstanceIds = '["' .. id .. '"]' })
  return j.Instances.Instance[1]
end

describe("emulator actions", function()
  before_each(function() E.reset({ speed = 0 }) end)

  describe("parameter checks", function()
    it("rejects a missing required parameter with MissingParameter.<Name>", function()
      local res = E.call("DescribeInstances", {})
      assert.are.equal(400, res.status)
      assert.are.equal("MissingParameter.RegionId", code(res))
      res = E.call("StartInstance", {})
      assert.are.equal("MissingParameter.InstanceId", code(res))
      res = E.call("DescribeImageFromFamily", { RegionId = R })
      assert.are.equal("MissingParameter.ImageFamily", code(res))
    end)

    it("takes the required parameters from the SDK's request models, RegionId first", function()
      -- InstanceType is required by CreateInstance's model, and checked before the launch is resolved
      assert.are.equal("MissingParameter.InstanceType", code(E.call("CreateInstance", { RegionId = R })))
      assert.are.equal("MissingParameter.RegionId", code(E.call("StartInstances", {})))
      assert.are.equal("MissingParameter.InstanceId", code(E.call("StartInstances", { RegionId = R })))
      assert.are.equal("MissingParameter.RegionId", code(E.call("CreateDisk", { ZoneId = R .. "-a", Size = 40 })))
      assert.are.equal("MissingParameter.DiskId", code(E.call("AttachDisk", {})))
      -- an action that exists but is not simulated is answered before its parameters are checked
      assert.are.equal("Emulator.ActionNotSimulated", code(E.call("CreateKeyPair", {})))
    end)

    it("rejects a parameter the action does not define with InvalidParameter", function()
      local res = E.call("DescribeInstances", { RegionId = R, Colour = "blue" })
      assert.are.equal(400, res.status)
      assert.are.equal("InvalidParameter", code(res))
      assert.matches("Colour", res.json.Message)
      res = E.call("DescribeInstances", { RegionId = R, Tag = { { Key = "a", Flavour = "b" } } })
      assert.are.equal("InvalidParameter", code(res))
      res = E.call("RunInstances", { RegionId = R, SystemDisk = { Colour = "red" } }, { v = "v3" })
      assert.are.equal("InvalidParameter", code(res))
    end)

    it("rejects values of the wrong type", function()
      assert.are.equal("InvalidParameter", code(E.call("DescribeInstances", { RegionId = R, PageSize = "ten" })))
      assert.are.equal("InvalidParameter", code(E.call("DescribeInstances", { RegionId = R, DryRun = "maybe" })))
      assert.are.equal("InvalidParameter", code(E.call("DescribeInstances", { RegionId = R, PageSize = 500 })))
    end)

    it("rejects an unknown region", function()
      local res = E.call("DescribeZones", { RegionId = "mars-north-1" })
      assert.are.equal(404, res.status)
      assert.are.equal("InvalidRegionId.NotFound", code(res))
    end)
  end)

  describe("regions, zones, images and types", function()
    it("DescribeRegions lists the regions and endpoints of the reference", function()
      local j = E.ok("DescribeRegions", {})
      local by = {}
      for _, r in ipairs(j.Regions.Region) do by[r.RegionId] = r end
      assert.are.equal("ecs.ap-northeast-1.aliyuncs.com", by["ap-northeast-1"].RegionEndpoint)
      assert.are.equal("ecs.eu-central-1.aliyuncs.com", by["eu-central-1"].RegionEndpoint)
      assert.are.equal("ecs.aliyuncs.com", by["cn-hangzhou"].RegionEndpoint)
      assert.is_string(by["me-east-1"].LocalName)
    end)

    it("DescribeZones lists zones with instance types and disk categories", function()
      local j = E.ok("DescribeZones", { RegionId = "eu-central-1" })
      assert.are.equal(2, #j.Zones.Zone)
      assert.are.equal("eu-central-1-a", j.Zones.Zone[1].ZoneId)
      assert.truthy(#j.Zones.Zone[1].AvailableInstanceTypes.InstanceTypes >= 5)
      assert.truthy(#j.Zones.Zone[1].AvailableDiskCategories.DiskCategories >= 3)
    end)

    it("DescribeImages filters and pages", function()
      local j = E.ok("DescribeImages", { RegionId = R })
      assert.are.equal(5, j.TotalCount)
      j = E.ok("DescribeImages", { RegionId = R, OSType = "windows" })
      assert.are.equal(1, j.TotalCount)
      assert.are.equal(WIN, j.Images.Image[1].ImageId)
      j = E.ok("DescribeImages", { RegionId = R, PageSize = 2, PageNumber = 3 })
      assert.are.equal(1, #j.Images.Image)
      assert.are.equal(3, j.PageNumber)
    end)

    it("DescribeImageFromFamily returns the newest available image of the family", function()
      local j = E.ok("DescribeImageFromFamily", { RegionId = R, ImageFamily = "emulator-family" })
      assert.are.equal("m-emu0family0new0002", j.Image.ImageId)
      assert.are.equal("Available", j.Image.Status)
      j = E.ok("DescribeImageFromFamily", { RegionId = R, ImageFamily = "no-such-family" })
      assert.is_nil(j.Image.ImageId)
    end)

    it("DescribeImageSupportInstanceTypes takes ImageId or Filter.N.Key/Value", function()
      local all = E.ok("DescribeImageSupportInstanceTypes", { RegionId = R, ImageId = IMG })
      local win = E.ok("DescribeImageSupportInstanceTypes", { RegionId = R,
        Filter = { { Key = "ImageId", Value = WIN } } })
      assert.are.equal(WIN, win.ImageId)
      assert.truthy(#win.InstanceTypes.InstanceType < #all.InstanceTypes.InstanceType)
      local t = win.InstanceTypes.InstanceType[1]
      assert.is_string(t.InstanceTypeId); assert.is_number(t.CpuCoreCount); assert.is_number(t.MemorySize)
      assert.are.equal("InvalidImageId.NotFound", code(E.call("DescribeImageSupportInstanceTypes", { RegionId = R, ImageId = "m-nope" })))
    end)

    it("DescribeInstanceTypes filters by family and names", function()
      local j = E.ok("DescribeInstanceTypes", { InstanceTypeFamily = "ecs.g6" })
      assert.are.equal(2, #j.InstanceTypes.InstanceType)
      j = E.ok("DescribeInstanceTypes", { InstanceTypes = { "ecs.c6.large" } })
      assert.are.equal("ecs.c6.large", j.InstanceTypes.InstanceType[1].InstanceTypeId)
    end)
  end)

  describe("network", function()
    it("has a default VPC with a VSwitch per zone", function()
      local v = E.ok("DescribeVpcs", { RegionId = R })
      assert.are.equal(1, v.TotalCount)
      assert.is_true(v.Vpcs.Vpc[1].IsDefault)
      assert.matches("^vpc%-", v.Vpcs.Vpc[1].VpcId)
      local s = E.ok("DescribeVSwitches", { RegionId = R, VpcId = v.Vpcs.Vpc[1].VpcId })
      assert.are.equal(2, s.TotalCount)
      assert.matches("^vsw%-", s.VSwitches.VSwitch[1].VSwitchId)
    end)

    it("creates, describes, authorizes and deletes security groups", function()
      local id = E.ok("CreateSecurityGroup", { RegionId = R, SecurityGroupName = "web", Description = "d",
        Tag = { { Key = "team", Value = "a" } } }).SecurityGroupId
      assert.matches("^sg%-", id)
      E.ok("AuthorizeSecurityGroup", { RegionId = R, SecurityGroupId = id, IpProtocol = "tcp", PortRange = "22/22",
        SourceCidrIp = "10.0.0.0/8" })
      E.ok("AuthorizeSecurityGroup", { RegionId = R, SecurityGroupId = id,
        Permissions = { { IpProtocol = "tcp", PortRange = "443/443", SourceCidrIp = "0.0.0.0/0" } } }, { v = "v3" })
      local a = E.ok("DescribeSecurityGroupAttribute", { RegionId = R, SecurityGroupId = id })
      assert.are.equal(2, #a.Permissions.Permission)
      assert.are.equal("TCP", a.Permissions.Permission[1].IpProtocol)
      local d = E.ok("DescribeSecurityGroups", { RegionId = R, Tag = { { Key = "team", Value = "a" } } })
      assert.are.equal(1, d.TotalCount)
      assert.are.equal("web", d.SecurityGroups.SecurityGroup[1].SecurityGroupName)
      assert.are.equal(0, E.ok("DescribeSecurityGroups", { RegionId = R, Tag = { { Key = "team", Value = "b" } } }).TotalCount)
      assert.are.equal("InvalidPortRange.Malformed", code(E.call("AuthorizeSecurityGroup",
        { RegionId = R, SecurityGroupId = id, IpProtocol = "tcp", PortRange = "99999/1" })))
      assert.are.equal("MissingParameter.IpProtocol", code(E.call("AuthorizeSecurityGroup",
        { RegionId = R, SecurityGroupId = id, PortRange = "1/2" })))
      E.ok("DeleteSecurityGroup", { RegionId = R, SecurityGroupId = id })
      local res = E.call("DeleteSecurityGroup", { RegionId = R, SecurityGroupId = id })
      assert.are.equal(404, res.status)
      assert.are.equal("InvalidSecurityGroupId.NotFound", code(res))
    end)

    it("refuses to delete a security group that still has instances", function()
      local id = sg()
      run(1, { sg = id })
      local res = E.call("DeleteSecurityGroup", { RegionId = R, SecurityGroupId = id })
      assert.are.equal(403, res.status)
      assert.are.equal("DependencyViolation", code(res))
    end)
  end)

  describe("instances", function()
    it("RunInstances launches Amount instances in the default VSwitch with realistic fields", function()
      local ids = run(3, { InstanceName = "web-", UniqueSuffix = true, InternetMaxBandwidthOut = 5 })
      assert.are.equal(3, #ids)
      for _, id in ipairs(ids) do assert.matches("^i%-%w+$", id) end
      local i = instance(ids[2])
      assert.are.equal("Running", i.Status)
      assert.are.equal("web-002", i.InstanceName)
      assert.matches("^vpc%-", i.VpcAttributes.VpcId)
      assert.matches("^vsw%-", i.VpcAttributes.VSwitchId)
      assert.matches("^172%.", i.VpcAttributes.PrivateIpAddress.IpAddress[1])
      assert.matches("^%d+%.%d+%.%d+%.%d+$", i.PublicIpAddress.IpAddress[1])
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%dZ$", i.CreationTime)
      assert.are.equal(8192, i.Memory)
      local disks = E.ok("DescribeDisks", { RegionId = R, InstanceId = ids[2] })
      assert.are.equal(1, disks.TotalCount)
      assert.are.equal("system", disks.Disks.Disk[1].Type)
      assert.matches("^d%-", disks.Disks.Disk[1].DiskId)
    end)

    it("RunInstances checks image, type, security group, disks and Amount", function()
      local s = sg()
      local base = { RegionId = R, ImageId = IMG, InstanceType = "ecs.g6.large", SecurityGroupId = s }
      local function with(k, v) local t = {} for a, b in pairs(base) do t[a] = b end t[k] = v return t end
      assert.are.equal("InvalidImageId.NotFound", code(E.call("RunInstances", with("ImageId", "m-nope"))))
      assert.are.equal("InvalidInstanceType.ValueNotSupported", code(E.call("RunInstances", with("InstanceType", "ecs.x9.huge"))))
      assert.are.equal("InvalidSecurityGroupId.NotFound", code(E.call("RunInstances", with("SecurityGroupId", "sg-nope"))))
      assert.are.equal("MissingParameter.SecurityGroupId", code(E.call("RunInstances", with("SecurityGroupId", nil))))
      assert.are.equal("InvalidParameter.Amount", code(E.call("RunInstances", with("Amount", 101))))
      assert.are.equal("InvalidVSwitchId.NotFound", code(E.call("RunInstances", with("VSwitchId", "vsw-nope"))))
      assert.are.equal("InvalidSystemDiskSize.LessThanImageSize", code(E.call("RunInstances", with("SystemDisk", { Size = 10 }))))
      local win = with("ImageId", WIN); win.InstanceType = "ecs.t5-lc1m1.small"
      assert.are.equal("ImageNotSupportInstanceType", code(E.call("RunInstances", win)))
      assert.are.equal(0, E.ok("DescribeInstances", { RegionId = R }).TotalCount)
    end)

    it("RunInstances with DryRun=true validates and creates nothing", function()
      local s = sg()
      local res = E.call("RunInstances", { RegionId = R, ImageId = IMG, InstanceType = "ecs.g6.large", SecurityGroupId = s, DryRun = true })
      assert.are.equal(400, res.status)
      assert.are.equal("DryRunOperation", code(res))
      res = E.call("RunInstances", { RegionId = R, ImageId = "m-nope", InstanceType = "ecs.g6.large", SecurityGroupId = s, DryRun = true })
      assert.are.equal("InvalidImageId.NotFound", code(res))
      assert.are.equal(0, E.ok("DescribeInstances", { RegionId = R }).TotalCount)
      assert.are.equal("DryRunOperation", code(E.call("DescribeInstances", { RegionId = R, DryRun = true })))
    end)

    it("CreateInstance makes one stopped instance that StartInstance runs", function()
      local s = sg()
      local id = E.ok("CreateInstance", { RegionId = R, ImageId = IMG, InstanceType = "ecs.c6.large", SecurityGroupId = s }).InstanceId
      assert.matches("^i%-", id)
      assert.are.equal("Stopped", instance(id).Status)
      E.ok("StartInstance", { InstanceId = id })
      assert.are.equal("Running", instance(id).Status)
    end)

    it("stops, starts, reboots and deletes, with IncorrectInstanceStatus in the wrong state", function()
      local id = run(1)[1]
      local res = E.call("StartInstance", { InstanceId = id })
      assert.are.equal(403, res.status)
      assert.are.equal("IncorrectInstanceStatus", code(res))
      assert.are.equal("IncorrectInstanceStatus", code(E.call("DeleteInstance", { InstanceId = id })))
      E.ok("RebootInstance", { InstanceId = id })
      E.ok("StopInstance", { InstanceId = id })
      assert.are.equal("Stopped", instance(id).Status)
      assert.are.equal("IncorrectInstanceStatus", code(E.call("StopInstance", { InstanceId = id })))
      assert.are.equal("IncorrectInstanceStatus", code(E.call("RebootInstance", { InstanceId = id })))
      E.ok("DeleteInstance", { InstanceId = id })
      res = E.call("DescribeInstanceAttribute", { InstanceId = id })
      assert.are.equal(404, res.status)
      assert.are.equal("InvalidInstanceId.NotFound", code(res))
      assert.are.equal(0, E.ok("DescribeDisks", { RegionId = R }).TotalCount)
    end)

    it("DeleteInstance with Force=true releases a running instance", function()
      local id = run(1)[1]
      E.ok("DeleteInstance", { InstanceId = id, Force = true })
      assert.are.equal(0, E.ok("DescribeInstances", { RegionId = R }).TotalCount)
    end)

    it("batch operations report per instance, all together or success first", function()
      local ids = run(2)
      local j = E.ok("StopInstances", { RegionId = R, InstanceId = ids })
      assert.are.equal(2, #j.InstanceResponses.InstanceResponse)
      assert.are.equal("Running", j.InstanceResponses.InstanceResponse[1].PreviousStatus)
      assert.are.equal("Stopped", j.InstanceResponses.InstanceResponse[1].CurrentStatus)
      E.ok("StartInstances", { RegionId = R, InstanceId = { ids[1] } })
      -- one running, one stopped: all together fails as a whole
      local res = E.call("StartInstances", { RegionId = R, InstanceId = ids })
      assert.are.equal("IncorrectInstanceStatus", code(res))
      j = E.ok("StartInstances", { RegionId = R, InstanceId = ids, BatchOptimization = "SuccessFirst" })
      assert.are.equal("IncorrectInstanceStatus", j.InstanceResponses.InstanceResponse[1].Code)
      assert.are.equal("200", j.InstanceResponses.InstanceResponse[2].Code)
      E.ok("RebootInstances", { RegionId = R, InstanceId = ids })
      E.ok("StopInstances", { RegionId = R, InstanceId = ids })
      E.ok("DeleteInstances", { RegionId = R, InstanceId = ids })
      assert.are.equal(0, E.ok("DescribeInstances", { RegionId = R }).TotalCount)
    end)

    it("lifecycle takes time: Pending -> Starting -> Running and Stopping -> Stopped", function()
      E.control("POST", "config", { speed = 0.5 }) -- Pending 0.5 s, Starting 1 s, Stopping 1 s
      local id = run(1)[1]
      assert.are.equal("Pending", instance(id).Status)
      assert.are.equal("IncorrectInstanceStatus", code(E.call("StopInstance", { InstanceId = id })))
      assert.truthy(E.wait(function() return instance(id).Status == "Starting" end, 5))
      assert.truthy(E.wait(function() return instance(id).Status == "Running" end, 5))
      E.ok("StopInstance", { InstanceId = id })
      assert.are.equal("Stopping", instance(id).Status)
      local st = E.ok("DescribeInstanceStatus", { RegionId = R }).InstanceStatuses.InstanceStatus[1]
      assert.are.equal("Stopping", st.Status)
      assert.truthy(E.wait(function() return instance(id).Status == "Stopped" end, 5))
    end)

    it("ModifyInstanceAttribute changes name, description and host name, and checks them", function()
      local id = run(1)[1]
      E.ok("ModifyInstanceAttribute", { InstanceId = id, InstanceName = "renamed", Description = "desc", HostName = "host-1" })
      local i = instance(id)
      assert.are.equal("renamed", i.InstanceName)
      assert.are.equal("desc", i.Description)
      assert.are.equal("host-1", i.HostName)
      assert.are.equal("InvalidInstanceName.Malformed", code(E.call("ModifyInstanceAttribute", { InstanceId = id, InstanceName = "x" })))
      assert.are.equal("InvalidPassword.Malformed", code(E.call("ModifyInstanceAttribute", { InstanceId = id, Password = "short" })))
    end)

    it("DescribeInstances filters by status, name, type, zone, VPC, security group, IPs and tags", function()
      local s1, s2 = sg(), sg()
      local a = run(2, { sg = s1, InstanceName = "alpha", Tag = { { Key = "env", Value = "prod" } } })
      local b = run(1, { sg = s2, InstanceName = "beta", InstanceType = "ecs.c6.large", ZoneId = R .. "-b",
        Tag = { { Key = "env", Value = "dev" } } })
      E.ok("StopInstance", { InstanceId = a[1] })
      local function count(p) p.RegionId = R return E.ok("DescribeInstances", p).TotalCount end
      assert.are.equal(3, count {})
      assert.are.equal(1, count { Status = "Stopped" })
      assert.are.equal(2, count { InstanceName = "alpha" })
      assert.are.equal(3, count { InstanceName = "*a" })
      assert.are.equal(1, count { InstanceType = "ecs.c6.large" })
      assert.are.equal(1, count { ZoneId = R .. "-b" })
      assert.are.equal(2, count { SecurityGroupId = s1 })
      assert.are.equal(2, count { Tag = { { Key = "env", Value = "prod" } } })
      assert.are.equal(3, count { Tag = { { Key = "env" } } })
      assert.are.equal(0, count { Tag = { { Key = "env", Value = "qa" } } })
      assert.are.equal(2, count { InstanceIds = '["' .. a[2] .. '","' .. b[1] .. '"]' })
      local ip = instance(b[1]).VpcAttributes.PrivateIpAddress.IpAddress[1]
      assert.are.equal(1, count { PrivateIpAddresses = '["' .. ip .. '"]' })
      local vpc = instance(b[1]).VpcAttributes.VpcId
      assert.are.equal(3, count { VpcId = vpc })
      assert.are.equal(3, count { Filter = { { Key = "CreationStartTime", Value = os.date("!%Y-%m-%dT%H:%MZ", os.time() - 120) } } })
      assert.are.equal(0, count { Filter = { { Key = "CreationEndTime", Value = "2017-12-06T22:40Z" } } })
      assert.are.equal("InvalidStatus.NotFound", code(E.call("DescribeInstances", { RegionId = R, Status = "Sleeping" })))
      assert.are.equal("InvalidFilterKey.NotFound", code(E.call("DescribeInstances", { RegionId = R, Filter = { { Key = "Colour", Value = "x" } } })))
    end)

    it("DescribeInstances pages with PageNumber/PageSize/TotalCount and with NextToken/MaxResults", function()
      local s = sg()
      run(25, { sg = s })
      local seen = {}
      local j = E.ok("DescribeInstances", { RegionId = R, PageSize = 10, PageNumber = 3 })
      assert.are.equal(25, j.TotalCount); assert.are.equal(3, j.PageNumber); assert.are.equal(10, j.PageSize)
      assert.are.equal(5, #j.Instances.Instance)
      local token, pages = nil, 0
      repeat
        j = E.ok("DescribeInstances", { RegionId = R, MaxResults = 10, NextToken = token }, { v = "v3" })
        pages = pages + 1
        for _, i in ipairs(j.Instances.Instance) do
          assert.is_nil(seen[i.InstanceId]); seen[i.InstanceId] = true
        end
        token = j.NextToken
      until token == nil or token == ""
      assert.are.equal(3, pages)
      local n = 0 for _ in pairs(seen) do n = n + 1 end
      assert.are.equal(25, n)
      assert.are.equal("InvalidParameter.NextToken", code(E.call("DescribeInstances", { RegionId = R, NextToken = "bogus" })))
    end)

    it("DescribeInstanceStatus pages statuses", function()
      run(3)
      local j = E.ok("DescribeInstanceStatus", { RegionId = R, PageSize = 2 })
      assert.are.equal(3, j.TotalCount)
      assert.are.equal(2, #j.InstanceStatuses.InstanceStatus)
      assert.are.equal("Running", j.InstanceStatuses.InstanceStatus[1].Status)
    end)
  end)

  describe("disks and snapshots", function()
    it("creates, attaches, detaches and deletes a disk", function()
      local id = run(1)[1]
      local zone = instance(id).ZoneId
      local d = E.ok("CreateDisk", { RegionId = R, ZoneId = zone, Size = 40, DiskCategory = "cloud_essd", DiskName = "data" }).DiskId
      assert.matches("^d%-", d)
      local function disk() return E.ok("DescribeDisks", { RegionId = R, DiskIds = '["' .. d .. '"]' }).Disks.Disk[1] end
      assert.are.equal("Available", disk().Status)
      E.ok("AttachDisk", { InstanceId = id, DiskId = d })
      assert.are.equal("In_use", disk().Status)
      assert.are.equal(id, disk().InstanceId)
      local res = E.call("DeleteDisk", { DiskId = d })
      assert.are.equal(403, res.status)
      assert.are.equal("IncorrectDiskStatus", code(res))
      assert.are.equal("IncorrectDiskStatus", code(E.call("AttachDisk", { InstanceId = id, DiskId = d })))
      E.ok("DetachDisk", { InstanceId = id, DiskId = d })
      assert.are.equal("Available", disk().Status)
      E.ok("DeleteDisk", { DiskId = d })
      assert.are.equal(404, E.call("DeleteDisk", { DiskId = d }).status)
      assert.are.equal("InvalidDiskId.NotFound", code(E.call("AttachDisk", { InstanceId = id, DiskId = d })))
      assert.are.equal("MissingParameter.ZoneId", code(E.call("CreateDisk", { RegionId = R, Size = 40 })))
      assert.are.equal("InvalidDiskSize.ValueNotSupported", code(E.call("CreateDisk", { RegionId = R, ZoneId = zone, Size = 1, DiskCategory = "cloud_ssd" })))
    end)

    it("snapshots progress over time, then can seed a disk and be deleted", function()
      local id = run(1)[1]
      local sys = E.ok("DescribeDisks", { RegionId = R, InstanceId = id }).Disks.Disk[1].DiskId
      E.control("POST", "config", { speed = 0.4 }) -- 2 s to complete
      local s = E.ok("CreateSnapshot", { DiskId = sys, SnapshotName = "snap-1" }).SnapshotId
      assert.matches("^s%-", s)
      local function snap() return E.ok("DescribeSnapshots", { RegionId = R, SnapshotIds = '["' .. s .. '"]' }).Snapshots.Snapshot[1] end
      local first = snap()
      assert.are.equal("progressing", first.Status)
      assert.truthy(tonumber(first.Progress:match("%d+")) < 100)
      assert.are.equal("IncorrectSnapshotStatus", code(E.call("DeleteSnapshot", { SnapshotId = s })))
      assert.truthy(E.wait(function() return snap().Status == "accomplished" end, 5))
      assert.are.equal("100%", snap().Progress)
      local d = E.ok("CreateDisk", { RegionId = R, ZoneId = instance(id).ZoneId, SnapshotId = s }).DiskId
      local disk = E.ok("DescribeDisks", { RegionId = R, DiskIds = '["' .. d .. '"]' }).Disks.Disk[1]
      assert.are.equal(s, disk.SourceSnapshotId)
      assert.are.equal(40, disk.Size)
      assert.are.equal("SnapshotCreatedDisk", code(E.call("DeleteSnapshot", { SnapshotId = s })))
      E.ok("DeleteSnapshot", { SnapshotId = s, Force = true })
      assert.are.equal(0, E.ok("DescribeSnapshots", { RegionId = R }).TotalCount)
      assert.are.equal("InvalidSnapshotId.NotFound", code(E.call("DeleteSnapshot", { SnapshotId = s })))
    end)

    it("a snapshot completes with time, also when nothing lists it before CreateDisk", function()
      local id = run(1)[1]
      local sys = E.ok("DescribeDisks", { RegionId = R, InstanceId = id }).Disks.Disk[1].DiskId
      E.control("POST", "config", { speed = 0.04 }) -- 0.2 s to complete
      local s = E.ok("CreateSnapshot", { DiskId = sys }).SnapshotId
      local zone = instance(id).ZoneId
      assert.are.equal("IncorrectSnapshotStatus",
        code(E.call("CreateDisk", { RegionId = R, ZoneId = zone, SnapshotId = s })))
      E.sh("sleep 0.3")
      E.ok("CreateDisk", { RegionId = R, ZoneId = zone, SnapshotId = s })
    end)
  end)

  describe("tags", function()
    it("TagResources, ListTagResources and UntagResources", function()
      local ids = run(2)
      E.ok("TagResources", { RegionId = R, ResourceType = "instance", ResourceId = ids,
        Tag = { { Key = "owner", Value = "spec" }, { Key = "tier", Value = "web" } } })
      local j = E.ok("ListTagResources", { RegionId = R, ResourceType = "instance", ResourceId = { ids[1] } })
      assert.are.equal(2, #j.TagResources.TagResource)
      assert.are.equal("owner", j.TagResources.TagResource[1].TagKey)
      j = E.ok("ListTagResources", { RegionId = R, ResourceType = "instance", Tag = { { Key = "tier", Value = "web" } } })
      assert.are.equal(4, #j.TagResources.TagResource)
      E.ok("UntagResources", { RegionId = R, ResourceType = "instance", ResourceId = { ids[1] }, TagKey = { "tier" } })
      assert.are.equal(1, E.ok("DescribeInstances", { RegionId = R, Tag = { { Key = "tier" } } }).TotalCount)
      assert.are.equal("InvalidResourceId.NotFound", code(E.call("TagResources", { RegionId = R, ResourceType = "instance",
        ResourceId = { "i-nope" }, Tag = { { Key = "a", Value = "b" } } })))
      assert.are.equal("InvalidTagKey.Malformed", code(E.call("TagResources", { RegionId = R, ResourceType = "instance",
        ResourceId = ids, Tag = { { Key = "aliyun:x", Value = "b" } } })))
    end)

    it("AddTags, DescribeTags and RemoveTags on disks", function()
      local id = run(1)[1]
      local d = E.ok("DescribeDisks", { RegionId = R, InstanceId = id }).Disks.Disk[1].DiskId
      E.ok("AddTags", { RegionId = R, ResourceType = "disk", ResourceId = d, Tag = { { Key = "k", Value = "v" } } })
      local j = E.ok("DescribeTags", { RegionId = R, ResourceType = "disk" })
      assert.are.equal("k", j.Tags.Tag[1].TagKey)
      assert.are.equal(1, j.Tags.Tag[1].ResourceTypeCount.Disk)
      assert.are.equal(1, E.ok("DescribeDisks", { RegionId = R, Tag = { { Key = "k", Value = "v" } } }).TotalCount)
      E.ok("RemoveTags", { RegionId = R, ResourceType = "disk", ResourceId = d, Tag = { { Key = "k" } } })
      assert.are.equal(0, E.ok("DescribeTags", { RegionId = R, ResourceType = "disk" }).TotalCount)
    end)
  end)

  describe("idempotency", function()
    it("replays the first result for the same ClientToken and parameters, creating nothing", function()
      local s = sg()
      local p = { RegionId = R, ImageId = IMG, InstanceType = "ecs.g6.large", SecurityGroupId = s, Amount = 2, ClientToken = "tok-1" }
      local first = E.ok("RunInstances", p)
      local again = E.ok("RunInstances", p, { v = "v3", method = "POST" })
      assert.are.same(first.InstanceIdSets, again.InstanceIdSets)
      assert.are_not.equal(first.RequestId, again.RequestId)
      assert.are.equal(2, E.ok("DescribeInstances", { RegionId = R }).TotalCount)
      local st = E.stats()
      assert.are.equal(1, st.client_token_replays)
      assert.are.equal(2, st.created.instance)
    end)

    it("answers IdempotentParameterMismatch (400) for the same ClientToken with other parameters", function()
      local s = sg()
      local p = { RegionId = R, ImageId = IMG, InstanceType = "ecs.g6.large", SecurityGroupId = s, ClientToken = "tok-2" }
      E.ok("RunInstances", p)
      p.Amount = 3
      local res = E.call("RunInstances", p)
      assert.are.equal(400, res.status)
      assert.are.equal("IdempotentParameterMismatch", code(res))
      local d1 = E.ok("CreateDisk", { RegionId = R, ZoneId = R .. "-a", Size = 20, ClientToken = "tok-3" }).DiskId
      assert.are.equal(d1, E.ok("CreateDisk", { RegionId = R, ZoneId = R .. "-a", Size = 20, ClientToken = "tok-3" }).DiskId)
      assert.are.equal("IdempotentParameterMismatch", code(E.call("CreateDisk", { RegionId = R, ZoneId = R .. "-a", Size = 30, ClientToken = "tok-3" })))
    end)
  end)

  describe("XML responses", function()
    it("render lists as repeated elements", function()
      run(2)
      local res = E.call("DescribeInstances", { RegionId = R, Format = "XML" })
      assert.are.equal(200, res.status)
      local n = 0
      for _ in res.body:gmatch("<Instance>") do n = n + 1 end
      assert.are.equal(2, n)
      assert.matches("<Instances><Instance>", res.body, 1, true)
      assert.matches("<TotalCount>2</TotalCount>", res.body, 1, true)
      assert.matches("</DescribeInstancesResponse>$", res.body)
    end)
  end)
end)

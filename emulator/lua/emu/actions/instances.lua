-- Instances: launch, lifecycle (Pending -> Starting -> Running, Stopping -> Stopped), describe.
local c = require "emu.actions.common"
local data = require "emu.data"
local state = require "emu.state"
local util = require "emu.util"
local network = require "emu.actions.network"
local disks = require("emu.actions.disks")._helpers

local fail = c.fail
local stats = ngx.shared.emu_stats
local A = {}

-- base durations in seconds, multiplied by the speed setting
local T_PENDING, T_STARTING, T_STOPPING = 1, 2, 2

local function bad_status()
  fail(403, "IncorrectInstanceStatus", "The current status of the resource does not support this operation.")
end

local function get_instance(ctx, id, region)
  return c.find(ctx, "instances", id, region)
end

local function check_name(name, what)
  if name and (#name < 2 or #name > 128 or name:match("^https?://") or not name:match("^[%a\128-\255]")) then
    fail(400, "Invalid" .. what .. ".Malformed", "The specified parameter " .. what .. " is not valid.")
  end
end

local function check_password(pw)
  if pw and (#pw < 8 or #pw > 30) then
    fail(400, "InvalidPassword.Malformed", "The specified parameter Password is not valid.")
  end
end

-- image, type, network and disks of a launch request; shared by RunInstances and CreateInstance
local function resolve_launch(ctx, p, region)
  local image_id = p.ImageId
  if not image_id and p.ImageFamily then
    for _, img in ipairs(data.images) do if img[6] == p.ImageFamily then image_id = img[1] end end
    local best
    for _, fi in ipairs(data.family_images) do
      if fi[2] == p.ImageFamily and fi[4] == "Available" and (not best or fi[3] > best[3]) then best = fi end
    end
    if best then image_id = best[1] end
    if not image_id then fail(404, "InvalidImageFamily.NotFound", "The specified ImageFamily does not exist.") end
  end
  if not image_id then
    fail(400, "MissingParameter.ImageId", "The input parameter \"ImageId\" that is mandatory for processing this request is not supplied.")
  end
  local img = data.image_set[image_id]
  if not img then
    for _, fi in ipairs(data.family_images) do
      if fi[1] == image_id and fi[4] == "Available" then img = { fi[1], "Alibaba Cloud Linux  3.2104 LTS 64位", "linux", "Aliyun", 20, fi[2] } end
    end
  end
  if not img then fail(404, "InvalidImageId.NotFound", "The specified ImageId does not exist.") end
  if not p.InstanceType then
    fail(400, "MissingParameter.InstanceType", "The input parameter \"InstanceType\" that is mandatory for processing this request is not supplied.")
  end
  local itype = data.instance_type_set[p.InstanceType]
  if not itype then
    fail(400, "InvalidInstanceType.ValueNotSupported", "The specified InstanceType does not exist or beyond the permitted range.")
  end
  if not data.image_supports(img, itype) then
    fail(403, "ImageNotSupportInstanceType", "The specified instance type does not support this image.")
  end

  -- security groups and network
  local sg_ids = {}
  if p.SecurityGroupId then sg_ids[1] = p.SecurityGroupId end
  if p.SecurityGroupIds then for _, s in ipairs(p.SecurityGroupIds) do sg_ids[#sg_ids + 1] = s end end
  if #sg_ids == 0 then
    fail(400, "MissingParameter.SecurityGroupId", "The input parameter \"SecurityGroupId\" that is mandatory for processing this request is not supplied.")
  end
  local vpc_id
  for _, s in ipairs(sg_ids) do
    local sg = network.get_sg(ctx, region, s)
    if vpc_id and sg.VpcId ~= vpc_id then
      fail(403, "InvalidSecurityGroup.VpcMismatch", "The specified security groups are not in the same VPC.")
    end
    vpc_id = sg.VpcId
  end
  if p.ZoneId and data.zone_region(p.ZoneId) ~= region then
    fail(404, "InvalidZoneId.NotFound", "The specified zone does not exist.")
  end
  local vsw
  if p.VSwitchId then
    vsw = ctx.S.vswitches[p.VSwitchId]
    if not vsw or vsw.RegionId ~= region then
      fail(404, "InvalidVSwitchId.NotFound", "Specified virtual switch does not exist.")
    end
    if vsw.VpcId ~= vpc_id then
      fail(403, "InvalidSecurityGroup.VpcMismatch", "The specified security group and VSwitch are not in the same VPC.")
    end
    if p.ZoneId and p.ZoneId ~= vsw.ZoneId then
      fail(400, "InvalidParameter", "The specified parameter \"ZoneId\" is not valid: the VSwitch is in zone " .. vsw.ZoneId .. ".")
    end
  else
    vsw = state.default_vswitch(region, p.ZoneId, vpc_id)
    if not vsw then
      fail(400, "InvalidVSwitchId.Missing", "The VPC of the security group has no VSwitch in the requested zone; specify VSwitchId.")
    end
  end

  -- disks
  local sd = p.SystemDisk or {}
  local sd_cat = sd.Category or "cloud_efficiency"
  if not disks.CATEGORIES[sd_cat] then
    fail(400, "InvalidSystemDiskCategory.ValueNotSupported", "The specified SystemDisk.Category is not valid.")
  end
  local sd_size = tonumber(sd.Size) or math.max(40, img[5])
  if sd_size < img[5] then
    fail(400, "InvalidSystemDiskSize.LessThanImageSize", "The specified SystemDisk.Size is less than the image size.")
  end
  if sd_size > 2048 then
    fail(400, "InvalidSystemDiskSize.MoreThanMaxSize", "The specified SystemDisk.Size is more than the maximum.")
  end
  local dd = p.DataDisk or {}
  if #dd > 16 then fail(400, "InvalidDataDiskCount", "At most 16 data disks can be attached.") end
  for i, d in ipairs(dd) do
    local cat = d.Category or "cloud_efficiency"
    if not disks.CATEGORIES[cat] then
      fail(400, "InvalidDataDiskCategory.ValueNotSupported", "The specified DataDisk." .. i .. ".Category is not valid.")
    end
    if d.SnapshotId then
      local s = ctx.S.snapshots[d.SnapshotId]
      if not s then fail(404, "InvalidDataDiskSnapshotId.NotFound", "The specified DataDisk." .. i .. ".SnapshotId does not exist.") end
    end
    if not d.Size and not d.SnapshotId then
      fail(400, "MissingParameter.DataDisk." .. i .. ".Size", "The input parameter \"DataDisk." .. i .. ".Size\" that is mandatory for processing this request is not supplied.")
    end
    if d.Size then disks.check_size(d.Size, cat) end
  end
  check_name(p.InstanceName, "InstanceName")
  check_password(p.Password)
  if p.HostName and (#p.HostName < 2 or #p.HostName > 64) then
    fail(400, "InvalidHostName.Malformed", "The specified parameter HostName is not valid.")
  end
  if p.InternetMaxBandwidthOut and (p.InternetMaxBandwidthOut < 0 or p.InternetMaxBandwidthOut > 100) then
    fail(400, "InvalidInternetMaxBandwidthOut.Malformed", "The specified parameter InternetMaxBandwidthOut is not valid.")
  end
  c.tags_filter_ok(p)
  return { img = img, itype = itype, sg_ids = sg_ids, vsw = vsw, sd_cat = sd_cat, sd_size = sd_size, dd = dd }
end

local function new_instance(ctx, p, region, L, name, host)
  local S = ctx.S
  local id = util.new_id("i")
  local now = ngx.now()
  local inst = {
    InstanceId = id, RegionId = region, ZoneId = L.vsw.ZoneId, InstanceType = L.itype[1],
    InstanceTypeFamily = L.itype[2], Cpu = L.itype[3], Memory = math.floor(L.itype[4] * 1024),
    ImageId = L.img[1], OSName = L.img[2], OSNameEn = L.img[2], OSType = L.img[3],
    InstanceName = name or ("launch-advisor-" .. os.date("!%Y%m%d", now)), HostName = host or ("iZ" .. id:sub(3, 12) .. "Z"),
    Description = p.Description or "", Status = "Pending", CreationTime = util.iso8601_min(now),
    StartTime = "", ExpiredTime = "2099-12-31T15:59Z", AutoReleaseTime = p.AutoReleaseTime or "",
    InstanceChargeType = p.InstanceChargeType or "PostPaid",
    InternetChargeType = p.InternetChargeType or "PayByTraffic",
    InternetMaxBandwidthOut = p.InternetMaxBandwidthOut or 0, InternetMaxBandwidthIn = p.InternetMaxBandwidthIn or 200,
    InstanceNetworkType = "vpc", VpcId = L.vsw.VpcId, VSwitchId = L.vsw.VSwitchId,
    PrivateIp = state.next_ip(L.vsw), sg_ids = L.sg_ids, disk_ids = {},
    KeyPairName = p.KeyPairName or "", DeletionProtection = p.DeletionProtection == true,
    ResourceGroupId = p.ResourceGroupId or "", StoppedMode = "Not-applicable", SerialNumber = util.rand_hex(8) ..
      "-" .. util.rand_hex(4) .. "-" .. util.rand_hex(4) .. "-" .. util.rand_hex(4) .. "-" .. util.rand_hex(12),
    IoOptimized = true, CreditSpecification = "", SpotStrategy = p.SpotStrategy or "NoSpot",
    UserData = p.UserData, order = state.next_order(), created_at = now,
    mac = ("00:16:3e:%s:%s:%s"):format(util.rand_hex(2), util.rand_hex(2), util.rand_hex(2)),
  }
  if inst.InternetMaxBandwidthOut > 0 then
    inst.PublicIp = ("47.%d.%d.%d"):format(math.random(80, 120), math.random(0, 255), math.random(1, 254))
  end
  S.instances[id] = inst
  local sys = disks.new_disk(S, { region = region, zone = inst.ZoneId, size = L.sd_size, category = L.sd_cat,
    type = "system", status = "In_use", instance = id, device = "/dev/xvda", image = L.img[1],
    name = (p.SystemDisk or {}).DiskName, description = (p.SystemDisk or {}).Description })
  inst.disk_ids[1] = sys.DiskId
  for i, d in ipairs(L.dd) do
    local size = d.Size
    if not size and d.SnapshotId then size = S.snapshots[d.SnapshotId].SourceDiskSize end
    local disk = disks.new_disk(S, { region = region, zone = inst.ZoneId, size = size, category = d.Category or "cloud_efficiency",
      status = "In_use", instance = id, device = "/dev/xvd" .. string.char(97 + i), snapshot = d.SnapshotId,
      name = d.DiskName, description = d.Description, delete_with_instance = d.DeleteWithInstance ~= false })
    inst.disk_ids[#inst.disk_ids + 1] = disk.DiskId
  end
  c.apply_create_tags(id, "instance", p.Tag)
  stats:incr("created|instance", 1, 0)
  return inst
end

local function started(inst) inst.StartTime = util.iso8601_min(ngx.now()) end

local function numbered(base, i, amount, unique)
  if not base then return nil end
  if unique and amount > 1 then return base .. ("%03d"):format(i) end
  return base
end

A.RunInstances = {
  required = { "RegionId" },
  run = function(ctx, p)
    local region = c.region(p)
    if p.LaunchTemplateId or p.LaunchTemplateName then
      fail(501, "Emulator.ParameterNotSimulated", "Launch templates are not simulated by the lua-ecs emulator.")
    end
    local amount = p.Amount or 1
    if amount < 1 or amount > 100 or amount ~= math.floor(amount) then
      fail(400, "InvalidParameter.Amount", "The specified parameter Amount is not valid: 1 to 100.")
    end
    if p.MinAmount and (p.MinAmount < 1 or p.MinAmount > amount) then
      fail(400, "InvalidParameter.MinAmount", "The specified parameter MinAmount is not valid.")
    end
    local L = resolve_launch(ctx, p, region)
    ctx.commit()
    local ids = c.array()
    for i = 1, amount do
      local inst = new_instance(ctx, p, region, L, numbered(p.InstanceName, i, amount, p.UniqueSuffix),
        numbered(p.HostName, i, amount, p.UniqueSuffix))
      state.schedule(inst, { { "Starting", T_PENDING }, { "Running", T_STARTING, started } })
      ids[#ids + 1] = inst.InstanceId
    end
    return { InstanceIdSets = { InstanceIdSet = ids }, OrderId = "", TradePrice = 0 }
  end,
}

A.CreateInstance = {
  required = { "RegionId" },
  run = function(ctx, p)
    local region = c.region(p)
    local L = resolve_launch(ctx, p, region)
    ctx.commit()
    local inst = new_instance(ctx, p, region, L, p.InstanceName, p.HostName)
    state.schedule(inst, { { "Stopped", T_PENDING } })
    return { InstanceId = inst.InstanceId, OrderId = "", TradePrice = 0 }
  end,
}

-- one lifecycle operation on one instance; returns previous and current status
local OPS = {
  start = function(inst)
    if inst.Status ~= "Stopped" then bad_status() end
    return function()
      inst.Status = "Starting"
      state.schedule(inst, { { "Running", T_STARTING, started } })
    end
  end,
  stop = function(inst)
    if inst.Status ~= "Running" then bad_status() end
    return function()
      inst.Status = "Stopping"
      state.schedule(inst, { { "Stopped", T_STOPPING } })
    end
  end,
  reboot = function(inst)
    if inst.Status ~= "Running" then bad_status() end
    return function()
      inst.Status = "Starting"
      state.schedule(inst, { { "Running", T_STARTING, started } })
    end
  end,
}

local function single(op)
  return {
    required = { "InstanceId" },
    run = function(ctx, p)
      local inst = get_instance(ctx, p.InstanceId)
      local go = OPS[op](inst)
      ctx.commit()
      go()
      return {}
    end,
  }
end

local function batch(op)
  return {
    required = { "RegionId", "InstanceId" },
    run = function(ctx, p)
      local region = c.region(p)
      local ids = p.InstanceId
      if #ids > 100 then fail(400, "InvalidParameter", "The specified parameter \"InstanceId\" holds more than 100 items.") end
      local mode = p.BatchOptimization or "AllTogether"
      if mode ~= "AllTogether" and mode ~= "SuccessFirst" then
        fail(400, "InvalidParameter", "The specified parameter \"BatchOptimization\" is not valid.")
      end
      local plan, out = {}, c.array()
      for i, id in ipairs(ids) do
        local ok, res = pcall(function()
          local inst = get_instance(ctx, id, region)
          return { inst = inst, go = OPS[op](inst), prev = inst.Status }
        end)
        if not ok then
          if mode == "AllTogether" then error(res, 0) end
          out[i] = { InstanceId = id, Code = res.code or "InternalError", Message = res.message or tostring(res),
            PreviousStatus = "", CurrentStatus = "" }
        else
          plan[i] = res
        end
      end
      ctx.commit()
      for i, id in ipairs(ids) do
        local pl = plan[i]
        if pl then
          pl.go()
          out[i] = { InstanceId = id, Code = "200", Message = "success", PreviousStatus = pl.prev,
            CurrentStatus = pl.inst.Status }
        end
      end
      return { InstanceResponses = { InstanceResponse = out } }
    end,
  }
end

A.StartInstance, A.StartInstances = single("start"), batch("start")
A.StopInstance, A.StopInstances = single("stop"), batch("stop")
A.RebootInstance, A.RebootInstances = single("reboot"), batch("reboot")

local function release(ctx, inst)
  local S = ctx.S
  for _, did in ipairs(inst.disk_ids) do
    local d = S.disks[did]
    if d then
      if d.DeleteWithInstance or d.Type == "system" then S.disks[did] = nil; S.tags[did] = nil
      else d.Status = "Available"; d.InstanceId = ""; d.Device = ""; d.DetachedTime = util.iso8601(ngx.now()) end
    end
  end
  S.instances[inst.InstanceId] = nil
  S.tags[inst.InstanceId] = nil
end

local function deletable(inst, force)
  if inst.DeletionProtection then
    fail(403, "InvalidOperation.DeletionProtection", "The instance is protected against deletion; disable DeletionProtection first.")
  end
  if inst.Status == "Stopped" then return end
  if force and inst.Status == "Running" then return end
  bad_status()
end

A.DeleteInstance = {
  required = { "InstanceId" },
  run = function(ctx, p)
    local inst = get_instance(ctx, p.InstanceId)
    deletable(inst, p.Force)
    ctx.commit()
    release(ctx, inst)
    return {}
  end,
}

A.DeleteInstances = {
  required = { "RegionId", "InstanceId" },
  run = function(ctx, p)
    local region = c.region(p)
    local list = {}
    for _, id in ipairs(p.InstanceId) do
      local inst = get_instance(ctx, id, region)
      deletable(inst, p.Force)
      list[#list + 1] = inst
    end
    ctx.commit()
    for _, inst in ipairs(list) do release(ctx, inst) end
    return {}
  end,
}

A.ModifyInstanceAttribute = {
  required = { "InstanceId" },
  run = function(ctx, p)
    local inst = get_instance(ctx, p.InstanceId)
    check_name(p.InstanceName, "InstanceName")
    check_password(p.Password)
    if p.HostName and (#p.HostName < 2 or #p.HostName > 64) then
      fail(400, "InvalidHostName.Malformed", "The specified parameter HostName is not valid.")
    end
    if p.Description and #p.Description > 256 then
      fail(400, "InvalidDescription.Malformed", "The specified parameter Description is not valid.")
    end
    local sgs
    if p.SecurityGroupIds then
      sgs = {}
      for _, s in ipairs(p.SecurityGroupIds) do
        local sg = network.get_sg(ctx, inst.RegionId, s)
        if sg.VpcId ~= inst.VpcId then
          fail(403, "InvalidSecurityGroup.VpcMismatch", "The specified security group and the instance are not in the same VPC.")
        end
        sgs[#sgs + 1] = s
      end
    end
    if (p.Password or p.HostName or p.UserData) and inst.Status ~= "Running" and inst.Status ~= "Stopped" then
      bad_status()
    end
    ctx.commit()
    if p.InstanceName then inst.InstanceName = p.InstanceName end
    if p.Description then inst.Description = p.Description end
    if p.HostName then inst.HostName = p.HostName end
    if p.UserData then inst.UserData = p.UserData end
    if p.DeletionProtection ~= nil then inst.DeletionProtection = p.DeletionProtection end
    if sgs then inst.sg_ids = sgs end
    return {}
  end,
}

local function instance_view(inst)
  local S = state.S
  local v = {}
  for _, k in ipairs { "InstanceId", "RegionId", "ZoneId", "InstanceType", "InstanceTypeFamily", "Cpu", "Memory",
    "ImageId", "OSName", "OSNameEn", "OSType", "InstanceName", "HostName", "Description", "Status", "CreationTime",
    "StartTime", "ExpiredTime", "AutoReleaseTime", "InstanceChargeType", "InternetChargeType",
    "InternetMaxBandwidthOut", "InternetMaxBandwidthIn", "InstanceNetworkType", "KeyPairName", "DeletionProtection",
    "ResourceGroupId", "StoppedMode", "SerialNumber", "IoOptimized", "CreditSpecification", "SpotStrategy" } do
    v[k] = inst[k]
  end
  v.DeviceAvailable = true
  v.Recyclable = false
  v.GPUAmount = 0
  v.GPUSpec = ""
  v.LocalStorageAmount = 0
  v.LocalStorageCapacity = 0
  v.SaleCycle = ""
  v.VlanId = ""
  v.DeploymentSetId = ""
  v.HpcClusterId = ""
  v.ClusterId = ""
  v.SecurityGroupIds = { SecurityGroupId = util.array(util.deepcopy(inst.sg_ids)) }
  v.PublicIpAddress = { IpAddress = util.array { inst.PublicIp } }
  v.InnerIpAddress = { IpAddress = util.array() }
  v.RdmaIpAddress = { IpAddress = util.array() }
  v.VpcAttributes = { VpcId = inst.VpcId, VSwitchId = inst.VSwitchId, NatIpAddress = "",
    PrivateIpAddress = { IpAddress = util.array { inst.PrivateIp } } }
  v.EipAddress = { IpAddress = "", AllocationId = "", InternetChargeType = "", Bandwidth = 0, IsSupportUnassociate = false }
  v.NetworkInterfaces = { NetworkInterface = util.array { {
    Type = "Primary", NetworkInterfaceId = "eni-" .. inst.InstanceId:sub(3), PrimaryIpAddress = inst.PrivateIp,
    MacAddress = inst.mac,
    PrivateIpSets = { PrivateIpSet = util.array { { PrivateIpAddress = inst.PrivateIp, Primary = true } } },
  } } }
  v.OperationLocks = { LockReason = util.array() }
  v.Tags = { Tag = state.tag_list(inst.InstanceId) }
  v.MetadataOptions = { HttpEndpoint = "enabled", HttpTokens = "optional", HttpPutResponseHopLimit = 1 }
  v.HibernationOptions = { Configured = false }
  v.CpuOptions = { CoreCount = math.max(1, math.floor(inst.Cpu / 2)), ThreadsPerCore = inst.Cpu > 1 and 2 or 1, Numa = "" }
  v.DedicatedHostAttribute = { DedicatedHostId = "", DedicatedHostName = "", DedicatedHostClusterId = "" }
  v.EcsCapacityReservationAttr = { CapacityReservationId = "", CapacityReservationPreference = "" }
  v.DedicatedInstanceAttribute = { Affinity = "", Tenancy = "" }
  v.ImageOptions = {}
  return v
end
A.instance_view = instance_view

local STATUSES = { Pending = true, Running = true, Starting = true, Stopping = true, Stopped = true }

-- "yyyy-MM-ddTHH:mmZ" (or with seconds) to epoch seconds
local function filter_time(v)
  if not v then return nil end
  local t = util.parse_iso8601(v) or util.parse_iso8601((v:gsub("Z$", ":00Z")))
  if not t then fail(404, "InvalidFilterValue", "Invalid filter." .. v) end
  return t
end

local function match_ip(list, ip)
  if not list then return true end
  for _, x in ipairs(list) do if x == ip then return true end end
  return false
end

local function like(pattern, s)
  if not pattern then return true end
  if pattern:find("*", 1, true) then
    local lp = "^" .. pattern:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".*") .. "$"
    return s:match(lp) ~= nil
  end
  return pattern == s
end

A.DescribeInstances = {
  required = { "RegionId" },
  run = function(ctx, p)
    local region = c.region(p)
    c.tags_filter_ok(p)
    if p.Status and not STATUSES[p.Status] then fail(404, "InvalidStatus.NotFound", "The specified Status is not found.") end
    if p.InstanceNetworkType and p.InstanceNetworkType ~= "vpc" and p.InstanceNetworkType ~= "classic" then
      fail(404, "InvalidNetworkType.NotFound", "The specified InstanceNetworkType is not found.")
    end
    if p.InstanceChargeType and p.InstanceChargeType ~= "PostPaid" and p.InstanceChargeType ~= "PrePaid" then
      fail(404, "InvalidInstanceChargeType.NotFound", "The InstanceChargeType does not exist in our records.")
    end
    if p.InternetChargeType and p.InternetChargeType ~= "PayByTraffic" and p.InternetChargeType ~= "PayByBandwidth" then
      fail(404, "InvalidInternetChargeType.ValueNotSupported", "The specified InternetChargeType is not valid.")
    end
    if p.LockReason and p.LockReason ~= "financial" and p.LockReason ~= "security" and p.LockReason ~= "recycling"
      and p.LockReason ~= "dedicatedhostfinancial" and p.LockReason ~= "refunded" then
      fail(404, "InvalidLockReason.NotFound", "The specified LockReason is not found.")
    end
    local ids = c.set_of(c.json_list(p, "InstanceIds", 100))
    local priv = c.json_list(p, "PrivateIpAddresses", 100)
    local pub = c.json_list(p, "PublicIpAddresses", 100)
    local inner = c.json_list(p, "InnerIpAddresses", 100)
    local cstart, cend
    for _, f in ipairs(p.Filter or {}) do
      if f.Key == "CreationStartTime" then cstart = filter_time(f.Value)
      elseif f.Key == "CreationEndTime" then cend = filter_time(f.Value)
      elseif f.Key == "ExpiredStartTime" or f.Key == "ExpiredEndTime" then filter_time(f.Value)
      elseif f.Key then fail(404, "InvalidFilterKey.NotFound", "Invalid filter." .. f.Key) end
    end
    local items = {}
    for _, inst in ipairs(state.list(ctx.S.instances, function(i)
      if i.RegionId ~= region then return false end
      if ids and not ids[i.InstanceId] then return false end
      if p.ZoneId and p.ZoneId ~= i.ZoneId then return false end
      if p.VpcId and p.VpcId ~= i.VpcId then return false end
      if p.VSwitchId and p.VSwitchId ~= i.VSwitchId then return false end
      if p.InstanceNetworkType and p.InstanceNetworkType ~= i.InstanceNetworkType then return false end
      if p.SecurityGroupId then
        local found = false
        for _, s in ipairs(i.sg_ids) do if s == p.SecurityGroupId then found = true end end
        if not found then return false end
      end
      if not like(p.InstanceName, i.InstanceName) then return false end
      if p.ImageId and p.ImageId ~= i.ImageId then return false end
      if p.Status and p.Status ~= i.Status then return false end
      if p.InstanceType and p.InstanceType ~= i.InstanceType then return false end
      if p.InstanceTypeFamily and p.InstanceTypeFamily ~= i.InstanceTypeFamily then return false end
      if p.InstanceChargeType and p.InstanceChargeType ~= i.InstanceChargeType then return false end
      if p.InternetChargeType and p.InternetChargeType ~= i.InternetChargeType then return false end
      if p.KeyPairName and p.KeyPairName ~= i.KeyPairName then return false end
      if p.ResourceGroupId and p.ResourceGroupId ~= i.ResourceGroupId then return false end
      if p.LockReason then return false end -- the emulator never locks instances
      if not match_ip(priv, i.PrivateIp) or not match_ip(pub, i.PublicIp) or (inner and #inner > 0) then return false end
      if cstart and i.created_at < cstart then return false end
      if cend and i.created_at > cend + 60 then return false end
      return state.match_tags(i.InstanceId, p.Tag)
    end)) do items[#items + 1] = instance_view(inst) end
    local page, meta
    if c.uses_token_paging(p) then page, meta = c.token_page(p, items)
    else page, meta = c.page(p, items) end
    meta.Instances = { Instance = page }
    return meta
  end,
}

A.DescribeInstanceStatus = {
  required = { "RegionId" },
  run = function(ctx, p)
    local region = c.region(p)
    local ids = c.set_of(p.InstanceId)
    local items = {}
    for _, inst in ipairs(state.list(ctx.S.instances, function(i)
      return i.RegionId == region and (not ids or ids[i.InstanceId]) and (not p.ZoneId or p.ZoneId == i.ZoneId)
    end)) do items[#items + 1] = { InstanceId = inst.InstanceId, Status = inst.Status } end
    local page, meta = c.page(p, items, 50)
    meta.InstanceStatuses = { InstanceStatus = page }
    return meta
  end,
}

A.DescribeInstanceAttribute = {
  required = { "InstanceId" },
  run = function(ctx, p)
    local inst = get_instance(ctx, p.InstanceId)
    local v = instance_view(inst)
    v.InnerIpAddress = { IpAddress = util.array() }
    return v
  end,
}

return A

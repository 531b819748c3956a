-- RunInstances, CreateInstance: the launch request resolved (image, type, network, disks),
-- then the instances made by emu.model.instances.
local args = require "emu.args"
local data = require "emu.data"
local disks = require "emu.model.disks"
local images = require "emu.model.images"
local instances = require "emu.model.instances"
local network = require "emu.model.network"
local respond = require "emu.respond"
local util = require "emu.util"

local fail = respond.fail
local A = {}

local function missing(name)
  fail(400, "MissingParameter." .. name, "The input parameter \"" .. name .. "\" that is mandatory for processing this request is not supplied.")
end

-- image, type, network and disks of a launch request; shared by RunInstances and CreateInstance
local function resolve_launch(ctx, p, region)
  local S = ctx.S
  local image_id = p.ImageId
  if not image_id and p.ImageFamily then
    image_id = images.from_family(p.ImageFamily)
    if not image_id then fail(404, "InvalidImageFamily.NotFound", "The specified ImageFamily does not exist.") end
  end
  if not image_id then missing("ImageId") end
  local img = images.launchable(image_id)
  if not img then fail(404, "InvalidImageId.NotFound", "The specified ImageId does not exist.") end
  if not p.InstanceType then missing("InstanceType") end
  local itype = images.instance_type(p.InstanceType)
  if not itype then
    fail(400, "InvalidInstanceType.ValueNotSupported", "The specified InstanceType does not exist or beyond the permitted range.")
  end
  if not images.supports(img, itype) then
    fail(403, "ImageNotSupportInstanceType", "The specified instance type does not support this image.")
  end

  -- security groups and network
  local sg_ids = {}
  if p.SecurityGroupId then sg_ids[1] = p.SecurityGroupId end
  if p.SecurityGroupIds then for _, s in ipairs(p.SecurityGroupIds) do sg_ids[#sg_ids + 1] = s end end
  if #sg_ids == 0 then missing("SecurityGroupId") end
  local vpc_id
  for _, s in ipairs(sg_ids) do
    local sg = network.security_group(S, s, region)
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
    vsw = network.vswitch(S, p.VSwitchId, region)
    if vsw.VpcId ~= vpc_id then
      fail(403, "InvalidSecurityGroup.VpcMismatch", "The specified security group and VSwitch are not in the same VPC.")
    end
    if p.ZoneId and p.ZoneId ~= vsw.ZoneId then
      fail(400, "InvalidParameter", "The specified parameter \"ZoneId\" is not valid: the VSwitch is in zone " .. vsw.ZoneId .. ".")
    end
  else
    vsw = network.default_vswitch(S, region, p.ZoneId, vpc_id)
    if not vsw then
      fail(400, "InvalidVSwitchId.Missing", "The VPC of the security group has no VSwitch in the requested zone; specify VSwitchId.")
    end
  end

  -- disks
  local sd = p.SystemDisk or {}
  local sd_cat = sd.Category or "cloud_efficiency"
  if not disks.category_ok(sd_cat) then
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
    if not disks.category_ok(cat) then
      fail(400, "InvalidDataDiskCategory.ValueNotSupported", "The specified DataDisk." .. i .. ".Category is not valid.")
    end
    if d.SnapshotId and not S.snapshots[d.SnapshotId] then
      fail(404, "InvalidDataDiskSnapshotId.NotFound", "The specified DataDisk." .. i .. ".SnapshotId does not exist.")
    end
    if not d.Size and not d.SnapshotId then missing("DataDisk." .. i .. ".Size") end
    if d.Size then disks.check_size(d.Size, cat) end
  end
  instances.check_name(p.InstanceName, "InstanceName")
  instances.check_password(p.Password)
  instances.check_host_name(p.HostName)
  if p.InternetMaxBandwidthOut and (p.InternetMaxBandwidthOut < 0 or p.InternetMaxBandwidthOut > 100) then
    fail(400, "InvalidInternetMaxBandwidthOut.Malformed", "The specified parameter InternetMaxBandwidthOut is not valid.")
  end
  args.check_tags(p)
  return { img = img, itype = itype, sg_ids = sg_ids, vsw = vsw, sd_cat = sd_cat, sd_size = sd_size, dd = dd }
end

-- InstanceName / HostName of the i-th of `amount` instances: with UniqueSuffix, name001, name002...
local function numbered(base, i, amount, unique)
  if not base then return nil end
  if unique and amount > 1 then return base .. ("%03d"):format(i) end
  return base
end

A.RunInstances = {
  run = function(ctx, p)
    local region = args.region(ctx, p)
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
    local ids = util.array()
    for i = 1, amount do
      local inst = instances.new(ctx.S, p, region, L, numbered(p.InstanceName, i, amount, p.UniqueSuffix),
        numbered(p.HostName, i, amount, p.UniqueSuffix))
      instances.boot(inst)
      ids[#ids + 1] = inst.InstanceId
    end
    return { InstanceIdSets = { InstanceIdSet = ids }, OrderId = "", TradePrice = 0 }
  end,
}

A.CreateInstance = {
  run = function(ctx, p)
    local region = args.region(ctx, p)
    local L = resolve_launch(ctx, p, region)
    ctx.commit()
    local inst = instances.new(ctx.S, p, region, L, p.InstanceName, p.HostName)
    instances.provision(inst)
    return { InstanceId = inst.InstanceId, OrderId = "", TradePrice = 0 }
  end,
}

return A

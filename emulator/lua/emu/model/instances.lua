-- Instances: creation (with their system and data disks), the lifecycle
-- (Pending -> Starting -> Running, Stopping -> Stopped), deletion and the reply's view.
local disks = require "emu.model.disks"
local network = require "emu.model.network"
local respond = require "emu.respond"
local state = require "emu.state"
local stats = require "emu.stats"
local tags = require "emu.model.tags"
local util = require "emu.util"

local ngx = ngx
local fail = respond.fail
local M = {}

-- base durations in seconds, multiplied by the speed setting
local T_PENDING, T_STARTING, T_STOPPING = 1, 2, 2

function M.bad_status()
  fail(403, "IncorrectInstanceStatus", "The current status of the resource does not support this operation.")
end

-- the instance `id` (in `region` when given), settled; InvalidInstanceId.NotFound otherwise
function M.find(S, id, region)
  return state.find(S.instances, id, region, "InvalidInstanceId.NotFound",
    "The specified InstanceId does not exist.")
end

-- ------------------------------------------------------------------ attribute checks

function M.check_name(name, what)
  if name and (#name < 2 or #name > 128 or name:match("^https?://") or not name:match("^[%a\128-\255]")) then
    fail(400, "Invalid" .. what .. ".Malformed", "The specified parameter " .. what .. " is not valid.")
  end
end

function M.check_password(pw)
  if pw and (#pw < 8 or #pw > 30) then
    fail(400, "InvalidPassword.Malformed", "The specified parameter Password is not valid.")
  end
end

function M.check_host_name(host)
  if host and (#host < 2 or #host > 64) then
    fail(400, "InvalidHostName.Malformed", "The specified parameter HostName is not valid.")
  end
end

-- ------------------------------------------------------------------ creation

-- A new instance (status Pending) with its disks and tags. L is the resolved launch: img, itype,
-- sg_ids, vsw, sd_cat, sd_size, dd (see emu.actions.instances.launch); p the request.
function M.new(S, p, region, L, name, host)
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
    PrivateIp = network.next_ip(S, L.vsw), sg_ids = L.sg_ids, disk_ids = {},
    KeyPairName = p.KeyPairName or "", DeletionProtection = p.DeletionProtection == true,
    ResourceGroupId = p.ResourceGroupId or "", StoppedMode = "Not-applicable", SerialNumber = util.rand_hex(8) ..
      "-" .. util.rand_hex(4) .. "-" .. util.rand_hex(4) .. "-" .. util.rand_hex(4) .. "-" .. util.rand_hex(12),
    IoOptimized = true, CreditSpecification = "", SpotStrategy = p.SpotStrategy or "NoSpot",
    UserData = p.UserData, order = state.next_order(S), created_at = now,
    mac = ("00:16:3e:%s:%s:%s"):format(util.rand_hex(2), util.rand_hex(2), util.rand_hex(2)),
  }
  if inst.InternetMaxBandwidthOut > 0 then
    inst.PublicIp = ("47.%d.%d.%d"):format(math.random(80, 120), math.random(0, 255), math.random(1, 254))
  end
  S.instances[id] = inst
  local sys = disks.new(S, { region = region, zone = inst.ZoneId, size = L.sd_size, category = L.sd_cat,
    type = "system", status = "In_use", instance = id, device = "/dev/xvda", image = L.img[1],
    name = (p.SystemDisk or {}).DiskName, description = (p.SystemDisk or {}).Description })
  inst.disk_ids[1] = sys.DiskId
  for i, d in ipairs(L.dd) do
    local size = d.Size
    if not size and d.SnapshotId then size = S.snapshots[d.SnapshotId].SourceDiskSize end
    local disk = disks.new(S, { region = region, zone = inst.ZoneId, size = size, category = d.Category or "cloud_efficiency",
      status = "In_use", instance = id, device = "/dev/xvd" .. string.char(97 + i), snapshot = d.SnapshotId,
      name = d.DiskName, description = d.Description, delete_with_instance = d.DeleteWithInstance ~= false })
    inst.disk_ids[#inst.disk_ids + 1] = disk.DiskId
  end
  tags.apply(S, id, p.Tag)
  stats.created("instance")
  return inst
end

-- ------------------------------------------------------------------ lifecycle

local function started(inst) inst.StartTime = util.iso8601_min(ngx.now()) end

-- RunInstances: Pending -> Starting (1 s) -> Running (2 s)
function M.boot(inst)
  state.schedule(inst, { { "Starting", T_PENDING }, { "Running", T_STARTING, started } })
end

-- CreateInstance: Pending -> Stopped (1 s)
function M.provision(inst)
  state.schedule(inst, { { "Stopped", T_PENDING } })
end

-- Start, stop, reboot: each checks the instance's status (IncorrectInstanceStatus) and returns
-- the function that performs the operation.
M.OPS = {
  start = function(inst)
    if inst.Status ~= "Stopped" then M.bad_status() end
    return function()
      inst.Status = "Starting"
      state.schedule(inst, { { "Running", T_STARTING, started } })
    end
  end,
  stop = function(inst)
    if inst.Status ~= "Running" then M.bad_status() end
    return function()
      inst.Status = "Stopping"
      state.schedule(inst, { { "Stopped", T_STOPPING } })
    end
  end,
  reboot = function(inst)
    if inst.Status ~= "Running" then M.bad_status() end
    return function()
      inst.Status = "Starting"
      state.schedule(inst, { { "Running", T_STARTING, started } })
    end
  end,
}

-- whether the instance may be deleted (only Stopped, or Running with force)
function M.check_deletable(inst, force)
  if inst.DeletionProtection then
    fail(403, "InvalidOperation.DeletionProtection", "The instance is protected against deletion; disable DeletionProtection first.")
  end
  if inst.Status == "Stopped" then return end
  if force and inst.Status == "Running" then return end
  M.bad_status()
end

-- deletes the instance, its system disk and the disks that go with it
function M.release(S, inst)
  for _, did in ipairs(inst.disk_ids) do
    local d = S.disks[did]
    if d then disks.instance_gone(S, d) end
  end
  S.instances[inst.InstanceId] = nil
  tags.forget(S, inst.InstanceId)
end

-- whether the instance is in security group sg_id
function M.in_security_group(inst, sg_id)
  for _, s in ipairs(inst.sg_ids) do if s == sg_id then return true end end
  return false
end

-- ------------------------------------------------------------------ the reply's view

local COPIED = { "InstanceId", "RegionId", "ZoneId", "InstanceType", "InstanceTypeFamily", "Cpu", "Memory",
  "ImageId", "OSName", "OSNameEn", "OSType", "InstanceName", "HostName", "Description", "Status", "CreationTime",
  "StartTime", "ExpiredTime", "AutoReleaseTime", "InstanceChargeType", "InternetChargeType",
  "InternetMaxBandwidthOut", "InternetMaxBandwidthIn", "InstanceNetworkType", "KeyPairName", "DeletionProtection",
  "ResourceGroupId", "StoppedMode", "SerialNumber", "IoOptimized", "CreditSpecification", "SpotStrategy" }

function M.view(S, inst)
  local v = {}
  for _, k in ipairs(COPIED) do v[k] = inst[k] end
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
  v.Tags = { Tag = tags.list(S, inst.InstanceId) }
  v.MetadataOptions = { HttpEndpoint = "enabled", HttpTokens = "optional", HttpPutResponseHopLimit = 1 }
  v.HibernationOptions = { Configured = false }
  v.CpuOptions = { CoreCount = math.max(1, math.floor(inst.Cpu / 2)), ThreadsPerCore = inst.Cpu > 1 and 2 or 1, Numa = "" }
  v.DedicatedHostAttribute = { DedicatedHostId = "", DedicatedHostName = "", DedicatedHostClusterId = "" }
  v.EcsCapacityReservationAttr = { CapacityReservationId = "", CapacityReservationPreference = "" }
  v.DedicatedInstanceAttribute = { Affinity = "", Tenancy = "" }
  v.ImageOptions = {}
  return v
end

return M

-- DescribeInstances (the filters of its reference page, both paging modes),
-- DescribeInstanceStatus, DescribeInstanceAttribute.
local args = require "emu.args"
local describe = require("emu.describe").describe
local instances = require "emu.model.instances"
local respond = require "emu.respond"
local util = require "emu.util"

local fail = respond.fail
local A = {}

local STATUSES = { Pending = true, Running = true, Starting = true, Stopping = true, Stopped = true }
local LOCK_REASONS = { financial = true, security = true, recycling = true, dedicatedhostfinancial = true, refunded = true }

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

A.DescribeInstances = describe {
  region = "required", tags = true, from = "instances", id = "InstanceId", list = "Instances.Instance",
  paging = "either",
  query = function(_, p)
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
    if p.LockReason and not LOCK_REASONS[p.LockReason] then
      fail(404, "InvalidLockReason.NotFound", "The specified LockReason is not found.")
    end
    local q = {
      ids = args.set_of(args.json_list(p, "InstanceIds", 100)),
      priv = args.json_list(p, "PrivateIpAddresses", 100),
      pub = args.json_list(p, "PublicIpAddresses", 100),
      inner = args.json_list(p, "InnerIpAddresses", 100),
    }
    for _, f in ipairs(p.Filter or {}) do
      if f.Key == "CreationStartTime" then q.cstart = filter_time(f.Value)
      elseif f.Key == "CreationEndTime" then q.cend = filter_time(f.Value)
      elseif f.Key == "ExpiredStartTime" or f.Key == "ExpiredEndTime" then filter_time(f.Value)
      elseif f.Key then fail(404, "InvalidFilterKey.NotFound", "Invalid filter." .. f.Key) end
    end
    return q
  end,
  match = function(i, p, q)
    if q.ids and not q.ids[i.InstanceId] then return false end
    if p.ZoneId and p.ZoneId ~= i.ZoneId then return false end
    if p.VpcId and p.VpcId ~= i.VpcId then return false end
    if p.VSwitchId and p.VSwitchId ~= i.VSwitchId then return false end
    if p.InstanceNetworkType and p.InstanceNetworkType ~= i.InstanceNetworkType then return false end
    if p.SecurityGroupId and not instances.in_security_group(i, p.SecurityGroupId) then return false end
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
    if not match_ip(q.priv, i.PrivateIp) or not match_ip(q.pub, i.PublicIp) or (q.inner and #q.inner > 0) then return false end
    if q.cstart and i.created_at < q.cstart then return false end
    if q.cend and i.created_at > q.cend + 60 then return false end
    return true
  end,
  view = function(ctx, inst) return instances.view(ctx.S, inst) end,
}

A.DescribeInstanceStatus = describe {
  region = "required", from = "instances", list = "InstanceStatuses.InstanceStatus", paging = "page", max = 50,
  query = function(_, p) return { ids = args.set_of(p.InstanceId) } end,
  match = function(i, p, q)
    return (not q.ids or q.ids[i.InstanceId]) and (not p.ZoneId or p.ZoneId == i.ZoneId)
  end,
  view = function(_, inst) return { InstanceId = inst.InstanceId, Status = inst.Status } end,
}

A.DescribeInstanceAttribute = {
  run = function(ctx, p)
    return instances.view(ctx.S, instances.find(ctx.S, p.InstanceId))
  end,
}

return A

-- Network: the default VPC and VSwitches of each region (made the first time a region is used),
-- private IPs, security groups and their rules.
local data = require "emu.data"
local respond = require "emu.respond"
local state = require "emu.state"
local stats = require "emu.stats"
local tags = require "emu.model.tags"
local util = require "emu.util"

local ngx = ngx
local fail = respond.fail
local M = {}

-- default VPC and one default VSwitch per zone, made the first time a region is used
function M.ensure_region(S, region)
  if S.regions_ready[region] then return end
  S.regions_ready[region] = true
  local vpc_id = util.new_id("vpc")
  S.vpcs[vpc_id] = {
    VpcId = vpc_id, RegionId = region, VpcName = "default", IsDefault = true, Status = "Available",
    CidrBlock = "172.16.0.0/12", CreationTime = util.iso8601(ngx.now()), Description = "",
    order = state.next_order(S), VSwitchIds = {},
  }
  for i, zone in ipairs(data.zones(region)) do
    local vsw = util.new_id("vsw")
    S.vswitches[vsw] = {
      VSwitchId = vsw, VpcId = vpc_id, ZoneId = zone, RegionId = region, IsDefault = true,
      Status = "Available", CidrBlock = ("172.%d.0.0/20"):format(15 + i), VSwitchName = "default",
      AvailableIpAddressCount = 4091, CreationTime = util.iso8601(ngx.now()), Description = "",
      order = state.next_order(S), subnet = 15 + i,
    }
    S.vpcs[vpc_id].VSwitchIds[#S.vpcs[vpc_id].VSwitchIds + 1] = vsw
  end
  S.default_vpc[region] = vpc_id
end

function M.default_vpc(S, region)
  M.ensure_region(S, region)
  return S.default_vpc[region]
end

-- the first VSwitch of a VPC (the region's default VPC when nil), in `zone` when given
function M.default_vswitch(S, region, zone, vpc_id)
  M.ensure_region(S, region)
  vpc_id = vpc_id or S.default_vpc[region]
  local best
  for _, v in pairs(S.vswitches) do
    if v.VpcId == vpc_id and (not zone or v.ZoneId == zone) then
      if not best or v.order < best.order then best = v end
    end
  end
  return best
end

function M.next_ip(S, vsw)
  S.ip_counter = S.ip_counter + 1
  local n = S.ip_counter
  return ("172.%d.%d.%d"):format(vsw.subnet or 16, math.floor(n / 250) % 250, n % 250 + 2)
end

function M.vpc(S, id, region)
  local v = S.vpcs[id]
  if not v or v.RegionId ~= region then fail(404, "InvalidVpcId.NotFound", "Specified VPC does not exist.") end
  return v
end

function M.vswitch(S, id, region)
  local v = S.vswitches[id]
  if not v or v.RegionId ~= region then
    fail(404, "InvalidVSwitchId.NotFound", "Specified virtual switch does not exist.")
  end
  return v
end

function M.vpc_view(v)
  return { VpcId = v.VpcId, RegionId = v.RegionId, VpcName = v.VpcName, IsDefault = v.IsDefault,
    Status = v.Status, CidrBlock = v.CidrBlock, CreationTime = v.CreationTime, Description = v.Description,
    VSwitchIds = { VSwitchId = util.array(util.deepcopy(v.VSwitchIds)) } }
end

function M.vswitch_view(v)
  return { VSwitchId = v.VSwitchId, VpcId = v.VpcId, ZoneId = v.ZoneId, IsDefault = v.IsDefault,
    Status = v.Status, CidrBlock = v.CidrBlock, VSwitchName = v.VSwitchName, CreationTime = v.CreationTime,
    AvailableIpAddressCount = v.AvailableIpAddressCount, Description = v.Description }
end

-- ------------------------------------------------------------------ security groups

-- the security group `id` in `region`; InvalidSecurityGroupId.NotFound otherwise
function M.security_group(S, id, region)
  return state.find(S.sgs, id, region, "InvalidSecurityGroupId.NotFound",
    "The specified SecurityGroupId does not exist.")
end

-- t: region, vpc, name, description, type, resource_group
function M.new_security_group(S, t)
  local id = util.new_id("sg")
  local sg = {
    SecurityGroupId = id, RegionId = t.region, VpcId = t.vpc, SecurityGroupName = t.name or "",
    Description = t.description or "", SecurityGroupType = t.type or "normal",
    CreationTime = util.iso8601(ngx.now()), order = state.next_order(S), rules = {},
    ResourceGroupId = t.resource_group or "",
  }
  S.sgs[id] = sg
  stats.created("securitygroup")
  return sg
end

-- how many instances use the security group
function M.members(S, sg_id)
  local n = 0
  for _, inst in pairs(S.instances) do
    for _, s in ipairs(inst.sg_ids) do if s == sg_id then n = n + 1 end end
  end
  return n
end

function M.delete_security_group(S, sg)
  S.sgs[sg.SecurityGroupId] = nil
  tags.forget(S, sg.SecurityGroupId)
end

function M.security_group_view(S, sg)
  return { SecurityGroupId = sg.SecurityGroupId, SecurityGroupName = sg.SecurityGroupName,
    Description = sg.Description, VpcId = sg.VpcId, SecurityGroupType = sg.SecurityGroupType,
    CreationTime = sg.CreationTime, ResourceGroupId = sg.ResourceGroupId, ServiceManaged = false,
    EcsCount = M.members(S, sg.SecurityGroupId), AvailableInstanceAmount = 2000 - M.members(S, sg.SecurityGroupId),
    RuleCount = #sg.rules, GroupToGroupRuleCount = 0,
    Tags = { Tag = tags.list(S, sg.SecurityGroupId) } }
end

-- the identity of a rule: two rules with the same key are one
function M.rule_key(r)
  return table.concat({ r.Direction, r.IpProtocol, r.PortRange, r.SourceCidrIp, r.DestCidrIp,
    r.SourceGroupId, r.Policy, r.NicType }, "|")
end

-- adds the rules the group does not have yet
function M.authorize(sg, rules)
  for _, r in ipairs(rules) do
    local k = M.rule_key(r)
    local dup = false
    for _, x in ipairs(sg.rules) do if M.rule_key(x) == k then dup = true end end
    if not dup then
      r.CreateTime = util.iso8601(ngx.now())
      r.SecurityGroupRuleId = util.new_id("sgr")
      sg.rules[#sg.rules + 1] = r
    end
  end
end

-- drops the rules whose SecurityGroupRuleId or rule key is in `drop`
function M.revoke(sg, drop)
  local keep = {}
  for _, r in ipairs(sg.rules) do
    if not (drop[r.SecurityGroupRuleId] or drop[M.rule_key(r)]) then keep[#keep + 1] = r end
  end
  sg.rules = keep
end

-- the rules of a group in one direction ("ingress", "egress"; nil or "all" for both), copied
function M.rules_view(sg, direction)
  local perms = util.array()
  for _, r in ipairs(sg.rules) do
    if not direction or direction == "all" or direction == r.Direction then
      perms[#perms + 1] = util.deepcopy(r)
    end
  end
  return perms
end

return M

-- Default VPC and VSwitches (read-only), security groups and their rules.
local args = require "emu.args"
local describe = require("emu.describe").describe
local network = require "emu.model.network"
local respond = require "emu.respond"
local tags = require "emu.model.tags"

local fail = respond.fail
local A = {}

A.DescribeVpcs = describe {
  region = "required", from = "vpcs", list = "Vpcs.Vpc", paging = "page", max = 50,
  match = function(v, p)
    return (not p.VpcId or p.VpcId == v.VpcId) and (p.IsDefault == nil or p.IsDefault == v.IsDefault)
  end,
  view = function(_, v) return network.vpc_view(v) end,
}

A.DescribeVSwitches = describe {
  region = "optional", from = "vswitches", list = "VSwitches.VSwitch", paging = "page", max = 50,
  match = function(v, p)
    return (not p.VpcId or p.VpcId == v.VpcId) and (not p.ZoneId or p.ZoneId == v.ZoneId)
      and (not p.VSwitchId or p.VSwitchId == v.VSwitchId) and (p.IsDefault == nil or p.IsDefault == v.IsDefault)
  end,
  view = function(_, v) return network.vswitch_view(v) end,
}

A.CreateSecurityGroup = {
  run = function(ctx, p)
    local region = args.region(ctx, p)
    local vpc = p.VpcId
    if vpc then
      network.vpc(ctx.S, vpc, region)
    else
      vpc = network.default_vpc(ctx.S, region)
    end
    if p.SecurityGroupName and (#p.SecurityGroupName < 2 or #p.SecurityGroupName > 128 or p.SecurityGroupName:match("^https?://")) then
      fail(400, "InvalidSecurityGroupName.Malformed", "Specified security group name is not valid.")
    end
    args.check_tags(p)
    ctx.commit()
    local sg = network.new_security_group(ctx.S, { region = region, vpc = vpc, name = p.SecurityGroupName,
      description = p.Description, type = p.SecurityGroupType, resource_group = p.ResourceGroupId })
    tags.apply(ctx.S, sg.SecurityGroupId, p.Tag)
    return { SecurityGroupId = sg.SecurityGroupId }
  end,
}

A.DescribeSecurityGroups = describe {
  region = "required", tags = true, from = "sgs", id = "SecurityGroupId",
  list = "SecurityGroups.SecurityGroup", paging = "either", max = 50, region_field = true,
  query = function(_, p) return { ids = args.set_of(args.json_list(p, "SecurityGroupIds", 100)) } end,
  match = function(sg, p, q)
    return (not p.VpcId or p.VpcId == sg.VpcId)
      and (not q.ids or q.ids[sg.SecurityGroupId]) and (not p.SecurityGroupId or p.SecurityGroupId == sg.SecurityGroupId)
      and (not p.SecurityGroupName or p.SecurityGroupName == sg.SecurityGroupName)
      and (not p.SecurityGroupType or p.SecurityGroupType == sg.SecurityGroupType)
  end,
  view = function(ctx, sg) return network.security_group_view(ctx.S, sg) end,
}

A.DescribeSecurityGroupAttribute = {
  run = function(ctx, p)
    local region = args.region(ctx, p)
    local sg = network.security_group(ctx.S, p.SecurityGroupId, region)
    return { RegionId = region, SecurityGroupId = sg.SecurityGroupId, SecurityGroupName = sg.SecurityGroupName,
      Description = sg.Description, VpcId = sg.VpcId, InnerAccessPolicy = "Accept",
      Permissions = { Permission = network.rules_view(sg, p.Direction) } }
  end,
}

local PROTOCOLS = { tcp = true, udp = true, icmp = true, gre = true, all = true, icmpv6 = true }

-- one rule from either the legacy flat parameters or one Permissions.N entry
local function rule_from(src, direction)
  local proto = src.IpProtocol and src.IpProtocol:lower()
  if not proto then
    fail(400, "MissingParameter.IpProtocol", "The input parameter \"IpProtocol\" that is mandatory for processing this request is not supplied.")
  end
  if not PROTOCOLS[proto] then fail(400, "InvalidIpProtocol.Malformed", "Specified IP protocol is not valid.") end
  local range = src.PortRange
  if not range then
    fail(400, "MissingParameter.PortRange", "The input parameter \"PortRange\" that is mandatory for processing this request is not supplied.")
  end
  local a, b = range:match("^(%-?%d+)/(%-?%d+)$")
  a, b = tonumber(a), tonumber(b)
  if not a or ((proto == "tcp" or proto == "udp") and (a < 1 or b > 65535 or a > b))
    or ((proto ~= "tcp" and proto ~= "udp") and not (a == -1 and b == -1)) then
    fail(400, "InvalidPortRange.Malformed", "Specified port range (" .. range .. ") is not valid.")
  end
  local policy = src.Policy and src.Policy:lower() or "accept"
  if policy ~= "accept" and policy ~= "drop" then fail(400, "InvalidPolicy.Malformed", "Specified policy is not valid.") end
  local prio = tonumber(src.Priority or 1)
  if not prio or prio < 1 or prio > 100 then fail(400, "InvalidPriority.Malformed", "Specified priority is not valid.") end
  local cidr = src.SourceCidrIp or src.DestCidrIp
  if cidr and not (cidr:match("^%d+%.%d+%.%d+%.%d+/%d+$") or cidr:match("^%d+%.%d+%.%d+%.%d+$")) then
    fail(400, "InvalidSourceCidrIp.Malformed", "Specified source CIDR (" .. cidr .. ") is not valid.")
  end
  return {
    IpProtocol = proto:upper() == "ALL" and "ALL" or proto:upper(), PortRange = range,
    SourceCidrIp = src.SourceCidrIp or "", DestCidrIp = src.DestCidrIp or "",
    SourceGroupId = src.SourceGroupId or "", Policy = policy == "accept" and "Accept" or "Drop",
    Priority = math.floor(prio), NicType = src.NicType or "intranet", Description = src.Description or "",
    Direction = direction, SourcePortRange = src.SourcePortRange or "",
  }
end

local function requested_rules(p)
  local rules = {}
  if p.Permissions and #p.Permissions > 0 then
    for _, perm in ipairs(p.Permissions) do rules[#rules + 1] = rule_from(perm, "ingress") end
  else
    rules[1] = rule_from(p, "ingress")
  end
  return rules
end

A.AuthorizeSecurityGroup = {
  run = function(ctx, p)
    local region = args.region(ctx, p)
    local sg = network.security_group(ctx.S, p.SecurityGroupId, region)
    local rules = requested_rules(p)
    ctx.commit()
    network.authorize(sg, rules)
    return {}
  end,
}

A.RevokeSecurityGroup = {
  run = function(ctx, p)
    local region = args.region(ctx, p)
    local sg = network.security_group(ctx.S, p.SecurityGroupId, region)
    local drop = {}
    if p.SecurityGroupRuleId then
      for _, id in ipairs(p.SecurityGroupRuleId) do drop[id] = true end
    else
      for _, r in ipairs(requested_rules(p)) do drop[network.rule_key(r)] = true end
    end
    ctx.commit()
    network.revoke(sg, drop)
    return {}
  end,
}

A.DeleteSecurityGroup = {
  run = function(ctx, p)
    local region = args.region(ctx, p)
    local sg = network.security_group(ctx.S, p.SecurityGroupId, region)
    if network.members(ctx.S, sg.SecurityGroupId) > 0 then
      fail(403, "DependencyViolation", "There is still instance(s) in the specified security group.")
    end
    ctx.commit()
    network.delete_security_group(ctx.S, sg)
    return {}
  end,
}

return A

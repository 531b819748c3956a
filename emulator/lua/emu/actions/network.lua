-- Default VPC and VSwitches (read-only), security groups and their rules.
local c = require "emu.actions.common"
local state = require "emu.state"
local util = require "emu.util"

local fail = c.fail
local stats = ngx.shared.emu_stats
local A = {}

local function created(kind) stats:incr("created|" .. kind, 1, 0) end
A.created = created

A.DescribeVpcs = {
  required = { "RegionId" },
  run = function(ctx, p)
    local region = c.region(p)
    local items = {}
    for _, v in ipairs(state.list(ctx.S.vpcs, function(v)
      return v.RegionId == region and (not p.VpcId or p.VpcId == v.VpcId)
        and (p.IsDefault == nil or p.IsDefault == v.IsDefault)
    end)) do
      items[#items + 1] = { VpcId = v.VpcId, RegionId = v.RegionId, VpcName = v.VpcName, IsDefault = v.IsDefault,
        Status = v.Status, CidrBlock = v.CidrBlock, CreationTime = v.CreationTime, Description = v.Description,
        VSwitchIds = { VSwitchId = util.array(util.deepcopy(v.VSwitchIds)) } }
    end
    local page, meta = c.page(p, items, 50)
    meta.Vpcs = { Vpc = page }
    return meta
  end,
}

A.DescribeVSwitches = {
  run = function(ctx, p)
    local region = p.RegionId and c.region(p)
    local items = {}
    for _, v in ipairs(state.list(ctx.S.vswitches, function(v)
      return (not region or v.RegionId == region) and (not p.VpcId or p.VpcId == v.VpcId)
        and (not p.ZoneId or p.ZoneId == v.ZoneId) and (not p.VSwitchId or p.VSwitchId == v.VSwitchId)
        and (p.IsDefault == nil or p.IsDefault == v.IsDefault)
    end)) do
      items[#items + 1] = { VSwitchId = v.VSwitchId, VpcId = v.VpcId, ZoneId = v.ZoneId, IsDefault = v.IsDefault,
        Status = v.Status, CidrBlock = v.CidrBlock, VSwitchName = v.VSwitchName, CreationTime = v.CreationTime,
        AvailableIpAddressCount = v.AvailableIpAddressCount, Description = v.Description }
    end
    local page, meta = c.page(p, items, 50)
    meta.VSwitches = { VSwitch = page }
    return meta
  end,
}

local function get_sg(ctx, region, id)
  return c.find(ctx, "sgs", id, region)
end
A.get_sg = get_sg

A.CreateSecurityGroup = {
  required = { "RegionId" },
  run = function(ctx, p)
    local region = c.region(p)
    local vpc = p.VpcId
    if vpc then
      local v = ctx.S.vpcs[vpc]
      if not v or v.RegionId ~= region then fail(404, "InvalidVpcId.NotFound", "Specified VPC does not exist.") end
    else
      vpc = state.default_vpc(region)
    end
    if p.SecurityGroupName and (#p.SecurityGroupName < 2 or #p.SecurityGroupName > 128 or p.SecurityGroupName:match("^https?://")) then
      fail(400, "InvalidSecurityGroupName.Malformed", "Specified security group name is not valid.")
    end
    c.tags_filter_ok(p)
    ctx.commit()
    local id = util.new_id("sg")
    ctx.S.sgs[id] = {
      SecurityGroupId = id, RegionId = region, VpcId = vpc, SecurityGroupName = p.SecurityGroupName or "",
      Description = p.Description or "", SecurityGroupType = p.SecurityGroupType or "normal",
      CreationTime = util.iso8601(ngx.now()), order = state.next_order(), rules = {},
      ResourceGroupId = p.ResourceGroupId or "",
    }
    c.apply_create_tags(id, "securitygroup", p.Tag)
    created("securitygroup")
    return { SecurityGroupId = id }
  end,
}

local function members(ctx, sg_id)
  local n = 0
  for _, inst in pairs(ctx.S.instances) do
    for _, s in ipairs(inst.sg_ids) do if s == sg_id then n = n + 1 end end
  end
  return n
end

A.DescribeSecurityGroups = {
  required = { "RegionId" },
  run = function(ctx, p)
    local region = c.region(p)
    c.tags_filter_ok(p)
    local ids = c.set_of(c.json_list(p, "SecurityGroupIds", 100))
    local items = {}
    for _, sg in ipairs(state.list(ctx.S.sgs, function(sg)
      return sg.RegionId == region and (not p.VpcId or p.VpcId == sg.VpcId)
        and (not ids or ids[sg.SecurityGroupId]) and (not p.SecurityGroupId or p.SecurityGroupId == sg.SecurityGroupId)
        and (not p.SecurityGroupName or p.SecurityGroupName == sg.SecurityGroupName)
        and (not p.SecurityGroupType or p.SecurityGroupType == sg.SecurityGroupType)
        and state.match_tags(sg.SecurityGroupId, p.Tag)
    end)) do
      items[#items + 1] = { SecurityGroupId = sg.SecurityGroupId, SecurityGroupName = sg.SecurityGroupName,
        Description = sg.Description, VpcId = sg.VpcId, SecurityGroupType = sg.SecurityGroupType,
        CreationTime = sg.CreationTime, ResourceGroupId = sg.ResourceGroupId, ServiceManaged = false,
        EcsCount = members(ctx, sg.SecurityGroupId), AvailableInstanceAmount = 2000 - members(ctx, sg.SecurityGroupId),
        RuleCount = #sg.rules, GroupToGroupRuleCount = 0,
        Tags = { Tag = state.tag_list(sg.SecurityGroupId) } }
    end
    local page, meta
    if c.uses_token_paging(p) then page, meta = c.token_page(p, items) else page, meta = c.page(p, items, 50) end
    meta.RegionId = region
    meta.SecurityGroups = { SecurityGroup = page }
    return meta
  end,
}

A.DescribeSecurityGroupAttribute = {
  required = { "RegionId", "SecurityGroupId" },
  run = function(ctx, p)
    local region = c.region(p)
    local sg = get_sg(ctx, region, p.SecurityGroupId)
    local perms = util.array()
    for _, r in ipairs(sg.rules) do
      if not p.Direction or p.Direction == "all" or p.Direction == r.Direction then
        perms[#perms + 1] = util.deepcopy(r)
      end
    end
    return { RegionId = region, SecurityGroupId = sg.SecurityGroupId, SecurityGroupName = sg.SecurityGroupName,
      Description = sg.Description, VpcId = sg.VpcId, InnerAccessPolicy = "Accept",
      Permissions = { Permission = perms } }
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

local function rule_key(r)
  return table.concat({ r.Direction, r.IpProtocol, r.PortRange, r.SourceCidrIp, r.DestCidrIp,
    r.SourceGroupId, r.Policy, r.NicType }, "|")
end

local function requested_rules(p)
  local rules = {}
  if p.Permissions and #p.Permissions > 0 then
    for _, perm in ipairs(p.Permissions) do rules[#rules + 1] = rule_from(perm, "ingress") end
  else
    local src = {}
    for k, v in pairs(p) do src[k] = v end
    if not src.SourceCidrIp and not src.SourceGroupId then src.SourceCidrIp = nil end
    rules[1] = rule_from(src, "ingress")
  end
  return rules
end

A.AuthorizeSecurityGroup = {
  required = { "RegionId", "SecurityGroupId" },
  run = function(ctx, p)
    local region = c.region(p)
    local sg = get_sg(ctx, region, p.SecurityGroupId)
    local rules = requested_rules(p)
    ctx.commit()
    for _, r in ipairs(rules) do
      local k = rule_key(r)
      local dup = false
      for _, x in ipairs(sg.rules) do if rule_key(x) == k then dup = true end end
      if not dup then
        r.CreateTime = util.iso8601(ngx.now())
        r.SecurityGroupRuleId = util.new_id("sgr")
        sg.rules[#sg.rules + 1] = r
      end
    end
    return {}
  end,
}

A.RevokeSecurityGroup = {
  required = { "RegionId", "SecurityGroupId" },
  run = function(ctx, p)
    local region = c.region(p)
    local sg = get_sg(ctx, region, p.SecurityGroupId)
    local drop = {}
    if p.SecurityGroupRuleId then
      for _, id in ipairs(p.SecurityGroupRuleId) do drop[id] = true end
    else
      for _, r in ipairs(requested_rules(p)) do drop[rule_key(r)] = true end
    end
    ctx.commit()
    local keep = {}
    for _, r in ipairs(sg.rules) do
      if not (drop[r.SecurityGroupRuleId] or drop[rule_key(r)]) then keep[#keep + 1] = r end
    end
    sg.rules = keep
    return {}
  end,
}

A.DeleteSecurityGroup = {
  required = { "RegionId", "SecurityGroupId" },
  run = function(ctx, p)
    local region = c.region(p)
    local sg = get_sg(ctx, region, p.SecurityGroupId)
    if members(ctx, sg.SecurityGroupId) > 0 then
      fail(403, "DependencyViolation", "There is still instance(s) in the specified security group.")
    end
    ctx.commit()
    ctx.S.sgs[sg.SecurityGroupId] = nil
    ctx.S.tags[sg.SecurityGroupId] = nil
    return {}
  end,
}

return A

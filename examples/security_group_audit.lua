-- Audits every security group of a region for rules that open sensitive
-- ports to the whole internet. Groups are listed page by page; their rules
-- are fetched concurrently. Exits 1 when it finds something.
--   lua5.4 examples/security_group_audit.lua [region]
local ecs = require "ecs"

local SENSITIVE = { [22] = "ssh", [3389] = "rdp", [3306] = "mysql", [5432] = "postgres",
  [6379] = "redis", [27017] = "mongodb", [9200] = "elasticsearch" }
local WORLD = { ["0.0.0.0/0"] = true, ["::/0"] = true }

local client = ecs.client {
  region = arg[1] or os.getenv("ALIBABA_CLOUD_REGION_ID") or "cn-hangzhou",
  endpoint = os.getenv("ECS_ENDPOINT"),
}

-- Which sensitive ports a PortRange ("22/22", "1/65535", "-1/-1") opens.
local function exposed(range, protocol)
  local from, to = tostring(range):match("^(-?%d+)/(-?%d+)$")
  from, to = tonumber(from), tonumber(to)
  if not from or protocol == "icmp" then return {} end
  if from == -1 then from, to = 1, 65535 end
  local hits = {}
  for port, name in pairs(SENSITIVE) do
    if port >= from and port <= to then hits[#hits + 1] = ("%d (%s)"):format(port, name) end
  end
  table.sort(hits)
  return hits
end

local findings = ecs.run(function()
  local audits = {}
  for group in client:paginate("DescribeSecurityGroups", {}) do
    audits[#audits + 1] = ecs.spawn(function()
      local attr, err = client:DescribeSecurityGroupAttribute {
        SecurityGroupId = group.SecurityGroupId, Direction = "ingress",
      }
      if not attr then return { group = group, error = tostring(err) } end
      local bad = {}
      for _, rule in ipairs(attr.Permissions and attr.Permissions.Permission or {}) do
        local source = rule.SourceCidrIp ~= "" and rule.SourceCidrIp or rule.Ipv6SourceCidrIp
        if rule.Policy ~= "Drop" and WORLD[source] then
          for _, port in ipairs(exposed(rule.PortRange, (rule.IpProtocol or ""):lower())) do
            bad[#bad + 1] = ("%s %s from %s"):format(rule.IpProtocol, port, source)
          end
        end
      end
      return { group = group, bad = bad }
    end)
  end
  local out = {}
  for _, t in ipairs(audits) do out[#out + 1] = assert(t:wait()) end
  return out
end)

local flagged = 0
for _, f in ipairs(findings) do
  local name = ("%s (%s)"):format(f.group.SecurityGroupId, f.group.SecurityGroupName or "")
  if f.error then
    print("?? " .. name .. ": " .. f.error)
    flagged = flagged + 1
  elseif #f.bad > 0 then
    print("!! " .. name .. " opens " .. table.concat(f.bad, ", "))
    flagged = flagged + 1
  else
    print("ok " .. name)
  end
end
print(("%d security groups audited, %d flagged"):format(#findings, flagged))
os.exit(flagged == 0 and 0 or 1)

-- `lua-ecs help`: the usage, and the actions by family; `lua-ecs help Action`: the action's
-- parameters as flags, with their types and required flags from the API model and the line of
-- description the SDK gives each (kept in the editor annotations, types/ecs_2014_05_26.lua).
local api = require "ecs.api"

local M = {}

M.USAGE = [==[
Usage:
  lua-ecs <Action> [--Param value ...] [options]   call an action, print the reply as JSON
  lua-ecs help [Action]                            the actions by family, or one action's parameters
  lua-ecs run script.lua [args ...]                run a script with `ecs` and `client` in scope
  lua-ecs completion bash                          a bash completion script
  lua-ecs version

Parameters take their documented names: --RegionId cn-hangzhou, lists as JSON or one flag per item
(--InstanceIds '["i-1","i-2"]', --InstanceId i-1 --InstanceId i-2, --Tag.1.Key app --Tag.1.Value web).

Options:
  --region ID                  region (default: ALIBABA_CLOUD_REGION_ID, else the CLI profile's)
  --profile NAME               aliyun CLI / credentials file profile (the credentials chain otherwise)
  --endpoint URL               another endpoint (a URL or a host name)
  --signature-version v1|v3    request signing (default v1)
  --method GET|POST            how parameters travel (default GET)
  --pager [path=List] [mode=token|page]
                               every page, merged into one reply
  --waiter expr=Path to=Value [timeout=600] [interval=5] [fail=A,B]
                               poll with backoff until the value at Path is Value
  --output cols=A,B[,...] [rows=List[]]
                               a table instead of JSON
  --dryrun                     print the signed request (secrets masked), send nothing
  --quiet                      print nothing on success
  --debug[=2]                  the debug log on stderr (2: with parameters and replies)
  -h, --help                   this help; after an action, the action's

Exit status: 0 success, 1 the service or the network failed (the error as JSON on stderr),
2 a usage or configuration error (a message on stderr).
]==]

-- Families, in order: an action goes to the first whose words its name contains.
M.FAMILIES = {
  { "Cloud Assistant", { "Command", "Invocation", "SendFile", "CloudAssistant", "ManagedInstance",
    "Activation", "PluginStatus", "TerminalSession" } },
  { "Launch templates", { "LaunchTemplate" } },
  { "Auto provisioning groups", { "AutoProvisioningGroup" } },
  { "Dedicated hosts", { "DedicatedHost" } },
  { "Reservations, savings plans and prices", { "ReservedInstance", "CapacityReservation",
    "ElasticityAssurance", "SavingsPlan", "StorageCapacityUnit", "Price", "SnapshotPackage" } },
  { "Monitoring, diagnostics and events", { "Diagnostic", "MonitorData", "SystemEvent", "HistoryEvents",
    "MaintenanceWindow", "ReportInstancesStatus" } },
  { "Deployment sets and clusters", { "DeploymentSet", "HpcCluster", "Clusters" } },
  { "Images", { "Image" } },
  { "Snapshots", { "Snapshot" } },
  { "Disks and storage sets", { "Disk", "StorageSet" } },
  { "Security groups, prefix and port lists", { "SecurityGroup", "PrefixList", "PortRangeList" } },
  { "Key pairs", { "KeyPair" } },
  { "Network interfaces and addresses", { "NetworkInterface", "Ipv6", "PrivateIpAddress", "PublicIpAddress",
    "Eip", "HaVip", "BandwidthPackage", "BandwidthLimitation", "ClassicLink", "NatGateway", "Forward" } },
  { "Instances", { "Instance", "Spot", "UserData" } },
  { "VPCs and connections", { "Vpc", "VSwitch", "VRouter", "Route", "VirtualBorderRouter",
    "PhysicalConnection", "AccessPoints" } },
  { "Tags and resource groups", { "Tag", "Untag", "ResourceGroup" } },
  { "Regions, account and tasks", { "Region", "Zone", "AvailableResource", "Account", "Limitation", "Task",
    "UserBusinessBehavior", "ResourcesModification" } },
}
M.OTHER = "Other"

--- The family of an action, by the words of its name.
---@param action string
---@return string family
function M.family(action)
  for _, f in ipairs(M.FAMILIES) do
    for _, word in ipairs(f[2]) do
      if action:find(word, 1, true) then return f[1] end
    end
  end
  return M.OTHER
end

-- Names laid out in columns, at most `width` characters a line.
local function columns(names, width, indent)
  local w = 0
  for _, n in ipairs(names) do w = math.max(w, #n) end
  w = w + 2
  local per = math.max(1, math.floor((width - #indent) / w))
  local lines = {}
  for i = 1, #names, per do
    local line = {}
    for k = i, math.min(#names, i + per - 1) do
      line[#line + 1] = k < i + per - 1 and k < #names and (names[k] .. (" "):rep(w - #names[k])) or names[k]
    end
    lines[#lines + 1] = indent .. table.concat(line)
  end
  return table.concat(lines, "\n")
end

--- The general help: usage, options, and every action by family.
---@param version string
---@return string text
function M.general(version)
  local info = api.info()
  local out = { ("lua-ecs %s: the ECS API (%s) from the command line"):format(version, info.version), "",
    M.USAGE }
  local by_family, count = {}, 0
  for _, action in ipairs(api.actions()) do
    local f = M.family(action)
    by_family[f] = by_family[f] or {}
    table.insert(by_family[f], action)
    count = count + 1
  end
  out[#out + 1] = ("Actions (%d), by family; `lua-ecs help <Action>` for one:"):format(count)
  local families = {}
  for _, f in ipairs(M.FAMILIES) do families[#families + 1] = f[1] end
  families[#families + 1] = M.OTHER
  for _, f in ipairs(families) do
    local list = by_family[f]
    if list then
      out[#out + 1] = ""
      out[#out + 1] = ("%s (%d)"):format(f, #list)
      out[#out + 1] = columns(list, 100, "  ")
    end
  end
  return table.concat(out, "\n") .. "\n"
end

-- The type of an annotation line: one word, or a generic with spaces (table<string, string>).
local function split_type(rest)
  local depth, i = 0, 1
  while i <= #rest do
    local c = rest:sub(i, i)
    if c == "<" or c == "(" then depth = depth + 1
    elseif c == ">" or c == ")" then depth = depth - 1
    elseif c:match("%s") and depth == 0 then break end
    i = i + 1
  end
  return rest:sub(1, i - 1), (rest:sub(i):match("^%s*(.-)%s*$"))
end

--- The descriptions of an action's parameters and of their fields, from the annotations file:
--- class name -> field -> the line of description ("ecs.DescribeInstancesRequest" -> "Status" -> ...).
--- Empty when the file cannot be read (the help then shows types alone).
---@param file? string the annotations file (types/ecs_2014_05_26.lua)
---@param action string
---@return table<string, table<string, string>> descriptions
function M.descriptions(file, action)
  local out = {}
  local f = file and io.open(file, "rb")
  if not f then return out end
  local text = f:read("*a")
  f:close()
  local prefix = "ecs." .. action .. "Request"
  local at = text:find("\n---@class " .. prefix .. "\n", 1, true)
  if not at then return out end
  local class
  for line in text:sub(at + 1):gmatch("([^\n]*)\n") do
    local name = line:match("^%-%-%-@class%s+(%S+)")
    if name then
      if name ~= prefix and name:sub(1, #prefix + 1) ~= prefix .. "." then break end
      class = {}
      out[name] = class
    elseif class then
      local field, rest = line:match("^%-%-%-@field%s+([%w_]+)%??%s+(.*)$")
      if field then
        local _, desc = split_type(rest)
        if desc ~= "" then class[field] = desc end
      end
    end
  end
  return out
end

local PLURAL = { string = "strings", integer = "integers", long = "integers", float = "numbers",
  boolean = "booleans", object = "objects", list = "lists", map = "maps" }

-- A node's type in words.
local function type_words(node)
  local t = node.type
  if t == "long" then t = "integer" end
  if t == "list" then
    local item = node.items or { type = "any" }
    local words = "list of " .. (PLURAL[item.type] or "values")
    if node.style == "json" then words = words .. " (JSON)" end
    return words
  end
  if t == "map" then return "map" end
  return t
end

-- A paragraph in lines of at most 100 characters, the next ones indented.
local function wrap(text)
  local lines, line = {}, ""
  for word in text:gmatch("%S+") do
    if #line > 0 and #line + 1 + #word > 100 then
      lines[#lines + 1] = line
      line = "  " .. word
    else
      line = #line > 0 and (line .. " " .. word) or word
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n")
end

-- The rows (flag, type, required, description) of a node and of the fields below it.
local function rows_of(node, flag, class, descs, out, depth)
  local desc = descs[class.name] and descs[class.name][node.name]
  out[#out + 1] = { flag = flag, type = type_words(node), required = node.required, desc = desc }
  if depth >= 3 then return end
  local sub, item_class
  if node.type == "list" and node.items and node.items.type == "object" then
    sub, item_class = node.items.members, class.name .. "." .. node.name .. "Item"
    flag = flag .. ".N"
  elseif node.type == "object" then
    sub, item_class = node.members, class.name .. "." .. node.name
  elseif node.type == "map" then
    out[#out + 1] = { flag = flag .. ".<key>", type = type_words(node.values or { type = "any" }) }
  end
  for _, m in ipairs(sub or {}) do
    rows_of(m, flag .. "." .. m.name, { name = item_class }, descs, out, depth + 1)
  end
end

--- The help of one action: its parameters as flags, with type, required flag and description,
--- and what the model says of paging, ClientToken and DryRun.
---@param action string an action of the model
---@param types_file? string the annotations file, for the descriptions
---@return string text
function M.action(action, types_file)
  local shape = assert(api.action(action))
  local descs = M.descriptions(types_file, action)
  local rows = {}
  local class = { name = "ecs." .. action .. "Request" }
  for _, p in ipairs(shape.params) do rows_of(p, "--" .. p.name, class, descs, rows, 1) end
  local fw, tw = 0, 0
  for _, r in ipairs(rows) do
    r.type = r.type .. (r.required and ", required" or "")
    fw, tw = math.max(fw, #r.flag), math.max(tw, #r.type)
  end
  local out = { ("%s (ECS API %s)"):format(action, api.info().version), "",
    ("  lua-ecs %s [--Param value ...] [options]"):format(action), "", "Parameters:" }
  for _, r in ipairs(rows) do
    local line = "  " .. r.flag .. (" "):rep(fw - #r.flag) .. "  " .. r.type
    if r.desc then line = line .. (" "):rep(tw - #r.type) .. "  " .. r.desc end
    out[#out + 1] = line
  end
  if #rows == 0 then out[#out + 1] = "  (none)" end
  out[#out + 1] = ""
  if shape.by_name.RegionId then
    out[#out + 1] = "RegionId: the client's region (--region) when not given."
  end
  local paging = shape.paging
  if paging and paging.list then
    local modes = {}
    if paging.token then
      modes[#modes + 1] = ("mode=token (%s/%s%s)"):format(paging.token.param, paging.token.size_param or "-",
        paging.token.max and (", at most " .. paging.token.max) or "")
    end
    if paging.page then
      modes[#modes + 1] = ("mode=page (%s/%s%s; pages fetched concurrently)"):format(paging.page.number_param,
        paging.page.size_param, paging.page.max and (", at most " .. paging.page.max) or "")
    end
    out[#out + 1] = wrap(("Pages: --pager merges every page of %s; %s; the default is mode=%s."):format(
      paging.list, table.concat(modes, " or "), paging.mode))
  end
  if shape.client_token then
    out[#out + 1] = "ClientToken: one is generated when not given, the same for every retry."
  end
  if shape.dry_run then
    out[#out + 1] = "DryRun: --DryRun true asks the service to check the request without doing it."
  end
  return table.concat(out, "\n") .. "\n"
end

return M

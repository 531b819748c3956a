-- ecs.api and the generated model lua/ecs/api/generated/ecs_2014_05_26.lua (with the other files
-- of the same generator pass: types/ecs_2014_05_26.lua, emulator/lua/emu/generated/paramdefs.lua).
-- Run: LUA_PATH='lua/?.lua;lua/?/init.lua;spec/?.lua;;' lua5.4 /usr/bin/busted spec/api_model_spec.lua
-- The cross-check against the reference docs reads the facts extracted from them into
-- spec/data/reference.lua (tools/extract-reference; make check-reference tells when it is stale).

local MODEL = "ecs.api.generated.ecs_2014_05_26"
local ACTION_COUNT = 380 -- @alicloud/ecs20140526@7.11.6

-- A fresh accessor (and a fresh model) for tests that look at loading behaviour.
local function fresh_api()
  package.loaded["ecs.api"] = nil
  package.loaded[MODEL] = nil
  return require("ecs.api")
end

local api = fresh_api()

local function find(list, name)
  for _, n in ipairs(list or {}) do
    if n.name == name then return n end
  end
end

-- Resolve a documented parameter path ("Tag.n.Key", "SystemDisk.Category", "Filter.1.Value",
-- "PrivateIpAddress.N") against an action shape. Returns the node or nil, why.
local function resolve(shape, path)
  local segs = {}
  for seg in path:gmatch("[^.]+") do segs[#segs + 1] = seg end
  local node = shape.by_name[segs[1]]
  if not node then return nil, "no param " .. segs[1] end
  for i = 2, #segs do
    local seg = segs[i]
    if seg == "n" or seg == "N" or seg:match("^%d+$") then
      if node.type ~= "list" then return nil, segs[i - 1] .. " is not a list" end
      node = node.items
    else
      if node.type ~= "object" then return nil, "no members under " .. segs[i - 1] end
      node = find(node.members, seg)
      if not node then return nil, "no member " .. seg end
    end
  end
  return node
end

describe("ecs.api accessor", function()
  it("lists every action of 2014-05-26, sorted", function()
    local names = api.actions()
    assert.are.equal(ACTION_COUNT, #names)
    for i = 2, #names do assert.is_true(names[i - 1] < names[i]) end
    assert.are.equal("AcceptInquiredSystemEvent", names[1])
    -- a fresh copy each time
    names[1] = "x"
    assert.are.equal("AcceptInquiredSystemEvent", api.actions()[1])
  end)

  it("answers has() and action() for known and unknown names", function()
    assert.is_true(api.has("DescribeInstances"))
    assert.is_false(api.has("DescribeNothing"))
    assert.is_false(api.has(42))
    assert.is_nil(api.action("DescribeNothing"))
    assert.is_nil(api.action(nil))
    local s = api.action("DescribeInstances")
    assert.are.equal("DescribeInstances", s.name)
    assert.are.equal(s, api.action("DescribeInstances")) -- cached
  end)

  it("reports the model version and its SDK source", function()
    local info = api.info()
    assert.are.equal("2014-05-26", info.version)
    assert.are.equal("Ecs", info.product)
    assert.matches("^@alicloud/ecs20140526@%d+%.%d+%.%d+$", info.source)
  end)

  it("indexes params by wire name", function()
    local s = api.action("RunInstances")
    assert.are.equal(#s.params, (function() local n = 0 for _ in pairs(s.by_name) do n = n + 1 end return n end)())
    assert.are.equal("ImageId", s.by_name.ImageId.name)
  end)
end)

describe("ecs.api lazy loading", function()
  it("requires the model only on first use and compiles only the shapes asked for", function()
    local lazy = fresh_api()
    assert.is_false(lazy._model_loaded())
    assert.is_nil(package.loaded[MODEL])
    assert.are.equal(0, lazy._loaded_count())
    assert.is_true(lazy.has("RunInstances")) -- reads the model, compiles nothing
    assert.is_true(lazy._model_loaded())
    assert.are.equal(0, lazy._loaded_count())
    lazy.action("DescribeInstances")
    assert.are.equal(1, lazy._loaded_count())
    lazy.action("DescribeInstances")
    assert.are.equal(1, lazy._loaded_count())
    lazy.action("RunInstances")
    assert.are.equal(2, lazy._loaded_count())
  end)

  it("keeps each action as Lua source until it is used", function()
    local m = require(MODEL)
    assert.are.equal("2014-05-26", m.version)
    local n = 0
    for name, src in pairs(m.actions) do
      n = n + 1
      assert.are.equal("string", type(src), name)
      assert.matches("^return {", src)
    end
    assert.are.equal(ACTION_COUNT, n)
  end)

  it("compiles shapes in an empty environment", function()
    local m = require(MODEL)
    local src = m.actions.DescribeRegions
    assert.is_nil(src:find("_G", 1, true))
    assert.is_nil(src:find("require", 1, true))
  end)
end)

describe("generated files", function()
  local function first_lines(path, n)
    local f = assert(io.open(path, "r"))
    local out = {}
    for _ = 1, n do out[#out + 1] = f:read("*l") end
    f:close()
    return out
  end

  local function read(path)
    local f = assert(io.open(path, "r"))
    local s = f:read("a")
    f:close()
    return s
  end

  it("start with how to regenerate them", function()
    local l = first_lines("lua/ecs/api/generated/ecs_2014_05_26.lua", 1)
    assert.matches("^%-%- Generated by tools/gen%-api%-model%.js from @alicloud/ecs20140526@[%d.]+; regenerate with: make api%-model$", l[1])
    local meta = first_lines("types/ecs_2014_05_26.lua", 2) -- its classes: spec/types_spec.lua
    assert.are.equal("---@meta", meta[1])
    assert.are.equal(l[1], meta[2])
    -- the emulator's parameter definitions come from the same pass, from the same SDK version
    assert.are.equal(l[1], first_lines("emulator/lua/emu/generated/paramdefs.lua", 1)[1])
  end)

  it("live in folders of their own, each with a README naming the generator and the command", function()
    for _, dir in ipairs { "lua/ecs/api/generated", "emulator/lua/emu/generated" } do
      local readme = read(dir .. "/README.md")
      assert.truthy(readme:find("tools/gen-api-model.js", 1, true), dir)
      assert.truthy(readme:find("make api-model", 1, true), dir)
    end
    -- nothing generated is left where it was before
    assert.is_nil(package.searchpath("ecs.api.ecs_2014_05_26", "lua/?.lua"))
    assert.is_nil(io.open("emulator/lua/emu/paramdefs.lua", "r"))
    assert.is_nil(io.open("emulator/lua/emu/ecs_actions.lua", "r"))
    local attrs = read(".gitattributes")
    for _, pattern in ipairs { "lua/ecs/api/generated/*.lua", "emulator/lua/emu/generated/*.lua",
      "types/ecs_2014_05_26.lua" } do
      assert.truthy(attrs:find("\n" .. pattern:gsub("%p", "%%%0") .. "%s+linguist%-generated"), pattern)
    end
  end)

  it("give the emulator every action, with the model's required parameters (data only)", function()
    local defs = dofile("emulator/lua/emu/generated/paramdefs.lua")
    local api = fresh_api()
    local n = 0
    for name, d in pairs(defs) do
      n = n + 1
      local shape = api.action(name)
      assert.is_table(shape, name .. " is not in the client's model")
      local want = {}
      for _, p in ipairs(shape.params) do
        if p.required then want[#want + 1] = p.name end
        assert.is_not_nil(d.params[p.name], name .. "." .. p.name .. " missing from the emulator's params")
      end
      assert.are.same(want, d.required, name)
    end
    assert.are.equal(ACTION_COUNT, n)
  end)
end)

describe("generated model", function()
  local TYPES = { string = true, integer = true, long = true, float = true, boolean = true, any = true,
                  list = true, object = true, map = true }
  local STYLES = { flat = true, ["repeat"] = true, json = true }

  local function check_item(item, where)
    assert(TYPES[item.type], where .. ": bad item type " .. tostring(item.type))
    if item.type == "object" then assert(#item.members > 0, where .. ": object item without members") end
    if item.type == "list" then check_item(item.items, where .. ".N") end
  end

  local function check_node(node, where)
    assert(type(node.name) == "string" and node.name:match("^[%a][%w]*$"), where .. ": bad name")
    assert(TYPES[node.type], where .. ": bad type " .. tostring(node.type))
    assert(STYLES[node.style], where .. ": bad style " .. tostring(node.style))
    assert(node.required == nil or node.required == true, where .. ": required is true or nil")
    if node.type == "list" then
      assert(node.style == "repeat" or node.style == "json", where .. ": list style")
      check_item(node.items, where .. ".N")
    elseif node.type == "object" then
      assert(node.style == "flat" or node.style == "json", where .. ": object style")
      for _, m in ipairs(node.members) do check_node(m, where .. "." .. m.name) end
    elseif node.type == "map" then
      check_item(node.values, where .. ".*")
    else
      assert(node.style == "flat", where .. ": scalars are flat")
    end
  end

  it("has well-formed shapes for every action", function()
    local counts = { params = 0, flat = 0, ["repeat"] = 0, json = 0, paged = 0 }
    for _, name in ipairs(api.actions()) do
      local s = api.action(name)
      assert.are.equal(name, s.name)
      assert.are.equal("boolean", type(s.client_token))
      assert.are.equal("boolean", type(s.dry_run))
      assert.are.equal(s.client_token, s.by_name.ClientToken ~= nil, name)
      assert.are.equal(s.dry_run, s.by_name.DryRun ~= nil, name)
      local seen = {}
      for _, p in ipairs(s.params) do
        check_node(p, name .. "." .. p.name)
        assert(not seen[p.name:lower()], name .. ": duplicate " .. p.name)
        seen[p.name:lower()] = true
        counts.params = counts.params + 1
        counts[p.style] = counts[p.style] + 1
      end
      local pg = s.paging
      if pg then
        counts.paged = counts.paged + 1
        assert(pg.mode == "token" or pg.mode == "page", name)
        assert(pg[pg.mode], name .. ": paging." .. pg.mode)
        assert(type(pg.list) == "string", name .. ": paging.list")
        if pg.token then
          assert(s.by_name[pg.token.param], name)
          assert(pg.token.size_param == nil or s.by_name[pg.token.size_param], name)
          assert(type(pg.token.response) == "string", name .. ": token.response")
        end
        if pg.page then
          assert(s.by_name[pg.page.number_param] and s.by_name[pg.page.size_param], name)
        end
      end
    end
    -- figures of @alicloud/ecs20140526@7.11.6 (update together with the package pin)
    assert.are.same({ params = 4204, flat = 3889, ["repeat"] = 266, json = 49, paged = 82 }, counts)
  end)

  it("sends ID lists the API wants as JSON as one JSON string (DescribeInstances.InstanceIds)", function()
    local p = api.action("DescribeInstances").by_name.InstanceIds
    assert.are.same({ name = "InstanceIds", type = "list", style = "json", items = { type = "string" }, string_ok = true }, p)
  end)

  it("sends SDK *Shrink fields as JSON (RunCommand.Parameters, CreateAutoProvisioningGroup.ResourcePoolOptions)", function()
    local p = api.action("RunCommand").by_name.Parameters
    assert.are.equal("map", p.type)
    assert.are.equal("json", p.style)
    p = api.action("CreateAutoProvisioningGroup").by_name.ResourcePoolOptions
    assert.are.equal("object", p.type)
    assert.are.equal("json", p.style)
    assert.is_nil(p.string_ok)
  end)

  it("repeats Filter.N.Key/Value (DescribeImageSupportInstanceTypes)", function()
    local f = api.action("DescribeImageSupportInstanceTypes").by_name.Filter
    assert.are.equal("list", f.type)
    assert.are.equal("repeat", f.style)
    assert.are.equal("object", f.items.type)
    assert.are.same({ "Key", "Value" }, { f.items.members[1].name, f.items.members[2].name })
    assert.are.equal("string", f.items.members[1].type)
  end)

  it("models RunInstances: Tag.N.Key, DataDisk.N.*, SystemDisk.Category, ClientToken and DryRun", function()
    local s = api.action("RunInstances")
    assert.is_true(s.client_token)
    assert.is_true(s.dry_run)
    local tag = s.by_name.Tag
    assert.are.equal("repeat", tag.style)
    assert.are.equal("string", resolve(s, "Tag.N.Key").type)
    assert.are.equal("repeat", s.by_name.DataDisk.style)
    assert.are.equal("integer", resolve(s, "DataDisk.N.Size").type)
    assert.are.equal("boolean", resolve(s, "DataDisk.N.DeleteWithInstance").type)
    local sd = s.by_name.SystemDisk
    assert.are.equal("object", sd.type)
    assert.are.equal("flat", sd.style)
    assert.are.equal("string", resolve(s, "SystemDisk.Category").type)
    assert.are.equal("repeat", s.by_name.SecurityGroupIds.style)
    assert.are.equal("string", s.by_name.SecurityGroupIds.items.type)
    assert.are.equal("float", s.by_name.SpotPriceLimit.type)
    assert.is_true(s.by_name.RegionId.required)
    assert.is_nil(s.by_name.ImageId.required)
  end)

  it("keeps the lowerCamel wire names some actions really use (ApplyAutoSnapshotPolicy)", function()
    local s = api.action("ApplyAutoSnapshotPolicy")
    assert.truthy(s.by_name.regionId and s.by_name.diskIds and s.by_name.autoSnapshotPolicyId)
    assert.is_nil(s.by_name.RegionId)
    assert.are.equal("json", s.by_name.diskIds.style)
  end)

  it("describes both paging modes of DescribeInstances", function()
    local pg = api.action("DescribeInstances").paging
    assert.are.same({
      mode = "token",
      list = "Instances.Instance",
      token = { param = "NextToken", response = "NextToken", size_param = "MaxResults", max = 100 },
      page = { number_param = "PageNumber", size_param = "PageSize", max = 100, total = "TotalCount" },
    }, pg)
  end)

  it("finds the result list of other paged actions", function()
    local expect = {
      DescribeDisks = "Disks.Disk", DescribeSnapshots = "Snapshots.Snapshot",
      DescribeSecurityGroups = "SecurityGroups.SecurityGroup", DescribeImages = "Images.Image",
      DescribeVpcs = "Vpcs.Vpc", ListTagResources = "TagResources.TagResource",
    }
    for name, list in pairs(expect) do
      assert.are.equal(list, api.action(name).paging.list, name)
    end
    assert.are.equal("page", api.action("DescribeImages").paging.mode)
    assert.are.equal(100, api.action("DescribeImages").paging.page.max)
    assert.is_nil(api.action("DescribeImages").paging.token)
    assert.are.equal("token", api.action("ListTagResources").paging.mode)
    assert.are.equal(500, api.action("DescribeDisks").paging.token.max)
  end)

  it("has no paging for actions that return everything (DescribeRegions)", function()
    local s = api.action("DescribeRegions")
    assert.is_nil(s.paging)
    assert.is_false(s.client_token)
  end)
end)

--------------------------------------------------------------------------------------------------
-- Cross-check against the reference docs. Each documented action and request parameter must be in
-- the model with a compatible type; exceptions are listed by name, with a reason, and must each
-- still be needed (a stale exception fails too).
--------------------------------------------------------------------------------------------------
-- Documented actions and request parameters, per document: { file, lines, role, actions = { { name,
-- line } }, rows = { { action, parameter, documented type, required, line } } }.
local REF = dofile("spec/data/reference.lua")

-- Parameters every request carries, set by the client/signer rather than by the caller.
local COMMON = { Action = true, Version = true, Format = true, AccessKeyId = true, Signature = true,
                 SignatureMethod = true, SignatureVersion = true, SignatureNonce = true, Timestamp = true }

-- Documented name -> name in the API today. Capitalisation differences of the 2019 PDF text, where
-- the SDK (and therefore the API) spells the wire name differently.
local CASE = {
  ["ModifyInstanceVpcAttribute.Privateipaddress"] = "PrivateIpAddress",
  ["CreateInstance.Periodunit"] = "PeriodUnit",
  ["ResetDisk.Snapshotid"] = "SnapshotId",
  ["DescribeSnapshotLinks.Diskids"] = "DiskIds",
  ["ModifySecurityGroupRule.Nictype"] = "NicType",
  ["ModifyInstanceNetworkSpec.Autopay"] = "AutoPay",
  ["DescribeAvailableResource.Systemdiskcategory"] = "SystemDiskCategory",
  ["DescribeAvailableResource.Datadiskcategory"] = "DataDiskCategory",
  ["GetInstanceScreenshot.Wakeup"] = "WakeUp",
  ["CreateCommand.TimeOut"] = "Timeout",
  ["ModifyCommand.TimeOut"] = "Timeout",
  ["ExportImage.OssBucket"] = "OSSBucket",
  ["ExportImage.OssPrefix"] = "OSSPrefix",
  -- these two actions take lowerCamel wire names (the SDK sends query["regionId"] etc.)
  ["ApplyAutoSnapshotPolicy.RegionId"] = "regionId",
  ["ApplyAutoSnapshotPolicy.Autosnapshotpolicyid"] = "autoSnapshotPolicyId",
  ["ApplyAutoSnapshotPolicy.DiskIds"] = "diskIds",
  ["ModifyAutoSnapshotPolicyEx.RegionId"] = "regionId",
  ["ModifyAutoSnapshotPolicyEx.AutoSnapshotPolicyId"] = "autoSnapshotPolicyId",
  ["ModifyAutoSnapshotPolicyEx.AutoSnapshotPolicyName"] = "autoSnapshotPolicyName",
  ["ModifyAutoSnapshotPolicyEx.TimePoints"] = "timePoints",
  ["ModifyAutoSnapshotPolicyEx.RepeatWeekdays"] = "repeatWeekdays",
  ["ModifyAutoSnapshotPolicyEx.RetentionDays"] = "retentionDays",
}

-- Documented name -> current name, for real renames.
local RENAMED = {
  ReactivateInstances = "ReActivateInstances",                     -- action name capitalisation
  ModifyDeploymentSetAttributes = "ModifyDeploymentSetAttribute",  -- action renamed
  ["DescribeEniMonitorData.Enild"] = "EniId",                      -- PDF typo (l for I)
  ["CreateDeploymentSet.DeploymentStrategy"] = "Strategy",
  ["DescribeInvocations.Type"] = "CommandType",
  ["DescribeLaunchTemplates.Tag.n.Key"] = "TemplateTag.n.Key",
  ["DescribeLaunchTemplates.Tag.n.Value"] = "TemplateTag.n.Value",
  -- documented as one JSON/array param "InstanceIds"; the API takes repeated InstanceId.N
  ["InstallCloudAssistant.InstanceIds"] = "InstanceId",
  ["InvokeCommand.InstanceIds"] = "InstanceId",
  ["StopInvocation.InstanceIds"] = "InstanceId",
}

-- Documented (2019) but no longer accepted: the 2024 SDK and, for DescribeInstances, the 2024
-- reference (004) no longer list them.
local REMOVED = {
  ["DescribeInstances.CreditSpecification"] = true,
  ["DescribeInstances.SpotStrategy"] = true,
  ["DescribeInstances.DeploymentSetId"] = true,
  ["ExportImage.ClientToken"] = true,
  ["ModifyAutoSnapshotPolicyEx.ClientToken"] = true,
  ["ModifyDiskChargeType.DryRun"] = true,
  ["DescribeAccountAttributes.PageNumber"] = true,
  ["DescribeAccountAttributes.PageSize"] = true,
  -- 2024 DescribeInstances page: lowercase aliases Tag.N.key / Tag.N.value, documented there as
  -- "will be removed"; the SDK sends only Tag.N.Key / Tag.N.Value
  ["DescribeInstances.Tag.n.key"] = true,
  ["DescribeInstances.Tag.n.value"] = true,
}

-- Documented type differs from the SDK's type for the same wire name; the SDK is what we follow.
local TYPE_DIFF = {
  ["CreateLaunchTemplate.DataDisk.n.Encrypted"] = "doc Boolean, SDK string",
  ["CreateLaunchTemplateVersion.DataDisk.n.Encrypted"] = "doc Boolean, SDK string",
  ["DescribeClassicLinkInstances.PageNumber"] = "doc Integer, SDK string",
  ["DescribeClassicLinkInstances.PageSize"] = "doc Integer, SDK string",
}

-- Documented type -> model types that carry it. The 2019 edition types many booleans and numbers
-- as String (values "true"/"false", digits): on the wire the value is text either way, so String
-- also matches boolean/integer/long scalars; it matches a list/object/map only when the model sends
-- that as one JSON string.
local COMPAT = {
  string = { string = true, boolean = true, integer = true, long = true, list = "json", object = "json", map = "json" },
  integer = { integer = true, long = true, float = true },
  long = { integer = true, long = true, float = true },
  float = { float = true },
  boolean = { boolean = true },
  array = { list = true },
  ["object []"] = { list = "object" },
  object = { object = true },
}

local function compatible(doc_type, node, doc_name)
  doc_type = doc_type:lower()
  -- "PrivateIpAddress.N  Array": the .N path names the list's items; the type describes the list
  if doc_type == "array" and doc_name:match("%.[nN]$") then return true end
  local c = COMPAT[doc_type] and COMPAT[doc_type][node.type]
  if c == "json" then return node.style == "json" end
  if c == "object" then return node.items.type == "object" end
  return c == true
end

-- The documented params of each action of a document, in document order: { { name = action,
-- line = n, params = { { name, type, required, line } } } }.
local function doc_actions(doc)
  local list, by = {}, {}
  for _, a in ipairs(doc.actions) do
    by[a[1]] = { name = a[1], line = a[2], params = {} }
    list[#list + 1] = by[a[1]]
  end
  for _, r in ipairs(doc.rows) do
    local a = assert(by[r[1]], "row for an action the document does not list: " .. r[1])
    a.params[#a.params + 1] = { name = r[2], type = r[3], required = r[4], line = r[5] }
  end
  return list
end

local function doc_params(doc, action)
  local actions = doc_actions(doc)
  assert.are.equal(1, #actions)
  assert.are.equal(action, actions[1].name)
  return actions[1].params
end

-- Check documented params of one action; returns a list of problems and marks used exceptions.
local function check_action(doc_action, params, used, opts)
  local problems = {}
  local action = RENAMED[doc_action] or doc_action
  if RENAMED[doc_action] then used[doc_action] = true end
  local shape = api.action(action)
  if not shape then
    problems[#problems + 1] = "action " .. doc_action .. " is not in the model"
    return problems
  end
  for _, p in ipairs(params) do
    local key = doc_action .. "." .. p.name
    if COMMON[p.name] then
      -- set by the client, not a model param
    elseif REMOVED[key] then
      used[key] = true
    else
      local path = p.name
      if CASE[key] then path, used[key] = CASE[key], true end
      if RENAMED[key] then path, used[key] = RENAMED[key], true end
      local node, why = resolve(shape, path)
      if not node then
        problems[#problems + 1] = ("%s (line %d): %s"):format(key, p.line, why)
      elseif TYPE_DIFF[key] then
        used[key] = true
      elseif not compatible(p.type, node, p.name) then
        problems[#problems + 1] = ("%s (line %d): documented %s, model %s/%s"):format(
          key, p.line, p.type, node.type, tostring(node.style))
      elseif opts.required and (p.required and not node.required) then
        problems[#problems + 1] = ("%s (line %d): documented required, model optional"):format(key, p.line)
      end
    end
  end
  return problems
end

describe("generated model against the reference docs", function()
  local used = {}

  it("reads facts from every reference document (spec/data/reference.lua)", function()
    local f = assert(io.open("spec/data/reference.lua", "r"))
    local first = f:read("*l")
    f:close()
    assert.matches("^%-%- Generated by tools/extract%-reference .*regenerate: tools/extract%-reference DIR", first)
    local files = {
      api2019 = "002_0a41c2708afdc3bb.txt", describe_instances = "004_8d10d28eeb775749.txt",
      image_from_family = "003_fd3ea5842a7c1b69.txt", image_support = "000_385d836ffbbaf46e.txt",
    }
    for key, file in pairs(files) do
      local doc = REF[key]
      assert(doc, "no document " .. key)
      assert.are.equal(file, doc.file)
      assert.are.equal("string", type(doc.role))
      assert.is_true(math.type(doc.lines) == "integer" and doc.lines > 0, key)
    end
  end)

  it("has a positive source line and a known type word on every documented row", function()
    for key, doc in pairs(REF) do
      local actions = {}
      for _, a in ipairs(doc.actions) do
        assert(type(a[1]) == "string" and a[1]:match("^%u%w+$"), key .. ": bad action " .. tostring(a[1]))
        assert(math.type(a[2]) == "integer" and a[2] > 0 and a[2] <= doc.lines, key .. ": bad line for " .. a[1])
        actions[a[1]] = true
      end
      for i, r in ipairs(doc.rows) do
        local where = ("%s row %d"):format(key, i)
        assert.are.equal(5, #r, where)
        assert(actions[r[1]], where .. ": action " .. tostring(r[1]) .. " not among the document's actions")
        assert(type(r[2]) == "string" and r[2]:match("^%a[%w.]*$"), where .. ": bad name")
        assert(type(r[3]) == "string" and COMPAT[r[3]:lower()], where .. ": unknown type " .. tostring(r[3]))
        assert(type(r[4]) == "boolean", where .. ": required is a boolean")
        assert(math.type(r[5]) == "integer" and r[5] > 0 and r[5] <= doc.lines, where .. ": bad line " .. tostring(r[5]))
      end
    end
  end)

  it("2019 API reference (002): every documented action and request parameter", function()
    local actions = doc_actions(REF.api2019)
    -- what the parser found there: ~110 action sections with request tables, ~900 rows
    assert.is_true(#actions >= 105, "found only " .. #actions .. " action sections")
    local rows, problems = 0, {}
    for _, a in ipairs(actions) do
      assert(#a.params > 0, "no request rows for " .. a.name .. " (line " .. a.line .. ")")
      rows = rows + #a.params
      for _, msg in ipairs(check_action(a.name, a.params, used, {})) do problems[#problems + 1] = msg end
    end
    assert.is_true(rows >= 850, "only " .. rows .. " request rows")
    assert.are.same({}, problems)
  end)

  it("2024 DescribeInstances (004): every request parameter, with required flags", function()
    local params = doc_params(REF.describe_instances, "DescribeInstances")
    assert.is_true(#params >= 40, "only " .. #params .. " rows")
    assert.are.same({}, check_action("DescribeInstances", params, used, { required = true }))
    local seen = {}
    for _, p in ipairs(params) do seen[p.name] = p end
    assert.is_true(seen.RegionId.required)
    assert.are.equal("object []", seen.Tag.type)
    assert.truthy(seen["Filter.1.Key"] and seen["Tag.n.Key"] and seen.MaxResults)
  end)

  it("2024 DescribeImageFromFamily (003): every request parameter, with required flags", function()
    local params = doc_params(REF.image_from_family, "DescribeImageFromFamily")
    assert.are.equal(2, #params)
    assert.are.same({}, check_action("DescribeImageFromFamily", params, used, { required = true }))
  end)

  it("DescribeImageSupportInstanceTypes (000): every request parameter, with required flags", function()
    local params = doc_params(REF.image_support, "DescribeImageSupportInstanceTypes")
    assert.are.equal(6, #params) -- Action, RegionId, ImageId, ActionType, Filter.N.Key, Filter.N.Value
    assert.are.same({}, check_action("DescribeImageSupportInstanceTypes", params, used, { required = true }))
  end)

  it("needs every listed exception (none is stale)", function()
    local stale = {}
    for _, t in ipairs({ CASE, RENAMED, REMOVED, TYPE_DIFF }) do
      for k in pairs(t) do
        if not used[k] then stale[#stale + 1] = k end
      end
    end
    table.sort(stale)
    assert.are.same({}, stale)
  end)

  it("fails on a parameter the model does not have (the check can fail)", function()
    local problems = check_action("DescribeInstances",
      { { name = "NoSuchParam", type = "String", line = 0 }, { name = "PageSize", type = "Boolean", line = 0 } },
      {}, {})
    assert.are.equal(2, #problems)
    assert.matches("NoSuchParam", problems[1])
    assert.matches("documented Boolean", problems[2])
  end)
end)

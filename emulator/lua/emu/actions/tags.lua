-- Tags: TagResources, UntagResources, ListTagResources and the older AddTags, RemoveTags, DescribeTags.
local c = require "emu.actions.common"
local state = require "emu.state"
local util = require "emu.util"

local fail = c.fail
local A = {}

local TABLES = { instance = "instances", disk = "disks", snapshot = "snapshots", securitygroup = "sgs" }
local ID_FIELD = { instance = "InstanceId", disk = "DiskId", snapshot = "SnapshotId", securitygroup = "SecurityGroupId" }

local function rtype_of(p)
  local t = p.ResourceType and p.ResourceType:lower()
  if not t then
    fail(400, "MissingParameter.ResourceType", "The input parameter \"ResourceType\" that is mandatory for processing this request is not supplied.")
  end
  if not TABLES[t] then
    fail(400, "InvalidResourceType.NotSupported", "The specified ResourceType is not supported by the emulator (instance, disk, snapshot, securitygroup).")
  end
  return t
end

local function resource(ctx, rtype, id, region)
  local r = ctx.S[TABLES[rtype]][id]
  if not r or (region and r.RegionId ~= region) then
    fail(404, "InvalidResourceId.NotFound", "The specified ResourceIds are not found in our records.")
  end
  return r
end

local function check_tags(tags, need_value)
  if not tags or #tags == 0 then
    fail(400, "MissingParameter.Tag", "The input parameter \"Tag\" that is mandatory for processing this request is not supplied.")
  end
  if #tags > 20 then fail(400, "InvalidTagCount", "The specified tags are beyond the permitted range.") end
  for i, t in ipairs(tags) do
    if not t.Key or t.Key == "" then
      fail(400, "InvalidTagKey.Malformed", "The specified Tag." .. i .. ".Key is not valid.")
    end
    if #t.Key > 128 or t.Key:match("^aliyun") or t.Key:match("^acs:") or t.Key:match("^https?://") then
      fail(400, "InvalidTagKey.Malformed", "The specified Tag." .. i .. ".Key is not valid.")
    end
    if t.Value and (#t.Value > 128 or t.Value:match("^https?://")) then
      fail(400, "InvalidTagValue.Malformed", "The specified Tag." .. i .. ".Value is not valid.")
    end
  end
end

local function add(ctx, rtype, ids, tags, region)
  for _, id in ipairs(ids) do resource(ctx, rtype, id, region) end
  for _, id in ipairs(ids) do
    local existing = ctx.S.tags[id] or {}
    local n = 0
    for _ in pairs(existing) do n = n + 1 end
    for _, t in ipairs(tags) do if existing[t.Key] == nil then n = n + 1 end end
    if n > 20 then fail(400, "InvalidTagCount", "A resource can carry at most 20 tags.") end
  end
  ctx.commit()
  for _, id in ipairs(ids) do
    for _, t in ipairs(tags) do state.set_tag(id, rtype, t.Key, t.Value) end
  end
end

A.TagResources = {
  required = { "RegionId", "ResourceType", "ResourceId", "Tag" },
  run = function(ctx, p)
    local region = c.region(p)
    local rtype = rtype_of(p)
    if #p.ResourceId > 50 then fail(400, "InvalidParameter", "At most 50 ResourceId values are allowed.") end
    check_tags(p.Tag)
    add(ctx, rtype, p.ResourceId, p.Tag, region)
    return {}
  end,
}

A.UntagResources = {
  required = { "RegionId", "ResourceType", "ResourceId" },
  run = function(ctx, p)
    local region = c.region(p)
    local rtype = rtype_of(p)
    for _, id in ipairs(p.ResourceId) do resource(ctx, rtype, id, region) end
    if not p.All and (not p.TagKey or #p.TagKey == 0) then
      fail(400, "MissingParameter.TagKey", "The input parameter \"TagKey\" that is mandatory for processing this request is not supplied.")
    end
    ctx.commit()
    for _, id in ipairs(p.ResourceId) do
      local tags = ctx.S.tags[id]
      if tags then
        if p.All and (not p.TagKey or #p.TagKey == 0) then ctx.S.tags[id] = nil
        else for _, k in ipairs(p.TagKey) do tags[k] = nil end end
      end
    end
    return {}
  end,
}

A.ListTagResources = {
  required = { "RegionId", "ResourceType" },
  run = function(ctx, p)
    local region = c.region(p)
    local rtype = rtype_of(p)
    if (not p.ResourceId or #p.ResourceId == 0) and (not p.Tag or #p.Tag == 0) and not p.TagFilter then
      fail(400, "MissingParameter", "ResourceId.N or Tag.N is required.")
    end
    local ids
    if p.ResourceId and #p.ResourceId > 0 then
      ids = {}
      for _, id in ipairs(p.ResourceId) do
        local r = ctx.S[TABLES[rtype]][id]
        if r and r.RegionId == region then ids[#ids + 1] = id end
      end
    else
      ids = {}
      for _, r in ipairs(state.list(ctx.S[TABLES[rtype]], function(r) return r.RegionId == region end)) do
        ids[#ids + 1] = r[ID_FIELD[rtype]]
      end
    end
    local items = {}
    for _, id in ipairs(ids) do
      if state.match_tags(id, p.Tag) then
        local tags = ctx.S.tags[id] or {}
        for _, k in ipairs(util.sorted_keys(tags)) do
          items[#items + 1] = { ResourceType = "ALIYUN::ECS::" .. rtype:upper(), ResourceId = id, TagKey = k, TagValue = tags[k] }
        end
      end
    end
    local p2 = { NextToken = p.NextToken, MaxResults = 50 }
    local page, meta = c.token_page(p2, items)
    return { NextToken = meta.NextToken, TagResources = { TagResource = page } }
  end,
}

A.AddTags = {
  required = { "RegionId", "ResourceType", "ResourceId", "Tag" },
  run = function(ctx, p)
    local region = c.region(p)
    local rtype = rtype_of(p)
    check_tags(p.Tag)
    add(ctx, rtype, { p.ResourceId }, p.Tag, region)
    return {}
  end,
}

A.RemoveTags = {
  required = { "RegionId", "ResourceType", "ResourceId" },
  run = function(ctx, p)
    local region = c.region(p)
    local rtype = rtype_of(p)
    resource(ctx, rtype, p.ResourceId, region)
    ctx.commit()
    local tags = ctx.S.tags[p.ResourceId]
    if tags then
      if not p.Tag or #p.Tag == 0 then ctx.S.tags[p.ResourceId] = nil
      else
        for _, t in ipairs(p.Tag) do
          if t.Key and (t.Value == nil or tags[t.Key] == t.Value) then tags[t.Key] = nil end
        end
      end
    end
    return {}
  end,
}

A.DescribeTags = {
  required = { "RegionId" },
  run = function(ctx, p)
    local region = c.region(p)
    local counts = {}
    for _, rtype in ipairs { "instance", "disk", "snapshot", "securitygroup" } do
      if not p.ResourceType or p.ResourceType:lower() == rtype then
        for id, r in pairs(ctx.S[TABLES[rtype]]) do
          if r.RegionId == region and (not p.ResourceId or p.ResourceId == id) then
            for k, v in pairs(ctx.S.tags[id] or {}) do
              local match = true
              for _, t in ipairs(p.Tag or {}) do
                if t.Key and (t.Key ~= k or (t.Value and t.Value ~= v)) then match = false end
              end
              if match then
                local key = k .. "\0" .. v
                counts[key] = counts[key] or { TagKey = k, TagValue = v, ResourceTypeCount = {
                  Instance = 0, Disk = 0, Snapshot = 0, Securitygroup = 0, Image = 0, Volume = 0, Eni = 0,
                  Ddh = 0, KeyPair = 0, LaunchTemplate = 0, ReservedInstance = 0 } }
                local rc = counts[key].ResourceTypeCount
                local name = rtype:sub(1, 1):upper() .. rtype:sub(2)
                rc[name] = rc[name] + 1
              end
            end
          end
        end
      end
    end
    local items = {}
    for _, k in ipairs(util.sorted_keys(counts)) do items[#items + 1] = counts[k] end
    local page, meta = c.page(p, items)
    meta.Tags = { Tag = page }
    return meta
  end,
}

return A

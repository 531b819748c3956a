-- Tags: TagResources, UntagResources, ListTagResources and the older AddTags, RemoveTags, DescribeTags.
local args = require "emu.args"
local describe = require("emu.describe").describe
local respond = require "emu.respond"
local state = require "emu.state"
local tags = require "emu.model.tags"
local util = require "emu.util"

local fail = respond.fail
local A = {}

local function rtype_of(p)
  local t = p.ResourceType and p.ResourceType:lower()
  if not t then
    fail(400, "MissingParameter.ResourceType", "The input parameter \"ResourceType\" that is mandatory for processing this request is not supplied.")
  end
  if not tags.supports(t) then
    fail(400, "InvalidResourceType.NotSupported", "The specified ResourceType is not supported by the emulator (instance, disk, snapshot, securitygroup).")
  end
  return t
end

local function check_tags(list)
  if not list or #list == 0 then
    fail(400, "MissingParameter.Tag", "The input parameter \"Tag\" that is mandatory for processing this request is not supplied.")
  end
  if #list > 20 then fail(400, "InvalidTagCount", "The specified tags are beyond the permitted range.") end
  for i, t in ipairs(list) do
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

local function add(ctx, rtype, ids, list, region)
  local S = ctx.S
  for _, id in ipairs(ids) do tags.resource(S, rtype, id, region) end
  for _, id in ipairs(ids) do
    local existing = tags.of(S, id) or {}
    local n = tags.count(S, id)
    for _, t in ipairs(list) do if existing[t.Key] == nil then n = n + 1 end end
    if n > 20 then fail(400, "InvalidTagCount", "A resource can carry at most 20 tags.") end
  end
  ctx.commit()
  for _, id in ipairs(ids) do
    for _, t in ipairs(list) do tags.set(S, id, t.Key, t.Value) end
  end
end

A.TagResources = {
  run = function(ctx, p)
    local region = args.region(ctx, p)
    local rtype = rtype_of(p)
    if #p.ResourceId > 50 then fail(400, "InvalidParameter", "At most 50 ResourceId values are allowed.") end
    check_tags(p.Tag)
    add(ctx, rtype, p.ResourceId, p.Tag, region)
    return {}
  end,
}

A.UntagResources = {
  run = function(ctx, p)
    local region = args.region(ctx, p)
    local rtype = rtype_of(p)
    for _, id in ipairs(p.ResourceId) do tags.resource(ctx.S, rtype, id, region) end
    if not p.All and (not p.TagKey or #p.TagKey == 0) then
      fail(400, "MissingParameter.TagKey", "The input parameter \"TagKey\" that is mandatory for processing this request is not supplied.")
    end
    ctx.commit()
    for _, id in ipairs(p.ResourceId) do
      if p.All and (not p.TagKey or #p.TagKey == 0) then tags.forget(ctx.S, id)
      else for _, k in ipairs(p.TagKey) do tags.remove(ctx.S, id, k) end end
    end
    return {}
  end,
}

A.ListTagResources = describe {
  region = "required", list = "TagResources.TagResource", paging = "token", page_size = 50,
  query = function(_, p)
    local rtype = rtype_of(p)
    if (not p.ResourceId or #p.ResourceId == 0) and (not p.Tag or #p.Tag == 0) and not p.TagFilter then
      fail(400, "MissingParameter", "ResourceId.N or Tag.N is required.")
    end
    return { rtype = rtype }
  end,
  rows = function(ctx, p, region, q)
    local S, rtype = ctx.S, q.rtype
    local ids = {}
    if p.ResourceId and #p.ResourceId > 0 then
      local all = tags.resources(S, rtype)
      for _, id in ipairs(p.ResourceId) do
        local r = all[id]
        if r and r.RegionId == region then ids[#ids + 1] = id end
      end
    else
      for _, r in ipairs(state.list(tags.resources(S, rtype), function(r) return r.RegionId == region end)) do
        ids[#ids + 1] = tags.id_of(rtype, r)
      end
    end
    local items = {}
    for _, id in ipairs(ids) do
      if tags.matches(S, id, p.Tag) then
        local these = tags.of(S, id) or {}
        for _, k in ipairs(util.sorted_keys(these)) do
          items[#items + 1] = { ResourceType = "ALIYUN::ECS::" .. rtype:upper(), ResourceId = id, TagKey = k, TagValue = these[k] }
        end
      end
    end
    return items
  end,
}

A.AddTags = {
  run = function(ctx, p)
    local region = args.region(ctx, p)
    local rtype = rtype_of(p)
    check_tags(p.Tag)
    add(ctx, rtype, { p.ResourceId }, p.Tag, region)
    return {}
  end,
}

A.RemoveTags = {
  run = function(ctx, p)
    local region = args.region(ctx, p)
    local rtype = rtype_of(p)
    tags.resource(ctx.S, rtype, p.ResourceId, region)
    ctx.commit()
    local these = tags.of(ctx.S, p.ResourceId)
    if these then
      if not p.Tag or #p.Tag == 0 then tags.forget(ctx.S, p.ResourceId)
      else
        for _, t in ipairs(p.Tag) do
          if t.Key and (t.Value == nil or these[t.Key] == t.Value) then tags.remove(ctx.S, p.ResourceId, t.Key) end
        end
      end
    end
    return {}
  end,
}

local COUNTED = { "Instance", "Disk", "Snapshot", "Securitygroup", "Image", "Volume", "Eni", "Ddh", "KeyPair",
  "LaunchTemplate", "ReservedInstance" }

A.DescribeTags = describe {
  region = "required", list = "Tags.Tag", paging = "page",
  rows = function(ctx, p, region)
    local S = ctx.S
    local counts = {}
    for _, rtype in ipairs(tags.TYPES) do
      if not p.ResourceType or p.ResourceType:lower() == rtype then
        for id, r in pairs(tags.resources(S, rtype)) do
          if r.RegionId == region and (not p.ResourceId or p.ResourceId == id) then
            for k, v in pairs(tags.of(S, id) or {}) do
              local match = true
              for _, t in ipairs(p.Tag or {}) do
                if t.Key and (t.Key ~= k or (t.Value and t.Value ~= v)) then match = false end
              end
              if match then
                local key = k .. "\0" .. v
                if not counts[key] then
                  local rc = {}
                  for _, name in ipairs(COUNTED) do rc[name] = 0 end
                  counts[key] = { TagKey = k, TagValue = v, ResourceTypeCount = rc }
                end
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
    return items
  end,
}

return A

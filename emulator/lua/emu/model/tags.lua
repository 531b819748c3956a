-- Tags of the resources: instance, disk, snapshot, securitygroup.
local respond = require "emu.respond"
local util = require "emu.util"

local fail = respond.fail
local M = {}

-- the state table and id field of each taggable resource type
local TABLES = { instance = "instances", disk = "disks", snapshot = "snapshots", securitygroup = "sgs" }
local ID_FIELD = { instance = "InstanceId", disk = "DiskId", snapshot = "SnapshotId", securitygroup = "SecurityGroupId" }
M.TYPES = { "instance", "disk", "snapshot", "securitygroup" }

function M.supports(rtype) return TABLES[rtype] ~= nil end

-- the resources of a type: id -> resource
function M.resources(S, rtype) return S[TABLES[rtype]] end
function M.id_of(rtype, r) return r[ID_FIELD[rtype]] end

-- the resource `id` of a type, in `region`; InvalidResourceId.NotFound otherwise
function M.resource(S, rtype, id, region)
  local r = S[TABLES[rtype]][id]
  if not r or (region and r.RegionId ~= region) then
    fail(404, "InvalidResourceId.NotFound", "The specified ResourceIds are not found in our records.")
  end
  return r
end

-- key -> value of a resource (nil when it has none): read-only
function M.of(S, id) return S.tags[id] end

function M.count(S, id)
  local n = 0
  for _ in pairs(S.tags[id] or {}) do n = n + 1 end
  return n
end

function M.set(S, id, k, v)
  S.tags[id] = S.tags[id] or {}
  S.tags[id][k] = v or ""
end

function M.remove(S, id, k)
  local tags = S.tags[id]
  if tags then tags[k] = nil end
end

-- drops every tag of a resource (also when the resource goes)
function M.forget(S, id) S.tags[id] = nil end

-- Tag.N of a create request
function M.apply(S, id, tags)
  if not tags then return end
  for _, t in ipairs(tags) do
    if t.Key and t.Key ~= "" then M.set(S, id, t.Key, t.Value) end
  end
end

-- the reply's list of a resource's tags, sorted by key
function M.list(S, id, keyname, valname)
  local t = util.array()
  local tags = S.tags[id]
  if tags then
    for _, k in ipairs(util.sorted_keys(tags)) do
      t[#t + 1] = { [keyname or "TagKey"] = k, [valname or "TagValue"] = tags[k] }
    end
  end
  return t
end

-- true when the resource carries every {Key, Value} in the filter list (Value optional)
function M.matches(S, id, filter)
  if not filter or #filter == 0 then return true end
  local tags = S.tags[id] or {}
  for _, f in ipairs(filter) do
    local key = f.Key or f.key
    local val = f.Value or f.value
    if key then
      if tags[key] == nil then return false end
      if val ~= nil and tags[key] ~= val then return false end
    end
  end
  return true
end

return M

-- Per-worker resource state. Dropped whenever the shared generation counter moves
-- (start, or POST /__emulator/reset). One worker (the default) sees one consistent world.
local util = require "emu.util"
local data = require "emu.data"
local conf = require "emu.conf"

local ngx = ngx
local M = {}

local S

function M.reset(gen)
  S = {
    gen = gen,
    instances = {}, disks = {}, snapshots = {}, sgs = {}, vpcs = {}, vswitches = {},
    order = 0,            -- creation sequence, for stable listing order
    tokens = {},          -- ClientToken records: key -> { fp =, result = }
    tags = {},            -- resource id -> { key -> value }
    tag_types = {},       -- resource id -> resource type (instance, disk, snapshot, securitygroup, image)
    page_tokens = {},     -- NextToken -> offset
    regions_ready = {},
    ip_counter = 0,
  }
  M.S = S
end
M.reset(0)

function M.sync(gen)
  if S.gen ~= gen then M.reset(gen) end
  return S
end

function M.now() return ngx.now() end

function M.next_order()
  S.order = S.order + 1
  return S.order
end

-- lifecycle speed: base seconds scaled by the configured multiplier
function M.duration(base)
  local speed = conf.get().settings.speed
  if speed == nil then speed = 1 end
  return base * speed
end

-- Schedules status changes: steps = { {status, base_seconds}, ... } run one after another.
-- With speed 0 every step happens at once.
function M.schedule(res, steps)
  local t = M.now()
  res.queue = {}
  for i = 1, #steps do
    local d = M.duration(steps[i][2])
    t = t + d
    res.queue[#res.queue + 1] = { status = steps[i][1], at = t, on = steps[i][3] }
  end
  M.settle(res)
end

function M.settle(res)
  local q = res.queue
  if not q or #q == 0 then return res end
  local now = M.now()
  while q[1] and q[1].at <= now do
    res.Status = q[1].status
    if q[1].on then q[1].on(res) end
    table.remove(q, 1)
  end
  return res
end

-- default VPC and one default VSwitch per zone, made the first time a region is used
function M.ensure_region(region)
  if S.regions_ready[region] then return end
  S.regions_ready[region] = true
  local vpc_id = util.new_id("vpc")
  S.vpcs[vpc_id] = {
    VpcId = vpc_id, RegionId = region, VpcName = "default", IsDefault = true, Status = "Available",
    CidrBlock = "172.16.0.0/12", CreationTime = util.iso8601(M.now()), Description = "", order = M.next_order(),
    VSwitchIds = {},
  }
  for i, zone in ipairs(data.zones(region)) do
    local vsw = util.new_id("vsw")
    S.vswitches[vsw] = {
      VSwitchId = vsw, VpcId = vpc_id, ZoneId = zone, RegionId = region, IsDefault = true,
      Status = "Available", CidrBlock = ("172.%d.0.0/20"):format(15 + i), VSwitchName = "default",
      AvailableIpAddressCount = 4091, CreationTime = util.iso8601(M.now()), Description = "",
      order = M.next_order(), subnet = 15 + i,
    }
    S.vpcs[vpc_id].VSwitchIds[#S.vpcs[vpc_id].VSwitchIds + 1] = vsw
  end
  S.default_vpc = S.default_vpc or {}
  S.default_vpc[region] = vpc_id
end

function M.default_vpc(region)
  M.ensure_region(region)
  return S.default_vpc[region]
end

function M.default_vswitch(region, zone, vpc_id)
  M.ensure_region(region)
  vpc_id = vpc_id or S.default_vpc[region]
  local best
  for _, v in pairs(S.vswitches) do
    if v.VpcId == vpc_id and (not zone or v.ZoneId == zone) then
      if not best or v.order < best.order then best = v end
    end
  end
  return best
end

function M.next_ip(vsw)
  S.ip_counter = S.ip_counter + 1
  local n = S.ip_counter
  return ("172.%d.%d.%d"):format(vsw.subnet or 16, math.floor(n / 250) % 250, n % 250 + 2)
end

-- resources of one table, settled and in creation order, optionally filtered
function M.list(tbl, pred)
  local out = {}
  for _, r in pairs(tbl) do
    M.settle(r)
    if not pred or pred(r) then out[#out + 1] = r end
  end
  table.sort(out, function(a, b) return a.order < b.order end)
  return out
end

-- tags
function M.tags_of(id)
  return S.tags[id]
end

function M.set_tag(id, rtype, k, v)
  S.tags[id] = S.tags[id] or {}
  S.tags[id][k] = v or ""
  S.tag_types[id] = rtype
end

function M.tag_list(id, keyname, valname)
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
function M.match_tags(id, filter)
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

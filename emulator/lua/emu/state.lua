-- Per-worker resource store and the lifecycle clock. The store is dropped whenever the shared
-- generation counter moves (start, or POST /__emulator/reset). One worker (the default) sees one
-- consistent world. What the resources mean is the business of emu.model.*.
local conf = require "emu.conf"
local respond = require "emu.respond"

local ngx = ngx
local M = {}

local function fresh(gen)
  return {
    gen = gen,
    instances = {}, disks = {}, snapshots = {}, sgs = {}, vpcs = {}, vswitches = {},
    order = 0,            -- creation sequence, for stable listing order
    tokens = {},          -- ClientToken records: key -> { fp =, result = }
    tags = {},            -- resource id -> { key -> value }
    page_tokens = {},     -- NextToken -> offset
    regions_ready = {},   -- region -> true once its default VPC exists
    default_vpc = {},     -- region -> VpcId
    ip_counter = 0,
  }
end

local S = fresh(0)

-- the store of generation `gen` (a fresh one when the generation moved)
function M.sync(gen)
  if S.gen ~= gen then S = fresh(gen) end
  return S
end

function M.next_order(store)
  store.order = store.order + 1
  return store.order
end

-- lifecycle speed: base seconds scaled by the configured multiplier
function M.duration(base)
  local speed = conf.get().settings.speed
  if speed == nil then speed = 1 end
  return base * speed
end

-- Brings a resource's status up to date: the steps of its queue whose time has come.
function M.settle(res)
  local q = res.queue
  if not q or #q == 0 then return res end
  local now = ngx.now()
  while q[1] and q[1].at <= now do
    res.Status = q[1].status
    if q[1].on then q[1].on(res) end
    table.remove(q, 1)
  end
  return res
end

-- The resource `id` of `store` (in `region` when given), settled; otherwise the
-- service's NotFound error `code` with `message`. One lookup for instances,
-- disks and security groups.
function M.find(store, id, region, code, message)
  local res = store[id]
  if not res or (region and res.RegionId ~= region) then
    respond.fail(404, code, message)
  end
  return M.settle(res)
end

-- Schedules status changes: steps = { {status, base_seconds, on_reach}, ... } run one after
-- another. Nothing runs in the background: statuses are settled when a resource is read. With
-- speed 0 every step happens at once.
function M.schedule(res, steps)
  local t = ngx.now()
  res.queue = {}
  for i = 1, #steps do
    t = t + M.duration(steps[i][2])
    res.queue[#res.queue + 1] = { status = steps[i][1], at = t, on = steps[i][3] }
  end
  M.settle(res)
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

return M

-- Disks (Available -> Attaching -> In_use -> Detaching -> Available) and snapshots (progress
-- growing to 100 % over a base 5 s).
local data = require "emu.data"
local respond = require "emu.respond"
local state = require "emu.state"
local stats = require "emu.stats"
local tags = require "emu.model.tags"
local util = require "emu.util"

local ngx = ngx
local fail = respond.fail
local M = {}

-- base durations in seconds, multiplied by the speed setting
local T_ATTACH, T_DETACH, T_SNAPSHOT = 1, 1, 5

local CATEGORIES = {}
for _, k in ipairs(data.disk_categories) do CATEGORIES[k] = true end
function M.category_ok(category) return CATEGORIES[category] == true end

function M.check_size(size, category, snapshot_size)
  local lo = snapshot_size or 20
  if category == "cloud" then
    if size < 5 or size > 2000 then fail(400, "InvalidDiskSize.ValueNotSupported", "The specified parameter Size is not valid: " .. size) end
  elseif size < 20 or size > 32768 then
    fail(400, "InvalidDiskSize.ValueNotSupported", "The specified parameter Size is not valid: " .. size)
  end
  if snapshot_size and size < lo then
    fail(400, "InvalidDiskSize.TooSmall", "The disk size is smaller than the size of the source snapshot.")
  end
end

-- t: region, zone, size, category, type ("system"|"data"), status, instance, device, image,
-- snapshot, name, description, delete_with_instance, performance_level, resource_group
function M.new(S, t)
  local id = util.new_id("d")
  local d = {
    DiskId = id, RegionId = t.region, ZoneId = t.zone, Size = t.size, Category = t.category or "cloud_efficiency",
    Type = t.type or "data", Status = t.status or "Available", DiskName = t.name or "",
    Description = t.description or "", InstanceId = t.instance or "", Device = t.device or "",
    DeleteWithInstance = t.delete_with_instance ~= false, DeleteAutoSnapshot = true,
    EnableAutoSnapshot = false, Portable = t.type ~= "system", Encrypted = false,
    SourceSnapshotId = t.snapshot or "", ImageId = t.image or "", PerformanceLevel = t.performance_level or "",
    DiskChargeType = "PostPaid", CreationTime = util.iso8601(ngx.now()),
    AttachedTime = t.instance and util.iso8601(ngx.now()) or "", DetachedTime = "",
    order = state.next_order(S), ResourceGroupId = t.resource_group or "",
  }
  S.disks[id] = d
  stats.created("disk")
  return d
end

-- the disk `id` (in `region` when given), settled; InvalidDiskId.NotFound otherwise
function M.find(S, id, region)
  return state.find(S.disks, id, region, "InvalidDiskId.NotFound", "The specified disk does not exist.")
end

function M.view(S, d)
  local t = {}
  for k, v in pairs(d) do
    if k ~= "queue" and k ~= "order" then t[k] = v end
  end
  t.Tags = { Tag = tags.list(S, d.DiskId) }
  t.OperationLocks = { OperationLock = util.array() }
  t.MountInstances = { MountInstance = util.array() }
  t.IOPS = 1800 + 50 * d.Size
  return t
end

-- the device name the next disk attached to an instance gets
function M.next_device(inst) return "/dev/xvd" .. string.char(97 + #inst.disk_ids) end

local function plug(inst, d)
  d.InstanceId = inst.InstanceId
  d.Device = M.next_device(inst)
  d.AttachedTime = util.iso8601(ngx.now())
  inst.disk_ids[#inst.disk_ids + 1] = d.DiskId
end

-- AttachDisk: Attaching, In_use after a base 1 s
function M.attach(inst, d, delete_with_instance)
  d.Status = "Attaching"
  plug(inst, d)
  d.DeleteWithInstance = delete_with_instance
  state.schedule(d, { { "In_use", T_ATTACH } })
end

-- CreateDisk with InstanceId: In_use at once
function M.attach_created(inst, d)
  d.Status = "In_use"
  plug(inst, d)
end

-- DetachDisk: Detaching, Available after a base 1 s
function M.detach(inst, d)
  local keep = {}
  for _, id in ipairs(inst.disk_ids) do if id ~= d.DiskId then keep[#keep + 1] = id end end
  inst.disk_ids = keep
  d.DetachedTime = util.iso8601(ngx.now())
  d.Status = "Detaching"
  state.schedule(d, { { "Available", T_DETACH, function(x) x.InstanceId = ""; x.Device = "" end } })
end

function M.delete(S, d)
  S.disks[d.DiskId] = nil
  tags.forget(S, d.DiskId)
end

-- the instance of an attached disk is deleted: the system disk and the disks with
-- DeleteWithInstance go with it, the others become Available
function M.instance_gone(S, d)
  if d.DeleteWithInstance or d.Type == "system" then
    M.delete(S, d)
  else
    d.Status = "Available"; d.InstanceId = ""; d.Device = ""; d.DetachedTime = util.iso8601(ngx.now())
  end
end

-- ------------------------------------------------------------------ snapshots

-- brings a snapshot's Status, Progress and RemainTime up to date
local function progress(s)
  if s.Status == "accomplished" then return s end
  local total = s.duration
  local pct = total <= 0 and 100 or math.floor((ngx.now() - s.started) / total * 100)
  if pct >= 100 then
    s.Status = "accomplished"; s.Progress = "100%"; s.RemainTime = 0
  else
    s.Progress = pct .. "%"; s.RemainTime = math.ceil(total - (ngx.now() - s.started))
  end
  return s
end

-- the snapshot `id` (in `region` when given), brought up to date, or nil
function M.snapshot(S, id, region)
  local s = S.snapshots[id]
  if not s or (region and s.RegionId ~= region) then return nil end
  return progress(s)
end

M.settle_snapshot = progress

-- t: name, description, category, retention_days, resource_group
function M.new_snapshot(S, d, t)
  local id = util.new_id("s")
  local s = {
    SnapshotId = id, RegionId = d.RegionId, SourceDiskId = d.DiskId, SourceDiskSize = d.Size,
    SourceDiskType = d.Type, SnapshotName = t.name or "", Description = t.description or "",
    Status = "progressing", Progress = "0%", RemainTime = 0, CreationTime = util.iso8601(ngx.now()),
    Usage = "none", SnapshotType = "user", Category = t.category or "standard", Encrypted = false,
    RetentionDays = t.retention_days, ProductCode = "", order = state.next_order(S),
    started = ngx.now(), duration = state.duration(T_SNAPSHOT), ResourceGroupId = t.resource_group or "",
  }
  S.snapshots[id] = s
  progress(s)
  stats.created("snapshot")
  return s
end

function M.snapshot_view(S, s)
  local t = {}
  for k, v in pairs(s) do
    if k ~= "order" and k ~= "started" and k ~= "duration" and k ~= "queue" then t[k] = v end
  end
  t.SourceDiskSize = tostring(s.SourceDiskSize)
  t.Tags = { Tag = tags.list(S, s.SnapshotId) }
  return t
end

-- whether disks were created from the snapshot
function M.snapshot_used(S, s)
  for _, d in pairs(S.disks) do
    if d.SourceSnapshotId == s.SnapshotId then return true end
  end
  return false
end

function M.delete_snapshot(S, s)
  S.snapshots[s.SnapshotId] = nil
  tags.forget(S, s.SnapshotId)
end

return M

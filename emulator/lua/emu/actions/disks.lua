-- Disks and snapshots.
local c = require "emu.actions.common"
local data = require "emu.data"
local state = require "emu.state"
local util = require "emu.util"

local fail = c.fail
local stats = ngx.shared.emu_stats
local A = {}
local H = {}   -- helpers for other modules (not actions)

local CATEGORIES = {}
for _, k in ipairs(data.disk_categories) do CATEGORIES[k] = true end
H.CATEGORIES = CATEGORIES

function H.new_disk(S, t)
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
    order = state.next_order(), ResourceGroupId = t.resource_group or "",
  }
  S.disks[id] = d
  stats:incr("created|disk", 1, 0)
  return d
end

local function get_disk(ctx, id, region)
  return c.find(ctx, "disks", id, region)
end
H.get_disk = get_disk

local function get_instance(ctx, id)
  return c.find(ctx, "instances", id)
end

local function check_size(size, category, snapshot_size)
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
H.check_size = check_size

local function disk_view(d)
  local t = {}
  for k, v in pairs(d) do
    if k ~= "queue" and k ~= "order" and k ~= "detach_to" then t[k] = v end
  end
  t.Tags = { Tag = state.tag_list(d.DiskId) }
  t.OperationLocks = { OperationLock = util.array() }
  t.MountInstances = { MountInstance = util.array() }
  t.IOPS = 1800 + 50 * d.Size
  return t
end

A.CreateDisk = {
  run = function(ctx, p)
    local region = c.region(p)
    local zone = p.ZoneId
    if not zone and not p.InstanceId then
      fail(400, "MissingParameter.ZoneId", "The input parameter \"ZoneId\" that is mandatory for processing this request is not supplied.")
    end
    local inst
    if p.InstanceId then inst = get_instance(ctx, p.InstanceId); zone = zone or inst.ZoneId end
    if state.S and data.zone_region(zone) ~= region then
      fail(404, "InvalidZoneId.NotFound", "The specified zone does not exist.")
    end
    local category = p.DiskCategory or "cloud"
    if not CATEGORIES[category] then
      fail(400, "InvalidDiskCategory.ValueNotSupported", "The specified disk category is not supported.")
    end
    local snap
    if p.SnapshotId then
      snap = ctx.S.snapshots[p.SnapshotId]
      if not snap or snap.RegionId ~= region then
        fail(404, "InvalidSnapshotId.NotFound", "The specified SnapshotId does not exist.")
      end
      state.settle(snap)
      if snap.Status ~= "accomplished" then
        fail(403, "IncorrectSnapshotStatus", "The current status of the snapshot does not support this operation.")
      end
    end
    local size = p.Size
    if not size then
      if not snap then
        fail(400, "MissingParameter.Size", "The input parameter \"Size\" that is mandatory for processing this request is not supplied.")
      end
      size = snap.SourceDiskSize
    end
    check_size(size, category, snap and snap.SourceDiskSize)
    c.tags_filter_ok(p)
    ctx.commit()
    local d = H.new_disk(ctx.S, { region = region, zone = zone, size = size, category = category,
      name = p.DiskName, description = p.Description, snapshot = p.SnapshotId,
      performance_level = p.PerformanceLevel, resource_group = p.ResourceGroupId })
    c.apply_create_tags(d.DiskId, "disk", p.Tag)
    if inst then
      d.Status = "In_use"; d.InstanceId = inst.InstanceId; d.Device = "/dev/xvd" .. string.char(97 + #inst.disk_ids)
      d.AttachedTime = util.iso8601(ngx.now())
      inst.disk_ids[#inst.disk_ids + 1] = d.DiskId
    end
    return { DiskId = d.DiskId, OrderId = "" }
  end,
}

A.AttachDisk = {
  required = { "InstanceId", "DiskId" },
  run = function(ctx, p)
    local inst = get_instance(ctx, p.InstanceId)
    local d = get_disk(ctx, p.DiskId)
    if d.Status ~= "Available" then
      fail(403, "IncorrectDiskStatus", "The current disk status does not support this operation.")
    end
    if inst.Status ~= "Running" and inst.Status ~= "Stopped" then
      fail(403, "IncorrectInstanceStatus", "The current status of the resource does not support this operation.")
    end
    if d.ZoneId ~= inst.ZoneId then
      fail(403, "InvalidDiskId.ZoneMismatch", "The specified disk and instance are not in the same zone.")
    end
    if #inst.disk_ids >= 17 then
      fail(403, "InstanceDiskNumber.LimitExceed", "The amount of the disk on instance in question reach its limits.")
    end
    ctx.commit()
    d.Status = "Attaching"
    d.InstanceId = inst.InstanceId
    d.Device = "/dev/xvd" .. string.char(97 + #inst.disk_ids)
    d.DeleteWithInstance = p.DeleteWithInstance == true
    d.AttachedTime = util.iso8601(ngx.now())
    inst.disk_ids[#inst.disk_ids + 1] = d.DiskId
    state.schedule(d, { { "In_use", 1 } })
    return {}
  end,
}

A.DetachDisk = {
  required = { "InstanceId", "DiskId" },
  run = function(ctx, p)
    local inst = get_instance(ctx, p.InstanceId)
    local d = get_disk(ctx, p.DiskId)
    if d.InstanceId ~= inst.InstanceId then
      fail(403, "IncorrectDiskStatus", "The specified disk is not attached to the specified instance.")
    end
    if d.Type == "system" then
      fail(403, "InvalidDiskCategory.NotSupported", "The system disk cannot be detached.")
    end
    if d.Status ~= "In_use" then
      fail(403, "IncorrectDiskStatus", "The current disk status does not support this operation.")
    end
    if inst.Status ~= "Running" and inst.Status ~= "Stopped" then
      fail(403, "IncorrectInstanceStatus", "The current status of the resource does not support this operation.")
    end
    ctx.commit()
    H.detach(ctx.S, inst, d, true)
    return {}
  end,
}

function H.detach(S, inst, d, timed)
  local keep = {}
  for _, id in ipairs(inst.disk_ids) do if id ~= d.DiskId then keep[#keep + 1] = id end end
  inst.disk_ids = keep
  d.DetachedTime = util.iso8601(ngx.now())
  if timed then
    d.Status = "Detaching"
    state.schedule(d, { { "Available", 1, function(x) x.InstanceId = ""; x.Device = "" end } })
  else
    d.Status = "Available"; d.InstanceId = ""; d.Device = ""
  end
end

A.DeleteDisk = {
  required = { "DiskId" },
  run = function(ctx, p)
    local d = get_disk(ctx, p.DiskId)
    if d.Status ~= "Available" then
      fail(403, "IncorrectDiskStatus", "The current disk status does not support this operation.")
    end
    ctx.commit()
    ctx.S.disks[d.DiskId] = nil
    ctx.S.tags[d.DiskId] = nil
    return {}
  end,
}

A.DescribeDisks = {
  required = { "RegionId" },
  run = function(ctx, p)
    local region = c.region(p)
    c.tags_filter_ok(p)
    local ids = c.set_of(c.json_list(p, "DiskIds", 100))
    local items = {}
    for _, d in ipairs(state.list(ctx.S.disks, function(d)
      return d.RegionId == region and (not ids or ids[d.DiskId]) and (not p.ZoneId or p.ZoneId == d.ZoneId)
        and (not p.InstanceId or p.InstanceId == d.InstanceId)
        and (not p.DiskType or p.DiskType == "all" or p.DiskType == d.Type)
        and (not p.Category or p.Category == "all" or p.Category == d.Category)
        and (not p.Status or p.Status == "All" or p.Status == d.Status)
        and (not p.DiskName or p.DiskName == d.DiskName)
        and (not p.SnapshotId or p.SnapshotId == d.SourceSnapshotId)
        and (p.Portable == nil or p.Portable == d.Portable)
        and state.match_tags(d.DiskId, p.Tag)
    end)) do items[#items + 1] = disk_view(d) end
    local page, meta
    if c.uses_token_paging(p) then page, meta = c.token_page(p, items) else page, meta = c.page(p, items) end
    meta.Disks = { Disk = page }
    return meta
  end,
}

-- snapshots: progress grows over a base 5 s (times the speed multiplier)
local SNAP_SECONDS = 5

local function snap_progress(s)
  if s.Status == "accomplished" then return end
  local total = s.duration
  local pct = total <= 0 and 100 or math.floor((ngx.now() - s.started) / total * 100)
  if pct >= 100 then
    s.Status = "accomplished"; s.Progress = "100%"; s.RemainTime = 0
  else
    s.Progress = pct .. "%"; s.RemainTime = math.ceil(total - (ngx.now() - s.started))
  end
end

A.CreateSnapshot = {
  required = { "DiskId" },
  run = function(ctx, p)
    local d = get_disk(ctx, p.DiskId)
    if d.Status ~= "In_use" and d.Status ~= "Available" then
      fail(403, "IncorrectDiskStatus", "The current disk status does not support this operation.")
    end
    if d.InstanceId ~= "" then
      local inst = state.settle(ctx.S.instances[d.InstanceId])
      if inst and inst.Status ~= "Running" and inst.Status ~= "Stopped" then
        fail(403, "IncorrectInstanceStatus", "The current status of the resource does not support this operation.")
      end
    end
    if p.SnapshotName and (p.SnapshotName:match("^auto") or #p.SnapshotName < 2) then
      fail(400, "InvalidSnapshotName.Malformed", "Specified snapshot name is not valid.")
    end
    c.tags_filter_ok(p)
    ctx.commit()
    local id = util.new_id("s")
    local s = {
      SnapshotId = id, RegionId = d.RegionId, SourceDiskId = d.DiskId, SourceDiskSize = d.Size,
      SourceDiskType = d.Type, SnapshotName = p.SnapshotName or "", Description = p.Description or "",
      Status = "progressing", Progress = "0%", RemainTime = 0, CreationTime = util.iso8601(ngx.now()),
      Usage = "none", SnapshotType = "user", Category = p.Category or "standard", Encrypted = false,
      RetentionDays = p.RetentionDays, ProductCode = "", order = state.next_order(),
      started = ngx.now(), duration = state.duration(SNAP_SECONDS), ResourceGroupId = p.ResourceGroupId or "",
    }
    ctx.S.snapshots[id] = s
    snap_progress(s)
    c.apply_create_tags(id, "snapshot", p.Tag)
    stats:incr("created|snapshot", 1, 0)
    return { SnapshotId = id }
  end,
}

A.DescribeSnapshots = {
  required = { "RegionId" },
  run = function(ctx, p)
    local region = c.region(p)
    c.tags_filter_ok(p)
    local ids = c.set_of(c.json_list(p, "SnapshotIds", 100))
    local items = {}
    for _, s in ipairs(state.list(ctx.S.snapshots, function(s)
      snap_progress(s)
      local disk = ctx.S.disks[s.SourceDiskId]
      return s.RegionId == region and (not ids or ids[s.SnapshotId])
        and (not p.DiskId or p.DiskId == s.SourceDiskId)
        and (not p.InstanceId or (disk and disk.InstanceId == p.InstanceId))
        and (not p.Status or p.Status == "all" or p.Status == s.Status)
        and (not p.SnapshotName or p.SnapshotName == s.SnapshotName)
        and (not p.SnapshotType or p.SnapshotType == "all" or p.SnapshotType == s.SnapshotType)
        and state.match_tags(s.SnapshotId, p.Tag)
    end)) do
      local t = {}
      for k, v in pairs(s) do
        if k ~= "order" and k ~= "started" and k ~= "duration" and k ~= "queue" then t[k] = v end
      end
      t.SourceDiskSize = tostring(s.SourceDiskSize)
      t.Tags = { Tag = state.tag_list(s.SnapshotId) }
      items[#items + 1] = t
    end
    local page, meta
    if c.uses_token_paging(p) then page, meta = c.token_page(p, items) else page, meta = c.page(p, items) end
    meta.Snapshots = { Snapshot = page }
    return meta
  end,
}

A.DeleteSnapshot = {
  required = { "SnapshotId" },
  run = function(ctx, p)
    local s = ctx.S.snapshots[p.SnapshotId]
    if not s then fail(404, "InvalidSnapshotId.NotFound", "The specified SnapshotId does not exist.") end
    snap_progress(s)
    for _, d in pairs(ctx.S.disks) do
      if d.SourceSnapshotId == s.SnapshotId and not p.Force then
        fail(403, "SnapshotCreatedDisk", "The snapshot has been used to create disks; delete it with Force=true.")
      end
    end
    if s.Status == "progressing" then
      fail(403, "IncorrectSnapshotStatus", "The snapshot is being created and cannot be deleted yet.")
    end
    ctx.commit()
    ctx.S.snapshots[s.SnapshotId] = nil
    ctx.S.tags[s.SnapshotId] = nil
    return {}
  end,
}

return setmetatable(A, { __index = function(_, k) if k == "_helpers" then return H end end })

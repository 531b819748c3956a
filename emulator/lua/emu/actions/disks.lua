-- Disks and snapshots.
local args = require "emu.args"
local data = require "emu.data"
local describe = require("emu.describe").describe
local disks = require "emu.model.disks"
local instances = require "emu.model.instances"
local respond = require "emu.respond"
local tags = require "emu.model.tags"

local fail = respond.fail
local A = {}

A.CreateDisk = {
  run = function(ctx, p)
    local S = ctx.S
    local region = args.region(ctx, p)
    local zone = p.ZoneId
    if not zone and not p.InstanceId then
      fail(400, "MissingParameter.ZoneId", "The input parameter \"ZoneId\" that is mandatory for processing this request is not supplied.")
    end
    local inst
    if p.InstanceId then inst = instances.find(S, p.InstanceId); zone = zone or inst.ZoneId end
    if data.zone_region(zone) ~= region then
      fail(404, "InvalidZoneId.NotFound", "The specified zone does not exist.")
    end
    local category = p.DiskCategory or "cloud"
    if not disks.category_ok(category) then
      fail(400, "InvalidDiskCategory.ValueNotSupported", "The specified disk category is not supported.")
    end
    local snap
    if p.SnapshotId then
      snap = disks.snapshot(S, p.SnapshotId, region)
      if not snap then
        fail(404, "InvalidSnapshotId.NotFound", "The specified SnapshotId does not exist.")
      end
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
    disks.check_size(size, category, snap and snap.SourceDiskSize)
    args.check_tags(p)
    ctx.commit()
    local d = disks.new(S, { region = region, zone = zone, size = size, category = category,
      name = p.DiskName, description = p.Description, snapshot = p.SnapshotId,
      performance_level = p.PerformanceLevel, resource_group = p.ResourceGroupId })
    tags.apply(S, d.DiskId, p.Tag)
    if inst then disks.attach_created(inst, d) end
    return { DiskId = d.DiskId, OrderId = "" }
  end,
}

A.AttachDisk = {
  run = function(ctx, p)
    local inst = instances.find(ctx.S, p.InstanceId)
    local d = disks.find(ctx.S, p.DiskId)
    if d.Status ~= "Available" then
      fail(403, "IncorrectDiskStatus", "The current disk status does not support this operation.")
    end
    if inst.Status ~= "Running" and inst.Status ~= "Stopped" then instances.bad_status() end
    if d.ZoneId ~= inst.ZoneId then
      fail(403, "InvalidDiskId.ZoneMismatch", "The specified disk and instance are not in the same zone.")
    end
    if #inst.disk_ids >= 17 then
      fail(403, "InstanceDiskNumber.LimitExceed", "The amount of the disk on instance in question reach its limits.")
    end
    ctx.commit()
    disks.attach(inst, d, p.DeleteWithInstance == true)
    return {}
  end,
}

A.DetachDisk = {
  run = function(ctx, p)
    local inst = instances.find(ctx.S, p.InstanceId)
    local d = disks.find(ctx.S, p.DiskId)
    if d.InstanceId ~= inst.InstanceId then
      fail(403, "IncorrectDiskStatus", "The specified disk is not attached to the specified instance.")
    end
    if d.Type == "system" then
      fail(403, "InvalidDiskCategory.NotSupported", "The system disk cannot be detached.")
    end
    if d.Status ~= "In_use" then
      fail(403, "IncorrectDiskStatus", "The current disk status does not support this operation.")
    end
    if inst.Status ~= "Running" and inst.Status ~= "Stopped" then instances.bad_status() end
    ctx.commit()
    disks.detach(inst, d)
    return {}
  end,
}

A.DeleteDisk = {
  run = function(ctx, p)
    local d = disks.find(ctx.S, p.DiskId)
    if d.Status ~= "Available" then
      fail(403, "IncorrectDiskStatus", "The current disk status does not support this operation.")
    end
    ctx.commit()
    disks.delete(ctx.S, d)
    return {}
  end,
}

A.DescribeDisks = describe {
  region = "required", tags = true, from = "disks", id = "DiskId", list = "Disks.Disk", paging = "either",
  query = function(_, p) return { ids = args.set_of(args.json_list(p, "DiskIds", 100)) } end,
  match = function(d, p, q)
    return (not q.ids or q.ids[d.DiskId]) and (not p.ZoneId or p.ZoneId == d.ZoneId)
      and (not p.InstanceId or p.InstanceId == d.InstanceId)
      and (not p.DiskType or p.DiskType == "all" or p.DiskType == d.Type)
      and (not p.Category or p.Category == "all" or p.Category == d.Category)
      and (not p.Status or p.Status == "All" or p.Status == d.Status)
      and (not p.DiskName or p.DiskName == d.DiskName)
      and (not p.SnapshotId or p.SnapshotId == d.SourceSnapshotId)
      and (p.Portable == nil or p.Portable == d.Portable)
  end,
  view = function(ctx, d) return disks.view(ctx.S, d) end,
}

A.CreateSnapshot = {
  run = function(ctx, p)
    local S = ctx.S
    local d = disks.find(S, p.DiskId)
    if d.Status ~= "In_use" and d.Status ~= "Available" then
      fail(403, "IncorrectDiskStatus", "The current disk status does not support this operation.")
    end
    if d.InstanceId ~= "" and S.instances[d.InstanceId] then
      local inst = instances.find(S, d.InstanceId)
      if inst.Status ~= "Running" and inst.Status ~= "Stopped" then instances.bad_status() end
    end
    if p.SnapshotName and (p.SnapshotName:match("^auto") or #p.SnapshotName < 2) then
      fail(400, "InvalidSnapshotName.Malformed", "Specified snapshot name is not valid.")
    end
    args.check_tags(p)
    ctx.commit()
    local s = disks.new_snapshot(S, d, { name = p.SnapshotName, description = p.Description,
      category = p.Category, retention_days = p.RetentionDays, resource_group = p.ResourceGroupId })
    tags.apply(S, s.SnapshotId, p.Tag)
    return { SnapshotId = s.SnapshotId }
  end,
}

A.DescribeSnapshots = describe {
  region = "required", tags = true, from = "snapshots", id = "SnapshotId", list = "Snapshots.Snapshot",
  paging = "either",
  query = function(_, p) return { ids = args.set_of(args.json_list(p, "SnapshotIds", 100)) } end,
  match = function(s, p, q, ctx)
    disks.settle_snapshot(s)
    local disk = ctx.S.disks[s.SourceDiskId]
    return (not q.ids or q.ids[s.SnapshotId])
      and (not p.DiskId or p.DiskId == s.SourceDiskId)
      and (not p.InstanceId or (disk and disk.InstanceId == p.InstanceId))
      and (not p.Status or p.Status == "all" or p.Status == s.Status)
      and (not p.SnapshotName or p.SnapshotName == s.SnapshotName)
      and (not p.SnapshotType or p.SnapshotType == "all" or p.SnapshotType == s.SnapshotType)
  end,
  view = function(ctx, s) return disks.snapshot_view(ctx.S, s) end,
}

A.DeleteSnapshot = {
  run = function(ctx, p)
    local s = disks.snapshot(ctx.S, p.SnapshotId)
    if not s then fail(404, "InvalidSnapshotId.NotFound", "The specified SnapshotId does not exist.") end
    if not p.Force and disks.snapshot_used(ctx.S, s) then
      fail(403, "SnapshotCreatedDisk", "The snapshot has been used to create disks; delete it with Force=true.")
    end
    if s.Status == "progressing" then
      fail(403, "IncorrectSnapshotStatus", "The snapshot is being created and cannot be deleted yet.")
    end
    ctx.commit()
    disks.delete_snapshot(ctx.S, s)
    return {}
  end,
}

return A

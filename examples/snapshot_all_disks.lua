-- Snapshots every disk of a region, concurrently, and waits until all the
-- snapshots are complete. Each snapshot call carries a ClientToken made of
-- the disk and the day, so running the job twice a day (or a retry after a
-- lost reply) never makes a second snapshot of a disk.
--   lua5.4 examples/snapshot_all_disks.lua [region]
local ecs = require "ecs"

local client = ecs.client {
  region = arg[1] or os.getenv("ALIBABA_CLOUD_REGION_ID") or "cn-hangzhou",
  endpoint = os.getenv("ECS_ENDPOINT"),
  max_concurrency = 16, -- be gentle with the account's quota
}
local day = os.date("!%Y%m%d")
local started = ecs.now()

local snapshots, failures = ecs.run(function()
  local jobs = {}
  for disk in client:paginate("DescribeDisks", {}) do
    jobs[#jobs + 1] = ecs.spawn(function()
      local res, err = client:CreateSnapshot {
        DiskId = disk.DiskId,
        SnapshotName = ("daily-%s-%s"):format(day, disk.DiskId),
        ClientToken = ("daily-%s-%s"):format(day, disk.DiskId),
        Tag = { { Key = "job", Value = "snapshot-all-disks" } },
      }
      if not res then return nil, disk.DiskId .. ": " .. tostring(err) end
      print(("%s -> %s"):format(disk.DiskId, res.SnapshotId))
      return res.SnapshotId
    end)
  end
  local ids, failed = {}, {}
  for _, job in ipairs(jobs) do
    local id, err = job:wait()
    if id then ids[#ids + 1] = id else failed[#failed + 1] = err end
  end
  if #ids > 0 then
    local _, err = client:wait_snapshots({ SnapshotIds = ids }, { interval = 2, timeout = 3600 })
    if err then failed[#failed + 1] = "waiting: " .. tostring(err) end
  end
  return ids, failed
end)

for _, f in ipairs(failures) do print("failed: " .. f) end
print(("%d snapshots complete, %d failures, in %.1fs"):format(#snapshots, #failures, ecs.now() - started))
os.exit(#failures == 0 and 0 or 1)

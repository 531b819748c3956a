local ecs = require "ecs"
local emu = require "support.emulator"

local IMAGE = "debian_12_4_x64_20G_alibase_20240126.vhd"

local function client()
  return ecs.client { endpoint = emu.endpoint, region = "cn-hangzhou",
    access_key_id = "testid", access_key_secret = "testsecret" }
end

local function launch(c, amount)
  local sg = assert(c:CreateSecurityGroup {}).SecurityGroupId
  return assert(c:RunInstances { ImageId = IMAGE, InstanceType = "ecs.g6.large", SecurityGroupId = sg,
    Amount = amount }).InstanceIdSets.InstanceIdSet
end

describe("waiters", function()
  before_each(function() emu.reset { speed = 0.05 } end) -- transitions take ~0.1 s

  it("wait until instances run, through the emulator's lifecycle", function()
    emu.control("POST", "config", { speed = 0.2 }) -- 0.6 s from Pending to Running
    local c = client()
    local ids = launch(c, 3)
    local polls = 0
    local items, err = c:wait_instances({ InstanceIds = ids, Status = "Running" },
      { interval = 0.02, call = { on_response = function() polls = polls + 1 end } })
    assert.is_nil(err)
    assert.are.equal(3, #items)
    for _, inst in ipairs(items) do assert.are.equal("Running", inst.Status) end
    assert.is_true(polls >= 2, "the first poll should have seen them still starting")
  end)

  it("follow stops and deletions", function()
    local c = client()
    local ids = launch(c, 2)
    assert(c:wait_instances({ InstanceIds = ids }, { interval = 0.02 }))
    assert(c:StopInstances { InstanceId = ids })
    assert(c:wait_instances({ InstanceIds = ids, Status = "Stopped" }, { interval = 0.02 }))
    assert(c:DeleteInstances { InstanceId = ids })
    local gone = assert(c:wait_instances({ InstanceIds = ids, Status = "Deleted" }, { interval = 0.02 }))
    assert.are.equal(0, #gone)
  end)

  it("give WaitTimeout when the state is not reached in time", function()
    emu.reset { speed = 10 } -- starting takes 30 s
    local c = client()
    local ids = launch(c, 1)
    local items, err = c:wait_instances({ InstanceIds = ids }, { timeout = 0.3, interval = 0.05 })
    assert.is_nil(items)
    assert.are.equal("WaitTimeout", err.code)
    assert.is_true(err.attempts >= 2)
    assert.matches("^WaitTimeout: not ready after 0%.3s", tostring(err))
  end)

  it("fail fast on a state that can never reach the target", function()
    emu.reset { speed = 0 }
    local c = client()
    local ids = launch(c, 1)
    assert(c:wait_instances({ InstanceIds = ids }, { interval = 0.02 }))
    emu.control("POST", "config", { speed = 10 }) -- stopping now takes 20 s
    assert(c:StopInstance { InstanceId = ids[1] })
    local polls = 0
    local _, err = c:wait_instances({ InstanceIds = ids, Status = "Running" },
      { timeout = 30, interval = 0.02, call = { on_response = function() polls = polls + 1 end } })
    assert.are.equal("WaitFailed", err.code)
    assert.matches("is Stopping and cannot become Running", err.message)
    assert.are.equal(1, polls)
  end)

  it("fail fast when a resource does not exist", function()
    local _, err = client():wait_instances({ InstanceIds = { "i-doesnotexist" } }, { interval = 0.02 })
    assert.are.equal("WaitFailed", err.code)
    assert.matches("i%-doesnotexist does not exist", err.message)
  end)

  it("wait for snapshots to reach 100%", function()
    local c = client()
    local disk = assert(c:CreateDisk { ZoneId = "cn-hangzhou-a", Size = 20, DiskCategory = "cloud_essd" }).DiskId
    local snap = assert(c:CreateSnapshot { DiskId = disk }).SnapshotId
    local items = assert(c:wait_snapshots({ SnapshotIds = { snap } }, { interval = 0.02 }))
    assert.are.equal("accomplished", items[1].Status)
    assert.are.equal("100%", items[1].Progress)
    local disks = assert(c:wait_disks({ DiskIds = { disk }, Status = "Available" }, { interval = 0.02 }))
    assert.are.equal(disk, disks[1].DiskId)
  end)

  it("wait concurrently in many tasks and on a generic condition", function()
    local c = client()
    local ids = launch(c, 4)
    local results = ecs.run(function()
      local tasks = {}
      for i, id in ipairs(ids) do
        tasks[i] = ecs.spawn(function() return c:wait_instances({ InstanceIds = { id } }, { interval = 0.02 }) end)
      end
      local n = 0
      for _, t in ipairs(tasks) do if t:wait() then n = n + 1 end end
      return n
    end)
    assert.are.equal(4, results)
    local res = assert(c:wait("DescribeInstances", { RegionId = "cn-hangzhou" }, {
      ready = function(r) return r.TotalCount == 4 end, interval = 0.02,
    }))
    assert.are.equal(4, res.TotalCount)
    assert.has_error(function() c:wait("DescribeInstances", {}, {}) end,
      "ready: expected a function(reply) -> boolean")
  end)
end)

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

  it("name the last state of each resource in a WaitTimeout (err.last_states)", function()
    emu.reset { speed = 10 } -- Pending for 10 s
    local c = client()
    local ids = launch(c, 2)
    local _, err = c:wait_instances({ InstanceIds = ids }, { timeout = 0.2, interval = 0.05 })
    assert.are.equal("WaitTimeout", err.code)
    assert.are.same({ [ids[1]] = "Pending", [ids[2]] = "Pending" }, err.last_states)
    local msg = tostring(err)
    assert.matches("^WaitTimeout: not ready after 0%.2s %(%d+ polls%)", msg)
    assert.truthy(msg:find(ids[1] .. ": Pending", 1, true), msg)
    assert.truthy(msg:find(ids[2] .. ": Pending", 1, true), msg)
  end)

  it("cap the states a WaitTimeout lists (first 10, and N more)", function()
    emu.reset { speed = 10 }
    local c = client()
    local ids = launch(c, 13)
    local _, err = c:wait_instances({ InstanceIds = ids }, { timeout = 0.2, interval = 0.05 })
    assert.are.equal("WaitTimeout", err.code)
    local n = 0
    for id in pairs(err.last_states) do
      n = n + 1
      assert.are.equal("Pending", err.last_states[id])
    end
    assert.are.equal(13, n)
    local listed = 0
    for _ in err.message:gmatch("i%-[%w]+: Pending") do listed = listed + 1 end
    assert.are.equal(10, listed, err.message)
    assert.matches("and 3 more", err.message)
  end)

  it("name the instances still present when waiting for Deleted times out", function()
    emu.reset { speed = 0 }
    local c = client()
    local ids = launch(c, 2)
    assert(c:wait_instances({ InstanceIds = ids }, { interval = 0.02 }))
    local _, err = c:wait_instances({ InstanceIds = ids, Status = "Deleted" }, { timeout = 0.1, interval = 0.05 })
    assert.are.equal("WaitTimeout", err.code)
    assert.are.same({ [ids[1]] = "Running", [ids[2]] = "Running" }, err.last_states)
    assert.matches("not yet Deleted", err.message)
  end)

  describe("raise at once, sending nothing,", function()
    local function err_of(f)
      local ok, err = pcall(f)
      assert.is_false(ok, "expected an error")
      assert.is_nil((emu.stats().requests or {}).DescribeInstances, "nothing should have been sent")
      return tostring(err)
    end
    local ID = { "i-1" }

    it("on a waiter option put into the spec table", function()
      local c = client()
      assert.matches("timeout: a waiter option, not a field of the spec; pass it in the options "
        .. "%(second argument%): client:wait_instances%(spec, { timeout = %.%.%. }%)",
        err_of(function() c:wait_instances { InstanceIds = ID, timeout = 5 } end))
      assert.matches("interval: a waiter option, not a field of the spec",
        err_of(function() c:wait_disks { DiskIds = ID, interval = 1 } end))
      assert.matches("call: a waiter option", err_of(function() c:wait_images { ImageIds = ID, call = {} } end))
    end)

    it("on an unknown field of the spec, naming the closest", function()
      local c = client()
      assert.matches("InstanceID: unknown field of the wait_instances spec; did you mean InstanceIds%?",
        err_of(function() c:wait_instances { InstanceIds = ID, InstanceID = "i-2" } end))
      assert.matches("Timeout: unknown field of the wait_instances spec; did you mean the option timeout "
        .. "%(second argument%)%?",
        err_of(function() c:wait_instances { InstanceIds = ID, Timeout = 5 } end))
      assert.matches("Bogus: unknown field of the wait_snapshots spec %(fields: RegionId, SnapshotIds, Status%)",
        err_of(function() c:wait_snapshots { SnapshotIds = ID, Bogus = 1 } end))
      assert.matches("wait_instances: the spec takes named fields",
        err_of(function() c:wait_instances { "i-1" } end))
    end)

    it("on an unknown option name, naming the closest", function()
      local c = client()
      assert.matches("timout: unknown option of wait_instances; did you mean timeout%?",
        err_of(function() c:wait_instances({ InstanceIds = ID }, { timout = 1 }) end))
      assert.matches("max_intervall: unknown option of wait_disks; did you mean max_interval%?",
        err_of(function() c:wait_disks({ DiskIds = ID }, { max_intervall = 1 }) end))
      assert.matches("Status: a field of the spec %(first argument%), not a waiter option",
        err_of(function() c:wait_instances({ InstanceIds = ID }, { Status = "Stopped" }) end))
      assert.matches("ready: not an option of wait_instances",
        err_of(function() c:wait_instances({ InstanceIds = ID }, { ready = function() return true end }) end))
      assert.matches("wibble: unknown option of client:wait",
        err_of(function() c:wait("DescribeInstances", {}, { ready = function() return true end, wibble = 1 }) end))
    end)

    it("on an option value that is not a finite number >= 0", function()
      local c = client()
      for name, bad in pairs { timeout = 0 / 0, interval = math.huge, max_interval = -math.huge, backoff = -1 } do
        assert.matches(name .. ": expected a finite number >= 0, got " .. tostring(bad):gsub("%p", "%%%0"),
          err_of(function() c:wait_instances({ InstanceIds = ID }, { [name] = bad }) end))
      end
      assert.matches("timeout: expected a finite number >= 0, got string",
        err_of(function() c:wait_instances({ InstanceIds = ID }, { timeout = "5" }) end))
      assert.matches("call: expected a table of call options, got number",
        err_of(function() c:wait_instances({ InstanceIds = ID }, { call = 5 }) end))
      assert.matches("opts: expected a table of waiter options %(timeout, interval, %.%.%.%), got number",
        err_of(function() c:wait_instances({ InstanceIds = ID }, 5) end))
      assert.matches("timeout: expected a finite number >= 0",
        err_of(function() c:wait("DescribeInstances", {}, { ready = function() end, timeout = 0 / 0 }) end))
    end)

    it("on a target status the resource kind does not have, naming the closest", function()
      local c = client()
      assert.matches("Status: 'Runing' is not a state of instances; did you mean Running%?",
        err_of(function() c:wait_instances { InstanceIds = ID, Status = "Runing" } end))
      assert.matches("Status: 'in_use' is not a state of disks; did you mean In_use%?",
        err_of(function() c:wait_disks { DiskIds = ID, Status = "in_use" } end))
      assert.matches("Status: 'Accomplished' is not a state of snapshots; did you mean accomplished%?",
        err_of(function() c:wait_snapshots { SnapshotIds = ID, Status = "Accomplished" } end))
      assert.matches("Status: 'Ready' is not a state of images %(one of: Available, CreateFailed, Creating, "
        .. "Deleted, Deprecated, UnAvailable, Waiting%)",
        err_of(function() c:wait_images { ImageIds = ID, Status = "Ready" } end))
      assert.matches("Status: expected a state name %(string%), got number",
        err_of(function() c:wait_instances { InstanceIds = ID, Status = 1 } end))
    end)

    it("for an impossible target instead of polling until the timeout", function()
      emu.reset { speed = 0 }
      local c = client()
      local ids = launch(c, 1)
      local t0 = ecs.now()
      local ok, err = pcall(c.wait_instances, c, { InstanceIds = ids, Status = "Runing" },
        { timeout = 0.5, interval = 0.05 })
      assert.is_false(ok, "expected an error, got " .. tostring(err))
      assert.matches("did you mean Running%?", tostring(err))
      assert.is_true(ecs.now() - t0 < 0.4)
      assert.is_nil((emu.stats().requests or {}).DescribeInstances)
    end)
  end)
end)

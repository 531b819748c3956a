local ecs = require "ecs"
local emu = require "support.emulator"

local IMAGE = "debian_12_4_x64_20G_alibase_20240126.vhd"

local function client(opts)
  opts = opts or {}
  opts.endpoint, opts.region = emu.endpoint, "cn-hangzhou"
  opts.access_key_id, opts.access_key_secret = "testid", "testsecret"
  return ecs.client(opts)
end

describe("pagination", function()
  local ids
  setup(function()
    emu.reset { speed = 0 }
    local c = client()
    local sg = assert(c:CreateSecurityGroup {}).SecurityGroupId
    ids = {}
    for _, amount in ipairs { 40, 17 } do -- 57 instances
      local r = assert(c:RunInstances { ImageId = IMAGE, InstanceType = "ecs.g6.large",
        SecurityGroupId = sg, Amount = amount })
      for _, id in ipairs(r.InstanceIdSets.InstanceIdSet) do ids[#ids + 1] = id end
    end
  end)

  local function ids_of(items)
    local out = {}
    for i, item in ipairs(items) do out[i] = item.InstanceId end
    return out
  end

  it("iterates every item in NextToken mode, in order, outside ecs.run", function()
    local seen = {}
    for inst in client():paginate("DescribeInstances", { MaxResults = 10 }) do seen[#seen + 1] = inst.InstanceId end
    assert.are.equal(57, #seen)
    assert.are.same(ids, seen)
  end)

  it("defaults the page size to the maximum the action allows", function()
    local pages = 0
    local c = client { on_response = function() pages = pages + 1 end }
    assert.are.equal(57, #assert(c:collect("DescribeInstances", {})))
    assert.are.equal(1, pages)
    assert.are.equal("100", emu.last("DescribeInstances").params.MaxResults)
  end)

  it("fetches the remaining PageNumber pages concurrently, items still in order", function()
    emu.control("POST", "faults", { action = "DescribeInstances", kind = "slow", delay_ms = 40 })
    local c = client()
    local most = 0
    local items = ecs.run(function()
      local done = false
      ecs.spawn(function()
        while not done do most = math.max(most, c.max_concurrency - c.slots.count); ecs.sleep(0.005) end
      end)
      local all = assert(c:collect("DescribeInstances", { PageSize = 5 }, { mode = "page" }))
      done = true
      return all
    end)
    emu.control("DELETE", "faults")
    assert.are.equal(57, #items)
    assert.are.same(ids, ids_of(items))
    assert.is_true(most >= 2, "pages were fetched one at a time")
    assert.are.equal("12", emu.last("DescribeInstances").params.PageNumber) -- ceil(57 / 5)
  end)

  it("works inside ecs.run from many tasks at once", function()
    local c = client()
    local counts = ecs.run(function()
      local tasks = {}
      for i = 1, 3 do
        tasks[i] = ecs.spawn(function()
          local n = 0
          for _ in c:paginate("DescribeInstances", { PageSize = 20 }, { mode = i == 2 and "page" or "token" }) do
            n = n + 1
          end
          return n
        end)
      end
      local out = {}
      for i, t in ipairs(tasks) do out[i] = t:wait() end
      return out
    end)
    assert.are.same({ 57, 57, 57 }, counts)
  end)

  it("ends with the error instead of a short listing", function()
    emu.control("POST", "faults", { action = "DescribeInstances", kind = "500" })
    local c = client { max_attempts = 1 }
    local items, err = c:collect("DescribeInstances", { MaxResults = 10 })
    assert.is_nil(items)
    assert.are.equal("InternalError", err.code)
    local ok, raised = pcall(function() for _ in c:paginate("DescribeInstances", {}) do end end)
    assert.is_false(ok)
    assert.are.equal("InternalError", raised.code)
    emu.control("DELETE", "faults")
  end)

  it("raises after the items of the pages that came when a later page fails", function()
    local pages = 0
    local c = client { max_attempts = 1, on_response = function()
      pages = pages + 1
      if pages == 1 then emu.control("POST", "faults", { action = "DescribeInstances", kind = "503" }) end
    end }
    local seen = 0
    local ok, err = pcall(function()
      for _ in c:paginate("DescribeInstances", { MaxResults = 10 }) do seen = seen + 1 end
    end)
    emu.control("DELETE", "faults")
    assert.is_false(ok)
    assert.are.equal("ServiceUnavailable", err.code)
    assert.are.equal(10, seen)
  end)

  it("raises for an action without paging", function()
    assert.has_error(function() client():paginate("StartInstance", {}) end,
      "StartInstance: does not return pages (no paging in the API model)")
  end)
end)

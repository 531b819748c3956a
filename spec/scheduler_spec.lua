local ecs = require "ecs"
local scheduler = require "ecs.scheduler"

describe("ecs.run and tasks", function()
  it("returns the main function's results", function()
    local a, b, c = ecs.run(function(x, y) return x + y, "two", nil end, 1, 2)
    assert.are.equal(3, a)
    assert.are.equal("two", b)
    assert.is_nil(c)
  end)

  it("runs many tasks concurrently and waits for each", function()
    local finished = 0
    local results = ecs.run(function()
      local tasks = {}
      for i = 1, 500 do
        tasks[i] = ecs.spawn(function(n)
          ecs.sleep(0.001 * (n % 7))
          finished = finished + 1
          return n * 2
        end, i)
      end
      local sum = 0
      for _, t in ipairs(tasks) do sum = sum + t:wait() end
      return sum
    end)
    assert.are.equal(500, finished)
    assert.are.equal(500 * 501, results)
  end)

  it("starts tasks in spawn order and keeps running them after the main task returns", function()
    local order = {}
    ecs.run(function()
      for i = 1, 5 do
        ecs.spawn(function() order[#order + 1] = i; ecs.sleep(0.01); order[#order + 1] = -i end)
      end
    end)
    assert.are.same({ 1, 2, 3, 4, 5, -1, -2, -3, -4, -5 }, order)
  end)

  it("wakes sleepers in deadline order, not in the order they slept", function()
    local woke = {}
    ecs.run(function()
      for _, d in ipairs { 0.05, 0.01, 0.03, 0.02, 0.04 } do
        ecs.spawn(function() ecs.sleep(d); woke[#woke + 1] = d end)
      end
    end)
    assert.are.same({ 0.01, 0.02, 0.03, 0.04, 0.05 }, woke)
  end)

  it("sleeps at least the time asked for", function()
    local t0 = ecs.now()
    ecs.run(function() ecs.sleep(0.05) end)
    assert.is_true(ecs.now() - t0 >= 0.05)
    t0 = ecs.now()
    ecs.sleep(0.02) -- outside ecs.run it blocks
    assert.is_true(ecs.now() - t0 >= 0.02)
  end)

  it("supports nested spawns and waiting on a finished task", function()
    local v = ecs.run(function()
      local outer = ecs.spawn(function()
        local inner = ecs.spawn(function() ecs.sleep(0.005); return "inner" end)
        return "outer+" .. inner:wait()
      end)
      local first = outer:wait()
      return first .. "|" .. outer:wait()
    end)
    assert.are.equal("outer+inner|outer+inner", v)
  end)

  it("lets several tasks wait for one task", function()
    local got = {}
    ecs.run(function()
      local slow = ecs.spawn(function() ecs.sleep(0.01); return 42 end)
      for i = 1, 3 do ecs.spawn(function() got[i] = slow:wait() end) end
    end)
    assert.are.same({ 42, 42, 42 }, got)
  end)

  describe("errors", function()
    it("a failing task gives nil and its error with a traceback to wait(), others go on", function()
      local other_done = false
      local res, err = ecs.run(function()
        local bad = ecs.spawn(function() ecs.sleep(0.001); error("boom in task") end)
        local good = ecs.spawn(function() ecs.sleep(0.01); other_done = true end)
        local r, e = bad:wait()
        good:wait()
        return r, e
      end)
      assert.is_nil(res)
      assert.matches("boom in task", err)
      assert.matches("stack traceback", err)
      assert.is_true(other_done)
    end)

    it("ecs.run raises the main function's error after the other tasks finish", function()
      local other_done = false
      local ok, err = pcall(ecs.run, function()
        ecs.spawn(function() ecs.sleep(0.01); other_done = true end)
        error("main failed")
      end)
      assert.is_false(ok)
      assert.matches("main failed", err)
      assert.matches("stack traceback", err)
      assert.is_true(other_done)
    end)

    it("ecs.run raises an error nobody waited for", function()
      local ok, err = pcall(ecs.run, function()
        ecs.spawn(function() error({ code = "X" }) end)
        ecs.spawn(function() error("unobserved failure") end)
      end)
      assert.is_false(ok)
      assert.matches("a task failed and nobody waited for it", err)
      assert.matches("error object", err)
    end)

    it("ecs.run reports tasks that can never finish instead of hanging", function()
      local ok, err = pcall(ecs.run, function()
        local me = scheduler.current()
        ecs.spawn(function() scheduler.suspend() end)
        assert.is_truthy(me)
      end)
      assert.is_false(ok)
      assert.matches("1 task%(s%) wait for something that can never happen", err)
    end)

    it("rejects misuse at once", function()
      assert.has_error(function() ecs.spawn(function() end) end, "ecs.spawn: only inside ecs.run (or a task)")
      assert.has_error(function() ecs.run("x") end, "ecs.run: expected a function")
      assert.has_error(function() ecs.sleep("1") end, "ecs.sleep: expected seconds, at most 1e+06 (got 1)")
      local res, err = ecs.run(function()
        local t
        t = ecs.spawn(function() ecs.sleep(0); return t:wait() end)
        return t:wait()
      end)
      assert.is_nil(res)
      assert.matches("a task cannot wait for itself", err)
    end)
  end)

  it("an ecs.run inside a task runs its function as a child and returns its results", function()
    local v = ecs.run(function()
      return ecs.run(function() ecs.sleep(0.001); return "child" end)
    end)
    assert.are.equal("child", v)
  end)

  it("isolates a run started from a foreign coroutine inside a run", function()
    local v = ecs.run(function()
      local co = coroutine.wrap(function() return ecs.run(function() ecs.sleep(0.001); return 7 end) end)
      return co()
    end)
    assert.are.equal(7, v)
  end)

  it("resumes a task that yields past the scheduler", function()
    local steps = 0
    ecs.run(function()
      coroutine.yield()
      steps = steps + 1
    end)
    assert.are.equal(1, steps)
  end)
end)

local core = require "ecs.core"

local function err_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

describe("ecs.core.flatten #core", function()
  it("passes strings through and names them by their key", function()
    assert.are.same({ InstanceId = "i-1", Name = "a b" }, core.flatten { InstanceId = "i-1", Name = "a b" })
  end)

  it("numbers lists from 1: K.1, K.2", function()
    assert.are.same({ ["InstanceId.1"] = "i-1", ["InstanceId.2"] = "i-2" },
      core.flatten { InstanceId = { "i-1", "i-2" } })
  end)

  it("flattens lists of maps to K.N.Sub", function()
    assert.are.same({
      ["Tag.1.Key"] = "env", ["Tag.1.Value"] = "prod",
      ["Tag.2.Key"] = "team", ["Tag.2.Value"] = "core",
    }, core.flatten { Tag = { { Key = "env", Value = "prod" }, { Key = "team", Value = "core" } } })
  end)

  it("flattens nested maps to K.Sub and deeper nesting in order", function()
    assert.are.same({
      ["SystemDisk.Category"] = "cloud_essd", ["SystemDisk.Size"] = "40",
      ["DataDisk.1.Size"] = "100", ["DataDisk.1.Tag.1.Key"] = "k",
    }, core.flatten {
      SystemDisk = { Category = "cloud_essd", Size = 40 },
      DataDisk = { { Size = 100, Tag = { { Key = "k" } } } },
    })
  end)

  it("writes integers as integers and floats without trailing noise", function()
    local f = core.flatten { A = 3, B = -7, C = 0.1, D = 2.5, E = 1e21, F = 3.0, G = 9007199254740993 }
    assert.are.equal("3", f.A)
    assert.are.equal("-7", f.B)
    assert.are.equal("0.1", f.C)
    assert.are.equal("2.5", f.D)
    assert.are.equal("1e+21", f.E)
    assert.are.equal("3", f.F)
    if math.type then -- Lua 5.4 integers are exact beyond 2^53
      assert.are.equal("9007199254740993", f.G)
    end
    assert.are.equal("0.30000000000000004", core.flatten({ X = 0.1 + 0.2 }).X)
  end)

  it("writes booleans as true and false", function()
    assert.are.same({ DryRun = "true", Force = "false" }, core.flatten { DryRun = true, Force = false })
  end)

  it("sends nothing for an empty list", function()
    assert.are.same({ A = "x" }, core.flatten { A = "x", InstanceId = {} })
  end)

  describe("raises an error naming the parameter path for", function()
    it("functions, userdata and coroutines", function()
      assert.matches("^Tag%.1%.Value: cannot send a value of type function",
        err_of(core.flatten, { Tag = { { Key = "k", Value = print } } }))
      assert.matches("^H: cannot send a value of type userdata", err_of(core.flatten, { H = io.stdout }))
      assert.matches("^C: cannot send a value of type thread",
        err_of(core.flatten, { C = coroutine.create(print) }))
    end)

    it("NaN and infinities", function()
      assert.matches("^Size: number is not finite", err_of(core.flatten, { Size = 0 / 0 }))
      assert.matches("^Disk%.Size: number is not finite", err_of(core.flatten, { Disk = { Size = math.huge } }))
      assert.matches("^Size: number is not finite", err_of(core.flatten, { Size = -math.huge }))
    end)

    it("cyclic tables", function()
      local t = { Key = "k" }
      t.Self = t
      assert.matches("^Tag%.Self: cyclic table", err_of(core.flatten, { Tag = t }))
      local list = {}
      list[1] = list
      assert.matches("^L%.1: cyclic table", err_of(core.flatten, { L = list }))
    end)

    it("sparse and mixed tables", function()
      assert.matches("^InstanceId: sparse list", err_of(core.flatten, { InstanceId = { [1] = "a", [3] = "c" } }))
      assert.matches("^InstanceId: sparse list", err_of(core.flatten, { InstanceId = { [2] = "b" } }))
      assert.matches("^Tag: table mixes list items and named fields",
        err_of(core.flatten, { Tag = { "a", Key = "k" } }))
      assert.matches("^Tag: table keys must be strings", err_of(core.flatten, { Tag = { [0.5] = "x" } }))
      assert.matches("^Tag: table keys must be strings", err_of(core.flatten, { Tag = { [true] = "x" } }))
    end)

    it("non-string names at the top and a name given twice", function()
      assert.matches("parameter names must be strings", err_of(core.flatten, { "x" }))
      assert.matches("^Tag%.1%.Key: parameter given twice",
        err_of(core.flatten, { Tag = { { Key = "a" } }, ["Tag.1.Key"] = "b" }))
    end)

    it("nesting deeper than any ECS parameter", function()
      local t = {}
      local cur = t
      for _ = 1, 40 do cur.A = {}; cur = cur.A end
      assert.matches("nested too deeply", err_of(core.flatten, { X = t }))
    end)
  end)

  it("rejects a non-table argument", function()
    assert.has_error(function() core.flatten("x") end)
    assert.has_error(function() core.flatten() end)
  end)
end)

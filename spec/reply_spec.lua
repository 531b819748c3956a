local core = require "ecs.core"
local cjson = require "cjson"

describe("ecs.core.integers #core", function()
  it("turns integral numbers into integers at any depth and leaves the rest", function()
    local t = core.integers(cjson.decode(
      '{"Total":57,"Ratio":1.5,"List":[1,2.0,3.5,-4],"Deep":{"Big":1e300,"Max":9007199254740992,"S":"7"}}'))
    assert.are.equal(57, t.Total)
    assert.are.equal(1.5, t.Ratio)
    assert.are.same({ 1, 2, 3.5, -4 }, t.List)
    assert.are.equal(1e300, t.Deep.Big)
    assert.are.equal("7", t.Deep.S)
    if math.type then
      assert.are.equal("integer", math.type(t.Total))
      assert.are.equal("integer", math.type(t.List[2]))
      assert.are.equal("float", math.type(t.List[3]))
      assert.are.equal("float", math.type(t.Deep.Big)) -- outside the integer range
      assert.are.equal("integer", math.type(t.Deep.Max))
    end
  end)

  it("keeps JSON nulls and returns its argument", function()
    local t = cjson.decode('{"A":null,"B":[null,1]}')
    assert.are.equal(t, core.integers(t))
    assert.are.equal(cjson.null, t.A)
    assert.are.equal(cjson.null, t.B[1])
  end)

  it("rejects a non-table", function()
    assert.has_error(function() core.integers("x") end)
  end)
end)

local core = require "ecs.core"

describe("ecs.core.percent_encode #core", function()
  it("keeps exactly the RFC 3986 unreserved bytes and encodes every other ASCII byte", function()
    for b = 0, 127 do
      local c = string.char(b)
      local expected
      if c:match("[A-Za-z0-9]") or c == "-" or c == "_" or c == "." or c == "~" then
        expected = c
      else
        expected = ("%%%02X"):format(b)
      end
      assert.are.equal(expected, core.percent_encode(c), "byte " .. b)
    end
  end)

  it("encodes the characters the reference singles out", function()
    assert.are.equal("%20", core.percent_encode(" "))
    assert.are.equal("%2A", core.percent_encode("*"))
    assert.are.equal("~", core.percent_encode("~"))
    assert.are.equal("%2B", core.percent_encode("+"))
    assert.are.equal("%2F", core.percent_encode("/"))
    assert.are.equal("%22", core.percent_encode('"'))
    assert.are.equal("a%3Db%26c", core.percent_encode("a=b&c"))
  end)

  it("encodes every byte of multi-byte UTF-8 with upper-case hex", function()
    assert.are.equal("%E4%B8%AD%E6%96%87", core.percent_encode("中文"))
    assert.are.equal("caf%C3%A9", core.percent_encode("café"))
    assert.are.equal("%F0%9F%98%80", core.percent_encode("😀"))
  end)

  it("handles bytes 128-255, embedded NULs and the empty string", function()
    for b = 128, 255 do
      assert.are.equal(("%%%02X"):format(b), core.percent_encode(string.char(b)))
    end
    assert.are.equal("a%00b", core.percent_encode("a\0b"))
    assert.are.equal("", core.percent_encode(""))
  end)

  it("applied twice gives the reference's special encoding of the query", function()
    assert.are.equal("12%253A46%253A24Z", core.percent_encode(core.percent_encode("12:46:24Z")))
  end)

  it("rejects a non-string argument with a Lua error", function()
    assert.has_error(function() core.percent_encode({}) end)
    assert.has_error(function() core.percent_encode() end)
  end)
end)

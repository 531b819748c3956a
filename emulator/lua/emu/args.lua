-- Checks of action parameters that go beyond their shape (emu.params did that): the region,
-- JSON-array strings, Tag.N filters.
local cjson = require "cjson.safe"
local data = require "emu.data"
local network = require "emu.model.network"
local respond = require "emu.respond"

local fail = respond.fail
local M = {}

-- RegionId, checked against the catalogue; the region's default VPC is made on first use
function M.region(ctx, p)
  local r = p.RegionId
  if not r or r == "" then
    fail(400, "MissingParameter.RegionId", "The input parameter \"RegionId\" that is mandatory for processing this request is not supplied.")
  end
  if not data.region_set[r] then
    fail(404, "InvalidRegionId.NotFound", "The specified RegionId does not exist.")
  end
  network.ensure_region(ctx.S, r)
  return r
end

-- a parameter holding a JSON array of strings: '["i-1","i-2"]' (nil when absent)
function M.json_list(p, name, max)
  local v = p[name]
  if v == nil or v == "" then return nil end
  local t = cjson.decode(v)
  if type(t) ~= "table" then
    fail(400, "InvalidParameter", "The specified parameter \"" .. name .. "\" is not valid: a JSON array is expected.")
  end
  for _, x in ipairs(t) do
    if type(x) ~= "string" then
      fail(400, "InvalidParameter", "The specified parameter \"" .. name .. "\" is not valid: strings are expected.")
    end
  end
  if max and #t > max then
    fail(400, "InvalidParameter", "The specified parameter \"" .. name .. "\" holds more than " .. max .. " items.")
  end
  return t
end

-- { v = true } of a list (nil for nil)
function M.set_of(list)
  if not list then return nil end
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- Tag.N used as a filter or at creation: a Value needs its Key, at most 20
function M.check_tags(p)
  if p.Tag then
    for _, t in ipairs(p.Tag) do
      if (t.Value ~= nil and t.Key == nil) then
        fail(400, "InvalidTag.Mismatch", "The specified Tag.n.Key and Tag.n.Value are not match.")
      end
    end
    if #p.Tag > 20 then fail(400, "InvalidTagCount", "The specified tags are beyond the permitted range.") end
  end
end

return M

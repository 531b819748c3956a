-- Helpers shared by the action modules.
local cjson = require "cjson.safe"
local data = require "emu.data"
local respond = require "emu.respond"
local state = require "emu.state"
local util = require "emu.util"

local fail = respond.fail
local M = {}

M.fail = fail
M.array = util.array

-- The not-found answer of each kind of resource.
local NOT_FOUND = {
  instances = { "InvalidInstanceId.NotFound", "The specified InstanceId does not exist." },
  disks = { "InvalidDiskId.NotFound", "The specified disk does not exist." },
  sgs = { "InvalidSecurityGroupId.NotFound", "The specified SecurityGroupId does not exist." },
}

--- The resource `id` of a kind ("instances", "disks", "sgs") in the account's
--- state, in `region` when given, brought up to date with its lifecycle;
--- answers the kind's NotFound error otherwise.
function M.find(ctx, kind, id, region)
  local r = ctx.S[kind][id]
  if not r or (region and r.RegionId ~= region) then
    local nf = NOT_FOUND[kind]
    fail(404, nf[1], nf[2])
  end
  return state.settle(r)
end

function M.region(p)
  local r = p.RegionId
  if not r or r == "" then
    fail(400, "MissingParameter.RegionId", "The input parameter \"RegionId\" that is mandatory for processing this request is not supplied.")
  end
  if not data.region_set[r] then
    fail(404, "InvalidRegionId.NotFound", "The specified RegionId does not exist.")
  end
  state.ensure_region(r)
  return r
end

-- a parameter holding a JSON array of strings: '["i-1","i-2"]'
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

function M.set_of(list)
  if not list then return nil end
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- PageNumber / PageSize paging; returns the page and the fields to merge into the result
function M.page(p, items, max_size)
  local number = p.PageNumber or 1
  local size = p.PageSize or 10
  max_size = max_size or 100
  if number < 1 or number ~= math.floor(number) then
    fail(400, "InvalidParameter", "The specified parameter \"PageNumber\" is not valid.")
  end
  if size < 1 or size > max_size or size ~= math.floor(size) then
    fail(400, "InvalidParameter", "The specified parameter \"PageSize\" is not valid: 1 to " .. max_size .. ".")
  end
  local out = util.array()
  local first = (number - 1) * size + 1
  for i = first, math.min(#items, first + size - 1) do out[#out + 1] = items[i] end
  return out, { PageNumber = number, PageSize = size, TotalCount = #items }
end

-- NextToken / MaxResults paging (tokens are opaque and remembered per worker)
function M.token_page(p, items)
  local S = state.S
  local max = p.MaxResults or 10
  if max < 10 then max = 10 end
  if max > 100 then max = 100 end
  local offset = 0
  if p.NextToken and p.NextToken ~= "" then
    offset = S.page_tokens[p.NextToken]
    if not offset then
      fail(400, "InvalidParameter.NextToken", "The specified parameter \"NextToken\" is not valid.")
    end
  end
  local out = util.array()
  for i = offset + 1, math.min(#items, offset + max) do out[#out + 1] = items[i] end
  local next_token = ""
  if offset + max < #items then
    next_token = util.rand_hex(32)
    S.page_tokens[next_token] = offset + max
  end
  return out, { NextToken = next_token, TotalCount = #items }
end

function M.uses_token_paging(p)
  return (p.NextToken ~= nil and p.NextToken ~= "") or p.MaxResults ~= nil
end

function M.tags_filter_ok(p)
  if p.Tag then
    for _, t in ipairs(p.Tag) do
      if (t.Value ~= nil and t.Key == nil) then
        fail(400, "InvalidTag.Mismatch", "The specified Tag.n.Key and Tag.n.Value are not match.")
      end
    end
    if #p.Tag > 20 then fail(400, "InvalidTagCount", "The specified tags are beyond the permitted range.") end
  end
end

-- applies Tag.N at creation
function M.apply_create_tags(id, rtype, tags)
  if not tags then return end
  for _, t in ipairs(tags) do
    if t.Key and t.Key ~= "" then state.set_tag(id, rtype, t.Key, t.Value) end
  end
end

function M.now_iso() return util.iso8601(ngx.now()) end

return M

-- describe{...}: the action of a Describe* (or List*) call, built from its parts. The skeleton
-- every such action shares, in this order:
--   1. RegionId checked (region = "required"), or checked when given (region = "optional")
--   2. Tag.N checked (tags = true)
--   3. query(ctx, p, region) -> q: the action's own checks and decoded filters
--   4. the rows: either every resource of the state table `from`, settled, in creation order, in
--      the region, for which match(r, p, q, ctx) holds and (tags = true) whose tags match Tag.N
--      (the id is r[id]); or rows(ctx, p, region, q) when the action makes them itself
--   5. each row through view(ctx, r) (default: as it is)
--   6. one page of them and the counts, by `paging`:
--        "page"    PageNumber/PageSize (up to `max`, default 100): PageNumber, PageSize, TotalCount
--        "token"   NextToken/MaxResults (10..100, or `page_size` whatever is asked): NextToken only
--        "either"  NextToken/MaxResults (NextToken, TotalCount) when the request uses them, else "page"
--   7. the reply: the counts, the page under `list` ("Disks.Disk" -> { Disks = { Disk = page } })
--      and, with region_field = true, RegionId.
local args = require "emu.args"
local respond = require "emu.respond"
local state = require "emu.state"
local tags = require "emu.model.tags"
local util = require "emu.util"

local fail = respond.fail
local floor, min = math.floor, math.min
local M = {}

-- PageNumber / PageSize paging; returns the page and the counts
local function page(p, items, max_size)
  local number = p.PageNumber or 1
  local size = p.PageSize or 10
  max_size = max_size or 100
  if number < 1 or number ~= floor(number) then
    fail(400, "InvalidParameter", "The specified parameter \"PageNumber\" is not valid.")
  end
  if size < 1 or size > max_size or size ~= floor(size) then
    fail(400, "InvalidParameter", "The specified parameter \"PageSize\" is not valid: 1 to " .. max_size .. ".")
  end
  local out = util.array()
  local first = (number - 1) * size + 1
  for i = first, min(#items, first + size - 1) do out[#out + 1] = items[i] end
  return out, { PageNumber = number, PageSize = size, TotalCount = #items }
end

-- NextToken / MaxResults paging (tokens are opaque and remembered per worker)
local function token_page(S, next_token, max_results, items)
  local max = max_results or 10
  if max < 10 then max = 10 end
  if max > 100 then max = 100 end
  local offset = 0
  if next_token and next_token ~= "" then
    offset = S.page_tokens[next_token]
    if not offset then
      fail(400, "InvalidParameter.NextToken", "The specified parameter \"NextToken\" is not valid.")
    end
  end
  local out = util.array()
  for i = offset + 1, min(#items, offset + max) do out[#out + 1] = items[i] end
  local token = ""
  if offset + max < #items then
    token = util.rand_hex(32)
    S.page_tokens[token] = offset + max
  end
  return out, { NextToken = token, TotalCount = #items }
end

local function uses_token_paging(p)
  return (p.NextToken ~= nil and p.NextToken ~= "") or p.MaxResults ~= nil
end

local function paged(spec, ctx, p, items)
  local mode = spec.paging
  if mode == "either" then mode = uses_token_paging(p) and "token+count" or "page" end
  if mode == "page" then return page(p, items, spec.max) end
  local out, meta = token_page(ctx.S, p.NextToken, spec.page_size or p.MaxResults, items)
  if mode == "token" then meta = { NextToken = meta.NextToken } end
  return out, meta
end

function M.describe(spec)
  local outer, inner = spec.list:match("^([^.]+)%.([^.]+)$")
  assert(outer, "describe: list must be \"Outer.Inner\"")
  assert(spec.paging == "page" or spec.paging == "token" or spec.paging == "either", "describe: paging")
  assert(spec.from or spec.rows, "describe: from or rows")
  return {
    run = function(ctx, p)
      local region
      if spec.region == "required" then
        region = args.region(ctx, p)
      elseif spec.region == "optional" then
        region = p.RegionId and args.region(ctx, p)
      end
      if spec.tags then args.check_tags(p) end
      local q = spec.query and spec.query(ctx, p, region) or nil
      local rows
      if spec.rows then
        rows = spec.rows(ctx, p, region, q)
      else
        local match, id, S = spec.match, spec.id, ctx.S
        rows = state.list(S[spec.from], function(r)
          if region and r.RegionId ~= region then return false end
          if match and not match(r, p, q, ctx) then return false end
          return not spec.tags or tags.matches(S, r[id], p.Tag)
        end)
      end
      local items = rows
      if spec.view then
        items = {}
        for i = 1, #rows do items[i] = spec.view(ctx, rows[i]) end
      end
      local out, reply = paged(spec, ctx, p, items)
      reply[outer] = { [inner] = out }
      if spec.region_field then reply.RegionId = region end
      return reply
    end,
  }
end

return M

-- Iterating listings across pages, in both ECS paging modes:
-- NextToken/MaxResults (pages fetched one after the other, as each names the
-- next) and PageNumber/PageSize/TotalCount (once the total is known, the
-- remaining pages are fetched concurrently, a window at a time, and items
-- still come out in order). Works inside and outside ecs.run.
local api = require "ecs.api"
local scheduler = require "ecs.scheduler"
local util = require "ecs.util"

local M = {}

M.WINDOW = 4 -- pages fetched at once in PageNumber mode
--- Options of client:paginate, client:collect and the functions below.
---@class ecs.PaginateOptions
---@field mode? "token"|"page" Paging mode: NextToken/MaxResults (the default where the action has it) or PageNumber/PageSize.
---@field window? integer Pages fetched at once in PageNumber mode (default 4).
---@field call? ecs.CallOptions Options of each page's call.

local function shape_of(action)
  local shape = api.action(action)
  if not shape then error(action .. ": not an action of the ECS API", 3) end
  local paging = shape.paging
  if not paging or not paging.list then
    error(action .. ": does not return pages (no paging in the API model)", 3)
  end
  return shape, paging
end

-- The call for one page: through the helper, so parameters are validated.
local function fetch(client, action, params, opts)
  local res, err = client[action](client, params, opts)
  if not res then error(err, 0) end
  return res
end

local function token_pages(client, action, params, opts, paging)
  local spec = paging.token
  local p = util.copy(params)
  if spec.size_param and p[spec.size_param] == nil and spec.max then p[spec.size_param] = spec.max end
  local done = false
  return function()
    if done then return nil end
    local res = fetch(client, action, p, opts)
    local token = util.get_path(res, spec.response or spec.param)
    if token == nil or token == "" or token == p[spec.param] then
      done = true
    else
      p[spec.param] = token
    end
    return res
  end
end

local function numbered_pages(client, action, params, opts, paging, window)
  local spec = paging.page
  local p = util.copy(params)
  if spec.size_param and p[spec.size_param] == nil and spec.max then p[spec.size_param] = spec.max end
  local first = p[spec.number_param] or 1
  local buffered, last -- pages fetched ahead, and the last page number
  local next_page = first
  return function()
    if last and next_page > last then return nil end
    if next_page == first then
      local res = fetch(client, action, p, opts)
      local total = spec.total and tonumber(util.get_path(res, spec.total))
      local size = tonumber(util.get_path(res, spec.size_param)) or p[spec.size_param]
      if total and size and size > 0 then
        last = math.max(first, math.ceil(total / size))
      else
        -- No total: stop at the first short page.
        local items = util.get_path(res, paging.list)
        if type(items) ~= "table" or (size and #items < size) then last = first end
      end
      next_page = first + 1
      return res
    end
    if not buffered or not buffered[next_page] then
      -- Fetch the next window of pages concurrently, in one (child) run.
      local from = next_page
      local to = last and math.min(last, from + window - 1) or from
      buffered = scheduler.run(function()
        local tasks, pages = {}, {}
        for n = from, to do
          local q = util.copy(p)
          q[spec.number_param] = n
          tasks[n] = scheduler.spawn(fetch, client, action, q, opts)
        end
        for n = from, to do
          local res, err = tasks[n]:wait()
          if not res then error(err, 0) end
          pages[n] = res
        end
        return pages
      end)
    end
    local res = buffered[next_page]
    buffered[next_page] = nil
    next_page = next_page + 1
    if not last then
      local items = util.get_path(res, paging.list)
      if type(items) ~= "table" or #items == 0 then return nil end
    end
    return res
  end
end

--- An iterator over the replies, page by page.
---@param client ecs.Client
---@param action string a listing action such as "DescribeInstances"
---@param params? table the action's parameters (the page size defaults to the largest allowed)
---@param opts? ecs.PaginateOptions
---@return fun(): table|nil next_page each call gives the next reply, nil after the last; raises a page's ecs.Error
function M.pages(client, action, params, opts)
  local _, paging = shape_of(action)
  opts = opts or {}
  local call_opts = opts.call
  local mode = opts.mode or paging.mode
  if mode == "token" and paging.token then
    return token_pages(client, action, params, call_opts, paging)
  elseif mode == "page" and paging.page then
    return numbered_pages(client, action, params, call_opts, paging, opts.window or M.WINDOW)
  end
  error(action .. ": no paging mode '" .. tostring(mode) .. "'", 2)
end

--- An iterator over the items of every page, in order:
---   for inst in client:paginate("DescribeInstances", { Status = "Running" }) do ... end
--- A page that fails raises its error (an ecs error table): a listing is
--- never cut short silently. opts = { mode = "token"|"page", window = 4, call = call opts }.
---@param client ecs.Client
---@param action string a listing action such as "DescribeInstances"
---@param params? table the action's parameters
---@param opts? ecs.PaginateOptions
---@return fun(): table|nil next_item each call gives the next item, nil after the last; raises a page's ecs.Error
function M.items(client, action, params, opts)
  local _, paging = shape_of(action)
  local next_page = M.pages(client, action, params, opts)
  local items, i = nil, 0
  return function()
    while true do
      if items and i < #items then
        i = i + 1
        return items[i]
      end
      local res = next_page()
      if res == nil then return nil end
      items = util.get_path(res, paging.list)
      if type(items) ~= "table" then items = {} end
      i = 0
    end
  end
end

--- Every item of a listing as one list, or nil and the error of the page that failed.
---@param client ecs.Client
---@param action string a listing action such as "DescribeDisks"
---@param params? table the action's parameters
---@param opts? ecs.PaginateOptions
---@return table[]|nil items every item, in order
---@return ecs.Error|nil err the error of the page that failed
function M.collect(client, action, params, opts)
  local out = {}
  local ok, err = pcall(function()
    for item in M.items(client, action, params, opts) do out[#out + 1] = item end
  end)
  if ok then return out end
  if require("ecs.errors").is(err) then return nil, err end
  error(err, 0)
end

return M

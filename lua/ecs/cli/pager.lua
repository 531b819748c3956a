-- `--pager`: every page of a listing merged into one reply, by the library's pagination (both
-- paging modes; in PageNumber mode the pages after the first are fetched concurrently).
local args = require "ecs.cli.args"
local errors = require "ecs.errors"
local path = require "ecs.cli.path"

local M = {}

--- Checks the fields of `--pager` against the action's paging: `path` (default: the model's
--- list) and `mode` (token or page; default the model's). Raises a message.
---@param shape ecs.ActionShape
---@param fields table<string, string>
---@return {path: string, keys: string[], mode: string} spec
function M.spec(shape, fields)
  local paging = shape.paging
  if not paging or not paging.list then
    error(("--pager: %s does not return pages (the API model gives it no paging)"):format(shape.name), 0)
  end
  local mode = fields.mode or paging.mode
  if mode ~= "token" and mode ~= "page" then
    error(("--pager: mode=%s: token (NextToken) or page (PageNumber)"):format(mode), 0)
  end
  if not paging[mode] then
    error(("--pager: %s has no %s paging (it has %s)"):format(shape.name,
      mode == "token" and "NextToken" or "PageNumber", paging.mode), 0)
  end
  local list = (fields.path or paging.list):gsub("%[%]$", "")
  local ok, steps = pcall(path.parse, list)
  if not ok then error("--pager: path=" .. steps, 0) end
  local keys = {}
  for _, s in ipairs(steps) do
    if not s.key then error(("--pager: path=%s: a path of field names, such as %s"):format(list, paging.list), 0) end
    keys[#keys + 1] = s.key
  end
  return { path = list, keys = keys, mode = mode }
end

-- A copy of the reply with `keys` leading to `items`, the tables on the way copied.
local function replace(reply, keys, items)
  local top = {}
  for k, v in pairs(reply) do top[k] = v end
  local t = top
  for i = 1, #keys - 1 do
    local inner = {}
    for k, v in pairs(type(t[keys[i]]) == "table" and t[keys[i]] or {}) do inner[k] = v end
    t[keys[i]] = inner
    t = inner
  end
  t[keys[#keys]] = items
  return top
end

--- Fetches every page and merges them: the first page's reply with the list at the path holding
--- every item, and the fields that only describe one page (NextToken, PageNumber, PageSize,
--- MaxResults) dropped; TotalCount stays. Returns nil and the error of a page that failed;
--- raises a usage error when the path names no list of the reply.
---@param client ecs.Client
---@param shape ecs.ActionShape
---@param params table
---@param spec table from M.spec
---@return table|nil reply
---@return ecs.Error|nil err
---@return integer|nil pages how many pages were fetched
function M.run(client, shape, params, spec)
  local first, items, count = nil, {}, 0
  local ok, err = pcall(function()
    for page in client:pages(shape.name, params, { mode = spec.mode }) do
      count = count + 1
      first = first or page
      local list = page
      for _, k in ipairs(spec.keys) do list = type(list) == "table" and list[k] or nil end
      if list ~= nil and type(list) ~= "table" then
        args.usage(("--pager: path=%s is not a list in the reply"):format(spec.path))
      end
      if list == nil and count == 1 then
        local fields = {}
        for k in pairs(page) do fields[#fields + 1] = k end
        table.sort(fields)
        args.usage(("--pager: path=%s is not in the reply (its fields: %s)"):format(spec.path,
          table.concat(fields, ", ")))
      end
      for _, item in ipairs(list or {}) do items[#items + 1] = item end
    end
  end)
  if not ok then
    if errors.is(err) then return nil, err end
    error(err, 0) -- a usage error, or a bug
  end
  local merged = replace(first, spec.keys, items)
  local paging = shape.paging
  for _, spec_of in ipairs { paging.token or {}, paging.page or {} } do
    for _, key in ipairs { "response", "param", "size_param", "number_param" } do
      local field = spec_of[key]
      if type(field) == "string" and not field:find(".", 1, true) then merged[field] = nil end
    end
  end
  return merged, nil, count
end

return M

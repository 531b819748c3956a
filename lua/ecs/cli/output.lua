-- What the command line prints: replies as pretty JSON (sorted keys, two-space indent, so that
-- two runs diff cleanly) and the aliyun CLI's `--output cols=... rows=...` table.
local path = require "ecs.cli.path"

local M = {}

local null = require("cjson").null
local floor, huge = math.floor, math.huge
local tointeger = math.tointeger

local ESCAPES = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r",
  ["\t"] = "\\t",
}
local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

-- Integers as integers (57, not 57.0); other numbers in their shortest exact form; NaN and the
-- infinities, which JSON cannot hold, as null.
local function number(x)
  if tointeger and tointeger(x) then return ("%d"):format(x) end
  if x ~= x or x == huge or x == -huge then return "null" end
  if x == floor(x) and x > -2 ^ 53 and x < 2 ^ 53 then return ("%d"):format(x) end
  for digits = 15, 17 do
    local s = ("%." .. digits .. "g"):format(x)
    if tonumber(s) == x then return s end
  end
  return ("%.17g"):format(x)
end

-- A table whose keys are exactly 1..n is a list; an empty table prints as [] (a decoded reply
-- cannot tell an empty object from an empty list, and ECS replies hold empty lists).
local function is_list(t)
  local n = #t
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "number" or ta == "string" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys
end

local function encode(v, indent, out, step)
  local tv = type(v)
  if v == nil or v == null then
    out[#out + 1] = "null"
  elseif tv == "boolean" then
    out[#out + 1] = tostring(v)
  elseif tv == "number" then
    out[#out + 1] = number(v)
  elseif tv == "string" then
    out[#out + 1] = quote(v)
  elseif tv == "table" then
    local inner = step and (indent .. step) or ""
    local nl = step and ("\n" .. inner) or ""
    local sep = step and ": " or ":"
    if next(v) == nil then
      out[#out + 1] = "[]"
    elseif is_list(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        out[#out + 1] = (i > 1 and "," or "") .. nl
        encode(v[i], inner, out, step)
      end
      out[#out + 1] = (step and ("\n" .. indent) or "") .. "]"
    else
      out[#out + 1] = "{"
      for i, k in ipairs(sorted_keys(v)) do
        out[#out + 1] = (i > 1 and "," or "") .. nl .. quote(tostring(k)) .. sep
        encode(v[k], inner, out, step)
      end
      out[#out + 1] = (step and ("\n" .. indent) or "") .. "}"
    end
  else
    out[#out + 1] = quote(tostring(v)) -- a function or userdata has no JSON form
  end
end

--- A value as JSON: keys sorted, integers without a fraction, ecs.null as null, empty tables as [].
--- Pretty (two-space indent, a value per line) unless `compact`.
---@param value any
---@param compact? boolean one line, no spaces
---@return string json
function M.json(value, compact)
  local out = {}
  encode(value, "", out, not compact and "  " or nil)
  return table.concat(out)
end

-- The display width of a cell: UTF-8 characters, not bytes (a name in Chinese lines up too).
local function width(s)
  local _, n = s:gsub("[^\128-\191]", "")
  return n
end

-- A cell's text: strings as they are, tables as compact JSON, nothing for a missing field.
local function cell(v)
  if v == nil or v == null then return "" end
  if type(v) == "table" then return M.json(v, true) end
  if type(v) == "number" then return number(v) end
  return (tostring(v):gsub("[\r\n\t]", " "))
end

--- Checks the fields of `--output` (cols, rows) and parses their paths; raises a message.
---@param fields table<string, string> cols = "InstanceId,Status", rows = "Instances.Instance[]"
---@param default_rows? string the action's list (its paging path), when rows is not given
---@return {cols: string[], col_paths: table[], rows: string|nil, row_path: table[]|nil} spec
function M.table_spec(fields, default_rows)
  if not fields.cols or fields.cols == "" then
    error("--output: cols= is required (--output cols=InstanceId,Status rows=Instances.Instance[])", 0)
  end
  local spec = { cols = {}, col_paths = {} }
  for col in fields.cols:gmatch("[^,]+") do
    col = col:match("^%s*(.-)%s*$")
    local ok, parsed = pcall(path.parse, col)
    if not ok then error("--output cols: " .. parsed, 0) end
    spec.cols[#spec.cols + 1] = col
    spec.col_paths[#spec.col_paths + 1] = parsed
  end
  local rows = fields.rows or default_rows
  if rows then
    if not rows:find("%]$") then rows = rows .. "[]" end
    local ok, parsed = pcall(path.parse, rows)
    if not ok then error("--output rows: " .. parsed, 0) end
    if not parsed[#parsed].all then
      error(("--output rows: '%s' must end with [] (every element of a list)"):format(rows), 0)
    end
    spec.rows, spec.row_path = rows, parsed
  end
  return spec
end

-- Where a reply keeps its list when rows= is not given and the action does not page: the one
-- list among the reply's fields and their fields.
local function find_rows(reply)
  local found = {}
  for _, k in ipairs(sorted_keys(reply)) do
    local v = reply[k]
    if type(v) == "table" and next(v) ~= nil and is_list(v) then found[#found + 1] = k .. "[]" end
    if type(v) == "table" and not is_list(v) then
      for _, k2 in ipairs(sorted_keys(v)) do
        if type(v[k2]) == "table" and is_list(v[k2]) then found[#found + 1] = k .. "." .. k2 .. "[]" end
      end
    end
  end
  return found
end

--- The reply as an aligned table, as the aliyun CLI prints it: a header row, a row of dashes,
--- a row per element of `rows`, columns separated by " | ". Raises a message when rows= names
--- no list of the reply.
---@param reply table
---@param spec table from M.table_spec
---@return string text ending with a newline
function M.table(reply, spec)
  local row_path, rows_text = spec.row_path, spec.rows
  if not row_path then
    local found = find_rows(reply)
    if #found ~= 1 then
      error(("--output: give rows= (%s)"):format(#found == 0 and "the reply has no list"
        or ("lists of the reply: " .. table.concat(found, ", "))), 0)
    end
    rows_text, row_path = found[1], path.parse(found[1])
  end
  local items = path.eval(reply, row_path)
  if items == nil then
    error(("--output rows: the reply has nothing at %s (its fields: %s)"):format(rows_text,
      table.concat(sorted_keys(reply), ", ")), 0)
  end
  local lines = { spec.cols }
  local dashes = {}
  for i, col in ipairs(spec.cols) do dashes[i] = ("-"):rep(width(col)) end
  lines[2] = dashes
  local list = items
  for k = 1, list.n or #list do
    local item = list[k]
    local line = {}
    for i, p in ipairs(spec.col_paths) do line[i] = cell((path.eval(item, p))) end
    lines[#lines + 1] = line
  end
  local widths = {}
  for _, line in ipairs(lines) do
    for i, text in ipairs(line) do widths[i] = math.max(widths[i] or 0, width(text)) end
  end
  local out = {}
  for _, line in ipairs(lines) do
    local parts = {}
    for i, text in ipairs(line) do
      parts[i] = i < #line and (text .. (" "):rep(widths[i] - width(text))) or text
    end
    out[#out + 1] = table.concat(parts, " | ")
  end
  return table.concat(out, "\n") .. "\n"
end

return M

-- Checks a helper call's parameters against the action's shape and turns
-- them into what client:call sends: JSON-style parameters encoded, the rest
-- left for the C flattener (lists to K.N, objects to K.Sub). Raises on a
-- programmer error, naming the parameter path.
local util = require "ecs.util"
local json = require("cjson").new()

local M = {}

local function fail(path, action, msg)
  if not msg:find(action, 1, true) then msg = msg .. " (" .. action .. ")" end
  error(path .. ": " .. msg, 0)
end

-- The required nodes of a shape or object node, listed once (derived
-- indexes are cached on the shared shape, as ecs.api caches by_name).
local function required_of(node, list)
  local req = node.required_list
  if not req then
    req = {}
    for _, n in ipairs(list or {}) do
      if n.required then req[#req + 1] = n end
    end
    node.required_list = req
  end
  return req
end

-- Members of an object node by wire name, built once per node.
local function members_of(node)
  local index = node.by_name
  if not index then
    index = {}
    for _, m in ipairs(node.members or {}) do index[m.name] = m end
    node.by_name = index
  end
  return index
end

local function names_of(nodes)
  local out = {}
  for i, n in ipairs(nodes) do out[i] = n.name end
  return out
end

local function unknown(path, action, name, nodes, what)
  local hint = util.closest(name, names_of(nodes))
  fail(path, action, ("unknown %s%s"):format(what, hint and ("; did you mean " .. hint .. "?") or ""))
end

local check -- forward

local function check_list(node, value, path, action)
  local n = #value
  local count = 0
  for _ in pairs(value) do count = count + 1 end
  if count ~= n then fail(path, action, "expected a list (keys 1..n)") end
  local item = node.items or { type = "any" }
  for i = 1, n do
    value[i] = check(item, value[i], path .. "." .. i, action)
  end
  return value
end

local function check_object(node, value, path, action)
  local index = members_of(node)
  for k, v in pairs(value) do
    if type(k) ~= "string" then fail(path, action, "expected an object with named fields") end
    local member = index[k]
    if not member then unknown(path .. "." .. k, action, k, node.members or {}, "field in " .. action) end
    value[k] = check(member, v, path .. "." .. k, action)
  end
  for _, m in ipairs(required_of(node, node.members)) do
    if value[m.name] == nil then
      fail(path .. "." .. m.name, action, "required field in " .. action .. " is missing")
    end
  end
  return value
end

local function check_map(node, value, path, action)
  local item = node.values or { type = "any" }
  for k, v in pairs(value) do
    if type(k) ~= "string" then fail(path, action, "expected a map with string keys") end
    value[k] = check(item, v, path .. "." .. k, action)
  end
  return value
end

-- What a list holds, in the plural: "strings", "objects", ...
local PLURAL = {
  string = "strings", integer = "integers", long = "integers", float = "numbers",
  boolean = "booleans", object = "objects", list = "lists", map = "maps", any = "values",
}

-- What a container node wants, for an error message.
local function wanted(node)
  local t = node.type
  if t == "list" then
    local what = "a list (table) of " .. (PLURAL[(node.items or {}).type] or "values")
    if node.string_ok then what = what .. " or a JSON array string" end
    return what
  end
  if t == "object" then return "an object (table)" end
  if t == "map" then return "a map (table)" end
  return "a table"
end

-- A string quoted for an error message, shortened when long.
local function quoted(s)
  if #s > 40 then s = s:sub(1, 37) .. "..." end
  return "'" .. s .. "'"
end

-- A ready-made JSON string for a string_ok list: it must be a JSON array, and
-- its items must pass the list's item checks. Returns the string as given.
local function check_json_list(node, value, path, action)
  local got = "got string " .. quoted(value)
  if not value:match("^%s*%[") then fail(path, action, "expected " .. wanted(node) .. ", " .. got) end
  local ok, decoded = pcall(json.decode, value)
  if not ok or type(decoded) ~= "table" then
    fail(path, action, "expected " .. wanted(node) .. ", " .. got .. " (not valid JSON)")
  end
  local item = node.items or { type = "any" }
  for i = 1, #decoded do
    local v = decoded[i]
    if v == json.null then v = nil end
    if v == nil then fail(path .. "." .. i, action, "expected a value, got null") end
    check(item, v, path .. "." .. i, action)
  end
  return value
end

-- Returns the value to send (a copy for tables, so the caller's stays as given).
check = function(node, value, path, action)
  local t, tv = node.type, type(value)
  if t == "string" then
    if tv == "string" or tv == "number" then return value end
    fail(path, action, "expected a string, got " .. tv)
  elseif t == "integer" or t == "long" then
    if tv == "number" and value % 1 == 0 then return value end
    if tv == "string" and value:match("^%-?%d+$") then return value end
    fail(path, action, "expected an integer, got " .. (tv == "number" and tostring(value) or tv))
  elseif t == "float" then
    if tv == "number" then return value end
    fail(path, action, "expected a number, got " .. tv)
  elseif t == "boolean" then
    if tv == "boolean" then return value end
    fail(path, action, "expected true or false, got " .. tv)
  elseif t == "any" then
    return value
  end
  -- Containers.
  if node.string_ok and tv == "string" then return check_json_list(node, value, path, action) end
  if tv ~= "table" then fail(path, action, "expected " .. wanted(node) .. ", got " .. tv) end
  local copy = {}
  for k, v in pairs(value) do copy[k] = v end
  if t == "list" then return check_list(node, copy, path, action) end
  if t == "object" then return check_object(node, copy, path, action) end
  if t == "map" then return check_map(node, copy, path, action) end
  return copy
end

-- JSON for a JSON-style parameter; an empty Lua table is an empty list.
local function encode_json(node, value)
  if type(value) == "string" then return value end
  if next(value) == nil then return node.type == "list" and "[]" or "{}" end
  return json.encode(value)
end

--- Checks params against the shape and returns the parameters to send.
--- region fills RegionId when the action takes one and the caller gave none.
--- Raises on an unknown, missing or mistyped parameter, naming its path and the action.
---@param shape ecs.ActionShape the action's shape (ecs.api.action)
---@param params? table the caller's parameters (left as given)
---@param region? string the client's region
---@return table wire the parameters to send
function M.params(shape, params, region)
  local action = shape.name
  if params == nil then params = {} end
  if type(params) ~= "table" then fail("params", action, "expected a table of parameters") end
  local by_name = shape.by_name
  local out = {}
  for name, value in pairs(params) do
    if type(name) ~= "string" then fail("params", action, "parameter names must be strings") end
    local node = by_name[name]
    if not node then
      unknown(name, action, name, shape.params, "parameter of " .. action)
    end
    value = check(node, value, name, action)
    if node.style == "json" then value = encode_json(node, value) end
    out[name] = value
  end
  if out.RegionId == nil and region and by_name.RegionId then out.RegionId = region end
  for _, node in ipairs(required_of(shape, shape.params)) do
    if out[node.name] == nil then
      fail(node.name, action, "required parameter of " .. action .. " is missing")
    end
  end
  return out
end

return M

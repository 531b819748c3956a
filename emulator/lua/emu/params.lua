-- Action parameter checking: names, shapes and required names from the generated parameter
-- definitions (emu.generated.paramdefs, written with the client's model by tools/gen-api-model.js
-- from the official SDK). The checks themselves are the emulator's own.
local defs = require "emu.generated.paramdefs"
local respond = require "emu.respond"
local verify = require "emu.verify"

local fail = respond.fail
local tonumber, type, pairs = tonumber, type, pairs
local find, sub, lower = string.find, string.sub, string.lower

local M = {}

-- accepted for every action even where the request model omits it
local TOLERATED = { RegionId = "S" }
local NONE = {}

-- whether `action` is an action of ECS 2014-05-26 (simulated or not)
function M.known(action) return defs[action] ~= nil end

local function invalid(name, why)
  fail(400, "InvalidParameter", "The specified parameter \"" .. name .. "\" is not valid" ..
    (why and (": " .. why) or "") .. ".")
end

local function scalar(kind, name, v)
  if type(v) == "table" then v = v[1] end
  if v == true then v = "" end
  if kind == "N" then
    local n = tonumber(v)
    if not n or v == "" then invalid(name, "a number is expected") end
    return n
  elseif kind == "B" then
    local l = lower(v)
    if l == "true" then return true elseif l == "false" then return false end
    invalid(name, "true or false is expected")
  end
  return v
end

local function split(key)
  local parts, i = {}, 1
  while true do
    local j = find(key, ".", i, true)
    if not j then parts[#parts + 1] = sub(key, i); break end
    parts[#parts + 1] = sub(key, i, j - 1)
    i = j + 1
  end
  return parts
end

-- sets the value at parts[idx..] under container `into` following `spec`
local function place(action, key, parts, idx, spec, into, slot, v)
  if type(spec) == "string" then
    if parts[idx] then invalid(key, "unexpected sub-field") end
    into[slot] = scalar(spec, key, v)
    return
  end
  local seg = parts[idx]
  if not seg then invalid(key, "a sub-field or index is expected") end
  local node = into[slot]
  if type(node) ~= "table" then node = {}; into[slot] = node end
  if spec.list then
    local n = tonumber(seg)
    if not n or n < 1 or n ~= math.floor(n) or not find(seg, "^%d+$") then
      invalid(key, "the list index must be a positive integer")
    end
    node.__list = true
    place(action, key, parts, idx + 1, spec.list, node, n, v)
  else
    local f = spec.fields[seg]
    if not f then
      -- tolerate the lower-case key/value of old Tag filters
      local alt = spec.fields[seg:sub(1, 1):upper() .. seg:sub(2)]
      if alt and (seg == "key" or seg == "value") then f = alt; seg = seg:sub(1, 1):upper() .. seg:sub(2) end
    end
    if not f then invalid(key, "unknown field \"" .. seg .. "\"") end
    place(action, key, parts, idx + 1, f, node, seg, v)
  end
end

-- sparse {__list, [n] = v} tables become dense arrays ordered by n
local function compact(t)
  if type(t) ~= "table" then return t end
  for k, v in pairs(t) do
    if type(v) == "table" then t[k] = compact(v) end
  end
  if t.__list then
    t.__list = nil
    local idx = {}
    for n in pairs(t) do idx[#idx + 1] = n end
    table.sort(idx)
    local out = {}
    for i = 1, #idx do out[i] = t[idx[i]] end
    return out
  end
  return t
end

local function require_present(out, name)
  if out[name] == nil or out[name] == "" then
    fail(400, "MissingParameter." .. name, "The input parameter \"" .. name ..
      "\" that is mandatory for processing this request is not supplied.")
  end
end

-- returns the structured parameters of `action` (common protocol parameters removed); a missing
-- required parameter is MissingParameter.<Name>, RegionId first, then in wire-name order
function M.parse(action, raw)
  local def = defs[action]
  local d = def and def.params or NONE
  local out = {}
  for key, v in pairs(raw) do
    if not verify.COMMON[key] then
      local parts = split(key)
      local base = parts[1]
      local s = d[base] or TOLERATED[base]
      if not s then
        invalid(key, "the action " .. action .. " has no such parameter")
      end
      place(action, key, parts, 2, s, out, base, v)
    end
  end
  for k, v in pairs(out) do out[k] = compact(v) end
  local required = def and def.required or NONE
  if #required > 0 then
    for _, name in ipairs(required) do
      if name == "RegionId" then require_present(out, name) end
    end
    for _, name in ipairs(required) do
      if name ~= "RegionId" then require_present(out, name) end
    end
  end
  return out
end

return M

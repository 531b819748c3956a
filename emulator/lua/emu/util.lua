-- Small helpers shared by the emulator modules: encoding, time, IDs, JSON/XML.
local byte, char, format, gsub, sub, find = string.byte, string.char, string.format, string.gsub, string.sub, string.find
local concat, sort = table.concat, table.sort
local type, pairs, tostring, setmetatable, getmetatable = type, pairs, tostring, setmetatable, getmetatable
local floor = math.floor

local M = {}

-- RFC 3986 percent-encoding: only A-Z a-z 0-9 - _ . ~ stay as they are.
-- replacement table: gsub with a table stays in C (no Lua callback per character)
local PCT = {}
for i = 0, 255 do PCT[char(i)] = format("%%%02X", i) end
function M.percent_encode(s)
  if type(s) ~= "string" then s = tostring(s) end
  if not find(s, "[^%w%-_%.~]") then return s end
  return (gsub(s, "[^%w%-_%.~]", PCT))
end

-- inside nginx, ngx.escape_uri (URI component mode) does the same in C; it is used only
-- after checking that it agrees with the Lua version on every byte
function M.use_fast_encoder()
  local esc = ngx and ngx.escape_uri
  if not esc then return false end
  local lua_pct = M.percent_encode
  for i = 0, 255 do
    local ch = char(i)
    if esc(ch) ~= lua_pct(ch) then return false end
  end
  if esc("a b~c*") ~= lua_pct("a b~c*") then return false end
  M.percent_encode = function(s)
    if type(s) ~= "string" then s = tostring(s) end
    return esc(s)
  end
  return true
end

-- Arrays: tables marked with this metatable are always encoded as lists,
-- even when empty ([] in JSON).
local ARRAY = { __array = true }
function M.array(t) return setmetatable(t or {}, ARRAY) end
local function is_array(t)
  if getmetatable(t) == ARRAY then return true end
  return t[1] ~= nil
end

-- ---------------------------------------------------------------- time
local function days_from_civil(y, m, d)
  y = (m <= 2) and (y - 1) or y
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- Parses "YYYY-MM-DDTHH:MM:SSZ" (optionally with .fff before Z); returns epoch seconds or nil.
function M.parse_iso8601(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, se, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return nil end
  if rest ~= "Z" and not rest:match("^%.%d+Z$") then return nil end
  y, mo, d, h, mi, se = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(se)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or se > 60 then return nil end
  return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se
end

function M.iso8601(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", floor(t))
end
-- ECS shows some times without seconds (CreationTime of instances: 2017-12-10T04:04Z)
function M.iso8601_min(t)
  return os.date("!%Y-%m-%dT%H:%MZ", floor(t))
end

-- ---------------------------------------------------------------- ids
local random = math.random
local hexdigits = "0123456789abcdef"
local function rand_hex(n)
  local t = {}
  for i = 1, n do
    local k = random(1, 16)
    t[i] = sub(hexdigits, k, k)
  end
  return concat(t)
end
M.rand_hex = rand_hex

-- resource ids look like the service's: prefix + 20 lowercase alnum chars
local alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
function M.new_id(prefix)
  local t = {}
  for i = 1, 20 do
    local k = random(1, 36)
    t[i] = sub(alnum, k, k)
  end
  return prefix .. "-" .. concat(t)
end

-- RequestId: an upper-case UUID, cheap to make: random per-worker prefix + counter
local rid_prefix, rid_counter = nil, 0
function M.request_id()
  if not rid_prefix then
    rid_prefix = (rand_hex(8) .. "-" .. rand_hex(4) .. "-4" .. rand_hex(3) .. "-A" .. rand_hex(3) .. "-"):upper()
  end
  rid_counter = rid_counter + 1
  return rid_prefix .. format("%012X", rid_counter)
end

-- ---------------------------------------------------------------- JSON
local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
local function esc_char(c) return escapes[c] or format("\\u%04x", byte(c)) end
local function json_str(s)
  if find(s, '[%c"\\]') then s = gsub(s, '[%c"\\]', esc_char) end
  return '"' .. s .. '"'
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end
M.sorted_keys = sorted_keys

local function encode_into(buf, v)
  local tv = type(v)
  if tv == "string" then buf[#buf + 1] = json_str(v)
  elseif tv == "number" then
    if v == floor(v) and v > -1e15 and v < 1e15 then buf[#buf + 1] = format("%d", v)
    else buf[#buf + 1] = format("%.14g", v) end
  elseif tv == "boolean" then buf[#buf + 1] = v and "true" or "false"
  elseif tv == "table" then
    if is_array(v) then
      buf[#buf + 1] = "["
      for i = 1, #v do
        if i > 1 then buf[#buf + 1] = "," end
        encode_into(buf, v[i])
      end
      buf[#buf + 1] = "]"
    else
      buf[#buf + 1] = "{"
      local first = true
      for _, k in ipairs(sorted_keys(v)) do
        if not first then buf[#buf + 1] = "," end
        first = false
        buf[#buf + 1] = json_str(tostring(k))
        buf[#buf + 1] = ":"
        encode_into(buf, v[k])
      end
      buf[#buf + 1] = "}"
    end
  else
    buf[#buf + 1] = "null"
  end
end
function M.json(v)
  local buf = {}
  encode_into(buf, v)
  return concat(buf)
end

-- ---------------------------------------------------------------- XML
local xml_esc = { ["<"] = "&lt;", [">"] = "&gt;", ["&"] = "&amp;", ['"'] = "&quot;", ["'"] = "&apos;" }
local function xml_text(s) return (gsub(s, "[<>&\"']", xml_esc)) end

local function xml_into(buf, name, v)
  local tv = type(v)
  if tv == "table" then
    if is_array(v) then
      -- a list repeats the element named by its key: {Region = {a, b}} -> <Region>a</Region><Region>b</Region>
      for i = 1, #v do xml_into(buf, name, v[i]) end
      return
    end
    buf[#buf + 1] = "<" .. name .. ">"
    for _, k in ipairs(sorted_keys(v)) do xml_into(buf, tostring(k), v[k]) end
    buf[#buf + 1] = "</" .. name .. ">"
  elseif tv == "boolean" then
    buf[#buf + 1] = "<" .. name .. ">" .. (v and "true" or "false") .. "</" .. name .. ">"
  elseif tv == "number" then
    local s = (v == floor(v)) and format("%d", v) or format("%.14g", v)
    buf[#buf + 1] = "<" .. name .. ">" .. s .. "</" .. name .. ">"
  else
    buf[#buf + 1] = "<" .. name .. ">" .. xml_text(tostring(v)) .. "</" .. name .. ">"
  end
end
function M.xml(root, v)
  local buf = { '<?xml version="1.0" encoding="UTF-8"?>' }
  xml_into(buf, root, v)
  return concat(buf)
end

-- deep copy (metatables kept)
function M.deepcopy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = M.deepcopy(x) end
  return setmetatable(t, getmetatable(v))
end

return M

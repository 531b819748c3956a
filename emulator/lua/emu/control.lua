-- Control API under /__emulator/ (loopback only): reset, settings, quotas, faults, early expiry
-- of temporary keys, stats, last request parameters, state dump. What they do lives in
-- emu.conf, emu.quotas, emu.faults, emu.tempkeys, emu.stats and emu.state; this module speaks
-- HTTP. (/__emulator/credentials-uri is not a control request: emu.metadata answers it.)
local cjson = require "cjson.safe"
local conf = require "emu.conf"
local faults = require "emu.faults"
local quotas = require "emu.quotas"
local state = require "emu.state"
local stats = require "emu.stats"
local tempkeys = require "emu.tempkeys"
local util = require "emu.util"
local verify = require "emu.verify"

local ngx = ngx
local M = {}

local function reply(status, t)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(util.json(t))
  return ngx.exit(status)
end

local function body_json()
  ngx.req.read_body()
  local b = ngx.req.get_body_data()
  if not b or b == "" then
    -- also accept the same settings as query arguments
    local q = ngx.req.get_uri_args()
    local t = {}
    for k, v in pairs(q) do
      if v == "true" then v = true elseif v == "false" then v = false elseif tonumber(v) then v = tonumber(v) end
      t[k] = v
    end
    return t
  end
  local t, err = cjson.decode(b)
  if type(t) ~= "table" then reply(400, { error = "request body must be a JSON object: " .. tostring(err) }) end
  return t
end

-- every resource, ClientToken, nonce, counter, quota, fault, temporary key and metadata token
-- dropped; settings as at start
local function reset_all()
  conf.reset()
  stats.clear()
  stats.clear_last()
  verify.forget_nonces()
  quotas.refill()
  tempkeys.clear()
end

-- a list of strings from JSON (an array) or a query argument (one string, or repeated); nil if not
local function string_list(v)
  if type(v) == "string" then return v == "" and {} or { v } end
  if type(v) ~= "table" then return nil end
  local out, n = {}, 0
  for k, x in pairs(v) do
    if type(k) ~= "number" or type(x) ~= "string" or x == "" then return nil end
    out[k], n = x, n + 1
  end
  if #out ~= n then return nil end
  return out
end

-- settings whose values are lists, shown as JSON arrays even when empty
local LISTS = { "oidc_tokens", "sts_roles" }
local function settings_view(t)
  for _, k in ipairs(LISTS) do
    if type(t[k]) == "table" then t[k] = util.array(t[k]) end
  end
  return t
end

local function current_settings()
  return settings_view(util.deepcopy(conf.get().settings))
end

local function config(method)
  if method ~= "POST" and method ~= "PUT" then return reply(200, current_settings()) end
  local t = body_json()
  local upd = {}
  for k, v in pairs(t) do
    if k == "speed" then
      if type(v) ~= "number" or v < 0 then return reply(400, { error = "speed must be a number >= 0" }) end
      upd.speed = v
    elseif k == "seed" then
      -- Reseeds this worker's generator: fault sequences repeat for tests.
      if type(v) ~= "number" or v % 1 ~= 0 then return reply(400, { error = "seed must be an integer" }) end
      math.randomseed(v)
    elseif k == "nonce_check" or k == "timestamp_check" or k == "imdsv1" then
      if type(v) ~= "boolean" then return reply(400, { error = k .. " must be true or false" }) end
      upd[k] = v
    elseif k == "sts_lifetime" then
      -- seconds of every temporary key issued from now on; 0 or false: as DurationSeconds asks
      if v == false then v = 0 end
      if type(v) ~= "number" or v < 0 or v % 1 ~= 0 then
        return reply(400, { error = "sts_lifetime must be a whole number of seconds >= 0 (0: as requested)" })
      end
      upd.sts_lifetime = v
    elseif k == "role_name" then
      if type(v) ~= "string" or #v > 64 or not v:match("^[%w%.@_%-]*$") then
        return reply(400, { error = "role_name must be a RAM role name (letters, digits, . @ - _), or \"\" for none" })
      end
      upd.role_name = v
    elseif k == "oidc_tokens" then
      local list = string_list(v)
      if not list then return reply(400, { error = "oidc_tokens must be a list of non-empty strings" }) end
      upd.oidc_tokens = list
    elseif k == "sts_roles" then
      local list = string_list(v)
      if not list then return reply(400, { error = "sts_roles must be a list of role ARNs" }) end
      for _, arn in ipairs(list) do
        if not arn:match("^acs:ram::%d+:role/[%w%.@_%-]+$") then
          return reply(400, { error = "sts_roles: " .. arn .. " is not a role ARN (acs:ram::<account id>:role/<name>)" })
        end
      end
      upd.sts_roles = list
    else
      return reply(400, { error = "unknown setting " .. tostring(k) })
    end
  end
  local now = conf.set_settings(upd)
  -- the metadata service and the credentials URI hand out new keys with the new lifetime or role
  if upd.sts_lifetime or upd.role_name then tempkeys.forget_current() end
  return reply(200, settings_view(now))
end

-- quotas and faults: GET lists, POST adds, PUT replaces, DELETE removes all
local function table_endpoint(method, mod, empty)
  if method == "DELETE" then mod.clear(); return reply(200, empty()) end
  if method == "POST" or method == "PUT" then
    local now, err = mod.set(body_json(), method == "PUT")
    if not now then return reply(400, { error = err }) end
    return reply(200, now)
  end
  return reply(200, mod.list())
end

local function state_dump()
  local S = state.sync(conf.get().gen)
  local out = {}
  for _, kind in ipairs { "instances", "disks", "snapshots", "sgs", "vpcs", "vswitches" } do
    local list = util.array()
    for _, r in ipairs(state.list(S[kind])) do
      local t = {}
      for k, v in pairs(r) do if k ~= "queue" and type(v) ~= "function" then t[k] = v end end
      list[#list + 1] = t
    end
    out[kind] = list
  end
  return out
end

function M.handle()
  local addr = ngx.var.remote_addr or ""
  if not (addr:sub(1, 4) == "127." or addr == "::1" or addr == "unix:") then
    return reply(403, { error = "the control API answers loopback clients only" })
  end
  local method = ngx.req.get_method()
  local path = ngx.var.uri:gsub("^/__emulator/?", ""):gsub("/$", "")
  local what, arg = path:match("^([^/]*)/?(.*)$")

  if what == "" or what == "health" then
    return reply(200, { ok = true, pid = ngx.worker.pid(), workers = ngx.worker.count(),
      settings = current_settings() })
  elseif what == "reset" then
    if method ~= "POST" then return reply(405, { error = "use POST" }) end
    reset_all()
    return reply(200, { ok = true, settings = current_settings() })
  elseif what == "config" then
    return config(method)
  elseif what == "quotas" then
    return table_endpoint(method, quotas, function() return {} end)
  elseif what == "faults" then
    return table_endpoint(method, faults, util.array)
  elseif what == "expire-keys" then
    if method ~= "POST" then return reply(405, { error = "use POST" }) end
    return reply(200, { expired = tempkeys.expire_all() })
  elseif what == "stats" then
    if method == "DELETE" then stats.clear(); return reply(200, {}) end
    return reply(200, stats.report())
  elseif what == "last" then
    local action = arg ~= "" and arg or ngx.req.get_uri_args().action
    if not action then return reply(400, { error = "name the action: /__emulator/last/<Action>" }) end
    local v = stats.last(action)
    if not v then return reply(404, { error = "no request seen for " .. action }) end
    ngx.status = 200
    ngx.header["Content-Type"] = "application/json"
    ngx.say(v)
    return ngx.exit(200)
  elseif what == "state" then
    return reply(200, state_dump())
  end
  return reply(404, { error = "unknown control endpoint /__emulator/" .. path })
end

return M

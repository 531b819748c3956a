-- Runtime settings shared by all workers (shared dict emu_conf), with a
-- per-worker cache refreshed when the version counter moves.
local cjson = require "cjson.safe"

local ngx = ngx
local M = {}

-- set in init_by_lua from the generated nginx config
M.boot = {
  speed = 1,            -- lifecycle duration multiplier (0 = instantaneous)
  nonce_check = true,   -- reject reused SignatureNonce within 15 minutes
  timestamp_check = true,
  access_keys_file = nil,
  model_file = nil,
}
M.keys = {}           -- AccessKeyId -> { secret = , token = (STS) }
M.known_actions = {}  -- every ECS action name (for "not simulated" vs InvalidAction)

local dict = ngx.shared.emu_conf
local cached_version = -1
local cache = { settings = {}, quotas = {}, faults = {}, gen = 0 }

local function load()
  local v = dict:get("version") or 0
  if v == cached_version then return cache end
  cached_version = v
  cache.settings = cjson.decode(dict:get("settings") or "{}") or {}
  cache.quotas = cjson.decode(dict:get("quotas") or "{}") or {}
  cache.faults = cjson.decode(dict:get("faults") or "[]") or {}
  cache.has_quotas = next(cache.quotas) ~= nil
  cache.has_faults = #cache.faults > 0
  cache.gen = dict:get("gen") or 0
  return cache
end
M.get = load

local function bump() dict:incr("version", 1, 0) end

function M.set_settings(t)
  local cur = cjson.decode(dict:get("settings") or "{}") or {}
  for k, v in pairs(t) do cur[k] = v end
  dict:set("settings", cjson.encode(cur))
  bump()
  return cur
end

function M.set_quotas(q) dict:set("quotas", cjson.encode(q)); bump() end
function M.set_faults(f)
  dict:set("faults", #f > 0 and cjson.encode(f) or "[]")
  for i = 1, #f do
    if f[i].count then dict:set("fault_left:" .. i, f[i].count) else dict:delete("fault_left:" .. i) end
  end
  bump()
end

-- consume one shot of a counted fault; true if it may fire
function M.take_fault(i, f)
  if not f.count then return true end
  local left = dict:incr("fault_left:" .. i, -1, 0)
  return left and left >= 0
end

-- back to start-up defaults; the state generation moves so every worker drops its resources
function M.reset()
  dict:set("settings", cjson.encode({ speed = M.boot.speed, nonce_check = M.boot.nonce_check,
    timestamp_check = M.boot.timestamp_check }))
  dict:set("quotas", "{}")
  dict:set("faults", "[]")
  dict:incr("gen", 1, 0)
  bump()
end

function M.init_master()
  dict:flush_all()
  M.reset()
end

return M

-- Runtime settings shared by all workers (shared dict emu_conf): the settings, the quota and
-- fault tables (what they mean is emu.quotas's and emu.faults's business) and the state
-- generation, with a per-worker cache refreshed when the version counter moves.
local cjson = require "cjson.safe"

local ngx = ngx
local M = {}

-- set in init_by_lua from the generated nginx config
M.boot = {
  speed = 1,            -- lifecycle duration multiplier (0 = instantaneous)
  nonce_check = true,   -- reject reused SignatureNonce within 15 minutes
  timestamp_check = true,
  sts_lifetime = 0,     -- seconds of every temporary key issued (0: as requested by DurationSeconds)
  imdsv1 = true,        -- metadata answered without a token (X-aliyun-ecs-metadata-token)
  role_name = "EcsRamRoleTest", -- the RAM role of the "instance" ("": none attached)
  oidc_tokens = {},     -- OIDC tokens that AssumeRoleWithOIDC accepts
  sts_roles = {},       -- role ARNs that may be assumed (empty: any well-formed ARN)
}
M.keys = {}           -- AccessKeyId -> { secret = , token = (STS) }

local dict = ngx.shared.emu_conf
local cached_version = -1
local cache = { settings = {}, quotas = {}, faults = {}, gen = 0 }

-- { settings, quotas, faults, has_quotas, has_faults, gen }: read-only for callers
function M.get()
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

local function bump() dict:incr("version", 1, 0) end

function M.set_settings(t)
  local cur = cjson.decode(dict:get("settings") or "{}") or {}
  for k, v in pairs(t) do cur[k] = v end
  dict:set("settings", cjson.encode(cur))
  bump()
  return cur
end

-- the quota table (emu.quotas) or the fault list (emu.faults), seen by every worker
function M.set_quotas(q) dict:set("quotas", cjson.encode(q)); bump() end
function M.set_faults(f) dict:set("faults", #f > 0 and cjson.encode(f) or "[]"); bump() end

-- back to start-up defaults; the state generation moves so every worker drops its resources
function M.reset()
  local b = M.boot
  dict:set("settings", cjson.encode({ speed = b.speed, nonce_check = b.nonce_check,
    timestamp_check = b.timestamp_check, sts_lifetime = b.sts_lifetime, imdsv1 = b.imdsv1,
    role_name = b.role_name, oidc_tokens = b.oidc_tokens, sts_roles = b.sts_roles }))
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

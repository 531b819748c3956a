-- Control API under /__emulator/ (loopback only): reset, settings, quotas,
-- faults, stats, last request parameters, state dump.
local cjson = require "cjson.safe"
local conf = require "emu.conf"
local state = require "emu.state"
local util = require "emu.util"

local ngx = ngx
local shared = ngx.shared
local M = {}

local KINDS = { ["503"] = true, ["500"] = true, reset = true, truncated = true, slow = true, lost = true }

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

local function stats()
  local d = shared.emu_stats
  local out = { requests = {}, results = {}, faults = {}, created = {}, throttled = 0,
    client_token_replays = 0, total_requests = 0 }
  for _, k in ipairs(d:get_keys(0)) do
    local v = d:get(k) or 0
    local a, b, c = k:match("^([^|]+)|?([^|]*)|?(.*)$")
    if a == "req" then out.requests[b] = v; out.total_requests = out.total_requests + v
    elseif a == "res" then out.results[b] = out.results[b] or {}; out.results[b][c] = v
    elseif a == "fault" then out.faults[b] = v
    elseif a == "created" then out.created[b] = v
    elseif a == "throttled" then out.throttled = v
    elseif a == "replays" then out.client_token_replays = v
    end
  end
  return out
end

local function current_settings()
  return conf.get().settings
end

local function reset_all()
  conf.reset()
  shared.emu_stats:flush_all()
  shared.emu_last:flush_all()
  local main = require "emu.main"
  for k in pairs(main.last_local) do main.last_local[k] = nil end
  shared.emu_nonce:flush_all()
  shared.emu_buckets:flush_all()
end
M.reset_all = reset_all

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
    if method == "POST" or method == "PUT" then
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
        elseif k == "nonce_check" or k == "timestamp_check" then
          if type(v) ~= "boolean" then return reply(400, { error = k .. " must be true or false" }) end
          upd[k] = v
        else
          return reply(400, { error = "unknown setting " .. tostring(k) })
        end
      end
      return reply(200, conf.set_settings(upd))
    end
    return reply(200, current_settings())
  elseif what == "quotas" then
    local q = conf.get().quotas
    if method == "DELETE" then conf.set_quotas({}); shared.emu_buckets:flush_all(); return reply(200, {}) end
    if method == "POST" or method == "PUT" then
      local t = body_json()
      local list = t.quotas or { [t.action or "*"] = { rate = t.rate, burst = t.burst } }
      local nq = method == "PUT" and {} or util.deepcopy(q)
      for action, v in pairs(list) do
        local rate, burst = tonumber(v.rate), tonumber(v.burst or v.rate)
        if not rate or rate < 0 or not burst or burst < 1 then
          return reply(400, { error = "a quota needs rate >= 0 (requests per second) and burst >= 1" })
        end
        nq[action] = { rate = rate, burst = burst }
      end
      conf.set_quotas(nq)
      shared.emu_buckets:flush_all()
      return reply(200, nq)
    end
    return reply(200, q)
  elseif what == "faults" then
    local f = conf.get().faults
    if method == "DELETE" then conf.set_faults({}); return reply(200, util.array()) end
    if method == "POST" or method == "PUT" then
      local t = body_json()
      local list = t.faults or { t }
      local nf = method == "PUT" and {} or util.deepcopy(f)
      for _, x in ipairs(list) do
        x.kind = tostring(x.kind or "")
        if not KINDS[x.kind] then
          return reply(400, { error = "fault kind must be one of 503, 500, reset, truncated, slow, lost" })
        end
        x.rate = tonumber(x.rate or 1)
        if not x.rate or x.rate < 0 or x.rate > 1 then return reply(400, { error = "rate must be within 0..1" }) end
        if x.count ~= nil and (not tonumber(x.count) or tonumber(x.count) < 1) then
          return reply(400, { error = "count must be a positive integer" })
        end
        x.action = x.action or "*"
        nf[#nf + 1] = x
      end
      conf.set_faults(nf)
      return reply(200, util.array(nf))
    end
    return reply(200, util.array(f))
  elseif what == "stats" then
    if method == "DELETE" then shared.emu_stats:flush_all(); return reply(200, {}) end
    return reply(200, stats())
  elseif what == "last" then
    local action = arg ~= "" and arg or ngx.req.get_uri_args().action
    if not action then return reply(400, { error = "name the action: /__emulator/last/<Action>" }) end
    local v
    if ngx.worker.count() > 1 then
      v = shared.emu_last:get(action)
    else
      local rec = require("emu.main").last_local[action]
      if rec then
        v = cjson.encode({ params = rec.params, method = rec.method, signature_version = rec.signature_version,
          time = util.iso8601(rec.time) })
      end
    end
    if not v then return reply(404, { error = "no request seen for " .. action }) end
    ngx.status = 200
    ngx.header["Content-Type"] = "application/json"
    ngx.say(v)
    return ngx.exit(200)
  elseif what == "state" then
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
    return reply(200, out)
  end
  return reply(404, { error = "unknown control endpoint /__emulator/" .. path })
end

return M

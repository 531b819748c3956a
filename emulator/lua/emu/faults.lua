-- Injected faults, set through the control API (POST/PUT/DELETE /__emulator/faults) and applied
-- by the request pipeline after authentication: 503, 500, reset, truncated, slow, lost.
local conf = require "emu.conf"
local respond = require "emu.respond"
local stats = require "emu.stats"
local util = require "emu.util"

local ngx = ngx
local dict = ngx.shared.emu_conf   -- "fault_left:<i>": shots left of a counted fault
local random = math.random
local fail = respond.fail
local M = {}

local KINDS = { ["503"] = true, ["500"] = true, reset = true, truncated = true, slow = true, lost = true }

function M.list() return util.array(conf.get().faults) end

local function store(list)
  conf.set_faults(list)
  for i = 1, #list do
    if list[i].count then dict:set("fault_left:" .. i, list[i].count) else dict:delete("fault_left:" .. i) end
  end
end

-- adds (or with replace, sets) the faults of a control request body: one fault
-- { action, kind, rate, count, delay_ms } or { faults = { ... } }; returns the new list, or nil
-- and a message
function M.set(t, replace)
  local list = t.faults or { t }
  local nf = replace and {} or util.deepcopy(conf.get().faults)
  for _, x in ipairs(list) do
    x.kind = tostring(x.kind or "")
    if not KINDS[x.kind] then return nil, "fault kind must be one of 503, 500, reset, truncated, slow, lost" end
    x.rate = tonumber(x.rate or 1)
    if not x.rate or x.rate < 0 or x.rate > 1 then return nil, "rate must be within 0..1" end
    if x.count ~= nil and (not tonumber(x.count) or tonumber(x.count) < 1) then
      return nil, "count must be a positive integer"
    end
    x.action = x.action or "*"
    nf[#nf + 1] = x
  end
  store(nf)
  return util.array(nf)
end

function M.clear() store({}) end

-- consumes one shot of a counted fault; true if it may fire
local function take(i, f)
  if not f.count then return true end
  local left = dict:incr("fault_left:" .. i, -1, 0)
  return left and left >= 0
end

-- the fault to apply to a request of `action`, if any. explicit: only faults that name it (or
-- `alias`), not "*" (STS actions, metadata paths: "*" means every ECS action)
function M.pick(action, faults, explicit, alias)
  for i = 1, #faults do
    local f = faults[i]
    local a = f.action
    local hit
    if explicit then hit = a == action or (alias ~= nil and a == alias)
    else hit = a == nil or a == "*" or a == action end
    if hit and random() < (tonumber(f.rate) or 1) and take(i, f) then
      stats.fault(f.kind)
      return f
    end
  end
end

-- applies fault f to request r: raises the error reply, waits, or marks r for the handler
-- (r.drop: close without a reply; r.drop_after: run the action, then close; r.truncate: send
-- half the body)
function M.apply(f, r)
  local k = f.kind
  if k == "503" then
    fail(503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server.")
  elseif k == "500" then
    fail(500, "InternalError", "The request processing has failed due to some unknown error, exception or failure.")
  elseif k == "reset" then
    r.drop = true
  elseif k == "slow" then
    ngx.sleep((tonumber(f.delay_ms) or 2000) / 1000)
  elseif k == "lost" then
    r.drop_after = true
  elseif k == "truncated" then
    r.truncate = true
  end
end

return M

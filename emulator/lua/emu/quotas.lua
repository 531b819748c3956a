-- Quotas: a token bucket per AccessKey x action (or "*" for every action), set through the
-- control API (POST/PUT/DELETE /__emulator/quotas), checked by the request pipeline.
local conf = require "emu.conf"
local respond = require "emu.respond"
local stats = require "emu.stats"
local util = require "emu.util"

local ngx = ngx
local buckets = ngx.shared.emu_buckets
local ceil, min = math.ceil, math.min
local M = {}

function M.list() return conf.get().quotas end

-- adds (or with replace, sets) the quotas of a control request body: { action, rate, burst } or
-- { quotas = { Action = { rate, burst }, ... } }; returns the new table, or nil and a message
function M.set(t, replace)
  local list = t.quotas or { [t.action or "*"] = { rate = t.rate, burst = t.burst } }
  local nq = replace and {} or util.deepcopy(M.list())
  for action, v in pairs(list) do
    local rate, burst = tonumber(v.rate), tonumber(v.burst or v.rate)
    if not rate or rate < 0 or not burst or burst < 1 then
      return nil, "a quota needs rate >= 0 (requests per second) and burst >= 1"
    end
    nq[action] = { rate = rate, burst = burst }
  end
  conf.set_quotas(nq)
  buckets:flush_all()
  return nq
end

function M.clear()
  conf.set_quotas({})
  buckets:flush_all()
end

-- empties the buckets (the quotas stay)
function M.refill() buckets:flush_all() end

-- takes one token for ak x action; over quota: Throttling.User with x-acs-retry-after (ms).
-- explicit: only a quota that names the action applies, not "*" (STS actions)
function M.throttle(ak, action, quotas, explicit)
  local q = quotas[action]
  if not q and not explicit then q = quotas["*"] end
  if not q then return end
  local rate, burst = tonumber(q.rate) or 1, tonumber(q.burst) or tonumber(q.rate) or 1
  local key = ak .. "|" .. action
  local now = ngx.now()
  local v = buckets:get(key)
  local tokens, ts = burst, now
  if v then
    local a, b = v:match("^(%S+) (%S+)$")
    tokens, ts = tonumber(a), tonumber(b)
  end
  if rate > 0 then tokens = min(burst, tokens + (now - ts) * rate) end
  if tokens < 1 then
    buckets:set(key, tokens .. " " .. now)
    local wait = rate > 0 and ceil((1 - tokens) / rate * 1000) or 60000
    ngx.header["x-acs-retry-after"] = tostring(wait)
    stats.throttled()
    respond.fail(400, "Throttling.User", "Request was denied due to user flow control.")
  end
  buckets:set(key, (tokens - 1) .. " " .. now)
end

return M

-- The rate store of one nginx: each key's limiter state lives in a shared dict (`lua_shared_dict
-- ecs`), so every worker sees the same bucket, rate cut and server hint. A decision takes the
-- key's lock (an atomic add), loads the state into this worker's C limiter, decides with the
-- same arithmetic as the in-process store (csrc/throttle.c), and stores it back. Time is the
-- monotonic clock, which all workers of one host share. Interface: see local.lua.
local core = require "ecs.core"

local M = {}

--- Seconds an unused key's state is kept.
M.EXPIRE = 600
--- Seconds a lock is held at most (a worker that died holding it frees it by expiry).
M.LOCK_TTL = 0.05
-- Tries of the lock at once (the holder runs a few microseconds of arithmetic), then pauses of
-- a millisecond (a holder the system paused) up to twice the lock's life, after which a lock
-- still taken belongs to a worker that stopped and the decision is made without it.
local LOCK_SPINS = 200
local LOCK_PAUSE = 0.001
local scheduler = require "ecs.scheduler"
local token_count = 0

local Store = {}
Store.__index = Store

--- A limiter whose state is shared by every worker.
---@class ecs.SharedLimiter
local Limiter = {}
Limiter.__index = Limiter

-- Runs decide(limiter, ...) on the key's shared state under its lock; returns what it returns.
local function take_lock(dict, lock, token)
  for _ = 1, LOCK_SPINS do
    if dict:add(lock, token, M.LOCK_TTL) then return true end
  end
  if not scheduler.current() then return false end
  for _ = 1, 2 * M.LOCK_TTL / LOCK_PAUSE do
    scheduler.sleep(LOCK_PAUSE)
    if dict:add(lock, token, M.LOCK_TTL) then return true end
  end
  return false
end

local function locked(self, decide, a, b, c, d)
  local dict, lock = self.dict, self.lock_key
  -- The lock holds a token of its own: a holder paused past the lock's life must not release
  -- the lock another worker took since.
  token_count = token_count + 1
  local prefix = self.token_prefix
  if not prefix then -- set in the worker (a limiter made before the fork is each worker's own)
    prefix = core.nonce() .. ":"
    self.token_prefix = prefix
  end
  local token = prefix .. token_count
  local held = take_lock(dict, lock, token)
  local work = self.work
  local bytes = dict:get(self.state_key)
  if bytes then work:import(bytes) end
  local result = decide(work, a, b, c, d)
  dict:set(self.state_key, work:export(), M.EXPIRE)
  dict:set(self.epoch_key, work:epoch(), M.EXPIRE)
  if held and dict:get(lock) == token then dict:delete(lock) end
  return result
end

local function acquire(work, now) return work:acquire(now) end
local function observe(work, now, outcome, retry_after, reserved_at)
  work:observe(now, outcome, retry_after, reserved_at)
end

--- Seconds to wait before sending (a reservation in the shared bucket).
---@param now number monotonic seconds
---@return number
function Limiter:acquire(now)
  return locked(self, acquire, now)
end

--- Changes when a rate cut (by any worker) voids the reservations made before it.
---@return integer
function Limiter:epoch()
  return self.dict:get(self.epoch_key) or self.work:epoch()
end

--- Feeds an outcome back into the shared state.
---@param now number
---@param outcome "ok"|"throttled"
---@param retry_after? number
---@param reserved_at? number
---@return nil
function Limiter:observe(now, outcome, retry_after, reserved_at)
  locked(self, observe, now, outcome, retry_after, reserved_at)
end

--- The shared fill rate (req/s), or nil while unlimited.
---@return number|nil
function Limiter:rate()
  local bytes = self.dict:get(self.state_key)
  if bytes then self.work:import(bytes) end
  return self.work:rate()
end

--- The limiter of a key, made from config on first use (by any worker).
---@param key string
---@param config {rate?: number, burst?: number, adaptive: boolean}
---@return ecs.SharedLimiter
function Store:limiter(key, config)
  local limiter = self.limiters[key]
  if not limiter then
    -- The configuration is part of the key: the dict outlives a reload of nginx, whose new
    -- workers may be given other limits.
    local named = key .. "\0" .. tostring(config.rate) .. "/" .. tostring(config.burst) .. "/"
      .. tostring(config.adaptive)
    limiter = setmetatable({
      dict = self.dict, work = core.limiter(config),
      state_key = "ecs:rl:" .. named, epoch_key = "ecs:rl-epoch:" .. named, lock_key = "ecs:rl-lock:" .. named,
    }, Limiter)
    self.limiters[key] = limiter
  end
  return limiter
end

--- A store on a shared dict (ngx.shared.ecs).
---@param dict table a shared dict
---@return table store
function M.new(dict)
  return setmetatable({ dict = dict, limiters = setmetatable({}, { __mode = "v" }) }, Store)
end

return M

-- The in-process rate store: one limiter (the C bucket of csrc/throttle.c) per
-- key for the whole process, shared by every client and task.
--
-- The rate store interface (what the request pipeline asks of any store):
--   store:limiter(key, config) -> limiter
--       key     endpoint, region, account and action, joined by "\0"
--       config  { rate, burst, adaptive } of the first client to use the key
--   limiter:acquire(now) -> seconds to wait before sending (a reservation)
--   limiter:epoch()      -> a number that changes when a rate cut voids the
--                           reservations made before it
--   limiter:observe(now, "ok"|"throttled", retry_after, reserved_at)
-- Clients hold the limiters they use; a store may drop one no client holds.
local core = require "ecs.core"

local M = {}

local Store = {}
Store.__index = Store

--- The limiter of a key, made from config on first use.
---@param key string
---@param config {rate?: number, burst?: number, adaptive: boolean}
---@return userdata limiter
function Store:limiter(key, config)
  local limiter = self.limiters[key]
  if not limiter then
    limiter = core.limiter(config)
    self.limiters[key] = limiter
  end
  return limiter
end

--- How many limiters the store holds (for tests of its memory).
---@return integer
function Store:count()
  local n = 0
  for _ in pairs(self.limiters) do n = n + 1 end
  return n
end

--- A store of its own (clients share M.shared unless given another).
---@return table store
function M.new()
  -- Weak values: a limiter no live client holds is dropped at garbage collection.
  return setmetatable({ limiters = setmetatable({}, { __mode = "v" }) }, Store)
end

--- The process's store.
M.shared = M.new()

return M

-- Rate stores: where each limiter key keeps its state. The interface every
-- store offers is described in local.lua; this module picks the store of a
-- client from its `rate_store` option or the environment.
local M = {}

--- The store of a client: the option when it is a store; a URL ("redis://…",
--- "unix://…") opens a Redis store; without either, ECS_RATE_STORE, else the
--- default store of where the code runs.
---@param option? table|string the client's rate_store option
---@param getenv? fun(name: string): string?
---@return table store
function M.resolve(option, getenv)
  if type(option) == "table" then return option end
  local url = option
  if url == nil then
    url = (getenv or os.getenv)("ECS_RATE_STORE")
    if url == "" then url = nil end
  end
  if url then return require("ecs.ratestore.redis").new(url) end
  return M.default()
end

local shared_store

--- The store clients share when given none: inside nginx with `lua_shared_dict ecs`, the one of
--- all its workers; else this process's.
---@return table store
function M.default()
  if shared_store then return shared_store end
  local host = require("ecs.transport").host()
  local dict = host and host.shared_dict("rate limits")
  if dict then
    shared_store = require("ecs.ratestore.shdict").new(dict)
    return shared_store
  end
  return require("ecs.ratestore.local").shared
end

return M

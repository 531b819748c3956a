-- lua-ecs: the Lua toolkit for the Alibaba Cloud ECS API.
local core = require "ecs.core"
local client = require "ecs.client"
local errors = require "ecs.errors"
local scheduler = require "ecs.scheduler"

local M = {
  version = core.version,
  API_VERSION = client.API_VERSION,
  -- JSON null in replies (a field that is present but empty).
  null = require("cjson").null,
  run = scheduler.run,
  spawn = scheduler.spawn,
  sleep = scheduler.sleep,
  is_error = errors.is,
}

--- ecs.client{ region = ..., ... } -> a client. See README.
M.client = client.new

local default_client
--- ecs.call(action, params, opts): client:call on a default client built
--- from the credentials chain and the default region.
function M.call(action, params, opts)
  default_client = default_client or client.new({})
  return default_client:call(action, params, opts)
end

return M

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
  -- Monotonic seconds, for timing scripts.
  now = core.now,
}

--- ecs.client{ region = ..., ... } -> a client. See README.
M.client = client.new

local default_client
--- The client ecs.call uses: with opts, a new one made from them; without,
--- the current one, made on first use from the credentials chain and the
--- default region (ALIBABA_CLOUD_REGION_ID or the CLI profile).
function M.default_client(opts)
  if opts ~= nil or not default_client then
    default_client = client.new(opts or {})
  end
  return default_client
end

--- ecs.call(action, params, opts): client:call on the default client.
function M.call(action, params, opts)
  return M.default_client():call(action, params, opts)
end

return M

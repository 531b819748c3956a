-- lua-ecs: the Lua toolkit for the Alibaba Cloud ECS API.
local core = require "ecs.core"
local client = require "ecs.client"

local M = {
  version = core.version,
  API_VERSION = client.API_VERSION,
}

--- ecs.client{ region = ..., ... } -> a client. See README.
M.client = client.new

return M

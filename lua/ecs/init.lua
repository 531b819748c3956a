-- lua-ecs: the Lua toolkit for the Alibaba Cloud ECS API.
local core = require "ecs.core"
local client = require "ecs.client"
local errors = require "ecs.errors"
local scheduler = require "ecs.scheduler"

---@class ecs
---@field version string Version of the C core (and of lua-ecs).
---@field API_VERSION string The ECS API version the clients send by default ("2014-05-26").
---@field null lightuserdata JSON null in replies (a field that is present but empty).
---@field run fun(fn: function, ...: any): ... Runs fn(...) as the first task and drives the loop until every task has finished; returns fn's results (see scheduler.run).
---@field spawn fun(fn: function, ...: any): ecs.Task Starts fn(...) as a new task of the running ecs.run.
---@field sleep fun(seconds: number) Sleeps the running task (outside ecs.run, the whole program).
---@field is_error fun(value: any): boolean Whether value is an ecs.Error.
---@field now fun(): number Monotonic seconds, for timing scripts.
---@field client fun(opts?: ecs.ClientOptions): ecs.Client Creates a client (see README for the options).
---@field credentials ecs.credentials The credentials providers and the default chain (`credentials = ecs.credentials.ram_role_arn{...}`).
local M = {
  version = core.version,
  API_VERSION = client.API_VERSION,
  -- JSON null in replies (a field that is present but empty).
  null = require("cjson").null,
  run = scheduler.run,
  spawn = scheduler.spawn,
  sleep = scheduler.sleep,
  is_error = errors.is,
  credentials = require "ecs.credentials",
  -- Monotonic seconds, for timing scripts.
  now = core.now,
}

--- ecs.client{ region = ..., ... } -> a client. See README.
M.client = client.new

local default_client
--- The client ecs.call uses: with opts, a new one made from them; without,
--- the current one, made on first use from the credentials chain and the
--- default region (ALIBABA_CLOUD_REGION_ID or the CLI profile).
---@param opts? ecs.ClientOptions options of a new default client
---@return ecs.Client client
function M.default_client(opts)
  if opts ~= nil or not default_client then
    default_client = client.new(opts or {})
  end
  return default_client
end

--- ecs.call(action, params, opts): client:call on the default client.
---@param action string an ECS action name such as "DescribeInstances"
---@param params? table the action's parameters, sent as given
---@param opts? ecs.CallOptions per-call options (timeout, max_attempts, deadline, ...)
---@return table|string|nil result the decoded reply (a string for Format=XML), or nil on failure
---@return ecs.Error|nil err
function M.call(action, params, opts)
  return M.default_client():call(action, params, opts)
end

return M

-- What the two STS providers share (ram_role_arn: AssumeRole, oidc: AssumeRoleWithOIDC): the
-- endpoint, the session name and duration, and reading the reply's Credentials.
local http = require "ecs.credentials.http"
local refresh = require "ecs.credentials.refresh"

local M = {}

M.API_VERSION = "2015-04-01"
M.DEFAULT_ENDPOINT = "https://sts.aliyuncs.com"
M.ENV_ENDPOINT = "ALIBABA_CLOUD_STS_ENDPOINT"
M.ENV_REGION = "ALIBABA_CLOUD_STS_REGION"
M.ENV_VPC = "ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED"
M.ENV_SESSION_NAME = "ALIBABA_CLOUD_ROLE_SESSION_NAME"
M.DEFAULT_DURATION = 3600
M.MIN_DURATION = 900
M.MAX_DURATION = 43200
M.TIMEOUT, M.CONNECT_TIMEOUT = 10, 5

local function nonempty(v)
  if type(v) ~= "string" or v == "" then return nil end
  return v
end

--- The STS endpoint URL: the `sts_endpoint` option, else ALIBABA_CLOUD_STS_ENDPOINT, else
--- sts[-vpc].{region}.aliyuncs.com for the `sts_region` option or ALIBABA_CLOUD_STS_REGION
--- (-vpc with `enable_vpc` or ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED=true), else sts.aliyuncs.com.
---@param opts table
---@param getenv fun(name: string): string|nil
---@return string url
---@return table parts see http.parse_url
function M.endpoint(opts, getenv)
  local given = opts.sts_endpoint
  if given ~= nil then return http.endpoint(given, "sts_endpoint") end
  local from_env = nonempty(getenv(M.ENV_ENDPOINT))
  if from_env then return http.endpoint(from_env, M.ENV_ENDPOINT) end
  local region = opts.sts_region
  if region ~= nil and (type(region) ~= "string" or not region:match("^[%w-]+$")) then
    error("sts_region: expected a region id such as 'cn-hangzhou'", 3)
  end
  region = region or nonempty(getenv(M.ENV_REGION))
  if region then
    if not region:match("^[%w-]+$") then error(M.ENV_REGION .. ": expected a region id", 3) end
    local vpc = opts.enable_vpc
    if vpc == nil then vpc = (getenv(M.ENV_VPC) or ""):lower() == "true" end
    return http.endpoint((vpc and "sts-vpc." or "sts.") .. region .. ".aliyuncs.com", "sts_region")
  end
  return http.endpoint(M.DEFAULT_ENDPOINT, "sts_endpoint")
end

--- The RoleSessionName: the `session_name` option, else ALIBABA_CLOUD_ROLE_SESSION_NAME, else
--- lua-ecs-<epoch seconds>. Raises when it is not 2 to 64 of [A-Za-z0-9.@_-].
---@param opts table
---@param getenv fun(name: string): string|nil
---@return string
function M.session_name(opts, getenv)
  local name = opts.session_name
  local what = "session_name"
  if name == nil then
    name, what = nonempty(getenv(M.ENV_SESSION_NAME)), M.ENV_SESSION_NAME
  end
  name = name or ("lua-ecs-" .. os.time())
  if type(name) ~= "string" or not name:match("^[%w.@_-]+$") or #name < 2 or #name > 64 then
    error(what .. ": expected 2 to 64 characters of letters, digits, '.', '@', '_' and '-'", 3)
  end
  return name
end

--- DurationSeconds: the `duration` option (seconds, 900 to 43200), default 3600.
---@param opts table
---@return integer
function M.duration(opts)
  local d = opts.duration
  if d == nil then return M.DEFAULT_DURATION end
  if type(d) ~= "number" or d % 1 ~= 0 or d < M.MIN_DURATION or d > M.MAX_DURATION then
    error(("duration: expected whole seconds from %d to %d"):format(M.MIN_DURATION, M.MAX_DURATION), 3)
  end
  return math.floor(d)
end

--- Checks an optional string option (policy, external_id, ...); raises naming it.
---@param opts table
---@param name string
---@return string|nil
function M.optional_string(opts, name)
  local v = opts[name]
  if v ~= nil and (type(v) ~= "string" or v == "") then
    error(name .. ": expected a non-empty string", 3)
  end
  return v
end

--- Timeouts and TLS options of a fetch, checked (seconds above 0).
---@param opts table
---@param timeout number the default timeout
---@param connect_timeout number the default connect timeout
---@return {timeout: number, connect_timeout: number, ca_file: string|nil, verify_tls: boolean|nil}
function M.transfer_options(opts, timeout, connect_timeout)
  local function seconds(name, default)
    local v = opts[name]
    if v == nil then return default end
    if type(v) ~= "number" or not (v > 0 and v <= 600) then
      error(name .. ": expected seconds above 0, at most 600", 4)
    end
    return v
  end
  if opts.ca_file ~= nil and type(opts.ca_file) ~= "string" then error("ca_file: expected a path", 3) end
  if opts.verify_tls ~= nil and type(opts.verify_tls) ~= "boolean" then error("verify_tls: expected a boolean", 3) end
  return { timeout = seconds("timeout", timeout), connect_timeout = seconds("connect_timeout", connect_timeout),
           ca_file = opts.ca_file, verify_tls = opts.verify_tls }
end

--- The credentials of an STS reply, or nil and the error (the service's, or a BadResponse).
---@param response table the transport's response
---@param action string "AssumeRole" or "AssumeRoleWithOIDC"
---@param scrub? string[] strings that must not appear in an error (the source's token)
---@return table|nil fields
---@return ecs.Error|nil err
function M.reply(response, action, scrub)
  if response.status ~= 200 then return nil, http.reply_error(action, response, scrub) end
  local decoded = http.decode_object(response.body)
  if not decoded or type(decoded.Credentials) ~= "table" then
    return nil, http.reply_error(action, response, scrub)
  end
  return http.credential_fields(decoded.Credentials, action, response.status, true, refresh.parse_time)
end

return M

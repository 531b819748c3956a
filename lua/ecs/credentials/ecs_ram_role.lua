-- The RAM role of the ECS instance the script runs on, from the instance metadata service:
--   PUT  /latest/api/token (X-aliyun-ecs-metadata-token-ttl-seconds)       -> a metadata token
--   GET  /latest/meta-data/ram/security-credentials/         (the role name, when not given)
--   GET  /latest/meta-data/ram/security-credentials/<role>   -> { Code = "Success", ... }
-- both GETs with X-aliyun-ecs-metadata-token. Without a token (the PUT failed) the GETs go
-- without one, unless IMDSv1 is disabled (option, or ALIBABA_CLOUD_IMDSV1_DISABLED=true).
local core = require "ecs.core"
local errors = require "ecs.errors"
local http = require "ecs.credentials.http"
local refresh = require "ecs.credentials.refresh"
local sts = require "ecs.credentials.sts"

local M = {}

M.DEFAULT_ENDPOINT = "http://100.100.100.200"
M.ENV_ROLE_NAME = "ALIBABA_CLOUD_ECS_METADATA"
M.ENV_ENDPOINT = "ALIBABA_CLOUD_ECS_METADATA_ENDPOINT"
M.ENV_IMDSV1_DISABLED = "ALIBABA_CLOUD_IMDSV1_DISABLED"
M.TOKEN_PATH = "/latest/api/token"
M.CREDENTIALS_PATH = "/latest/meta-data/ram/security-credentials/"
M.TOKEN_TTL = 21600 -- seconds a metadata token is asked for
--- Seconds to connect, and for a whole request (connect and read).
M.CONNECT_TIMEOUT, M.TIMEOUT = 1, 2

--- A provider of the instance's RAM role credentials.
---@class ecs.EcsRamRoleProvider: ecs.RefreshingProvider
---@field role_name string|nil The role (nil: asked of the metadata service at the first fetch).
---@field endpoint string The metadata service's URL.
---@field disable_imds_v1 boolean Never ask without a metadata token.
local EcsRamRole = refresh.class({})
M.EcsRamRole = EcsRamRole

local function nonempty(v)
  if type(v) ~= "string" or v == "" then return nil end
  return v
end

local ACTION = "ECS metadata"

-- One request to the metadata service; a reply other than 200 is an error naming the path.
local function request(self, method, path, token, headers)
  headers = headers or {}
  if token then headers["X-aliyun-ecs-metadata-token"] = token end
  local t = self.transfer
  local response, err = http.request({
    method = method, url = self.endpoint .. path, headers = headers,
    timeout = t.timeout, connect_timeout = t.connect_timeout,
  }, ACTION)
  if not response then return nil, err end
  if response.status ~= 200 then
    local e = http.reply_error(ACTION, response)
    e.message = ("%s %s: %s"):format(method, path, e.message)
    return nil, e
  end
  return response
end

-- A GET with the token, and without it when the service turned the token down and IMDSv1 is
-- allowed.
local function get(self, path, token)
  local response, err = request(self, "GET", path, token)
  if response or not token or self.disable_imds_v1 then return response, err end
  if err.http_status == 401 or err.http_status == 403 then return request(self, "GET", path, nil) end
  return nil, err
end

--- Fetches the role's current credentials from the metadata service.
---@return table|nil fields
---@return ecs.Error|nil err
function EcsRamRole:fetch()
  local reply, err = request(self, "PUT", M.TOKEN_PATH, nil,
    { ["X-aliyun-ecs-metadata-token-ttl-seconds"] = tostring(M.TOKEN_TTL) })
  local token = reply and reply.body:match("^%s*(.-)%s*$") or nil
  if token == "" or (token and token:find("[%c]")) then
    token, err = nil, errors.new { code = "Transport.BadResponse", action = ACTION,
      message = "PUT " .. M.TOKEN_PATH .. ": the metadata token is empty or not one line" }
  end
  if not token and self.disable_imds_v1 then
    return nil, errors.new { code = err.code, action = ACTION, http_status = err.http_status,
      retryable = err.retryable, message = "cannot get a metadata token, and IMDSv1 is disabled: " .. err.message }
  end
  local role = self.role_name or self.discovered_role
  if not role then
    local listing, lerr = get(self, M.CREDENTIALS_PATH, token)
    if not listing then return nil, lerr end
    role = listing.body:match("^%s*([^\r\n]-)%s*$") or listing.body:match("^%s*([^\r\n]+)")
    if not role or role == "" or role:find("[/%s%c]") then
      return nil, errors.new { code = "Transport.BadResponse", action = ACTION, retryable = false,
        message = "the metadata service names no RAM role: is one attached to the instance?" }
    end
    self.discovered_role = role
  end
  local response, rerr = get(self, M.CREDENTIALS_PATH .. core.percent_encode(role), token)
  if not response then return nil, rerr end
  local decoded = http.decode_object(response.body)
  if not decoded then return nil, http.reply_error(ACTION, response) end
  if decoded.Code ~= "Success" then
    return nil, errors.new { code = "Credentials.MetadataRefused", action = ACTION,
      message = ("the metadata service answered Code %s for role %s"):format(
        type(decoded.Code) == "string" and decoded.Code or "(none)", role) }
  end
  return http.credential_fields(decoded, ACTION, response.status, true, refresh.parse_time)
end

--- A provider of the ECS instance's RAM role credentials (instance metadata).
--- opts: role_name (else ALIBABA_CLOUD_ECS_METADATA, else asked of the service),
--- metadata_endpoint (a URL; else ALIBABA_CLOUD_ECS_METADATA_ENDPOINT, else
--- http://100.100.100.200), disable_imds_v1 (else ALIBABA_CLOUD_IMDSV1_DISABLED=true),
--- timeout (2), connect_timeout (1), clock, getenv.
---@param opts? table
---@return ecs.EcsRamRoleProvider
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then error("ecs_ram_role: expected a table of options", 2) end
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local role = opts.role_name
  if role == nil then role = nonempty(getenv(M.ENV_ROLE_NAME)) end
  if role ~= nil and (type(role) ~= "string" or role == "" or role:find("[/%s%c]")) then
    error("role_name: expected a RAM role name", 2)
  end
  local endpoint = opts.metadata_endpoint
  local what = "metadata_endpoint"
  if endpoint == nil then endpoint, what = nonempty(getenv(M.ENV_ENDPOINT)), M.ENV_ENDPOINT end
  endpoint = http.endpoint(endpoint or M.DEFAULT_ENDPOINT, what, "http")
  local v1_off = opts.disable_imds_v1
  if v1_off == nil then
    v1_off = (getenv(M.ENV_IMDSV1_DISABLED) or ""):lower() == "true"
  elseif type(v1_off) ~= "boolean" then
    error("disable_imds_v1: expected a boolean", 2)
  end
  return refresh.init(setmetatable({
    role_name = role,
    endpoint = endpoint,
    disable_imds_v1 = v1_off,
    transfer = sts.transfer_options(opts, M.TIMEOUT, M.CONNECT_TIMEOUT),
  }, EcsRamRole), "ecs_ram_role " .. (role or "(the instance's role)"), opts.clock)
end

return M

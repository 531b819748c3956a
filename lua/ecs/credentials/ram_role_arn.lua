-- A RAM role assumed with STS AssumeRole, signed (v1) with the credentials of a source provider:
--   ecs.credentials.ram_role_arn{ source = provider, role_arn = "acs:ram::123:role/ops" }
-- Temporary credentials, refreshed ahead of expiry (see credentials/refresh.lua).
local core = require "ecs.core"
local errors = require "ecs.errors"
local http = require "ecs.credentials.http"
local refresh = require "ecs.credentials.refresh"
local static = require "ecs.credentials.static"
local sts = require "ecs.credentials.sts"

local M = {}

M.ENV_ROLE_ARN = "ALIBABA_CLOUD_ROLE_ARN"

--- A provider assuming a RAM role (AssumeRole).
---@class ecs.RamRoleArnProvider: ecs.RefreshingProvider
---@field role_arn string
---@field session_name string
---@field duration integer
---@field endpoint string The STS endpoint URL.
local RamRoleArn = refresh.class({})
M.RamRoleArn = RamRoleArn

-- Codes that mean the service refused the source credentials themselves.
local function refused(code)
  return code == "InvalidAccessKeyId.NotFound" or (type(code) == "string"
    and code:find("^InvalidSecurityToken%.") ~= nil)
end

--- Fetches new credentials: AssumeRole signed with the source's. A refusal of the source's
--- credentials makes a refreshing source fetch anew, once.
---@return table|nil fields
---@return ecs.Error|nil err
function RamRoleArn:fetch()
  local retried = false
  while true do
    local source = self.source_provider
    local creds, err = source:get()
    if not creds then return nil, err end
    local params = { RoleArn = self.role_arn, RoleSessionName = self.session_name,
                     DurationSeconds = self.duration, Policy = self.policy, ExternalId = self.external_id }
    local ok, req = pcall(core.sign, {
      version = "v1", method = "POST", endpoint = self.endpoint, host = self.host,
      action = "AssumeRole", api_version = sts.API_VERSION, access_key_id = creds.access_key_id,
      access_key_secret = creds.access_key_secret, security_token = creds.security_token,
      user_agent = http.USER_AGENT, params = params,
    })
    if not ok then
      return nil, errors.new { code = "Credentials.Invalid", action = "AssumeRole", retryable = false,
        message = "cannot sign AssumeRole with the source credentials: " .. tostring(req) }
    end
    local t = self.transfer
    req.timeout, req.connect_timeout = t.timeout, t.connect_timeout
    req.ca_file, req.verify_tls = t.ca_file, t.verify_tls
    local response, terr = http.request(req, "AssumeRole")
    if not response then return nil, terr end
    local fields, rerr = sts.reply(response, "AssumeRole", { creds.security_token })
    if fields then return fields end
    if retried or not refused(rerr.code) or not source.refreshing then return nil, rerr end
    retried = true
    source:invalidate(creds)
  end
end

--- A provider of a RAM role's temporary credentials, assumed with the source's.
--- opts: source (a provider; or access_key_id, access_key_secret[, security_token]), role_arn
--- (else ALIBABA_CLOUD_ROLE_ARN), session_name (else ALIBABA_CLOUD_ROLE_SESSION_NAME, else
--- lua-ecs-<time>), duration (seconds, default 3600), policy, external_id, sts_endpoint /
--- sts_region / enable_vpc (see credentials/sts.lua), timeout (10), connect_timeout (5),
--- ca_file, verify_tls, clock, getenv. Raises on a missing or bad option.
---@param opts table
---@return ecs.RamRoleArnProvider
function M.new(opts)
  if type(opts) ~= "table" then error("ram_role_arn: expected a table of options", 2) end
  local getenv = opts.getenv or os.getenv
  local source = opts.source
  if source == nil then
    if opts.access_key_id == nil and opts.access_key_secret == nil then
      error("source: required (a credentials provider, or access_key_id and access_key_secret)", 2)
    end
    local ok, made = pcall(static.from, { access_key_id = opts.access_key_id,
      access_key_secret = opts.access_key_secret, security_token = opts.security_token, source = "explicit" })
    if not ok then error(made, 2) end
    source = made
  elseif type(source) ~= "table" or type(source.get) ~= "function" then
    error("source: expected a credentials provider (a table with get())", 2)
  end
  local role_arn = opts.role_arn
  if role_arn == nil then role_arn = getenv(M.ENV_ROLE_ARN) end
  if type(role_arn) ~= "string" or not role_arn:match("^acs:ram::[^:]+:role/.+") then
    error("role_arn: expected a RAM role ARN such as acs:ram::123456789012:role/name"
      .. (opts.role_arn == nil and " (or set " .. M.ENV_ROLE_ARN .. ")" or ""), 2)
  end
  local endpoint, parts = sts.endpoint(opts, getenv)
  local self = refresh.init(setmetatable({
    source_provider = source,
    role_arn = role_arn,
    session_name = sts.session_name(opts, getenv),
    duration = sts.duration(opts),
    policy = sts.optional_string(opts, "policy"),
    external_id = sts.optional_string(opts, "external_id"),
    endpoint = endpoint,
    host = parts.host,
    transfer = sts.transfer_options(opts, sts.TIMEOUT, sts.CONNECT_TIMEOUT),
  }, RamRoleArn), ("ram_role_arn %s (source: %s)"):format(role_arn,
    tostring(source.name or source.source or "provider")), opts.clock)
  return self
end

return M

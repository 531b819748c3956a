-- A RAM role assumed with an OIDC token (RRSA in Kubernetes): STS AssumeRoleWithOIDC, unsigned,
-- with the token re-read from its file on every refresh (the platform rotates it):
--   ecs.credentials.oidc{ role_arn = ..., provider_arn = ..., token_file = ... }
-- Without options it reads ALIBABA_CLOUD_ROLE_ARN, ALIBABA_CLOUD_OIDC_PROVIDER_ARN and
-- ALIBABA_CLOUD_OIDC_TOKEN_FILE (and ALIBABA_CLOUD_ROLE_SESSION_NAME).
local core = require "ecs.core"
local errors = require "ecs.errors"
local http = require "ecs.credentials.http"
local refresh = require "ecs.credentials.refresh"
local sts = require "ecs.credentials.sts"

local M = {}

M.ENV_ROLE_ARN = "ALIBABA_CLOUD_ROLE_ARN"
M.ENV_PROVIDER_ARN = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN"
M.ENV_TOKEN_FILE = "ALIBABA_CLOUD_OIDC_TOKEN_FILE"
--- The longest token file read (a JWT is a few KB).
M.MAX_TOKEN = 64 * 1024

--- A provider assuming a RAM role with an OIDC token (AssumeRoleWithOIDC).
---@class ecs.OidcProvider: ecs.RefreshingProvider
---@field role_arn string
---@field provider_arn string
---@field token_file string
---@field endpoint string The STS endpoint URL.
local Oidc = refresh.class({})
M.Oidc = Oidc

local function nonempty(v)
  if type(v) ~= "string" or v == "" then return nil end
  return v
end

-- The token from its file, or nil and an error (naming the file, never its content).
local function read_token(path)
  local f, why = io.open(path, "rb")
  if not f then
    return nil, errors.new { code = "Credentials.Unreadable", retryable = false,
      message = "cannot read the OIDC token file: " .. tostring(why) }
  end
  local token = f:read(M.MAX_TOKEN + 1) or ""
  f:close()
  token = token:gsub("^%s+", ""):gsub("%s+$", "")
  if token == "" or #token > M.MAX_TOKEN then
    return nil, errors.new { code = "Credentials.Unreadable", retryable = false,
      message = ("the OIDC token file %s is %s"):format(path, token == "" and "empty" or "too large") }
  end
  return token
end

local function form(params)
  local keys = {}
  for k in pairs(params) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for i, k in ipairs(keys) do
    out[i] = core.percent_encode(k) .. "=" .. core.percent_encode(tostring(params[k]))
  end
  return table.concat(out, "&")
end

--- Fetches new credentials: AssumeRoleWithOIDC with the token file's current token.
---@return table|nil fields
---@return ecs.Error|nil err
function Oidc:fetch()
  local token, err = read_token(self.token_file)
  if not token then return nil, err end
  local t = self.transfer
  -- As the official libraries send it: the common parameters in the query, the rest (the token
  -- too, out of URLs) in a form body.
  local query = form { Action = "AssumeRoleWithOIDC", Version = sts.API_VERSION, Format = "JSON",
    Timestamp = core.timestamp(os.time()) }
  local response, terr = http.request({
    method = "POST", url = self.endpoint .. "/?" .. query,
    headers = { ["content-type"] = "application/x-www-form-urlencoded", accept = "application/json" },
    body = form {
      RoleArn = self.role_arn, OIDCProviderArn = self.provider_arn, OIDCToken = token,
      RoleSessionName = self.session_name, DurationSeconds = self.duration, Policy = self.policy,
    },
    timeout = t.timeout, connect_timeout = t.connect_timeout, ca_file = t.ca_file, verify_tls = t.verify_tls,
  }, "AssumeRoleWithOIDC")
  if not response then return nil, terr end
  return sts.reply(response, "AssumeRoleWithOIDC", { token })
end

--- A provider of a RAM role's temporary credentials for an OIDC token.
--- opts: role_arn, provider_arn, token_file (each else its environment variable), session_name,
--- duration (default 3600), policy, sts_endpoint / sts_region / enable_vpc (see
--- credentials/sts.lua), timeout, connect_timeout, ca_file, verify_tls, clock, getenv.
--- Raises on a missing or bad option (the token file is read at each fetch, not here).
---@param opts? table
---@return ecs.OidcProvider
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then error("oidc: expected a table of options", 2) end
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local function required(name, env)
    local v = opts[name]
    if v == nil then v = nonempty(getenv(env)) end
    if type(v) ~= "string" or v == "" then
      error(("%s: required (or set %s)"):format(name, env), 3)
    end
    return v
  end
  local role_arn = required("role_arn", M.ENV_ROLE_ARN)
  local provider_arn = required("provider_arn", M.ENV_PROVIDER_ARN)
  local token_file = required("token_file", M.ENV_TOKEN_FILE)
  local endpoint = sts.endpoint(opts, getenv)
  return refresh.init(setmetatable({
    role_arn = role_arn,
    provider_arn = provider_arn,
    token_file = token_file,
    session_name = sts.session_name(opts, getenv),
    duration = sts.duration(opts),
    policy = sts.optional_string(opts, "policy"),
    endpoint = endpoint,
    transfer = sts.transfer_options(opts, sts.TIMEOUT, sts.CONNECT_TIMEOUT),
  }, Oidc), "oidc " .. role_arn, opts.clock)
end

return M

-- The credentials chain: explicit fields, then the environment, then the
-- aliyun CLI's profile file; each link is a provider (see credentials/static.lua
-- for the interface), and a client may bring its own (`credentials` option).
local env = require "ecs.credentials.env"
local profile = require "ecs.credentials.profile"
local static = require "ecs.credentials.static"

local M = {}

local ENV_REGION = "ALIBABA_CLOUD_REGION_ID"

--- What a credentials provider returns.
---@class ecs.Credentials
---@field access_key_id string
---@field access_key_secret string
---@field security_token? string
---@field expiration? number Epoch seconds when they stop working; nil: never.

--- A source of credentials (see credentials/static.lua for the contract).
---@class ecs.CredentialsProvider
---@field source string
---@field static? boolean
---@field get fun(self: ecs.CredentialsProvider): ecs.Credentials|nil, ecs.Error|nil
---@field invalidate fun(self: ecs.CredentialsProvider)

local function nonempty(v)
  if type(v) ~= "string" or v == "" then return nil end
  return v
end

M.config_path = profile.config_path
M.read_profile = profile.read

--- The first provider of the chain that applies. `opts` holds the explicit fields; `getenv`
--- (default os.getenv) reads the environment, so tests can supply their own. Raises when none
--- applies, or one that applies is incomplete.
---@param opts? table access_key_id, access_key_secret, security_token, profile
---@param getenv? fun(name: string): string|nil
---@return ecs.CredentialsProvider
function M.provider(opts, getenv)
  getenv = getenv or os.getenv
  opts = opts or {}
  local id, secret = nonempty(opts.access_key_id), nonempty(opts.access_key_secret)
  if id or secret then
    if not id then error("access_key_id: required when access_key_secret is given", 0) end
    if not secret then error("access_key_secret: required when access_key_id is given", 0) end
    return static.new(id, secret, nonempty(opts.security_token), "explicit")
  end
  local found = env.provider(getenv) or profile.provider(opts, getenv)
  if found then return found end
  error("credentials: none found. Give access_key_id and access_key_secret to ecs.client, "
    .. "or set " .. env.ID .. " and " .. env.SECRET .. " (and " .. env.TOKEN .. " for STS), "
    .. "or configure a profile in " .. (M.config_path(getenv) or "~/.aliyun/config.json")
    .. " (aliyun configure; modes AK and StsToken)", 0)
end

--- The chain's credentials, with their source (for tests and tools): the first provider's.
---@param opts? table
---@param getenv? fun(name: string): string|nil
---@return {access_key_id: string, access_key_secret: string, security_token: string|nil, source: string} creds
function M.resolve(opts, getenv)
  local p = M.provider(opts, getenv)
  local c = assert(p:get())
  return { access_key_id = c.access_key_id, access_key_secret = c.access_key_secret,
           security_token = c.security_token, source = p.source }
end

--- The default region: the environment, then the CLI profile's region_id.
---@param opts? table its `profile` names the CLI profile
---@param getenv? fun(name: string): string|nil
---@return string|nil region
function M.default_region(opts, getenv)
  getenv = getenv or os.getenv
  local region = nonempty(getenv(ENV_REGION))
  if region then return region end
  local ok, found = pcall(profile.find, opts or {}, getenv)
  if ok and found then return nonempty(found.region_id) end
  return nil
end

return M

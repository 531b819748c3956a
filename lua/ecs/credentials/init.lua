-- Credentials: the providers (one a file, each behind the seam described in
-- credentials/static.lua) and the default chain, which picks one provider when a client is made,
-- from configuration alone (variables, files, DMI; no network):
--   0. the client's access_key_id / access_key_secret (/ security_token)
--   1. the environment's key pair            2. OIDC (RRSA) from the environment
--   3. the aliyun CLI profile                4. the INI file ~/.alibabacloud/credentials
--   5. the ECS instance's RAM role (ALIBABA_CLOUD_ECS_METADATA, or DMI says Alibaba Cloud ECS)
--   6. ALIBABA_CLOUD_CREDENTIALS_URI
-- A fetching provider fetches on first use, inside the call's task (credentials/refresh.lua).
local chain = require "ecs.credentials.chain"
local ecs_ram_role = require "ecs.credentials.ecs_ram_role"
local env = require "ecs.credentials.env"
local ini = require "ecs.credentials.ini"
local oidc = require "ecs.credentials.oidc"
local process = require "ecs.credentials.process"
local profile = require "ecs.credentials.profile"
local ram_role_arn = require "ecs.credentials.ram_role_arn"
local refresh = require "ecs.credentials.refresh"
local scheduler = require "ecs.scheduler"
local static = require "ecs.credentials.static"
local uri = require "ecs.credentials.uri"

--- The providers and the default chain (`ecs.credentials`).
---@class ecs.credentials
---@field static fun(opts: {access_key_id: string, access_key_secret: string, security_token?: string}): ecs.CredentialsProvider Fixed credentials.
---@field environment fun(opts?: table): ecs.CredentialsProvider ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET (/ ALIBABA_CLOUD_SECURITY_TOKEN).
---@field cli_profile fun(opts?: table): ecs.CredentialsProvider A profile of ~/.aliyun/config.json (any mode lua-ecs reads).
---@field ini_profile fun(opts?: table): ecs.CredentialsProvider A section of ~/.alibabacloud/credentials.
---@field ram_role_arn fun(opts: table): ecs.RamRoleArnProvider A RAM role assumed with STS AssumeRole.
---@field oidc fun(opts?: table): ecs.OidcProvider A RAM role assumed with an OIDC token (AssumeRoleWithOIDC).
---@field ecs_ram_role fun(opts?: table): ecs.EcsRamRoleProvider The ECS instance's RAM role (instance metadata).
---@field uri fun(opts?: table): ecs.UriProvider Credentials served at a URL.
---@field process fun(opts: table): ecs.ProcessProvider Credentials printed by a command.
---@field chain fun(providers: ecs.CredentialsProvider[]): ecs.ChainProvider The first of several providers that works.
local M = {}

local ENV_REGION = "ALIBABA_CLOUD_REGION_ID"
M.ENV_METADATA_DISABLED = "ALIBABA_CLOUD_ECS_METADATA_DISABLED"
--- Where the chain reads the machine's DMI identity (sys_vendor, product_name).
M.DMI_DIR = "/sys/class/dmi/id"

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
---@field refreshing? boolean
---@field get fun(self: ecs.CredentialsProvider): ecs.Credentials|nil, ecs.Error|nil
---@field invalidate fun(self: ecs.CredentialsProvider, refused?: ecs.Credentials)

M.static = static.from
M.environment = env.new
M.cli_profile = profile.new
M.ini_profile = ini.new
M.ram_role_arn = ram_role_arn.new
M.oidc = oidc.new
M.ecs_ram_role = ecs_ram_role.new
M.uri = uri.new
M.process = process.new
M.chain = chain.new

local function nonempty(v)
  if type(v) ~= "string" or v == "" then return nil end
  return v
end

M.config_path = profile.config_path
M.read_profile = profile.read

--- Whether the machine's DMI identity says it is an Alibaba Cloud ECS instance.
---@param dir? string the DMI directory (default M.DMI_DIR)
---@return boolean
function M.on_ecs(dir)
  dir = dir or M.DMI_DIR
  for _, file in ipairs { "sys_vendor", "product_name" } do
    local f = io.open(dir .. "/" .. file, "rb")
    if f then
      local text = (f:read(256) or ""):lower()
      f:close()
      if text:find("alibaba cloud", 1, true) or text:find("aliyun", 1, true) then return true end
    end
  end
  return false
end

local function env_names(names, getenv)
  local set, unset = {}, {}
  for _, n in ipairs(names) do
    if nonempty(getenv(n)) then set[#set + 1] = n else unset[#unset + 1] = n end
  end
  return set, unset
end

--- The first provider of the default chain that is configured. `opts` holds the client's
--- explicit fields (access_key_id, access_key_secret, security_token, profile) and, for VPC
--- set-ups, tests and the emulator, sts_endpoint and metadata_endpoint (URLs); `getenv` (default
--- os.getenv) reads the environment. Reads files, never the network. Raises when none is
--- configured (listing every source and why it was skipped), or one that is configured is broken.
---@param opts? table
---@param getenv? fun(name: string): string|nil
---@return ecs.CredentialsProvider
function M.provider(opts, getenv)
  getenv = getenv or os.getenv
  opts = opts or {}
  local settings = { getenv = getenv, sts_endpoint = opts.sts_endpoint,
    metadata_endpoint = opts.metadata_endpoint, clock = opts.clock }
  local skipped = {}
  local function skip(source, why) skipped[#skipped + 1] = "  - " .. source .. ": " .. why end

  local id, secret = nonempty(opts.access_key_id), nonempty(opts.access_key_secret)
  if id or secret then
    if not id then error("access_key_id: required when access_key_secret is given", 0) end
    if not secret then error("access_key_secret: required when access_key_id is given", 0) end
    return static.new(id, secret, nonempty(opts.security_token), "explicit")
  end
  skip("ecs.client options", "no access_key_id and access_key_secret given")

  local found = env.provider(getenv)
  if found then return found end
  skip("environment", env.ID .. " and " .. env.SECRET .. " are not both set")

  local oidc_env = { oidc.ENV_ROLE_ARN, oidc.ENV_PROVIDER_ARN, oidc.ENV_TOKEN_FILE }
  local set, unset = env_names(oidc_env, getenv)
  if #unset == 0 then
    local ok, p = pcall(oidc.new, settings)
    if not ok then error("credentials: OIDC from the environment: " .. tostring(p), 0) end
    return p
  end
  skip("OIDC", #set == 0 and (table.concat(oidc_env, ", ") .. " are not set")
    or (table.concat(unset, ", ") .. " not set (needs all three)"))

  local named_missing = {}
  local p, why, missing = profile.provider(opts, getenv, settings)
  if p then return p end
  skip("aliyun CLI profile", why)
  if missing then named_missing[#named_missing + 1] = why end

  p, why, missing = ini.provider(opts, getenv, settings)
  if p then return p end
  skip("INI file", why)
  if missing then named_missing[#named_missing + 1] = why end
  local named = nonempty(opts.profile) or nonempty(getenv(profile.ENV_PROFILE))
  if named and #named_missing > 0 then
    -- A profile asked for by name must be found, not silently replaced by the machine's role.
    error(("credentials: profile '%s' not found (%s)"):format(named, table.concat(named_missing, "; ")), 0)
  end

  if (getenv(M.ENV_METADATA_DISABLED) or ""):lower() == "true" then
    skip("ECS RAM role", "disabled by " .. M.ENV_METADATA_DISABLED .. "=true")
  else
    local role = nonempty(getenv(ecs_ram_role.ENV_ROLE_NAME))
    if role or M.on_ecs(opts.dmi_dir) then
      local ok, r = pcall(ecs_ram_role.new, { role_name = role, metadata_endpoint = settings.metadata_endpoint,
        getenv = getenv, clock = settings.clock })
      if not ok then error("credentials: ECS RAM role: " .. tostring(r), 0) end
      return r
    end
    skip("ECS RAM role", ecs_ram_role.ENV_ROLE_NAME .. " is not set and the machine is not an Alibaba "
      .. "Cloud ECS instance (DMI)")
  end

  local url = nonempty(getenv(uri.ENV_URI))
  if url then
    local ok, u = pcall(uri.new, { url = url, clock = settings.clock })
    if not ok then error("credentials: " .. uri.ENV_URI .. ": " .. tostring(u), 0) end
    return u
  end
  skip("credentials URI", uri.ENV_URI .. " is not set")

  error("credentials: none found. Give access_key_id and access_key_secret to ecs.client, "
    .. "or set " .. env.ID .. " and " .. env.SECRET .. " (and " .. env.TOKEN .. " for STS), "
    .. "or configure a profile in " .. (M.config_path(getenv) or "~/.aliyun/config.json")
    .. " (aliyun configure), or see README (Credentials). Tried, in order:\n"
    .. table.concat(skipped, "\n"), 0)
end

--- The chain's credentials, with their source (for tests and tools): the first provider's,
--- fetched when it must be (outside a task, in a run of its own).
---@param opts? table
---@param getenv? fun(name: string): string|nil
---@return {access_key_id: string, access_key_secret: string, security_token: string|nil, source: string} creds
function M.resolve(opts, getenv)
  local p = M.provider(opts, getenv)
  local c, err
  if p.refreshing and not scheduler.current() then
    c, err = scheduler.run(function() return p:get() end)
  else
    c, err = p:get()
  end
  if not c then error(tostring(err), 0) end
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

--- Epoch seconds of an ISO 8601 time ("2026-01-02T03:04:05Z"), as the providers read Expiration.
M.parse_time = refresh.parse_time

return M

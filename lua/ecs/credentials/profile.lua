-- Credentials from the aliyun CLI's configuration file ~/.aliyun/config.json: the profile named by
-- the `profile` option, else ALIBABA_CLOUD_PROFILE, else the file's `current`; skipped when
-- ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true. Modes AK and StsToken (static), RamRoleArn and
-- ChainableRamRoleArn (`source_profile`), EcsRamRole, OIDC, External (`process_command`) and
-- CredentialsURI (each a provider of its own file).
local cjson = require "cjson.safe"
local static = require "ecs.credentials.static"

local M = {}

M.ENV_PROFILE = "ALIBABA_CLOUD_PROFILE"
M.ENV_DISABLED = "ALIBABA_CLOUD_CLI_PROFILE_DISABLED"
M.MODES = { "AK", "StsToken", "RamRoleArn", "ChainableRamRoleArn", "EcsRamRole", "OIDC", "External",
  "CredentialsURI" }

local function nonempty(v)
  if v == nil or v == "" or v == cjson.null then return nil end
  return v
end

--- Path of the aliyun CLI's configuration file.
---@param getenv fun(name: string): string|nil reads the environment (os.getenv)
---@return string|nil path nil when HOME is not set
function M.config_path(getenv)
  local home = getenv("HOME")
  if not home or home == "" then return nil end
  return home .. "/.aliyun/config.json"
end

--- The decoded config file; nil when it does not exist. Raises when it exists but cannot be read
--- (a broken config should be fixed, not silently skipped).
---@param path string
---@return table|nil config
function M.load(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  local config, err = cjson.decode(text)
  if type(config) ~= "table" then
    error(("credentials: cannot parse %s (%s)"):format(path, err or "not an object"), 0)
  end
  return config
end

--- The profile named `name` of a decoded config, or nil.
---@param config table
---@param name string
---@return table|nil profile
function M.lookup(config, name)
  for _, profile in ipairs(type(config.profiles) == "table" and config.profiles or {}) do
    if type(profile) == "table" and profile.name == name then return profile end
  end
  return nil
end

--- Reads a profile of the CLI's config file. Returns profile, nil when the
--- file does not exist, and raises when it exists but cannot be used (a
--- broken config should be fixed, not silently skipped).
---@param path string the config file
---@param name? string the profile (default: the file's `current`, else "default")
---@return table|nil profile the profile's table, nil when the file does not exist
---@return string|nil name the profile's name
function M.read(path, name)
  local config = M.load(path)
  if not config then return nil end
  name = name or nonempty(config.current) or "default"
  local profile = M.lookup(config, name)
  if not profile then error(("credentials: profile '%s' not found in %s"):format(name, path), 0) end
  return profile, name
end

--- The profile the options and the environment name: profile, its name and the file's path,
--- or nil when there is no config file.
---@param opts table its `profile` names the profile
---@param getenv fun(name: string): string|nil
---@return table|nil profile
---@return string|nil name
---@return string|nil path
function M.find(opts, getenv)
  local path = M.config_path(getenv)
  if not path then return nil end
  local profile, name = M.read(path, nonempty(opts.profile) or nonempty(getenv(M.ENV_PROFILE)))
  return profile, name, path
end

local function bad(name, path, what)
  error(("credentials: profile '%s' in %s %s"):format(name, path, what), 0)
end

-- A number field of a profile (0 or absent: nil).
local function seconds(p, field, name, path)
  local v = nonempty(p[field])
  if v == nil or v == 0 then return nil end
  if type(v) ~= "number" then bad(name, path, "has a " .. field .. " that is not a number") end
  return v
end

-- Options of the STS providers from a profile; `settings` (the chain's options) win.
local function sts_options(p, name, path, settings)
  return {
    role_arn = nonempty(p.ram_role_arn),
    session_name = nonempty(p.ram_session_name),
    duration = seconds(p, "expired_seconds", name, path) or seconds(p, "duration_seconds", name, path),
    sts_region = nonempty(p.sts_region),
    sts_endpoint = settings.sts_endpoint or nonempty(p.sts_endpoint),
    enable_vpc = p.enable_vpc == true or nil,
    external_id = nonempty(p.external_id),
    getenv = settings.getenv, clock = settings.clock,
  }
end

-- Builds the provider of one profile; `seen` catches source_profile cycles.
local function build(config, name, path, settings, seen)
  local p = M.lookup(config, name)
  if not p then error(("credentials: profile '%s' not found in %s"):format(name, path), 0) end
  if seen[name] then bad(name, path, "is its own source_profile (a cycle)") end
  seen[name] = true
  local mode = nonempty(p.mode) or "AK"
  local function keys()
    local id, secret = nonempty(p.access_key_id), nonempty(p.access_key_secret)
    if type(id) ~= "string" or type(secret) ~= "string" then
      bad(name, path, "lacks access_key_id or access_key_secret")
    end
    return id, secret
  end
  local function need(field)
    local v = nonempty(p[field])
    if type(v) ~= "string" then bad(name, path, ("is %s mode but has no %s"):format(mode, field)) end
    return v
  end
  local function wrap(fn, ...)
    local ok, provider = pcall(fn, ...)
    if not ok then bad(name, path, "cannot be used: " .. tostring(provider)) end
    return provider
  end
  local label = "profile " .. name
  local provider
  if mode == "AK" then
    local id, secret = keys()
    return static.new(id, secret, nil, label)
  elseif mode == "StsToken" then
    local id, secret = keys()
    return static.new(id, secret, need("sts_token"), label)
  elseif mode == "RamRoleArn" then
    local id, secret = keys()
    local o = sts_options(p, name, path, settings)
    o.role_arn = need("ram_role_arn")
    o.source = static.new(id, secret, nil, label)
    provider = wrap(require("ecs.credentials.ram_role_arn").new, o)
  elseif mode == "ChainableRamRoleArn" then
    local source_name = need("source_profile")
    local o = sts_options(p, name, path, settings)
    o.role_arn = need("ram_role_arn")
    o.source = build(config, source_name, path, settings, seen)
    provider = wrap(require("ecs.credentials.ram_role_arn").new, o)
  elseif mode == "EcsRamRole" then
    provider = wrap(require("ecs.credentials.ecs_ram_role").new, {
      role_name = nonempty(p.ram_role_name), metadata_endpoint = settings.metadata_endpoint,
      getenv = settings.getenv, clock = settings.clock,
    })
  elseif mode == "OIDC" then
    local o = sts_options(p, name, path, settings)
    o.role_arn = need("ram_role_arn")
    o.provider_arn = need("oidc_provider_arn")
    o.token_file = need("oidc_token_file")
    o.external_id = nil
    provider = wrap(require("ecs.credentials.oidc").new, o)
  elseif mode == "External" then
    provider = wrap(require("ecs.credentials.process").new, { command = need("process_command"),
      clock = settings.clock })
  elseif mode == "CredentialsURI" then
    provider = wrap(require("ecs.credentials.uri").new, { url = need("credentials_uri"),
      clock = settings.clock })
  else
    error(("credentials: profile '%s' in %s uses mode %s; lua-ecs reads modes %s")
      :format(name, path, tostring(mode), table.concat(M.MODES, ", ")), 0)
  end
  provider.name = ("%s (%s)"):format(label, provider.name)
  provider.source = provider.name
  return provider
end

--- The provider of profile `name` of a decoded config (following source_profile). Raises when the
--- profile is missing, broken or of a mode lua-ecs does not read.
---@param config table
---@param name string
---@param path string the file, for messages
---@param settings? table getenv, sts_endpoint, metadata_endpoint, clock
---@return ecs.CredentialsProvider
function M.build(config, name, path, settings)
  settings = settings or {}
  settings.getenv = settings.getenv or os.getenv
  return build(config, name, path, settings, {})
end

--- The CLI profile's provider for the chain. Returns the provider; or nil, why it was skipped, and
--- whether the skip was a profile named (option or ALIBABA_CLOUD_PROFILE) but missing from an
--- existing file. Raises when the file is broken, or the profile is unusable.
---@param opts table its `profile` names the profile
---@param getenv fun(name: string): string|nil
---@param settings? table sts_endpoint, metadata_endpoint, clock (for the fetching modes)
---@return ecs.CredentialsProvider|nil provider
---@return string|nil skipped why
---@return boolean|nil named_missing
function M.provider(opts, getenv, settings)
  if (getenv(M.ENV_DISABLED) or ""):lower() == "true" then
    return nil, "disabled by " .. M.ENV_DISABLED .. "=true"
  end
  local path = M.config_path(getenv)
  if not path then return nil, "HOME is not set" end
  local config = M.load(path)
  if not config then return nil, path .. " does not exist" end
  local named = nonempty(opts.profile) or nonempty(getenv(M.ENV_PROFILE))
  local name = named or nonempty(config.current) or "default"
  if not M.lookup(config, name) then
    if named then return nil, ("profile '%s' not found in %s"):format(name, path), true end
    error(("credentials: profile '%s' not found in %s"):format(name, path), 0)
  end
  local s = {}
  for k, v in pairs(settings or {}) do s[k] = v end
  s.getenv = getenv
  return build(config, name, path, s, {})
end

--- The provider of a CLI profile (ecs.credentials.cli_profile{ name = "ops" }): name (else
--- ALIBABA_CLOUD_PROFILE, else the file's current), path (else ~/.aliyun/config.json),
--- sts_endpoint, metadata_endpoint, clock, getenv. Raises when the file or the profile is missing
--- or unusable.
---@param opts? table
---@return ecs.CredentialsProvider
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then error("cli_profile: expected a table of options", 2) end
  opts = opts or {}
  local getenv = opts.getenv or os.getenv
  local path = opts.path or M.config_path(getenv)
  if type(path) ~= "string" then error("path: required (HOME is not set)", 2) end
  local config = M.load(path)
  if not config then error(("cli_profile: %s does not exist"):format(path), 2) end
  local name = nonempty(opts.name) or nonempty(getenv(M.ENV_PROFILE)) or nonempty(config.current) or "default"
  return build(config, name, path, { getenv = getenv, sts_endpoint = opts.sts_endpoint,
    metadata_endpoint = opts.metadata_endpoint, clock = opts.clock }, {})
end

return M

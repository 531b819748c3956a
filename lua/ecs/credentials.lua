-- The credentials chain: explicit fields, then the environment, then the
-- aliyun CLI's profile file. The secret never leaves the returned table.
local cjson = require "cjson.safe"

local M = {}

local ENV_ID = "ALIBABA_CLOUD_ACCESS_KEY_ID"
local ENV_SECRET = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
local ENV_TOKEN = "ALIBABA_CLOUD_SECURITY_TOKEN"
local ENV_PROFILE = "ALIBABA_CLOUD_PROFILE"
local ENV_REGION = "ALIBABA_CLOUD_REGION_ID"

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

--- Reads a profile of the CLI's config file. Returns profile, nil when the
--- file does not exist, and raises when it exists but cannot be used (a
--- broken config should be fixed, not silently skipped).
---@param path string the config file
---@param name? string the profile (default: the file's `current`, else "default")
---@return table|nil profile the profile's table, nil when the file does not exist
---@return string|nil name the profile's name
function M.read_profile(path, name)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  local config, err = cjson.decode(text)
  if type(config) ~= "table" then
    error(("credentials: cannot parse %s (%s)"):format(path, err or "not an object"), 0)
  end
  name = name or nonempty(config.current) or "default"
  for _, profile in ipairs(type(config.profiles) == "table" and config.profiles or {}) do
    if type(profile) == "table" and profile.name == name then
      return profile, name
    end
  end
  error(("credentials: profile '%s' not found in %s"):format(name, path), 0)
end

local function from_profile(profile, name, path)
  local mode = nonempty(profile.mode) or "AK"
  if mode ~= "AK" and mode ~= "StsToken" then
    error(("credentials: profile '%s' in %s uses mode %s; lua-ecs reads modes AK and StsToken")
      :format(name, path, tostring(mode)), 0)
  end
  local id, secret = nonempty(profile.access_key_id), nonempty(profile.access_key_secret)
  if not id or not secret then
    error(("credentials: profile '%s' in %s lacks access_key_id or access_key_secret")
      :format(name, path), 0)
  end
  local token = mode == "StsToken" and nonempty(profile.sts_token) or nil
  if mode == "StsToken" and not token then
    error(("credentials: profile '%s' in %s is StsToken mode but has no sts_token")
      :format(name, path), 0)
  end
  return {
    access_key_id = id, access_key_secret = secret, security_token = token,
    source = "profile " .. name,
  }
end

--- Resolves credentials. `opts` holds the explicit fields; `getenv` (default
--- os.getenv) reads the environment, so tests can supply their own.
--- Returns { access_key_id, access_key_secret, security_token, source }.
--- Raises when none is found or a found one is incomplete.
---@param opts? table access_key_id, access_key_secret, security_token, profile
---@param getenv? fun(name: string): string|nil
---@return {access_key_id: string, access_key_secret: string, security_token: string|nil, source: string} creds
function M.resolve(opts, getenv)
  getenv = getenv or os.getenv
  opts = opts or {}
  local id, secret = nonempty(opts.access_key_id), nonempty(opts.access_key_secret)
  if id or secret then
    if not id then error("access_key_id: required when access_key_secret is given", 0) end
    if not secret then error("access_key_secret: required when access_key_id is given", 0) end
    return {
      access_key_id = id, access_key_secret = secret,
      security_token = nonempty(opts.security_token), source = "explicit",
    }
  end

  id, secret = nonempty(getenv(ENV_ID)), nonempty(getenv(ENV_SECRET))
  if id and secret then
    return {
      access_key_id = id, access_key_secret = secret,
      security_token = nonempty(getenv(ENV_TOKEN)), source = "environment",
    }
  end

  local path = M.config_path(getenv)
  local profile, name
  if path then
    profile, name = M.read_profile(path, nonempty(opts.profile) or nonempty(getenv(ENV_PROFILE)))
  end
  if profile then
    return from_profile(profile, name, path)
  end
  error("credentials: none found. Give access_key_id and access_key_secret to ecs.client, "
    .. "or set " .. ENV_ID .. " and " .. ENV_SECRET .. " (and " .. ENV_TOKEN .. " for STS), "
    .. "or configure a profile in " .. (path or "~/.aliyun/config.json")
    .. " (aliyun configure; modes AK and StsToken)", 0)
end

--- The default region: the environment, then the CLI profile's region_id.
---@param opts? table its `profile` names the CLI profile
---@param getenv? fun(name: string): string|nil
---@return string|nil region
function M.default_region(opts, getenv)
  getenv = getenv or os.getenv
  local region = nonempty(getenv(ENV_REGION))
  if region then return region end
  local path = M.config_path(getenv)
  if not path then return nil end
  local ok, profile = pcall(M.read_profile, path,
    nonempty((opts or {}).profile) or nonempty(getenv(ENV_PROFILE)))
  if ok and profile then return nonempty(profile.region_id) end
  return nil
end

return M

-- Credentials from the aliyun CLI's configuration file ~/.aliyun/config.json:
-- the profile named by the `profile` option, else ALIBABA_CLOUD_PROFILE, else
-- the file's `current`; modes AK and StsToken.
local cjson = require "cjson.safe"
local static = require "ecs.credentials.static"

local M = {}

M.ENV_PROFILE = "ALIBABA_CLOUD_PROFILE"

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
function M.read(path, name)
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

--- The CLI profile's credentials as a provider, or nil when there is no config file.
--- Raises when the profile is missing, broken or of a mode lua-ecs does not read.
---@param opts table its `profile` names the profile
---@param getenv fun(name: string): string|nil
---@return ecs.CredentialsProvider|nil
function M.provider(opts, getenv)
  local profile, name, path = M.find(opts, getenv)
  if not profile then return nil end
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
  return static.new(id, secret, token, "profile " .. name)
end

return M
